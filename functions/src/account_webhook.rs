//! The HTTP handler of the Stripe accounts webhook function (`POST
//! /webhooks/stripe/{tenantIdentifier}/accounts`, no JWT: the signature authenticates the request).
//! Steps 1–3 are the payment webhooks' ([`crate::webhook_handler::verify`]: body size, the route's
//! tenant, the signature over the raw bytes); then the body is read as a Stripe account event and
//! applied by `shared::service::WebhookService::handle_account`, which sends MerchantAppOnboardingStatusChanged
//! when the merchant's status changes.
//!
//! Answers: 200 when applied, already applied, or nothing to do (another event type, an account the
//! tenant has no onboarding for); 400 for refusals (nothing changes); 500 when a later delivery may
//! succeed (store or bus unavailable, a concurrent delivery), so Stripe retries.

use crate::http::error_response;
use crate::webhook_handler::{received, verify};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use shared::adapters::stripe::connect::parse_account_event;
use shared::ports::{Clock, EventPublisher, OnboardingStore, PaymentStore, WebhookSecrets};
use shared::service::{AccountReport, WebhookService};

/// Handles one request to the accounts endpoint.
pub async fn handle<S, P, C, W>(
    service: &WebhookService<'_, S, P, C>,
    secrets: &W,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: PaymentStore + OnboardingStore,
    P: EventPublisher,
    C: Clock,
    W: WebhookSecrets,
{
    let (tenant, event) = match verify(secrets, service.clock.epoch_seconds(), &request, parse_account_event).await {
        Ok(verified) => verified,
        Err(early) => return early.answer(),
    };
    tracing::Span::current().record("messageId", event.event_id.as_str());
    match service.handle_account(tenant, &event).await {
        Ok(report) => {
            let outcome = match &report {
                AccountReport::Applied(r) => r.outcome(),
                AccountReport::UnknownAccount => "unknown_account",
            };
            shared::metrics::webhook_event("account", outcome);
            match &report {
                AccountReport::Applied(r) => {
                    tracing::info!(?r, "account event applied")
                }
                AccountReport::UnknownAccount => {
                    tracing::info!(account = event.account.id, "account without onboarding: ignored")
                }
            }
            received()
        }
        Err(e) => {
            shared::metrics::webhook_event("account", "retry");
            tracing::warn!(error = %e, "account event not applied; Stripe will retry");
            error_response(StatusCode::INTERNAL_SERVER_ERROR.as_u16(), "temporarily unavailable")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use shared::adapters::memory::MemoryAccounts;
    use shared::domain::MerchantOnboardingStatus;
    use shared::ports::SecretsError;
    use shared::service::testing::{MemoryCommandService, memory_service};
    use shared::service::{MerchantOnboarder, OnboardingRequest};

    const TENANT: &str = "demo-tenant";
    const SECRET: &str = "whsec_test_demo";
    const SAMPLE: &str = include_str!("../../events/stripe-accounts-webhook.json");

    struct Secrets;

    impl WebhookSecrets for Secrets {
        async fn secrets(&self, tenant: &str) -> Result<Vec<SecretString>, SecretsError> {
            Ok(match tenant {
                TENANT => vec![SecretString::from(SECRET)],
                "other-tenant" => vec![SecretString::from("whsec_other")],
                _ => vec![],
            })
        }
    }

    fn service(
        svc: &MemoryCommandService,
    ) -> WebhookService<
        '_,
        shared::adapters::memory::MemoryStore,
        shared::adapters::memory::MemoryPublisher,
        shared::adapters::memory::FixedClock,
    > {
        WebhookService::of(svc)
    }

    /// Onboards merchant MER000001 of the demo tenant; its account is `acct_1`.
    async fn onboarded(svc: &MemoryCommandService) {
        let request = OnboardingRequest::new(
            "MER000001",
            "Merchant One",
            "https://s.example/ok",
            "https://s.example/again",
            &[],
        )
        .unwrap();
        let accounts = MemoryAccounts::new();
        let onboarder = MerchantOnboarder {
            store: &svc.store,
            accounts: &accounts,
        };
        onboarder.start(TENANT, &request).await.unwrap();
    }

    /// The sample event with `body` (signed with `secret` now) and the route's tenant `route`.
    fn request(svc: &MemoryCommandService, route: &str, body: &str, secret: Option<&str>) -> Request {
        let mut event = crate::webhook_handler::tests::signed_event(svc, SAMPLE, body, secret);
        event["pathParameters"]["tenantIdentifier"] = route.into();
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    /// The sample body about `acct_1` as event `id`, with `changes` applied to the account.
    fn body(id: &str, created: i64, changes: serde_json::Value) -> String {
        let event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        let mut body: serde_json::Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        body["id"] = id.into();
        body["created"] = created.into();
        body["account"] = "acct_1".into();
        let account = &mut body["data"]["object"];
        account["id"] = "acct_1".into();
        for (k, v) in changes.as_object().unwrap() {
            account[k] = v.clone();
        }
        body.to_string()
    }

    async fn call(svc: &MemoryCommandService, req: Request) -> StatusCode {
        handle(&service(svc), &Secrets, req).await.unwrap().status()
    }

    fn statuses(svc: &MemoryCommandService) -> Vec<String> {
        svc.publisher
            .published()
            .iter()
            .map(|e| {
                let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
                format!("{} {}", e.detail_type, detail["payload"]["status"].as_str().unwrap())
            })
            .collect()
    }

    #[tokio::test]
    async fn the_sample_event_is_a_signed_fixture() {
        let svc = memory_service();
        let req = lambda_http::request::from_str(SAMPLE).unwrap();
        // Signed at the service clock's time (2026-01-01) with the demo secret; the account is unknown.
        assert_eq!(call(&svc, req).await, StatusCode::OK);
        assert!(svc.publisher.published().is_empty());
    }

    #[tokio::test]
    async fn account_updates_emit_each_status_change_once() {
        let svc = memory_service();
        onboarded(&svc).await;
        let pending = body("evt_1", 1, serde_json::json!({"charges_enabled": false}));
        let enabled = body("evt_2", 2, serde_json::json!({}));
        let completed = body("evt_3", 3, serde_json::json!({"payouts_enabled": true}));
        let completed_again = body("evt_4", 4, serde_json::json!({"payouts_enabled": true}));
        for b in [&pending, &pending, &enabled, &completed, &completed_again] {
            assert_eq!(call(&svc, request(&svc, TENANT, b, Some(SECRET))).await, StatusCode::OK);
        }
        assert_eq!(
            statuses(&svc),
            vec![
                "MerchantAppOnboardingStatusChanged pending",
                "MerchantAppOnboardingStatusChanged enabled",
                "MerchantAppOnboardingStatusChanged completed"
            ]
        );
        let stored = svc.store.get_onboarding(TENANT, "MER000001").await.unwrap().unwrap();
        assert_eq!(stored.status, MerchantOnboardingStatus::Completed);
    }

    #[tokio::test]
    async fn forged_stale_and_foreign_requests_change_nothing() {
        let svc = memory_service();
        onboarded(&svc).await;
        let b = body("evt_1", 1, serde_json::json!({"charges_enabled": false}));
        let cases = [
            ("no signature", request(&svc, TENANT, &b, None)),
            ("forged", request(&svc, TENANT, &b, Some("whsec_forged"))),
            (
                "another tenant's secret",
                request(&svc, TENANT, &b, Some("whsec_other")),
            ),
            (
                "on another tenant's route",
                request(&svc, "other-tenant", &b, Some(SECRET)),
            ),
        ];
        for (what, req) in cases {
            assert_eq!(call(&svc, req).await, StatusCode::BAD_REQUEST, "{what}");
        }
        let stale = request(&svc, TENANT, &b, Some(SECRET));
        svc.clock.advance(301);
        assert_eq!(call(&svc, stale).await, StatusCode::BAD_REQUEST);
        let mut changed = request(&svc, TENANT, &b, Some(SECRET));
        *changed.body_mut() = Body::Text(b.replace("\"charges_enabled\":false", "\"charges_enabled\":true"));
        assert_eq!(call(&svc, changed).await, StatusCode::BAD_REQUEST);
        // Authentic but unreadable; authentic but another type: refused, acknowledged.
        assert_eq!(
            call(&svc, request(&svc, TENANT, "{\"id\":1}", Some(SECRET))).await,
            StatusCode::BAD_REQUEST
        );
        let other = b.replace("account.updated", "account.external_account.created");
        assert_eq!(
            call(&svc, request(&svc, TENANT, &other, Some(SECRET))).await,
            StatusCode::OK
        );
        assert!(svc.publisher.published().is_empty());
        let stored = svc.store.get_onboarding(TENANT, "MER000001").await.unwrap().unwrap();
        assert_eq!(stored.status, MerchantOnboardingStatus::Incomplete);
    }

    #[tokio::test]
    async fn a_bus_outage_answers_500_and_the_retry_delivers() {
        let svc = memory_service();
        onboarded(&svc).await;
        let b = body("evt_1", 1, serde_json::json!({"charges_enabled": false}));
        svc.publisher.fail_next(1);
        assert_eq!(
            call(&svc, request(&svc, TENANT, &b, Some(SECRET))).await,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        svc.clock.advance(svc.settings.publish_lease_seconds + 1);
        assert_eq!(
            call(&svc, request(&svc, TENANT, &b, Some(SECRET))).await,
            StatusCode::OK
        );
        assert_eq!(statuses(&svc), vec!["MerchantAppOnboardingStatusChanged pending"]);
    }
}
