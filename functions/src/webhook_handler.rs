//! The HTTP handler shared by the two Stripe payment webhook functions (`POST
//! /webhooks/stripe/{tenantIdentifier}/payment-intents` and `.../refunds`, API Gateway HTTP API, no
//! JWT: the signature authenticates the request). Each applies every payment and refund event, whichever
//! route it arrives on: a tenant may point one Stripe endpoint at the app. Also the checks every Stripe webhook endpoint runs
//! first ([`verify`], also used by `account_webhook`). A request's path, in this order (reliability §6):
//!
//! 1. the body is at most [`MAX_BODY_BYTES`] (else 413);
//! 2. the tenant comes from the route's path parameter, never from the body;
//! 3. `Stripe-Signature` is checked over the raw bytes against that tenant's secrets
//!    (`shared::adapters::stripe::webhook`);
//! 4. only then is the body read, mapped onto the domain and applied by the webhook service
//!    (`shared::service::webhooks`).
//!
//! Refusals answer 400 (`{"errors":[{"message":…}]}`) and change nothing; a failure that a later
//! delivery may overcome answers 500, so Stripe retries. Bodies and secrets are never logged.

use crate::http::{error_response, json_response};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use schemars::JsonSchema;
use serde::Serialize;
use shared::adapters::stripe::webhook::{EventParseError, ParsedEvent, parse_event, verify_signature};
use shared::ports::{Clock, EventPublisher, PaymentStore, WebhookSecrets};
use shared::service::{WebhookReport, WebhookService};

/// Bodies above this size are refused before anything else (Stripe events are a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A webhook's answer when the event needs no retry: `{"received": true}`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Received {
    /// Always `true`.
    #[schemars(extend("const" = true))]
    pub received: bool,
}

/// The request was received and needs no retry.
pub(crate) fn received() -> Result<Response<Body>, Error> {
    json_response(StatusCode::OK.as_u16(), &Received { received: true })
}

/// An answer given before an event is applied.
pub(crate) enum Early {
    /// Refused (nothing changes): the status and the message to answer.
    Refused(StatusCode, &'static str),
    /// Authentic, but nothing for the app to do: acknowledged.
    Ignored,
}

impl Early {
    /// The answer to the request.
    pub(crate) fn answer(&self) -> Result<Response<Body>, Error> {
        match self {
            Early::Refused(status, message) => error_response(status.as_u16(), message),
            Early::Ignored => received(),
        }
    }
}

/// The start of step 4: the verified body as read by the endpoint's parser, or the early answer (an
/// ignored event type or object is acknowledged, an unreadable body refused).
fn relevant<E>(tenant: &str, parsed: Result<ParsedEvent<E>, EventParseError>) -> Result<E, Early> {
    match parsed {
        Ok(ParsedEvent::Relevant(event)) => Ok(event),
        Ok(ParsedEvent::Ignored {
            event_id,
            event_type,
            reason,
        }) => {
            tracing::info!(tenant, event_id, event_type, reason, "webhook event ignored");
            shared::metrics::webhook_event("ignored", "acknowledged");
            Err(Early::Ignored)
        }
        Err(e) => {
            tracing::warn!(tenant, error = %e, "signed webhook body unreadable");
            shared::metrics::webhook_event("unreadable", "refused");
            Err(Early::Refused(StatusCode::BAD_REQUEST, "unreadable event"))
        }
    }
}

/// Steps 1–3 of every Stripe webhook endpoint, in order: body size, the route's tenant, the signature
/// over the raw bytes with that tenant's secrets at `now` (Unix seconds); then the start of step 4, the
/// authentic body read by the endpoint's `parse`. Returns the route's tenant and the relevant event, or
/// the early answer.
pub(crate) async fn verify<'r, W, E>(
    secrets: &W,
    now: i64,
    request: &'r Request,
    parse: impl FnOnce(&[u8]) -> Result<ParsedEvent<E>, EventParseError>,
) -> Result<(&'r str, E), Early>
where
    W: WebhookSecrets,
{
    let body = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        tracing::warn!(bytes = body.len(), "webhook body too large");
        return Err(Early::Refused(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"));
    }
    let Some(tenant) = request
        .path_parameters_ref()
        .and_then(|p| p.first("tenantIdentifier"))
        .filter(|t| !t.is_empty())
    else {
        return Err(Early::Refused(StatusCode::BAD_REQUEST, "missing tenant identifier"));
    };
    let tenant_secrets = match secrets.secrets(tenant).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(tenant, error = %e, "webhook secrets unavailable");
            return Err(Early::Refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "temporarily unavailable",
            ));
        }
    };
    if tenant_secrets.is_empty() {
        tracing::warn!(
            tenant,
            "webhook refused: the tenant is disconnected, not configured, or has no signing secrets"
        );
        return Err(Early::Refused(StatusCode::BAD_REQUEST, "invalid signature"));
    }
    let header = request.headers().get("stripe-signature").and_then(|v| v.to_str().ok());
    if let Err(e) = verify_signature(header, body, &tenant_secrets, now) {
        tracing::warn!(tenant, reason = %e, "webhook signature refused");
        shared::metrics::count("WebhookSignatureRejected", 1);
        shared::metrics::webhook_event("unverified", "refused");
        return Err(Early::Refused(StatusCode::BAD_REQUEST, "invalid signature"));
    }
    Ok((tenant, relevant(tenant, parse(body))?))
}

/// Handles one webhook request.
pub async fn handle<S, P, C, W>(
    service: &WebhookService<'_, S, P, C>,
    secrets: &W,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: PaymentStore,
    P: EventPublisher,
    C: Clock,
    W: WebhookSecrets,
{
    let (tenant, event) = match verify(secrets, service.clock.epoch_seconds(), &request, parse_event).await {
        Ok(verified) => verified,
        Err(early) => return early.answer(),
    };
    tracing::Span::current().record("messageId", event.event_id.as_str());
    let outcome = service.handle(tenant, &event).await;
    let kind = event.change.kind();
    match outcome {
        Ok(report) => {
            shared::metrics::webhook_event(kind, report.outcome());
            match &report {
                WebhookReport::Applied(r) => tracing::info!(?r, "webhook applied"),
                WebhookReport::Inboxed => {
                    tracing::info!("webhook kept in the inbox")
                }
                WebhookReport::NotOurs => {
                    tracing::info!("webhook about a payment made outside the app")
                }
            }
            received()
        }
        Err(e) if e.is_retryable() => {
            shared::metrics::webhook_event(kind, "retry");
            tracing::warn!(error = %e, "webhook not applied; the PSP will retry");
            error_response(StatusCode::INTERNAL_SERVER_ERROR.as_u16(), "temporarily unavailable")
        }
        Err(e) => {
            shared::metrics::webhook_event(kind, "refused");
            tracing::warn!(error = %e, "webhook refused");
            error_response(StatusCode::BAD_REQUEST.as_u16(), &e.to_string())
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use secrecy::SecretString;
    use shared::adapters::stripe::webhook::signature_header;
    use shared::domain::PaymentStatus;
    use shared::ports::SecretsError;
    use shared::service::testing::{MemoryCommandService, authorized_order, memory_service, webhook_service};

    const TENANT: &str = "demo-tenant";
    const SECRET: &str = "whsec_test_demo";

    /// The demo tenant's secrets; other tenants have their own.
    struct Secrets;

    impl WebhookSecrets for Secrets {
        async fn secrets(&self, tenant: &str) -> Result<Vec<SecretString>, SecretsError> {
            Ok(match tenant {
                TENANT => vec![SecretString::from("whsec_previous"), SecretString::from(SECRET)],
                "other-tenant" => vec![SecretString::from("whsec_other")],
                _ => vec![],
            })
        }
    }

    /// An API Gateway v2 `fixture` (as JSON) with the body replaced and signed with `secret` at the
    /// service's time (no `Stripe-Signature` without one): also the accounts webhook's tests' requests.
    pub(crate) fn signed_event(
        svc: &MemoryCommandService,
        fixture: &str,
        body: &str,
        secret: Option<&str>,
    ) -> serde_json::Value {
        let mut event: serde_json::Value = serde_json::from_str(fixture).unwrap();
        event["body"] = serde_json::Value::String(body.to_string());
        let headers = event["headers"].as_object_mut().unwrap();
        match secret {
            Some(secret) => {
                let header = signature_header(&[secret], svc.clock.epoch_seconds(), body.as_bytes());
                headers.insert("stripe-signature".into(), header.into());
            }
            None => {
                headers.remove("stripe-signature");
            }
        }
        event
    }

    /// [`signed_event`] as a request.
    fn request(svc: &MemoryCommandService, fixture: &str, body: &str, secret: Option<&str>) -> Request {
        lambda_http::request::from_str(&signed_event(svc, fixture, body, secret).to_string()).unwrap()
    }

    const PAYMENT_INTENTS: &str = include_str!("../../events/stripe-payment-intents-webhook.json");
    const REFUNDS: &str = include_str!("../../events/stripe-refunds-webhook.json");

    /// A sample event's body (about `tx-DE--1001` of the demo tenant) with `pi` as its PaymentIntent.
    fn sample_body(fixture: &str, pi: &str) -> String {
        let event: serde_json::Value = serde_json::from_str(fixture).unwrap();
        event["body"].as_str().unwrap().replace("pi_sample", pi)
    }

    async fn call(svc: &MemoryCommandService, req: Request) -> (StatusCode, serde_json::Value) {
        let response = handle(&webhook_service(svc), &Secrets, req).await.unwrap();
        let (status, body) =
            crate::openapi::conforming("/webhooks/stripe/{tenantIdentifier}/payment-intents", response);
        (StatusCode::from_u16(status).unwrap(), body)
    }

    fn names(svc: &MemoryCommandService) -> Vec<String> {
        svc.publisher.published().into_iter().map(|e| e.detail_type).collect()
    }

    #[tokio::test]
    async fn the_sample_events_are_signed_fixtures_that_apply() {
        let svc = memory_service();
        let payment = authorized_order(&svc, TENANT, "DE--1001", 12000).await;
        // The sample intent event (succeeded, 12000 received) captures the authorized payment.
        let body = sample_body(PAYMENT_INTENTS, &payment.psp_reference);
        let (status, reply) = call(&svc, request(&svc, PAYMENT_INTENTS, &body, Some(SECRET))).await;
        assert_eq!((status, reply), (StatusCode::OK, serde_json::json!({"received": true})));
        assert_eq!(names(&svc), vec!["PaymentUpdated", "PaymentCaptured"]);
        let stored = svc.store.get_payment(TENANT, "tx-DE--1001").await.unwrap().unwrap();
        assert_eq!((stored.status, stored.captured), (PaymentStatus::Captured, 12000));
        // The same request again (Stripe retrying): no second effect.
        let (status, _) = call(&svc, request(&svc, PAYMENT_INTENTS, &body, Some(SECRET))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(names(&svc).len(), 2);
        // The refund sample names a refund the app never recorded: retried later, nothing changes.
        let body = sample_body(REFUNDS, &payment.psp_reference);
        let (status, reply) = call(&svc, request(&svc, REFUNDS, &body, Some(SECRET))).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(reply["errors"][0]["message"].is_string());
        assert_eq!(names(&svc).len(), 2);
    }

    #[tokio::test]
    async fn unauthentic_requests_are_refused_with_400_and_change_nothing() {
        let svc = memory_service();
        let payment = authorized_order(&svc, TENANT, "DE--1001", 12000).await;
        let body = sample_body(PAYMENT_INTENTS, &payment.psp_reference);
        let other_route = PAYMENT_INTENTS.replace(
            "\"tenantIdentifier\": \"demo-tenant\"",
            "\"tenantIdentifier\": \"other-tenant\"",
        );
        let unknown_route = PAYMENT_INTENTS.replace(
            "\"tenantIdentifier\": \"demo-tenant\"",
            "\"tenantIdentifier\": \"nobody\"",
        );
        let cases = [
            ("no signature", request(&svc, PAYMENT_INTENTS, &body, None)),
            (
                "unknown secret",
                request(&svc, PAYMENT_INTENTS, &body, Some("whsec_wrong")),
            ),
            (
                "another tenant's secret",
                request(&svc, PAYMENT_INTENTS, &body, Some("whsec_other")),
            ),
            (
                "this tenant's secret on another tenant's route",
                request(&svc, &other_route, &body, Some(SECRET)),
            ),
            (
                "a tenant without secrets",
                request(&svc, &unknown_route, &body, Some(SECRET)),
            ),
        ];
        for (what, req) in cases {
            let (status, reply) = call(&svc, req).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
            assert_eq!(
                reply,
                serde_json::json!({"errors": [{"message": "invalid signature"}]}),
                "{what}"
            );
        }
        // Signed, then changed.
        let mut changed = request(&svc, PAYMENT_INTENTS, &body, Some(SECRET));
        *changed.body_mut() = Body::Text(body.replace("12000", "1"));
        assert_eq!(call(&svc, changed).await.0, StatusCode::BAD_REQUEST);
        // Signed too long ago.
        let stale = request(&svc, PAYMENT_INTENTS, &body, Some(SECRET));
        svc.clock.advance(301);
        assert_eq!(call(&svc, stale).await.0, StatusCode::BAD_REQUEST);

        assert!(names(&svc).is_empty());
        let stored = svc.store.get_payment(TENANT, "tx-DE--1001").await.unwrap().unwrap();
        assert_eq!(stored, payment);
    }

    #[tokio::test]
    async fn oversized_and_unreadable_bodies_are_refused() {
        let svc = memory_service();
        let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let (status, reply) = call(&svc, request(&svc, PAYMENT_INTENTS, &huge, Some(SECRET))).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(reply["errors"][0]["message"], "request body too large");
        let (status, _) = call(&svc, request(&svc, PAYMENT_INTENTS, "not json", Some(SECRET))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let no_tenant = PAYMENT_INTENTS.replace("\"tenantIdentifier\": \"demo-tenant\"", "\"other\": \"x\"");
        let (status, _) = call(&svc, request(&svc, &no_tenant, "{}", Some(SECRET))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(names(&svc).is_empty());
    }

    #[tokio::test]
    async fn unknown_types_are_acknowledged_and_every_route_applies_every_event() {
        let svc = memory_service();
        let unknown = r#"{"id":"evt_9","object":"event","created":1767225600,"type":"customer.created","data":{"object":{"id":"cus_1"}}}"#;
        let (status, _) = call(&svc, request(&svc, PAYMENT_INTENTS, unknown, Some(SECRET))).await;
        assert_eq!(status, StatusCode::OK);
        // A payment-intent event on the refunds route is applied too (a tenant may point one Stripe
        // endpoint at the app): its payment is not known yet, so it is kept in the inbox.
        let body = sample_body(PAYMENT_INTENTS, "pi_sample");
        let (status, _) = call(&svc, request(&svc, REFUNDS, &body, Some(SECRET))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(svc.store.inbox(TENANT, "tx-DE--1001").await.unwrap().len(), 1);
        assert!(names(&svc).is_empty());
    }
}
