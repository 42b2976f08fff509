//! Merchant onboarding end to end, in-process, through the real HTTP handlers: API Gateway v2 requests
//! (the sample events of `events/`) → `functions::onboarding::handle` → DynamoDB (moto) and Stripe
//! Connect (a wiremock double serving Stripe's documented Account and AccountLink shapes: localstripe
//! has no Connect); then signed `account.updated` deliveries → `functions::account_webhook::handle` →
//! DynamoDB → EventBridge (moto) → a bus rule → an SQS queue the test reads.
//!
//! Needs `AWS_ENDPOINT_URL` (moto).

use functions::{account_webhook, onboarding};
use integration_tests::acp::bus_messages;
use integration_tests::aws::{create_bus_to_queue, create_payment_table, sdk_config, unique_name};
use lambda_http::Request;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::stripe::webhook::signature_header;
use shared::adapters::stripe::{StaticApiKey, StripeGateway, Timeouts};
use shared::domain::{MerchantOnboarding, MerchantOnboardingStatus};
use shared::ports::clock::SystemClock;
use shared::ports::{Clock, OnboardingStore, SecretsError, WebhookSecrets};
use shared::service::{MerchantOnboarder, Settings, WebhookService};
use std::time::Duration;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk_test_platform";
const SECRET: &str = "whsec_onboarding_test";

/// The tenant's webhook secret.
struct Secrets(String);

impl WebhookSecrets for Secrets {
    async fn secrets(&self, tenant: &str) -> Result<Vec<SecretString>, SecretsError> {
        Ok(if tenant == self.0 {
            vec![SecretString::from(SECRET)]
        } else {
            Vec::new()
        })
    }
}

/// A sample event of `events/` with `edit` applied.
fn sample(name: &str, edit: impl FnOnce(&mut Value)) -> Request {
    let path = format!("{}/../events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("JSON");
    edit(&mut event);
    lambda_http::request::from_str(&event.to_string()).expect("API Gateway request")
}

/// The merchant's onboarding as the store has it now.
async fn stored_onboarding(store: &DynamoStore, tenant: &str, merchant: &str) -> MerchantOnboarding {
    store
        .get_onboarding(tenant, merchant)
        .await
        .expect("read")
        .expect("stored")
}

/// A Stripe Account right after creation (https://docs.stripe.com/api/accounts/object).
fn new_account(id: &str, merchant: &str, tenant: &str) -> Value {
    json!({
        "id": id, "object": "account", "type": "express", "country": "DE", "created": 1767225600,
        "business_profile": {"name": "Merchant One"}, "capabilities": {"card_payments": "inactive", "transfers": "inactive"},
        "charges_enabled": false, "payouts_enabled": false, "details_submitted": false, "default_currency": "eur",
        "metadata": {"merchantReference": merchant, "tenantIdentifier": tenant},
        "requirements": {"current_deadline": null, "currently_due": ["external_account", "tos_acceptance.date"],
                         "disabled_reason": "requirements.past_due", "errors": [],
                         "eventually_due": ["external_account", "tos_acceptance.date"],
                         "past_due": ["external_account", "tos_acceptance.date"], "pending_verification": []}
    })
}

#[tokio::test]
async fn a_merchant_onboards_once_and_its_status_changes_reach_the_bus_in_order() {
    let aws = sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let eb = aws_sdk_eventbridge::Client::new(&aws);
    let store = DynamoStore::new(dynamo.clone(), create_payment_table(&dynamo).await);
    let bus = create_bus_to_queue(&eb, &sqs).await;
    let tenant = unique_name("tenant");
    let merchant = unique_name("MER");

    // Stripe Connect: one account for the merchant, a new link per call.
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/accounts"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(header(
            "idempotency-key",
            format!("onboarding-account:{tenant}:{merchant}").as_str(),
        ))
        .and(body_string_contains("type=express"))
        .respond_with(ResponseTemplate::new(200).set_body_json(new_account("acct_1Onb", &merchant, &tenant)))
        .expect(1)
        .mount(&stripe)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/account_links"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_string_contains("account=acct_1Onb"))
        .and(body_string_contains("type=account_onboarding"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "account_link", "created": 1767225600, "expires_at": 1767225900,
            "url": "https://connect.stripe.com/setup/e/acct_1Onb/link"})))
        .expect(2)
        .mount(&stripe)
        .await;
    let accounts =
        StripeGateway::new(&stripe.uri(), StaticApiKey::new(KEY.into()), Timeouts::default()).expect("gateway");
    let onboarder = MerchantOnboarder {
        store: &store,
        accounts: &accounts,
    };
    let onboarding_request = || {
        sample("merchant-onboarding", |e| {
            e["headers"]["x-tenant-identifier"] = json!(tenant);
            e["headers"]["x-merchant-reference"] = json!(merchant);
            let mut body: Value = serde_json::from_str(e["body"].as_str().expect("body")).expect("JSON");
            body["merchant"]["merchantReference"] = json!(merchant);
            e["body"] = json!(body.to_string());
        })
    };
    for expected in [201, 200] {
        let response = onboarding::handle(&onboarder, onboarding_request())
            .await
            .expect("answer");
        let body: Value = serde_json::from_slice(response.body().as_ref()).expect("JSON");
        assert_eq!(
            (response.status().as_u16(), body),
            (
                expected,
                json!({"strategy": "redirect", "url": "https://connect.stripe.com/setup/e/acct_1Onb/link"})
            )
        );
    }
    let stored = stored_onboarding(&store, &tenant, &merchant).await;
    assert_eq!(
        (stored.account_id.as_str(), stored.status),
        ("acct_1Onb", MerchantOnboardingStatus::Incomplete)
    );
    stripe.verify().await;

    // Stripe reports the account's progress.
    let publisher = EventBridgePublisher::new(eb.clone(), &bus.bus_name);
    let settings = Settings::new(&bus.source);
    let hooks = WebhookService {
        store: &store,
        publisher: &publisher,
        clock: &SystemClock,
        settings: &settings,
    };
    let secrets = Secrets(tenant.clone());
    let deliver = |id: &str, created: i64, changes: Value| {
        let mut account = new_account("acct_1Onb", &merchant, &tenant);
        account["details_submitted"] = json!(true);
        account["requirements"] = json!({"current_deadline": null, "currently_due": [], "disabled_reason": null,
                                         "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []});
        for (k, v) in changes.as_object().expect("object") {
            account[k] = v.clone();
        }
        let body = json!({"id": id, "object": "event", "type": "account.updated", "created": created,
                          "account": "acct_1Onb", "data": {"object": account}})
        .to_string();
        let signature = signature_header(&[SECRET], SystemClock.epoch_seconds(), body.as_bytes());
        sample("stripe-accounts-webhook", |e| {
            e["pathParameters"]["tenantIdentifier"] = json!(tenant);
            e["headers"]["stripe-signature"] = json!(signature);
            e["body"] = json!(body);
        })
    };
    let steps = [
        deliver("evt_1", 1, json!({})),
        deliver("evt_1", 1, json!({})),
        deliver("evt_2", 2, json!({"charges_enabled": true})),
        deliver("evt_3", 3, json!({"charges_enabled": true, "payouts_enabled": true})),
        deliver("evt_4", 4, json!({"charges_enabled": true, "payouts_enabled": true})),
    ];
    for request in steps {
        let response = account_webhook::handle(&hooks, &secrets, request)
            .await
            .expect("answer");
        assert_eq!(response.status().as_u16(), 200);
    }
    let messages = bus_messages(&sqs, &bus.queue_url, 3, Duration::from_secs(20)).await;
    let got: Vec<(String, String, Value)> = messages
        .iter()
        .map(|m| (m.name.clone(), m.channel.clone(), m.payload.clone()))
        .collect();
    let message = |status: &str| {
        (
            "MerchantAppOnboardingStatusChanged".to_string(),
            "merchant-app-events".to_string(),
            json!({"merchantReference": merchant, "appIdentifier": bus.source, "type": "payment", "status": status}),
        )
    };
    assert_eq!(got, vec![message("pending"), message("enabled"), message("completed")]);
    let stored = stored_onboarding(&store, &tenant, &merchant).await;
    assert_eq!(
        (stored.status, stored.version),
        (MerchantOnboardingStatus::Completed, 3)
    );
}
