//! The checkout calls on the in-memory twins.

use super::*;
use crate::acp::sync::PreOrderPaymentData;
use crate::adapters::memory::GatewayFault;
use crate::domain::CaptureMode;
use crate::service::testing::{MemoryCheckoutService, memory_checkout};
use secrecy::ExposeSecret;
use serde_json::json;

const TENANT: &str = "tenant-a";

fn order_data(reference: Option<&str>, total: i64) -> OrderData {
    let mut body = json!({"currencyCode": "EUR", "grandTotal": total,
                          "items": [{"idSalesOrderItem": 11}, {"idSalesOrderItem": 12}]});
    if let Some(reference) = reference {
        body["orderReference"] = json!(reference);
    }
    serde_json::from_value(body).unwrap()
}

fn initialize(reference: &str, total: i64) -> InitializePaymentRequest {
    InitializePaymentRequest {
        order_data: order_data(Some(reference), total),
        redirect_success_url: Some("https://shop.example.com/payment/order-success".into()),
        redirect_cancel_url: Some("https://shop.example.com/payment/order-cancel".into()),
        checkout_summary_page_url: None,
    }
}

fn pre_order(named: Option<&str>) -> PreOrderPaymentRequest {
    PreOrderPaymentRequest {
        order_data: order_data(None, 1000),
        pre_order_payment_data: named.map(|tx| PreOrderPaymentData {
            transaction_id: Some(tx.into()),
        }),
    }
}

fn confirm(body: serde_json::Value) -> ConfirmPreOrderPaymentRequest {
    serde_json::from_value(body).unwrap()
}

/// The names of the events published so far.
fn published(svc: &MemoryCheckoutService) -> Vec<String> {
    svc.commands
        .publisher
        .published()
        .into_iter()
        .map(|e| e.detail_type)
        .collect()
}

/// The payload of the last published event named `name`.
fn payload_of(svc: &MemoryCheckoutService, name: &str) -> serde_json::Value {
    let event = svc
        .commands
        .publisher
        .published()
        .into_iter()
        .rfind(|e| e.detail_type == name)
        .unwrap();
    serde_json::from_str::<serde_json::Value>(&event.detail).unwrap()["payload"].clone()
}

async fn stored(svc: &MemoryCheckoutService, tx: &str) -> Payment {
    svc.commands.store.get_payment(TENANT, tx).await.unwrap().unwrap()
}

/// A headless payment the customer has paid (or failed to) at the PSP with outcome `status`.
async fn paid_headless(svc: &MemoryCheckoutService, status: PaymentStatus) -> String {
    let created = svc.pre_order_payment(TENANT, &pre_order(None)).await.unwrap();
    let payment = stored(svc, &created.transaction_id).await;
    assert!(svc.commands.gateway.customer_completes(&payment.psp_reference, status));
    created.transaction_id
}

#[tokio::test]
async fn initialize_creates_one_intent_a_new_payment_and_payment_created() {
    let svc = memory_checkout();
    let created = svc
        .initialize_payment(TENANT, &initialize("DE--1", 1999))
        .await
        .unwrap();
    assert!(created.has_order);
    assert!(
        created.client_secret.is_none(),
        "the hosted page needs no client secret"
    );

    let payment = stored(&svc, &created.transaction_id).await;
    assert_eq!(payment.status, PaymentStatus::New);
    assert_eq!(payment.order_reference.as_deref(), Some("DE--1"));
    assert_eq!(payment.order_item_ids, vec![11, 12]);
    assert_eq!(payment.amount.minor, 1999);
    assert_eq!(svc.commands.gateway.effects("create_payment"), 1);
    let intent = svc.commands.gateway.intent(&payment.psp_reference).unwrap();
    assert_eq!((intent.amount, intent.currency.as_str()), (1999, "EUR"));
    assert_eq!(
        svc.commands.gateway.metadata(&payment.psp_reference).unwrap(),
        BTreeMap::from([
            ("orderReference".to_string(), "DE--1".to_string()),
            ("tenantIdentifier".to_string(), TENANT.to_string()),
            ("transactionId".to_string(), created.transaction_id.clone()),
        ])
    );

    assert_eq!(published(&svc), vec!["PaymentCreated"]);
    let payload = payload_of(&svc, "PaymentCreated");
    assert_eq!(payload["entityReference"], "DE--1");
    assert_eq!(payload["paymentReference"], created.transaction_id.as_str());
    assert_eq!(
        svc.listener.calls(),
        vec![(TENANT.to_string(), created.transaction_id.clone())]
    );
}

#[tokio::test]
async fn a_repeated_initialize_returns_the_same_payment_without_a_second_intent() {
    let svc = memory_checkout();
    let first = svc
        .initialize_payment(TENANT, &initialize("DE--1", 1999))
        .await
        .unwrap();
    let again = svc
        .initialize_payment(TENANT, &initialize("DE--1", 1999))
        .await
        .unwrap();
    assert_eq!(again.transaction_id, first.transaction_id);
    assert_eq!(svc.commands.gateway.effects("create_payment"), 1);
    assert_eq!(published(&svc), vec!["PaymentCreated"]);

    let other_amount = svc.initialize_payment(TENANT, &initialize("DE--1", 5000)).await;
    assert!(
        matches!(other_amount, Err(CheckoutError::Refused(_))),
        "{other_amount:?}"
    );
    assert_eq!(svc.commands.gateway.effects("create_payment"), 1);

    let other_tenant = svc
        .initialize_payment("tenant-b", &initialize("DE--1", 1999))
        .await
        .unwrap();
    assert_ne!(other_tenant.transaction_id, first.transaction_id);
}

#[tokio::test]
async fn an_unknown_psp_outcome_is_retried_and_the_order_gets_one_payment() {
    let svc = memory_checkout();
    // The intent is created but the answer is lost, and so are the two retries within the call.
    svc.commands
        .gateway
        .inject("create_payment", GatewayFault::ApplyThenLose);
    for _ in 0..2 {
        svc.commands.gateway.inject(
            "create_payment",
            GatewayFault::Fail(PspError::Unknown("timeout (injected)".into())),
        );
    }
    let lost = svc.initialize_payment(TENANT, &initialize("DE--2", 1000)).await;
    assert!(matches!(lost, Err(CheckoutError::Unavailable(_))), "{lost:?}");
    assert_eq!(published(&svc), Vec::<String>::new());

    let created = svc
        .initialize_payment(TENANT, &initialize("DE--2", 1000))
        .await
        .unwrap();
    // The retry has a new transaction id, so a new PaymentIntent: the lost one was never handed to
    // anyone (no client secret, no page), so it can never be confirmed and holds nothing.
    assert_eq!(svc.commands.gateway.effects("create_payment"), 2);
    assert_eq!(published(&svc), vec!["PaymentCreated"]);
    let again = svc
        .initialize_payment(TENANT, &initialize("DE--2", 1000))
        .await
        .unwrap();
    assert_eq!(again.transaction_id, created.transaction_id);
    assert_eq!(stored(&svc, &created.transaction_id).await.status, PaymentStatus::New);
}

#[tokio::test]
async fn invalid_orders_and_psp_declines_are_refused() {
    let svc = memory_checkout();
    let mut request = initialize("DE--3", 1000);
    request.order_data.currency_code = "XXX1".into();
    assert!(matches!(
        svc.initialize_payment(TENANT, &request).await,
        Err(CheckoutError::Invalid(_))
    ));
    assert!(matches!(
        svc.initialize_payment(TENANT, &initialize("DE--3", 0)).await,
        Err(CheckoutError::Invalid(_))
    ));
    svc.commands.gateway.inject(
        "create_payment",
        GatewayFault::Fail(PspError::Declined {
            code: "amount_too_small".into(),
            message: "Amount must be at least 50 cents".into(),
        }),
    );
    let declined = svc.initialize_payment(TENANT, &initialize("DE--3", 10)).await;
    assert!(
        matches!(&declined, Err(CheckoutError::Refused(m)) if m.contains("at least 50 cents")),
        "{declined:?}"
    );
    assert_eq!(published(&svc), Vec::<String>::new());
    assert!(svc.listener.calls().is_empty());
}

#[tokio::test]
async fn pre_order_creates_a_payment_without_order_announced_by_payment_created() {
    let svc = memory_checkout();
    let created = svc.pre_order_payment(TENANT, &pre_order(None)).await.unwrap();
    assert!(!created.has_order);
    let payment = stored(&svc, &created.transaction_id).await;
    assert_eq!(
        (payment.order_reference.as_deref(), payment.status),
        (None, PaymentStatus::New)
    );
    let secret = created.client_secret.unwrap();
    assert_eq!(secret.expose_secret(), format!("{}_secret", payment.psp_reference));
    // The back office shows it (§3.2): PaymentCreated with the payment's reference and no entity yet.
    assert_eq!(published(&svc), vec!["PaymentCreated"]);
    let created_payload = payload_of(&svc, "PaymentCreated");
    assert_eq!(created_payload["paymentReference"], payment.transaction_id.as_str());
    assert!(created_payload.get("entityReference").is_none(), "{created_payload}");
    assert_eq!(
        svc.commands
            .gateway
            .metadata(&payment.psp_reference)
            .unwrap()
            .get("transactionId"),
        Some(&created.transaction_id)
    );

    // A repeated call naming the payment gets it back; an unknown name gets a new payment.
    let again = svc
        .pre_order_payment(TENANT, &pre_order(Some(&created.transaction_id)))
        .await
        .unwrap();
    assert_eq!(again.transaction_id, created.transaction_id);
    assert_eq!(svc.commands.gateway.effects("create_payment"), 1);
    let fresh = svc
        .pre_order_payment(TENANT, &pre_order(Some("made-up")))
        .await
        .unwrap();
    assert_ne!(fresh.transaction_id, "made-up");
    assert_eq!(svc.commands.gateway.effects("create_payment"), 2);
}

#[tokio::test]
async fn return_urls_are_stored_and_only_https_ones_are_accepted() {
    let svc = memory_checkout();
    let created = svc
        .initialize_payment(TENANT, &initialize("DE-urls", 1000))
        .await
        .unwrap();
    let payment = svc
        .commands
        .store
        .get_payment(TENANT, &created.transaction_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        payment.return_urls.success.as_deref(),
        Some("https://shop.example.com/payment/order-success")
    );
    for bad in [
        "http://shop.example.com/ok",
        "javascript:alert(1)",
        "//evil.example.com",
        "http://127.0.0.1/ok",
    ] {
        let mut request = initialize("DE-bad-url", 1000);
        request.redirect_success_url = Some(bad.into());
        let refused = svc.initialize_payment(TENANT, &request).await;
        assert!(matches!(refused, Err(CheckoutError::Invalid(_))), "{bad}: {refused:?}");
    }
}

#[tokio::test]
async fn the_orders_payment_method_chooses_its_capture_and_unknown_ones_are_refused() {
    let svc = memory_checkout();
    for (method, name, capture) in [
        (Some("stripe-ideal"), None, CaptureMode::Automatic),
        (Some("foreign-payment"), Some("Klarna"), CaptureMode::Manual),
        (None, None, CaptureMode::Manual),
    ] {
        let mut request = initialize(&format!("DE-{method:?}-{name:?}"), 1000);
        request.order_data.payment_method = method.map(str::to_string);
        request.order_data.payment_method_name = name.map(str::to_string);
        let created = svc.initialize_payment(TENANT, &request).await.unwrap();
        assert_eq!(
            stored(&svc, &created.transaction_id).await.capture,
            capture,
            "{method:?} {name:?}"
        );
    }
    let mut request = initialize("DE-bitcoin", 1000);
    request.order_data.payment_method = Some("Bitcoin".into());
    let refused = svc.initialize_payment(TENANT, &request).await;
    assert!(
        matches!(refused, Err(CheckoutError::Invalid(ref m)) if m.contains("Bitcoin")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_cart_whose_total_changed_reprices_its_unpaid_pre_order_payment() {
    let svc = memory_checkout();
    let first = svc.pre_order_payment(TENANT, &pre_order(None)).await.unwrap();
    for total in [1500, 1000, 1500] {
        let mut again = pre_order(Some(&first.transaction_id));
        again.order_data.grand_total = total;
        let answer = svc.pre_order_payment(TENANT, &again).await.unwrap();
        assert_eq!(answer.transaction_id, first.transaction_id);
        let payment = stored(&svc, &first.transaction_id).await;
        assert_eq!(payment.amount.minor, total);
        let intent = svc
            .commands
            .gateway
            .get_payment(TENANT, &payment.psp_reference)
            .await
            .unwrap();
        assert_eq!(intent.amount, total, "the authorization matches the cart");
    }
    assert_eq!(
        published(&svc),
        vec!["PaymentCreated"],
        "repricing a payment without an order is no PaymentUpdated (it needs entityReference)"
    );
}

#[tokio::test]
async fn transaction_ids_are_random_not_derived_from_the_order() {
    let (a, b) = (memory_checkout(), memory_checkout());
    let first = a.initialize_payment(TENANT, &initialize("DE-1", 1000)).await.unwrap();
    let second = b.initialize_payment(TENANT, &initialize("DE-1", 1000)).await.unwrap();
    assert_ne!(first.transaction_id, second.transaction_id);
    // The same order on one service is still answered with its one payment.
    let again = a.initialize_payment(TENANT, &initialize("DE-1", 1000)).await.unwrap();
    assert_eq!(again.transaction_id, first.transaction_id);
}

#[tokio::test]
async fn initialize_without_an_order_reference_is_a_pre_order_payment() {
    let svc = memory_checkout();
    let request = InitializePaymentRequest {
        order_data: order_data(None, 1000),
        redirect_success_url: None,
        redirect_cancel_url: None,
        checkout_summary_page_url: None,
    };
    let created = svc.initialize_payment(TENANT, &request).await.unwrap();
    assert!(!created.has_order);
    assert!(created.client_secret.is_some());
    assert_eq!(published(&svc), vec!["PaymentCreated"]);
}

#[tokio::test]
async fn confirm_of_an_authorized_intent_attaches_the_order_and_tells_the_tenant() {
    let svc = memory_checkout();
    let tx = paid_headless(&svc, PaymentStatus::Authorized).await;
    let body = json!({"orderReference": "DE--7", "transactionId": tx,
                      "orderData": {"items": [{"idSalesOrderItem": "21"}, {"idSalesOrderItem": 22}]}});
    svc.confirm_pre_order_payment(TENANT, &confirm(body)).await.unwrap();

    let payment = stored(&svc, &tx).await;
    assert_eq!(payment.status, PaymentStatus::Authorized);
    assert_eq!(payment.order_reference.as_deref(), Some("DE--7"));
    assert_eq!(payment.order_item_ids, vec![21, 22]);
    assert_eq!(
        svc.commands.store.find_payment_by_order(TENANT, "DE--7").await.unwrap(),
        Some(payment.clone())
    );
    assert_eq!(
        published(&svc),
        vec!["PaymentCreated", "PaymentUpdated", "PaymentAuthorized"]
    );
    assert_eq!(payload_of(&svc, "PaymentUpdated")["entityReference"], "DE--7");
    assert_eq!(
        payload_of(&svc, "PaymentAuthorized"),
        json!({"orderReference": "DE--7", "orderItemIds": [21, 22], "amount": 1000, "currencyIsoCode": "EUR"})
    );
    assert_eq!(
        svc.commands
            .gateway
            .metadata(&payment.psp_reference)
            .unwrap()
            .get("orderReference")
            .map(String::as_str),
        Some("DE--7")
    );
    // Created, then confirmed: the listener heard of the payment both times.
    assert_eq!(
        svc.listener.calls(),
        vec![(TENANT.to_string(), tx.clone()), (TENANT.to_string(), tx.clone())]
    );

    // The same confirmation again changes nothing and sends nothing.
    svc.confirm_pre_order_payment(
        TENANT,
        &confirm(json!({"orderReference": "DE--7", "transactionId": tx})),
    )
    .await
    .unwrap();
    assert_eq!(published(&svc).len(), 3);
}

#[tokio::test]
async fn confirm_reads_the_id_inside_pre_order_payment_data() {
    let svc = memory_checkout();
    let tx = paid_headless(&svc, PaymentStatus::Authorized).await;
    let body = json!({"orderReference": "DE--8", "preOrderPaymentData": {"transactionId": tx}});
    svc.confirm_pre_order_payment(TENANT, &confirm(body)).await.unwrap();
    assert_eq!(stored(&svc, &tx).await.status, PaymentStatus::Authorized);
}

#[tokio::test]
async fn confirm_before_the_customer_paid_attaches_the_order_and_waits_for_the_webhook() {
    let svc = memory_checkout();
    let tx = paid_headless(&svc, PaymentStatus::New).await;
    svc.confirm_pre_order_payment(
        TENANT,
        &confirm(json!({"orderReference": "DE--9", "transactionId": tx})),
    )
    .await
    .unwrap();
    let payment = stored(&svc, &tx).await;
    assert_eq!(
        (payment.status, payment.order_reference.as_deref()),
        (PaymentStatus::New, Some("DE--9"))
    );
    assert_eq!(published(&svc), vec!["PaymentCreated", "PaymentUpdated"]);
}

#[tokio::test]
async fn confirm_of_a_failed_authorization_is_refused_and_reported() {
    let svc = memory_checkout();
    let tx = paid_headless(&svc, PaymentStatus::AuthorizationFailed).await;
    let result = svc
        .confirm_pre_order_payment(
            TENANT,
            &confirm(json!({"orderReference": "DE--10", "transactionId": tx})),
        )
        .await;
    assert!(matches!(result, Err(CheckoutError::Refused(_))), "{result:?}");
    assert_eq!(
        published(&svc),
        vec!["PaymentCreated", "PaymentUpdated", "PaymentAuthorizationFailed"]
    );
}

#[tokio::test]
async fn confirm_refuses_unknown_payments_missing_ids_and_orders_that_have_another_payment() {
    let svc = memory_checkout();
    let unknown = svc
        .confirm_pre_order_payment(
            TENANT,
            &confirm(json!({"orderReference": "DE--1", "transactionId": "nope"})),
        )
        .await;
    assert!(matches!(unknown, Err(CheckoutError::UnknownPayment(_))), "{unknown:?}");
    let missing = svc
        .confirm_pre_order_payment(TENANT, &confirm(json!({"orderReference": "DE--1"})))
        .await;
    assert!(matches!(missing, Err(CheckoutError::Invalid(_))), "{missing:?}");

    svc.initialize_payment(TENANT, &initialize("DE--1", 1000))
        .await
        .unwrap();
    let tx = paid_headless(&svc, PaymentStatus::Authorized).await;
    let taken = svc
        .confirm_pre_order_payment(
            TENANT,
            &confirm(json!({"orderReference": "DE--1", "transactionId": tx})),
        )
        .await;
    assert!(matches!(taken, Err(CheckoutError::Refused(_))), "{taken:?}");
    assert_eq!(stored(&svc, &tx).await.order_reference, None);
}

#[tokio::test]
async fn cancel_cancels_the_intent_and_the_payment() {
    let svc = memory_checkout();
    let created = svc.pre_order_payment(TENANT, &pre_order(None)).await.unwrap();
    let tx = created.transaction_id;
    let request: CancelPreOrderPaymentRequest =
        serde_json::from_value(json!({"preOrderPaymentData": {"transactionId": tx}})).unwrap();
    svc.cancel_pre_order_payment(TENANT, &request).await.unwrap();
    let payment = stored(&svc, &tx).await;
    assert_eq!(payment.status, PaymentStatus::Canceled);
    assert_eq!(
        svc.commands.gateway.intent(&payment.psp_reference).unwrap().status,
        PaymentStatus::Canceled
    );
    // The shop's PaymentUpdated handler needs an entityReference, which a payment without an order has
    // not: nothing is announced.
    assert_eq!(published(&svc), vec!["PaymentCreated"]);

    // Again: nothing more happens, still a success.
    svc.cancel_pre_order_payment(TENANT, &request).await.unwrap();
    assert_eq!(svc.commands.gateway.effects("cancel"), 1);
    assert_eq!(published(&svc), vec!["PaymentCreated"]);
}

#[tokio::test]
async fn cancel_of_a_captured_payment_is_refused() {
    let svc = memory_checkout();
    let tx = paid_headless(&svc, PaymentStatus::Captured).await;
    svc.confirm_pre_order_payment(
        TENANT,
        &confirm(json!({"orderReference": "DE--11", "transactionId": tx})),
    )
    .await
    .unwrap();
    let request: CancelPreOrderPaymentRequest = serde_json::from_value(json!({"transactionId": tx})).unwrap();
    let result = svc.cancel_pre_order_payment(TENANT, &request).await;
    assert!(matches!(result, Err(CheckoutError::Refused(_))), "{result:?}");
    assert_eq!(svc.commands.gateway.effects("cancel"), 0);
}
