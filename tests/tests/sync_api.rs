//! The checkout endpoints end to end, through the real HTTP handler in-process: API Gateway v2 request
//! (the sample events of `events/`) → `functions::sync_api::handle` → DynamoDB (moto) → Stripe
//! (localstripe) → EventBridge (moto) → a bus rule → an SQS queue the test reads. The customer pays at
//! localstripe as the shop's frontend would.
//!
//! Needs `STRIPE_API_BASE` (localstripe) and `AWS_ENDPOINT_URL` (moto); panics with instructions without.

// The generic checkout service makes the async bodies deep to lay out.
#![recursion_limit = "256"]

use functions::sync_api::{Endpoint, handle};
use integration_tests::acp::{BusMessage, bus_messages, names};
use integration_tests::aws::{BusToQueue, create_bus_to_queue, create_payment_table, sdk_config, unique_name};
use integration_tests::stripe_customer::{LOCALSTRIPE_API_KEY, StripeCustomer, stripe_api_base};
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::stripe::{StripeGateway, Timeouts};
use shared::domain::{Payment, PaymentStatus};
use shared::ports::clock::SystemClock;
use shared::ports::{PaymentGateway, PaymentStore};
use shared::ports::{WebhookChange, WebhookEvent};
use shared::service::testing::{MemoryDirectory, RecordingListener, make_marketplace, memory_directory};
use shared::service::webhooks::InboxDrain;
use shared::service::{CheckoutService, CommandService, PaymentKnownListener, Settings, WebhookReport, WebhookService};
use std::time::Duration;

const TENANT: &str = "tenant-sync";
const APP_BASE_URL: &str = "https://app.example.com";

type Commands = CommandService<DynamoStore, StripeGateway<MemoryDirectory>, EventBridgePublisher, SystemClock>;
type Service<L> = CheckoutService<DynamoStore, StripeGateway<MemoryDirectory>, EventBridgePublisher, SystemClock, L>;

/// One isolated copy of the app's resources, named uniquely so tests run in parallel.
struct Stack<L = RecordingListener> {
    sqs: aws_sdk_sqs::Client,
    bus: BusToQueue,
    customer: StripeCustomer,
    service: Service<L>,
    /// The tenant, configured with its own (localstripe) key.
    tenants: MemoryDirectory,
}

impl Stack {
    /// The checkout service with a listener that records what it heard.
    async fn new() -> Stack {
        Stack::with_listener(|_| RecordingListener::default()).await
    }
}

impl<L: PaymentKnownListener> Stack<L> {
    /// The checkout service with the listener `listener` builds from the command service.
    async fn with_listener(listener: impl FnOnce(&Commands) -> L) -> Stack<L> {
        let aws = sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let dynamo = aws_sdk_dynamodb::Client::new(&aws);
        let eb = aws_sdk_eventbridge::Client::new(&aws);
        let table = create_payment_table(&dynamo).await;
        let bus = create_bus_to_queue(&eb, &sqs).await;
        let tenants = memory_directory(&[TENANT]).await;
        let commands = CommandService {
            store: DynamoStore::new(dynamo, table),
            gateway: StripeGateway::new(&stripe_api_base(), tenants.clone(), Timeouts::default())
                .expect("stripe gateway"),
            publisher: EventBridgePublisher::new(eb, &bus.bus_name),
            clock: SystemClock,
            settings: Settings {
                psp_retry_delay: Duration::from_millis(100),
                ..Settings::new(&bus.source)
            },
        };
        Stack {
            sqs,
            bus,
            customer: StripeCustomer::new(&stripe_api_base(), LOCALSTRIPE_API_KEY),
            service: CheckoutService {
                listener: listener(&commands),
                commands,
            },
            tenants,
        }
    }

    /// Calls `endpoint` with the sample event of its function, carrying `body` for tenant [`TENANT`].
    async fn call(&self, endpoint: Endpoint, body: Value) -> (u16, Value) {
        let function = match endpoint {
            Endpoint::InitializePayment => "initialize-payment",
            Endpoint::PreOrderPayment => "pre-order-payment",
            Endpoint::ConfirmPreOrderPayment => "confirm-pre-order-payment",
            Endpoint::CancelPreOrderPayment => "cancel-pre-order-payment",
        };
        let path = format!("{}/../events/{function}.json", env!("CARGO_MANIFEST_DIR"));
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("sample event JSON");
        event["headers"]["x-tenant-identifier"] = json!(TENANT);
        event["body"] = json!(body.to_string());
        let request = lambda_http::request::from_str(&event.to_string()).expect("API Gateway v2 request");
        let response = handle(&self.service, &self.tenants, APP_BASE_URL, endpoint, request)
            .await
            .expect("an HTTP answer");
        let status = response.status().as_u16();
        let body = serde_json::from_slice(response.body().as_ref()).expect("JSON answer");
        (status, body)
    }

    /// The messages on the bus, at least `count` of them.
    async fn messages(&self, count: usize) -> Vec<BusMessage> {
        bus_messages(&self.sqs, &self.bus.queue_url, count, Duration::from_secs(10)).await
    }

    /// The payment of `order` as the app has it now; `why` says why it must exist.
    async fn order_payment(&self, order: &str, why: &str) -> Payment {
        let found = self
            .service
            .commands
            .store
            .find_payment_by_order(TENANT, order)
            .await
            .expect("read");
        found.unwrap_or_else(|| panic!("no payment for {order}: {why}"))
    }

    /// The PaymentIntent behind payment `tx`.
    async fn intent_of(&self, tx: &str) -> String {
        let payment = self.service.commands.store.get_payment(TENANT, tx).await.expect("read");
        payment.expect("the payment exists").psp_reference
    }

    /// A headless payment of `amount` EUR cents, announced by PaymentCreated without an entity (taken off
    /// the bus here); returns its transaction id and answer.
    async fn pre_order(&self, amount: i64) -> (String, Value) {
        let body = json!({"orderData": {"currencyCode": "EUR", "grandTotal": amount, "countryCode": "DE",
                                        "items": [{"sku": "socks-1", "quantity": 1, "unitPrice": amount}]},
                          "preOrderPaymentData": {}});
        let (status, answer) = self.call(Endpoint::PreOrderPayment, body).await;
        assert_eq!(status, 200, "{answer}");
        let tx = answer["preOrderPaymentData"]["transactionId"]
            .as_str()
            .expect("transactionId")
            .to_string();
        let created = self.messages(1).await;
        assert_eq!(names(&created), vec!["PaymentCreated"]);
        assert_eq!(created[0].payload["paymentReference"], json!(tx));
        assert!(
            created[0].payload.get("entityReference").is_none(),
            "{:?}",
            created[0].payload
        );
        (tx, answer)
    }
}

/// Reads a PaymentIntent straight from localstripe.
async fn stripe_intent(intent: &str) -> Value {
    let url = format!(
        "{}/v1/payment_intents/{intent}",
        stripe_api_base().trim_end_matches('/')
    );
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(LOCALSTRIPE_API_KEY)
        .send()
        .await
        .expect("localstripe");
    response.json::<Value>().await.expect("intent JSON")
}

/// Reads a PaymentIntent's metadata straight from localstripe.
async fn stripe_metadata(intent: &str) -> Value {
    stripe_intent(intent).await["metadata"].clone()
}

#[tokio::test]
async fn a_repeated_pre_order_payment_with_a_new_total_reprices_the_intent_at_stripe() {
    let stack = Stack::new().await;
    let (tx, _) = stack.pre_order(1200).await;
    let body = json!({"orderData": {"currencyCode": "EUR", "grandTotal": 1750, "countryCode": "DE",
                                    "items": [{"sku": "socks-1", "quantity": 1, "unitPrice": 1750}]},
                      "preOrderPaymentData": {"transactionId": tx}});
    let (status, answer) = stack.call(Endpoint::PreOrderPayment, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["preOrderPaymentData"]["transactionId"], json!(tx));
    let intent = stack.intent_of(&tx).await;
    let at_stripe = stack
        .service
        .commands
        .gateway
        .get_payment(TENANT, &intent)
        .await
        .expect("read");
    assert_eq!(at_stripe.amount, 1750);
}

#[tokio::test]
async fn initialize_creates_one_intent_per_order_and_announces_the_payment() {
    let stack = Stack::new().await;
    let order = unique_name("DE");
    let body = json!({"orderData": {"orderReference": order, "currencyCode": "EUR", "grandTotal": 2500,
                                    "items": [{"idSalesOrderItem": 1}, {"idSalesOrderItem": 2}]},
                      "redirectSuccessUrl": "https://shop.example.com/payment/order-success"});
    let (status, answer) = stack.call(Endpoint::InitializePayment, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let tx = answer["transactionId"].as_str().expect("transactionId").to_string();
    assert_eq!(
        answer["redirectUrl"],
        format!("{APP_BASE_URL}/app-payment?transactionId={tx}&tenantIdentifier={TENANT}")
    );

    let (status, again) = stack.call(Endpoint::InitializePayment, body).await;
    assert_eq!((status, &again["transactionId"]), (200, &json!(tx)));

    let payment = stack.order_payment(&order, "the order's payment").await;
    assert_eq!(
        (payment.status, payment.order_item_ids.clone()),
        (PaymentStatus::New, vec![1, 2])
    );
    assert_eq!(
        stripe_metadata(&payment.psp_reference).await,
        json!({"orderReference": order, "tenantIdentifier": TENANT, "transactionId": tx})
    );

    let messages = stack.messages(1).await;
    assert_eq!(
        names(&messages),
        vec!["PaymentCreated"],
        "one PaymentCreated for two calls"
    );
    assert_eq!(messages[0].payload["entityReference"], json!(order));
    assert_eq!(messages[0].payload["paymentReference"], json!(tx));

    // The customer pays on the hosted page: the intent is authorized at Stripe (the webhook moves the app).
    stack
        .customer
        .authorize(&payment.psp_reference)
        .await
        .expect("customer pays");
    let intent = stack
        .service
        .commands
        .gateway
        .get_payment(TENANT, &payment.psp_reference)
        .await
        .expect("read intent");
    assert_eq!(intent.status, PaymentStatus::Authorized);
}

#[tokio::test]
async fn pre_order_then_the_customer_pays_then_confirm_authorizes_the_order() {
    let stack = Stack::new().await;
    let (tx, answer) = stack.pre_order(1200).await;
    assert!(
        answer["preOrderPaymentData"]["clientSecret"]
            .as_str()
            .is_some_and(|s| s.contains("_secret")),
        "{answer}"
    );
    let intent = stack.intent_of(&tx).await;
    stack.customer.authorize(&intent).await.expect("customer pays");

    let order = unique_name("DE");
    let confirm = json!({"orderReference": order, "orderData": {"items": [{"idSalesOrderItem": 7}]},
                         "preOrderPaymentData": {"transactionId": tx}, "localeName": "de_DE"});
    let (status, answer) = stack.call(Endpoint::ConfirmPreOrderPayment, confirm).await;
    assert_eq!((status, answer), (200, json!({"isSuccessful": true})));

    let payment = stack.order_payment(&order, "the order alias was written").await;
    assert_eq!(
        (payment.transaction_id.as_str(), payment.status),
        (tx.as_str(), PaymentStatus::Authorized)
    );
    assert_eq!(stripe_metadata(&intent).await["orderReference"], json!(order));

    let messages = stack.messages(2).await;
    assert_eq!(names(&messages), vec!["PaymentUpdated", "PaymentAuthorized"]);
    assert_eq!(
        messages[1].payload,
        json!({"orderReference": order, "orderItemIds": [7], "amount": 1200, "currencyIsoCode": "EUR"})
    );
    assert_eq!(
        stack.service.listener.calls(),
        vec![(TENANT.to_string(), tx.clone()), (TENANT.to_string(), tx)],
        "heard of at creation and at confirmation"
    );
}

#[tokio::test]
async fn an_express_wallet_payment_of_a_marketplace_joins_its_orders_transfer_group_at_confirm() {
    let stack = Stack::new().await;
    make_marketplace(&stack.tenants, TENANT).await;
    let body = json!({"orderData": {"currencyCode": "EUR", "grandTotal": 1500, "paymentMethod": "stripe-apple-pay",
                                    "items": [{"sku": "socks-1", "quantity": 1, "unitPrice": 1500}]}});
    let (status, answer) = stack.call(Endpoint::PreOrderPayment, body).await;
    assert_eq!(status, 200, "{answer}");
    let tx = answer["preOrderPaymentData"]["transactionId"]
        .as_str()
        .expect("transactionId")
        .to_string();
    stack.messages(1).await;
    let intent = stack.intent_of(&tx).await;
    let created = stripe_intent(&intent).await;
    // The wallet's card is held for the shop's capture; no order, so no group yet.
    assert_eq!(
        (&created["capture_method"], &created["transfer_group"]),
        (&json!("manual"), &Value::Null)
    );
    stack.customer.authorize(&intent).await.expect("the wallet pays");

    let order = unique_name("DE");
    let confirm = json!({"orderReference": order, "orderData": {"items": [{"idSalesOrderItem": 7}]},
                         "preOrderPaymentData": {"transactionId": tx}});
    for _ in 0..2 {
        // Confirmed twice: the group is set once (localstripe, like Stripe, refuses a second one).
        let (status, answer) = stack.call(Endpoint::ConfirmPreOrderPayment, confirm.clone()).await;
        assert_eq!((status, answer), (200, json!({"isSuccessful": true})));
    }
    assert_eq!(stripe_intent(&intent).await["transfer_group"], json!(order));
    assert_eq!(
        names(&stack.messages(2).await),
        vec!["PaymentUpdated", "PaymentAuthorized"]
    );
}

#[tokio::test]
async fn confirm_with_the_id_at_the_top_level_before_the_customer_paid_keeps_the_payment_new() {
    let stack = Stack::new().await;
    let (tx, _) = stack.pre_order(900).await;
    let order = unique_name("DE");
    let (status, answer) = stack
        .call(
            Endpoint::ConfirmPreOrderPayment,
            json!({"orderReference": order, "transactionId": tx}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let payment = stack
        .service
        .commands
        .store
        .get_payment(TENANT, &tx)
        .await
        .expect("read")
        .expect("payment");
    assert_eq!(
        (payment.status, payment.order_reference),
        (PaymentStatus::New, Some(order))
    );
    assert_eq!(names(&stack.messages(1).await), vec!["PaymentUpdated"]);
}

#[tokio::test]
async fn cancel_cancels_the_intent_and_the_payment() {
    let stack = Stack::new().await;
    let (tx, _) = stack.pre_order(1500).await;
    let (status, answer) = stack
        .call(
            Endpoint::CancelPreOrderPayment,
            json!({"preOrderPaymentData": {"transactionId": tx}}),
        )
        .await;
    assert_eq!((status, answer), (200, json!({"isSuccessful": true})));
    let intent = stack.intent_of(&tx).await;
    let at_stripe = stack
        .service
        .commands
        .gateway
        .get_payment(TENANT, &intent)
        .await
        .expect("read intent");
    assert_eq!(at_stripe.status, PaymentStatus::Canceled);
    // No PaymentUpdated: it needs an entityReference, which a payment without an order has not.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stack.messages(0).await.is_empty());

    let (status, answer) = stack
        .call(
            Endpoint::CancelPreOrderPayment,
            json!({"transactionId": "no-such-payment"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no-such-payment"))
    );
}

#[tokio::test]
async fn confirm_after_a_declined_card_keeps_the_payment_open_for_another_attempt() {
    let stack = Stack::new().await;
    let (tx, _) = stack.pre_order(1100).await;
    let intent = stack.intent_of(&tx).await;
    // localstripe declines this card on confirm (402 card_declined); the intent records the failed attempt.
    let declined = stack.customer.pay_with(&intent, "pm_card_chargeCustomerFail").await;
    assert!(declined.is_err(), "the card is declined");

    // A decline is not the end of the payment (the shopper may try another card): the order is confirmed,
    // the tenant hears PaymentUpdated with the reason, and no PaymentAuthorizationFailed.
    let order = unique_name("DE");
    let (status, answer) = stack
        .call(
            Endpoint::ConfirmPreOrderPayment,
            json!({"orderReference": order, "preOrderPaymentData": {"transactionId": tx}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let messages = stack.messages(1).await;
    assert_eq!(names(&messages), vec!["PaymentUpdated"]);
    assert_eq!(messages[0].payload["entityReference"], json!(order));
}

#[tokio::test]
async fn a_webhook_that_came_before_confirm_waits_in_the_inbox_and_is_applied_at_confirm() {
    let stack = Stack::with_listener(|c: &Commands| InboxDrain {
        store: c.store.clone(),
        publisher: c.publisher.clone(),
        clock: SystemClock,
        settings: c.settings.clone(),
    })
    .await;
    let (tx, _) = stack.pre_order(900).await;
    let intent = stack.intent_of(&tx).await;
    stack.customer.authorize(&intent).await.expect("customer pays");
    // Stripe tells the app about the authorization before the shop has placed the order.
    let commands = &stack.service.commands;
    let webhooks = WebhookService::of(commands);
    let event = WebhookEvent {
        event_id: unique_name("evt"),
        created: 1,
        transaction_id: tx.clone(),
        psp_reference: intent.clone(),
        tenant: Some(TENANT.to_string()),
        change: WebhookChange::Payment {
            status: PaymentStatus::Authorized,
            amount_captured: 0,
            decline: None,
        },
    };
    assert_eq!(
        webhooks.handle(TENANT, &event).await.expect("kept"),
        WebhookReport::Inboxed
    );
    assert_eq!(commands.store.inbox(TENANT, &tx).await.expect("inbox").len(), 1);

    let confirm = json!({"orderReference": unique_name("DE"), "orderData": {"items": [{"idSalesOrderItem": 3}]},
                         "transactionId": tx});
    let (status, _) = stack.call(Endpoint::ConfirmPreOrderPayment, confirm).await;
    assert_eq!(status, 200);
    assert!(
        commands.store.inbox(TENANT, &tx).await.expect("inbox").is_empty(),
        "the inbox was drained"
    );
    // The kept event reported what confirm already learned from Stripe: no second PaymentAuthorized.
    let messages = stack.messages(2).await;
    assert_eq!(names(&messages), vec!["PaymentUpdated", "PaymentAuthorized"]);
}
