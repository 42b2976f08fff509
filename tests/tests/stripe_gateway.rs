//! The Stripe adapter against a real localstripe (`STRIPE_API_BASE`), directly and through the
//! [`FaultProxy`] for the faults and the idempotency localstripe lacks.

use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::stripe_customer::{CustomerError, LOCALSTRIPE_API_KEY, StripeCustomer, stripe_api_base};
use shared::adapters::stripe::{StaticApiKey, StripeGateway, Timeouts};
use shared::domain::{Currency, Money, PaymentMethod, PaymentStatus, RefundStatus};
use shared::ports::gateway::{CreatePayment, KeyCheck, KeyCheckError, PaymentGateway, PspError};
use std::collections::BTreeMap;
use std::time::Duration;

const TENANT: &str = "tenant-1";

fn gateway(base_url: &str, request_timeout: Duration) -> StripeGateway<StaticApiKey> {
    let timeouts = Timeouts {
        connect: Duration::from_secs(2),
        request: request_timeout,
    };
    StripeGateway::new(base_url, StaticApiKey::new(LOCALSTRIPE_API_KEY.into()), timeouts).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

fn unique_key(operation: &str) -> String {
    format!("{operation}:{TENANT}:{}", uuid::Uuid::new_v4())
}

/// Creates a 1000 EUR manual-capture PaymentIntent directly at localstripe and lets the customer
/// authorize it. Returns its id.
async fn authorized_intent() -> String {
    let base = stripe_api_base();
    let direct = gateway(&base, Duration::from_secs(10));
    let request = CreatePayment {
        amount: Money::new(1000, Currency::parse("EUR").unwrap()),
        method: PaymentMethod::Card,
        metadata: BTreeMap::from([("orderReference".to_string(), "DE--1".to_string())]),
        idempotency_key: unique_key("create"),
    };
    let intent = direct.create_payment(TENANT, &request).await.unwrap();
    StripeCustomer::new(&base, LOCALSTRIPE_API_KEY)
        .authorize(&intent.id)
        .await
        .unwrap();
    intent.id
}

fn capture_path(intent: &str) -> String {
    format!("/v1/payment_intents/{intent}/capture")
}

#[tokio::test]
async fn create_authorize_capture_partially_and_refund_twice() {
    let base = stripe_api_base();
    let gateway = gateway(&base, Duration::from_secs(10));
    let request = CreatePayment {
        amount: Money::new(1000, Currency::parse("EUR").unwrap()),
        method: PaymentMethod::Card,
        metadata: BTreeMap::from([
            ("orderReference".to_string(), "DE--42".to_string()),
            ("tenantIdentifier".to_string(), TENANT.to_string()),
        ]),
        idempotency_key: unique_key("create"),
    };
    let created = gateway.create_payment(TENANT, &request).await.unwrap();
    assert!(created.id.starts_with("pi_"), "{}", created.id);
    assert_eq!(
        (created.status, created.amount, created.amount_captured),
        (PaymentStatus::New, 1000, 0)
    );
    assert_eq!(created.currency, "EUR");
    assert!(created.client_secret.is_some());

    StripeCustomer::new(&base, LOCALSTRIPE_API_KEY)
        .authorize(&created.id)
        .await
        .unwrap();
    let authorized = gateway.get_payment(TENANT, &created.id).await.unwrap();
    assert_eq!(
        (authorized.status, authorized.amount_captured),
        (PaymentStatus::Authorized, 0)
    );

    let captured = gateway
        .capture(TENANT, &created.id, eur(600), true, &unique_key("capture"))
        .await
        .unwrap();
    assert_eq!(captured.status, PaymentStatus::Captured);
    // As on Stripe (infra/local/localstripe_server.py teaches localstripe): 600 captured, the rest released.
    assert_eq!(captured.amount_captured, 600);

    let metadata = BTreeMap::from([("refundId".to_string(), "r-1".to_string())]);
    let first = gateway
        .refund(TENANT, &created.id, eur(300), &unique_key("refund"), &metadata)
        .await
        .unwrap();
    assert!(first.id.starts_with("re_"), "{}", first.id);
    assert_eq!((first.status, first.amount), (RefundStatus::Succeeded, 300));
    let second = gateway
        .refund(TENANT, &created.id, eur(200), &unique_key("refund"), &metadata)
        .await
        .unwrap();
    assert_eq!((second.status, second.amount), (RefundStatus::Succeeded, 200));
    assert_ne!(first.id, second.id);
}

#[tokio::test]
async fn an_authorized_intent_can_be_canceled() {
    let intent = authorized_intent().await;
    let gateway = gateway(&stripe_api_base(), Duration::from_secs(10));
    let canceled = gateway.cancel(TENANT, &intent, &unique_key("cancel")).await.unwrap();
    assert_eq!(
        (canceled.status, canceled.amount_captured),
        (PaymentStatus::Canceled, 0)
    );
}

#[tokio::test]
async fn a_declined_card_leaves_the_payment_payable_and_capture_is_declined() {
    let base = stripe_api_base();
    let gateway = gateway(&base, Duration::from_secs(10));
    let request = CreatePayment {
        amount: Money::new(1000, Currency::parse("EUR").unwrap()),
        method: PaymentMethod::Card,
        metadata: BTreeMap::new(),
        idempotency_key: unique_key("create"),
    };
    let intent = gateway.create_payment(TENANT, &request).await.unwrap();

    // localstripe declines `pm_card_chargeCustomerFail` on confirm with 402 `card_declined`.
    let refusal = StripeCustomer::new(&base, LOCALSTRIPE_API_KEY)
        .pay_with(&intent.id, "pm_card_chargeCustomerFail")
        .await
        .unwrap_err();
    assert!(
        matches!(&refusal, CustomerError::Refused { step: "confirm", status: 402, body } if body.contains("card_declined")),
        "{refusal}"
    );
    // The intent is back to `requires_payment_method` with a `last_payment_error`: still payable (`new`),
    // with the decline's code.
    let failed = gateway.get_payment(TENANT, &intent.id).await.unwrap();
    assert_eq!(failed.status, PaymentStatus::New);
    assert_eq!(failed.decline.as_deref(), Some("card_declined"));

    // Capturing it is refused with localstripe's generic 400 (real Stripe: `payment_intent_unexpected_state`).
    let error = gateway
        .capture(TENANT, &intent.id, eur(1000), true, &unique_key("capture"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        PspError::Declined {
            code: "invalid_request_error".into(),
            message: "Bad request".into()
        }
    );

    // An unknown intent is a 404: every intent the app names is one it created, so an operator must
    // look; the outcome stays unknown (retried), never a failure answer.
    let missing = gateway.get_payment(TENANT, "pi_does_not_exist").await.unwrap_err();
    assert!(matches!(missing, PspError::Unknown(_)), "{missing:?}");
}

#[tokio::test]
async fn a_capture_whose_answer_was_lost_succeeds_on_retry_with_the_same_key_and_captures_once() {
    let intent = authorized_intent().await;
    let proxy = FaultProxy::start(&stripe_api_base()).await;
    proxy.inject("POST", "/capture", Fault::FailAfterForwarding { status: 500 }, 1);
    let gateway = gateway(proxy.base_url(), Duration::from_secs(10));
    let key = unique_key("capture");

    let first = gateway
        .capture(TENANT, &intent, eur(600), true, &key)
        .await
        .unwrap_err();
    assert!(matches!(first, PspError::Unknown(_)), "{first:?}");
    let retried = gateway.capture(TENANT, &intent, eur(600), true, &key).await.unwrap();
    assert_eq!(retried.status, PaymentStatus::Captured);
    assert_eq!(proxy.forwarded("POST", &capture_path(&intent)), 1);
}

#[tokio::test]
async fn a_server_error_before_forwarding_is_unknown_and_the_retry_goes_through() {
    let intent = authorized_intent().await;
    let proxy = FaultProxy::start(&stripe_api_base()).await;
    proxy.inject("POST", "/capture", Fault::FailBeforeForwarding { status: 500 }, 1);
    let gateway = gateway(proxy.base_url(), Duration::from_secs(10));
    let key = unique_key("capture");

    let first = gateway
        .capture(TENANT, &intent, eur(600), true, &key)
        .await
        .unwrap_err();
    assert!(matches!(first, PspError::Unknown(_)), "{first:?}");
    assert_eq!(proxy.forwarded("POST", &capture_path(&intent)), 0);
    assert_eq!(
        gateway.get_payment(TENANT, &intent).await.unwrap().status,
        PaymentStatus::Authorized
    );

    let retried = gateway.capture(TENANT, &intent, eur(600), true, &key).await.unwrap();
    assert_eq!(retried.status, PaymentStatus::Captured);
    assert_eq!(proxy.forwarded("POST", &capture_path(&intent)), 1);
}

#[tokio::test]
async fn a_timeout_is_unknown_although_the_capture_happened() {
    let intent = authorized_intent().await;
    let proxy = FaultProxy::start(&stripe_api_base()).await;
    proxy.inject(
        "POST",
        "/capture",
        Fault::DelayAfterForwarding(Duration::from_secs(3)),
        1,
    );
    let gateway = gateway(proxy.base_url(), Duration::from_millis(500));
    let key = unique_key("capture");

    let first = gateway
        .capture(TENANT, &intent, eur(600), true, &key)
        .await
        .unwrap_err();
    assert!(
        matches!(&first, PspError::Unknown(m) if m.starts_with("timeout")),
        "{first:?}"
    );
    // Unknown is not failed: re-reading shows the capture took effect.
    assert_eq!(
        gateway.get_payment(TENANT, &intent).await.unwrap().status,
        PaymentStatus::Captured
    );

    let retried = gateway.capture(TENANT, &intent, eur(600), true, &key).await.unwrap();
    assert_eq!(retried.status, PaymentStatus::Captured);
    assert_eq!(proxy.forwarded("POST", &capture_path(&intent)), 1);
}

#[tokio::test]
async fn a_key_is_checked_with_one_read_of_its_account() {
    let stripe = gateway(&stripe_api_base(), Duration::from_secs(5));
    let key = |k: &str| secrecy::SecretString::from(k.to_string());
    assert_eq!(stripe.check_key(&key(LOCALSTRIPE_API_KEY)).await, Ok(()));
    // localstripe, like Stripe, answers 401 to a key it does not take.
    assert!(matches!(
        stripe.check_key(&key("rk_test_not_accepted")).await,
        Err(KeyCheckError::Refused(_))
    ));
    // Nobody answering is not a refusal.
    let nowhere = gateway("http://127.0.0.1:9", Duration::from_secs(1));
    assert!(matches!(
        nowhere.check_key(&key(LOCALSTRIPE_API_KEY)).await,
        Err(KeyCheckError::Unavailable(_))
    ));
}
