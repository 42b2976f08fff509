//! Stripe Connect as [`MerchantAccounts`]: Express connected accounts for a tenant's marketplace
//! merchants, Account Links into Stripe's hosted onboarding, and `account.updated` events
//! (https://docs.stripe.com/connect/express-accounts, https://docs.stripe.com/api/accounts,
//! https://docs.stripe.com/api/account_links).
//!
//! Hyperswitch style, like the payment side: the wire types and the one exhaustive mapping of
//! `requirements.disabled_reason` live here; [`AccountReview::status`] turns the result into the status
//! of decision §9.10. HTTP, keys and timeouts are the [`StripeGateway`]'s. Creating an account sends the
//! caller's `Idempotency-Key`, so a retry within Stripe's 24 h idempotency window gets the same account;
//! creating an Account Link has no effect besides the link, so it sends none (each call is a new link).

use super::transformers::{Form, StripeEvent};
use super::webhook::{EventParseError, ParsedEvent};
use super::{ApiKeys, StripeGateway};
use crate::domain::{AccountHold, AccountReview};
use crate::ports::PspError;
use crate::ports::onboarding::{AccountEvent, CreateAccount, MerchantAccounts, OnboardingUrls, PspAccount};
use reqwest::Method;
use serde::Deserialize;

/// `Account.requirements.disabled_reason`
/// (https://docs.stripe.com/api/accounts/object#account_object-requirements-disabled_reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub(super) enum StripeDisabledReason {
    #[serde(rename = "action_required.requested_capabilities")]
    ActionRequiredRequestedCapabilities,
    #[serde(rename = "listed")]
    Listed,
    #[serde(rename = "other")]
    Other,
    #[serde(rename = "platform_paused")]
    PlatformPaused,
    #[serde(rename = "rejected.fraud")]
    RejectedFraud,
    #[serde(rename = "rejected.incomplete_verification")]
    RejectedIncompleteVerification,
    #[serde(rename = "rejected.listed")]
    RejectedListed,
    #[serde(rename = "rejected.other")]
    RejectedOther,
    #[serde(rename = "rejected.platform_fraud")]
    RejectedPlatformFraud,
    #[serde(rename = "rejected.platform_other")]
    RejectedPlatformOther,
    #[serde(rename = "rejected.platform_terms_of_service")]
    RejectedPlatformTermsOfService,
    #[serde(rename = "rejected.terms_of_service")]
    RejectedTermsOfService,
    #[serde(rename = "requirements.past_due")]
    RequirementsPastDue,
    #[serde(rename = "requirements.pending_verification")]
    RequirementsPendingVerification,
    #[serde(rename = "under_review")]
    UnderReview,
    /// A reason newer than this list: the account is disabled for a reason the app cannot tell.
    #[serde(other)]
    Unrecognized,
}

impl From<StripeDisabledReason> for AccountHold {
    fn from(reason: StripeDisabledReason) -> Self {
        use StripeDisabledReason as R;
        match reason {
            R::RejectedFraud
            | R::RejectedIncompleteVerification
            | R::RejectedListed
            | R::RejectedOther
            | R::RejectedPlatformFraud
            | R::RejectedPlatformOther
            | R::RejectedPlatformTermsOfService
            | R::RejectedTermsOfService => AccountHold::Rejected,
            R::RequirementsPendingVerification | R::UnderReview => AccountHold::UnderReview,
            // Someone has to act (or the app cannot tell what happens next): restricted until then.
            R::ActionRequiredRequestedCapabilities
            | R::Listed
            | R::Other
            | R::PlatformPaused
            | R::RequirementsPastDue
            | R::Unrecognized => AccountHold::ActionRequired,
        }
    }
}

/// `Account.requirements`: the fields the app reads.
#[derive(Debug, Default, Deserialize)]
struct StripeRequirements {
    #[serde(default)]
    currently_due: Option<Vec<String>>,
    #[serde(default)]
    past_due: Option<Vec<String>>,
    #[serde(default)]
    current_deadline: Option<i64>,
    #[serde(default)]
    disabled_reason: Option<StripeDisabledReason>,
}

/// An Account (https://docs.stripe.com/api/accounts/object): the fields the app reads.
#[derive(Debug, Deserialize)]
pub(super) struct StripeAccount {
    id: String,
    #[serde(default)]
    details_submitted: bool,
    #[serde(default)]
    charges_enabled: bool,
    #[serde(default)]
    payouts_enabled: bool,
    #[serde(default)]
    requirements: Option<StripeRequirements>,
}

fn non_empty(list: Option<&Vec<String>>) -> bool {
    list.is_some_and(|l| !l.is_empty())
}

impl From<StripeAccount> for PspAccount {
    fn from(account: StripeAccount) -> Self {
        let requirements = account.requirements.unwrap_or_default();
        PspAccount {
            id: account.id,
            review: AccountReview {
                details_submitted: account.details_submitted,
                charges_enabled: account.charges_enabled,
                payouts_enabled: account.payouts_enabled,
                hold: requirements.disabled_reason.map(AccountHold::from),
                past_due: non_empty(requirements.past_due.as_ref()),
                // `current_deadline` is set exactly while something must be collected by then.
                due_soon: non_empty(requirements.currently_due.as_ref()) || requirements.current_deadline.is_some(),
            },
        }
    }
}

/// An Account Link (https://docs.stripe.com/api/account_links/object): its one-time URL.
#[derive(Debug, Deserialize)]
struct StripeAccountLink {
    url: String,
}

/// The form creating an Express account for a merchant, with the capabilities a marketplace seller
/// needs (card payments, transfers from the platform) and the app's reconciliation metadata.
fn create_account_form(tenant: &str, request: &CreateAccount) -> Form {
    [
        ("type", "express"),
        ("business_profile[name]", request.name.as_str()),
        ("capabilities[card_payments][requested]", "true"),
        ("capabilities[transfers][requested]", "true"),
        ("metadata[merchantReference]", request.merchant_reference.as_str()),
        ("metadata[tenantIdentifier]", tenant),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The form creating an onboarding Account Link.
fn account_link_form(account_id: &str, urls: &OnboardingUrls) -> Form {
    [
        ("account", account_id),
        ("refresh_url", urls.refresh_url.as_str()),
        ("return_url", urls.return_url.as_str()),
        ("type", "account_onboarding"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl<K: ApiKeys> MerchantAccounts for StripeGateway<K> {
    async fn create_account(&self, tenant: &str, request: &CreateAccount) -> Result<PspAccount, PspError> {
        let form = create_account_form(tenant, request);
        self.send::<StripeAccount>(
            tenant,
            Method::POST,
            &["v1", "accounts"],
            Some(&form),
            Some(&request.idempotency_key),
        )
        .await
        .map(Into::into)
    }

    async fn onboarding_link(&self, tenant: &str, account_id: &str, urls: &OnboardingUrls) -> Result<String, PspError> {
        let form = account_link_form(account_id, urls);
        self.send::<StripeAccountLink>(tenant, Method::POST, &["v1", "account_links"], Some(&form), None)
            .await
            .map(|link| link.url)
    }
}

/// Reads a verified event body from the accounts endpoint: `account.updated` reports the account as
/// it is now; every other type is acknowledged and ignored.
pub fn parse_account_event(body: &[u8]) -> Result<ParsedEvent<AccountEvent>, EventParseError> {
    let event: StripeEvent = crate::json::from_slice(body).map_err(|e| EventParseError(e.to_string()))?;
    if event.event_type != "account.updated" {
        return Ok(ParsedEvent::Ignored {
            event_id: event.id,
            event_type: event.event_type,
            reason: "event type not handled",
        });
    }
    let account: StripeAccount =
        crate::json::from_value(event.data.object).map_err(|e| EventParseError(e.to_string()))?;
    Ok(ParsedEvent::Relevant(AccountEvent {
        event_id: event.id,
        created: event.created,
        account: account.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{form_of_single_request, pairs};
    use super::*;
    use crate::adapters::stripe::StaticApiKey;
    use crate::domain::MerchantOnboardingStatus as S;
    use serde_json::json;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const KEY: &str = "sk_test_platform";

    fn gateway(server: &MockServer) -> StripeGateway<StaticApiKey> {
        super::super::tests::gateway_with(server, StaticApiKey::new(KEY.into()))
    }

    /// An Account as Stripe documents it (https://docs.stripe.com/api/accounts/object), abridged to
    /// a realistic subset, right after creation.
    fn account_json(id: &str) -> serde_json::Value {
        json!({
            "id": id, "object": "account", "type": "express", "country": "DE", "created": 1767225600,
            "business_profile": {"name": "Spryker Merchant", "mcc": null, "url": null},
            "capabilities": {"card_payments": "inactive", "transfers": "inactive"},
            "charges_enabled": false, "payouts_enabled": false, "details_submitted": false,
            "default_currency": "eur", "email": null,
            "metadata": {"merchantReference": "MER000001", "tenantIdentifier": "t1"},
            "requirements": {
                "alternatives": [], "current_deadline": null,
                "currently_due": ["business_profile.url", "external_account", "tos_acceptance.date"],
                "disabled_reason": "requirements.past_due", "errors": [],
                "eventually_due": ["business_profile.url", "external_account"],
                "past_due": ["external_account"], "pending_verification": []
            },
            "settings": {"payouts": {"schedule": {"interval": "daily"}}},
            "tos_acceptance": {"date": null}
        })
    }

    #[tokio::test]
    async fn create_account_posts_an_express_account_with_key_metadata_and_idempotency_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/accounts"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(header("idempotency-key", "onboarding:t1:MER000001"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .respond_with(ResponseTemplate::new(200).set_body_json(account_json("acct_1")))
            .expect(1)
            .mount(&server)
            .await;
        let request = CreateAccount {
            merchant_reference: "MER000001".into(),
            name: "Spryker Merchant & Co".into(),
            idempotency_key: "onboarding:t1:MER000001".into(),
        };
        let account = gateway(&server).create_account("t1", &request).await.unwrap();
        assert_eq!(account.id, "acct_1");
        assert_eq!(account.review.status(), S::Incomplete);
        assert_eq!(
            form_of_single_request(&server).await,
            pairs(&[
                ("type", "express"),
                ("business_profile[name]", "Spryker Merchant & Co"),
                ("capabilities[card_payments][requested]", "true"),
                ("capabilities[transfers][requested]", "true"),
                ("metadata[merchantReference]", "MER000001"),
                ("metadata[tenantIdentifier]", "t1"),
            ])
        );
    }

    #[tokio::test]
    async fn an_account_link_is_requested_for_onboarding_and_its_url_returned() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/account_links"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "object": "account_link", "created": 1767225600, "expires_at": 1767225900,
                "url": "https://connect.stripe.com/setup/e/acct_1/abc"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let urls = OnboardingUrls {
            return_url: "https://shop.example/mp/onboarding/success?x=1".into(),
            refresh_url: "https://shop.example/mp/onboarding/refresh".into(),
        };
        let url = gateway(&server).onboarding_link("t1", "acct_1", &urls).await.unwrap();
        assert_eq!(url, "https://connect.stripe.com/setup/e/acct_1/abc");
        let requests = server.received_requests().await.unwrap();
        assert!(
            requests[0].headers.get("idempotency-key").is_none(),
            "each call is a new link"
        );
        assert_eq!(
            form_of_single_request(&server).await,
            pairs(&[
                ("account", "acct_1"),
                ("refresh_url", "https://shop.example/mp/onboarding/refresh"),
                ("return_url", "https://shop.example/mp/onboarding/success?x=1"),
                ("type", "account_onboarding"),
            ])
        );
    }

    #[tokio::test]
    async fn a_refused_account_creation_is_a_decline() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/accounts"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
                "type": "invalid_request_error",
                "message": "You can only create new accounts if you've signed up for Connect"}})))
            .mount(&server)
            .await;
        let request = CreateAccount {
            merchant_reference: "MER1".into(),
            name: "M".into(),
            idempotency_key: "k".into(),
        };
        let error = gateway(&server).create_account("t1", &request).await.unwrap_err();
        assert!(matches!(error, PspError::Declined { .. }), "{error:?}");
    }

    #[test]
    fn every_disabled_reason_maps_to_a_hold() {
        let table = [
            ("action_required.requested_capabilities", AccountHold::ActionRequired),
            ("listed", AccountHold::ActionRequired),
            ("other", AccountHold::ActionRequired),
            ("platform_paused", AccountHold::ActionRequired),
            ("rejected.fraud", AccountHold::Rejected),
            ("rejected.incomplete_verification", AccountHold::Rejected),
            ("rejected.listed", AccountHold::Rejected),
            ("rejected.other", AccountHold::Rejected),
            ("rejected.platform_fraud", AccountHold::Rejected),
            ("rejected.platform_other", AccountHold::Rejected),
            ("rejected.platform_terms_of_service", AccountHold::Rejected),
            ("rejected.terms_of_service", AccountHold::Rejected),
            ("requirements.past_due", AccountHold::ActionRequired),
            ("requirements.pending_verification", AccountHold::UnderReview),
            ("under_review", AccountHold::UnderReview),
            ("something.new", AccountHold::ActionRequired),
        ];
        for (wire, expected) in table {
            let reason: StripeDisabledReason = serde_json::from_value(json!(wire)).unwrap();
            assert_eq!(AccountHold::from(reason), expected, "{wire}");
        }
    }

    fn event(event_type: &str, account: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"id": "evt_1", "object": "event", "created": 1767225601, "type": event_type,
                                  "account": "acct_1", "data": {"object": account}}),
        )
        .unwrap()
    }

    /// Accounts along an onboarding, as `account.updated` reports them, and their §9.10 status.
    #[test]
    fn account_updated_events_read_as_statuses() {
        let with = |changes: serde_json::Value| {
            let mut account = account_json("acct_1");
            for (k, v) in changes.as_object().unwrap() {
                if let Some(field) = k.strip_prefix("requirements.") {
                    account["requirements"][field] = v.clone();
                } else {
                    account[k] = v.clone();
                }
            }
            account
        };
        let submitted = json!({"details_submitted": true, "requirements.currently_due": [],
                               "requirements.past_due": [], "requirements.disabled_reason": null});
        let merge = |a: &serde_json::Value, b: serde_json::Value| {
            let mut m = a.clone();
            m.as_object_mut().unwrap().extend(b.as_object().unwrap().clone());
            m
        };
        let table = [
            (json!({}), S::Incomplete),
            (
                merge(
                    &submitted,
                    json!({"requirements.disabled_reason": "requirements.pending_verification"}),
                ),
                S::Pending,
            ),
            (submitted.clone(), S::Pending),
            (merge(&submitted, json!({"charges_enabled": true})), S::Enabled),
            (
                merge(&submitted, json!({"charges_enabled": true, "payouts_enabled": true})),
                S::Completed,
            ),
            (
                merge(
                    &submitted,
                    json!({"charges_enabled": true, "payouts_enabled": true,
                                      "requirements.currently_due": ["individual.verification.document"],
                                      "requirements.current_deadline": 1769904000}),
                ),
                S::RestrictedSoon,
            ),
            (
                merge(
                    &submitted,
                    json!({"requirements.past_due": ["individual.verification.document"],
                                      "requirements.disabled_reason": "requirements.past_due"}),
                ),
                S::Restricted,
            ),
            (
                merge(&submitted, json!({"requirements.disabled_reason": "rejected.fraud"})),
                S::Rejected,
            ),
        ];
        for (changes, expected) in table {
            let parsed = parse_account_event(&event("account.updated", with(changes.clone()))).unwrap();
            let ParsedEvent::Relevant(e) = parsed else {
                panic!("{changes}: {parsed:?}")
            };
            assert_eq!(
                (e.event_id.as_str(), e.created, e.account.id.as_str()),
                ("evt_1", 1767225601, "acct_1")
            );
            assert_eq!(e.account.review.status(), expected, "{changes}");
        }
    }

    #[test]
    fn other_types_are_ignored_and_unreadable_accounts_are_errors() {
        assert!(matches!(
            parse_account_event(&event("account.application.authorized", json!({"id": "ca_1"}))),
            Ok(ParsedEvent::Ignored { .. })
        ));
        assert!(parse_account_event(&event("account.updated", json!({"object": "account"}))).is_err());
        assert!(parse_account_event(b"not json").is_err());
    }
}
