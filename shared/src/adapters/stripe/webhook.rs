//! Stripe webhooks: the `Stripe-Signature` check over the raw body (reliability §1.2) and the reading
//! of a verified event onto the domain ([`parse_event`], whose wire types live in `transformers`).
//!
//! The header is `t=<unix>,v1=<hex>[,v1=<hex>…]`; each `v1` is HMAC-SHA256 with an endpoint secret
//! over `"{t}.{raw body}"`. A request passes when any `v1` matches any of the tenant's current secrets
//! (several while a secret is rotated) and `t` is within [`TOLERANCE_SECONDS`] of now, either way.
//! Comparisons are constant-time (`Mac::verify_slice`). Unknown schemes (`v0`) are ignored.

pub use super::transformers::{EventParseError, ParsedEvent, parse_event};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How far the signed timestamp may be from now, in seconds (Stripe's default tolerance).
pub const TOLERANCE_SECONDS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// Why a request is not an authentic Stripe webhook. The messages name no secret and no body content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("missing Stripe-Signature header")]
    Missing,
    /// The header has no readable timestamp or no `v1` signature.
    #[error("malformed Stripe-Signature header")]
    Malformed,
    /// The signed timestamp is more than the tolerance away from now.
    #[error("Stripe-Signature timestamp outside the tolerance")]
    Stale,
    /// No signature matches any of the secrets.
    #[error("no Stripe-Signature matches")]
    NoMatch,
}

/// A MAC keyed with `secret` over the signed payload `"{timestamp}.{body}"`.
fn mac(secret: &SecretString, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(secret.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks `header` (the `Stripe-Signature` value) over the raw `body` against `secrets` at `now`
/// (Unix seconds).
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secrets: &[SecretString],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            Some(_) | None => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(timestamp) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let matches = secrets.iter().any(|secret| {
        signatures
            .iter()
            .any(|sig| mac(secret, timestamp, body).verify_slice(sig).is_ok())
    });
    if matches { Ok(()) } else { Err(SignatureError::NoMatch) }
}

/// A `Stripe-Signature` header as Stripe would send it: `t`, then one `v1` per secret (for tests and
/// local drivers; feature `test-support`).
#[cfg(any(test, feature = "test-support"))]
pub fn signature_header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let tag = mac(&SecretString::from(*secret), timestamp, body)
            .finalize()
            .into_bytes();
        header.push_str(&format!(",v1={}", hex::encode(tag)));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DisputeStatus, PaymentStatus, RefundStatus};
    use crate::ports::webhook::{WebhookChange, WebhookEvent};
    use serde_json::json;

    const NOW: i64 = 1_767_225_600;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn secrets(values: &[&str]) -> Vec<SecretString> {
        values.iter().map(|s| SecretString::from(*s)).collect()
    }

    fn check(header: &str, body: &[u8], tenant_secrets: &[&str]) -> Result<(), SignatureError> {
        verify_signature(Some(header), body, &secrets(tenant_secrets), NOW)
    }

    #[test]
    fn a_valid_signature_passes() {
        let header = signature_header(&["whsec_a"], NOW, BODY);
        assert_eq!(check(&header, BODY, &["whsec_a"]), Ok(()));
    }

    #[test]
    fn during_rotation_either_of_two_v1_values_passes() {
        let header = signature_header(&["whsec_old", "whsec_new"], NOW, BODY);
        assert_eq!(check(&header, BODY, &["whsec_new"]), Ok(()));
        assert_eq!(check(&header, BODY, &["whsec_old"]), Ok(()));
    }

    #[test]
    fn any_of_the_tenants_secrets_passes() {
        let header = signature_header(&["whsec_second"], NOW, BODY);
        assert_eq!(check(&header, BODY, &["whsec_first", "whsec_second"]), Ok(()));
    }

    #[test]
    fn timestamps_more_than_300_seconds_away_are_refused_either_way() {
        for (t, expected) in [
            (NOW - 301, Err(SignatureError::Stale)),
            (NOW + 301, Err(SignatureError::Stale)),
            (NOW - 300, Ok(())),
            (NOW + 300, Ok(())),
        ] {
            let header = signature_header(&["whsec_a"], t, BODY);
            assert_eq!(check(&header, BODY, &["whsec_a"]), expected, "t = now {:+}", t - NOW);
        }
    }

    #[test]
    fn a_bad_signature_or_another_tenants_secret_is_refused() {
        let header = signature_header(&["whsec_other_tenant"], NOW, BODY);
        assert_eq!(check(&header, BODY, &["whsec_a"]), Err(SignatureError::NoMatch));
        let forged = format!("t={NOW},v1={}", "ab".repeat(32));
        assert_eq!(check(&forged, BODY, &["whsec_a"]), Err(SignatureError::NoMatch));
        let header = signature_header(&["whsec_a"], NOW, BODY);
        assert_eq!(check(&header, BODY, &[]), Err(SignatureError::NoMatch));
    }

    #[test]
    fn a_body_changed_after_signing_is_refused() {
        let header = signature_header(&["whsec_a"], NOW, BODY);
        let changed = br#"{"id":"evt_1","type":"payment_intent.canceled"}"#;
        assert_eq!(check(&header, changed, &["whsec_a"]), Err(SignatureError::NoMatch));
        // The timestamp is signed too.
        let moved = header.replacen(&format!("t={NOW}"), &format!("t={}", NOW + 1), 1);
        assert_eq!(check(&moved, BODY, &["whsec_a"]), Err(SignatureError::NoMatch));
    }

    #[test]
    fn missing_or_garbled_headers_are_refused() {
        assert_eq!(
            verify_signature(None, BODY, &secrets(&["whsec_a"]), NOW),
            Err(SignatureError::Missing)
        );
        let valid = signature_header(&["whsec_a"], NOW, BODY);
        let v1 = valid.split(",v1=").nth(1).unwrap_or_default();
        for garbled in [
            "",
            "garbage",
            &format!("v1={v1}"),
            &format!("t=soon,v1={v1}"),
            &format!("t={NOW}"),
            &format!("t={NOW},v1=not-hex"),
            &format!("t={NOW},v0={v1}"),
        ] {
            assert_eq!(
                check(garbled, BODY, &["whsec_a"]),
                Err(SignatureError::Malformed),
                "{garbled:?}"
            );
        }
        // Unknown schemes and spaces around parts are tolerated.
        let spaced = format!("t={NOW}, v0=00, v1={v1}");
        assert_eq!(check(&spaced, BODY, &["whsec_a"]), Ok(()));
    }

    fn event(event_type: &str, object: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "evt_1", "object": "event", "created": NOW, "type": event_type,
            "data": {"object": object}
        }))
        .unwrap_or_default()
    }

    fn intent(status: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut pi = json!({
            "id": "pi_1", "object": "payment_intent", "status": status, "amount": 1000, "currency": "eur",
            "metadata": {"transactionId": "tx-1", "tenantIdentifier": "t1", "orderReference": "DE--1"}
        });
        if let (Some(pi), Some(extra)) = (pi.as_object_mut(), extra.as_object()) {
            pi.extend(extra.clone());
        }
        pi
    }

    fn refund(status: &str) -> serde_json::Value {
        json!({
            "id": "re_1", "object": "refund", "status": status, "amount": 300, "payment_intent": "pi_1",
            "metadata": {"transactionId": "tx-1", "tenantIdentifier": "t1", "refundId": "RefundPayment-1"}
        })
    }

    fn relevant(event_type: &str, object: serde_json::Value) -> WebhookEvent {
        match parse_event(&event(event_type, object)) {
            Ok(ParsedEvent::Relevant(e)) => e,
            other => panic!("{event_type}: {other:?}"),
        }
    }

    #[test]
    fn money_left_in_a_customers_cash_balance_names_the_customer() {
        // A cash balance as Stripe documents it (https://docs.stripe.com/api/cash_balance/object).
        let balance = |available: serde_json::Value| {
            json!({"object": "cash_balance", "available": available, "customer": "cus_1", "livemode": false,
                   "settings": {"reconciliation_mode": "automatic", "using_merchant_default": true}})
        };
        let e = relevant("cash_balance.funds_available", balance(json!({"eur": 250})));
        assert_eq!(
            (e.transaction_id.as_str(), e.psp_reference.as_str(), e.tenant),
            ("", "cus_1", None),
            "found by the customer"
        );
        assert_eq!(
            e.change,
            WebhookChange::Funding {
                balance: 250,
                currency: "EUR".into()
            }
        );
        assert!(matches!(
            parse_event(&event("cash_balance.funds_available", balance(json!({})))),
            Ok(ParsedEvent::Ignored { .. })
        ));
    }

    /// Every handled event type, with the object Stripe sends with it.
    #[test]
    fn every_event_type_maps_onto_the_domain() {
        let payment = |status, amount_captured| WebhookChange::Payment {
            status,
            amount_captured,
            decline: None,
        };
        let table = [
            (
                "payment_intent.amount_capturable_updated",
                intent("requires_capture", json!({})),
                payment(PaymentStatus::Authorized, 0),
            ),
            (
                "payment_intent.payment_failed",
                intent(
                    "requires_payment_method",
                    json!({"last_payment_error": {"code": "card_declined"}}),
                ),
                WebhookChange::Payment {
                    status: PaymentStatus::New,
                    amount_captured: 0,
                    decline: Some("card_declined".into()),
                },
            ),
            (
                "payment_intent.succeeded",
                intent("succeeded", json!({"amount_received": 800})),
                payment(PaymentStatus::Captured, 800),
            ),
            (
                "payment_intent.canceled",
                intent("canceled", json!({})),
                payment(PaymentStatus::Canceled, 0),
            ),
            (
                "payment_intent.processing",
                intent("processing", json!({})),
                payment(PaymentStatus::New, 0),
            ),
            (
                "payment_intent.requires_action",
                intent("requires_action", json!({})),
                payment(PaymentStatus::New, 0),
            ),
            (
                // A bank transfer that arrived short: 400 of 1000 still missing.
                "payment_intent.partially_funded",
                intent(
                    "requires_action",
                    json!({"customer": "cus_1", "next_action": {"type": "display_bank_transfer_instructions",
                        "display_bank_transfer_instructions": {"amount_remaining": 400, "currency": "eur",
                                                               "type": "eu_bank_transfer"}}}),
                ),
                WebhookChange::Funding {
                    balance: -400,
                    currency: "EUR".into(),
                },
            ),
        ];
        for (event_type, object, change) in table {
            let e = relevant(event_type, object);
            assert_eq!(e.change, change, "{event_type}");
            assert_eq!(
                (
                    e.event_id.as_str(),
                    e.created,
                    e.transaction_id.as_str(),
                    e.psp_reference.as_str()
                ),
                ("evt_1", NOW, "tx-1", "pi_1")
            );
            assert_eq!(e.tenant.as_deref(), Some("t1"));
        }
        let refunds = [
            ("refund.created", "pending", RefundStatus::Pending),
            ("refund.updated", "requires_action", RefundStatus::Pending),
            ("refund.updated", "succeeded", RefundStatus::Succeeded),
            ("charge.refund.updated", "succeeded", RefundStatus::Succeeded),
            ("charge.refund.updated", "canceled", RefundStatus::Canceled),
            ("refund.failed", "failed", RefundStatus::Failed),
        ];
        for (event_type, status, expected) in refunds {
            let e = relevant(event_type, refund(status));
            assert_eq!(
                e.change,
                WebhookChange::Refund {
                    refund_id: "RefundPayment-1".into(),
                    failure_reason: None,
                    psp_refund_id: "re_1".into(),
                    status: expected,
                },
                "{event_type} {status}"
            );
            assert_eq!((e.transaction_id.as_str(), e.psp_reference.as_str()), ("tx-1", "pi_1"));
        }
        let mut failed = refund("failed");
        failed["failure_reason"] = json!("lost_or_stolen_card");
        let e = relevant("refund.failed", failed);
        assert!(
            matches!(&e.change, WebhookChange::Refund { failure_reason: Some(r), .. } if r == "lost_or_stolen_card")
        );
    }

    /// Disputes and refunded charges name the PaymentIntent; the charge may carry the app's metadata.
    #[test]
    fn disputes_and_refunded_charges_map_onto_the_domain() {
        let dispute = |status: &str| {
            json!({"id": "du_1", "object": "dispute", "amount": 1000, "currency": "eur", "reason": "fraudulent",
                   "status": status, "charge": "ch_1", "payment_intent": "pi_1", "metadata": {}})
        };
        let statuses = [
            (
                "charge.dispute.created",
                "warning_needs_response",
                DisputeStatus::NeedsResponse,
            ),
            ("charge.dispute.created", "needs_response", DisputeStatus::NeedsResponse),
            (
                "charge.dispute.updated",
                "warning_under_review",
                DisputeStatus::UnderReview,
            ),
            ("charge.dispute.updated", "under_review", DisputeStatus::UnderReview),
            ("charge.dispute.closed", "won", DisputeStatus::Won),
            ("charge.dispute.closed", "lost", DisputeStatus::Lost),
            ("charge.dispute.closed", "warning_closed", DisputeStatus::Closed),
            ("charge.dispute.closed", "prevented", DisputeStatus::Closed),
        ];
        for (event_type, status, expected) in statuses {
            let e = relevant(event_type, dispute(status));
            assert_eq!(
                e.change,
                WebhookChange::Dispute {
                    dispute_id: "du_1".into(),
                    amount: 1000,
                    reason: "fraudulent".into(),
                    status: expected,
                },
                "{event_type} {status}"
            );
            assert_eq!((e.transaction_id.as_str(), e.psp_reference.as_str()), ("", "pi_1"));
        }
        // Amounts come back in the app's minor units (Stripe's ISK is in hundredths of whole krónur).
        let charge = json!({"id": "ch_1", "object": "charge", "amount_refunded": 50000, "currency": "isk",
                            "payment_intent": "pi_1", "metadata": {"transactionId": "tx-1"}});
        let e = relevant("charge.refunded", charge);
        assert_eq!(e.change, WebhookChange::Refunded { amount_refunded: 500 });
        assert_eq!((e.transaction_id.as_str(), e.psp_reference.as_str()), ("tx-1", "pi_1"));
        let unknown = dispute("escalated_to_the_moon");
        assert!(parse_event(&event("charge.dispute.updated", unknown)).is_err());
    }

    #[test]
    fn unknown_types_and_foreign_objects_are_ignored() {
        let ignored = |body: Vec<u8>| matches!(parse_event(&body), Ok(ParsedEvent::Ignored { .. }));
        assert!(ignored(event("customer.created", json!({"id": "cus_1"}))));
        let bare_charge = json!({"id": "ch_1", "amount_refunded": 100, "currency": "eur", "payment_intent": null});
        assert!(ignored(event("charge.refunded", bare_charge)));
        let bare_dispute = json!({"id": "du_1", "amount": 100, "currency": "eur", "reason": "fraudulent",
                                  "status": "needs_response", "charge": "ch_1", "payment_intent": null});
        assert!(ignored(event("charge.dispute.created", bare_dispute)));
        let mut foreign = intent("succeeded", json!({}));
        foreign["metadata"] = json!({});
        assert!(ignored(event("payment_intent.succeeded", foreign)));
        let mut dashboard_refund = refund("succeeded");
        dashboard_refund["metadata"] = json!({"transactionId": "tx-1"});
        assert!(ignored(event("refund.updated", dashboard_refund)));
        let mut charge_refund = refund("succeeded");
        charge_refund["payment_intent"] = serde_json::Value::Null;
        assert!(ignored(event("refund.updated", charge_refund)));
    }

    #[test]
    fn unreadable_bodies_are_errors() {
        assert!(parse_event(b"not json").is_err());
        assert!(parse_event(&event("payment_intent.succeeded", json!({"id": "pi_1"}))).is_err());
        assert!(parse_event(&event("payment_intent.succeeded", intent("exploded", json!({})))).is_err());
        assert!(parse_event(br#"{"id":"evt_1","type":"refund.updated"}"#).is_err());
    }
}
