//! Talking to the app from outside, the way Spryker and its customers do: send a command to its queue,
//! watch the messages the app puts on its bus, and, for tenants without webhook secrets (whose payments
//! no webhook can authorize), seed an order whose customer authorized the payment at Stripe.

use crate::aws::{take_bodies, unique_name};
use crate::stripe_customer::StripeCustomer;
use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::Value;
use shared::domain::{Currency, Money, Payment, PaymentMethod, PaymentStatus};
use shared::ports::gateway::CreatePayment;
use shared::ports::{PaymentGateway, PaymentStore};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Sends an ACP command as Spryker's SQS transport does: the raw payload as body, the ACP attributes as
/// String message attributes.
pub async fn send_command(sqs: &aws_sdk_sqs::Client, queue_url: &str, name: &str, tenant: &str, payload: &Value) {
    send_message(sqs, queue_url, name, tenant, payload, None).await;
}

/// Like [`send_command`], with Spryker's `transactionId` message attribute (the message's own id) when
/// `message_id` is given.
pub async fn send_message(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    name: &str,
    tenant: &str,
    payload: &Value,
    message_id: Option<&str>,
) {
    let correlation_id = uuid::Uuid::new_v4().to_string();
    send_identified(sqs, queue_url, name, tenant, payload, message_id, &correlation_id).await;
}

/// Like [`send_message`], with the given `correlationId` (the answers carry it).
pub async fn send_identified(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    name: &str,
    tenant: &str,
    payload: &Value,
    message_id: Option<&str>,
    correlation_id: &str,
) {
    let attribute = |v: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .expect("attribute")
    };
    let mut request = sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(payload.to_string())
        .message_attributes("transferName", attribute(name))
        .message_attributes("tenantIdentifier", attribute(tenant))
        .message_attributes("correlationId", attribute(correlation_id));
    if let Some(id) = message_id {
        request = request.message_attributes("transactionId", attribute(id));
    }
    request.send().await.expect("send command");
}

/// One ACP message as it left the bus.
#[derive(Clone, Debug, PartialEq)]
pub struct BusMessage {
    /// The message name (EventBridge `detail-type`).
    pub name: String,
    /// `detail.messageAttributes`.
    pub attributes: Value,
    /// `detail.payload`.
    pub payload: Value,
    /// `detail.channel`.
    pub channel: String,
}

/// The app's AsyncAPI document, generated from its message types (`docs/asyncapi.yml`).
static ASYNCAPI: std::sync::LazyLock<Value> = std::sync::LazyLock::new(shared::acp::asyncapi::document);

/// Validators by message name and part (`headers` or `payload`).
type Validators = std::collections::HashMap<(String, &'static str), std::sync::Arc<jsonschema::Validator>>;

/// The validators of the document's schemas, built once per message and part (building one compiles
/// its patterns: too slow to repeat for each of the chaos run's thousands of messages).
static VALIDATORS: std::sync::LazyLock<std::sync::Mutex<Validators>> = std::sync::LazyLock::new(Default::default);

/// The validator of `name`'s `part` (`headers` or `payload`) in the AsyncAPI document.
fn validator(name: &str, part: &'static str) -> std::sync::Arc<jsonschema::Validator> {
    use shared::acp::asyncapi::{headers_schema, payload_schema};
    let mut validators = VALIDATORS.lock().expect("validators");
    let built = validators.entry((name.to_string(), part)).or_insert_with(|| {
        let schema = match part {
            "headers" => headers_schema(&ASYNCAPI, name),
            _ => payload_schema(&ASYNCAPI, name),
        };
        let schema = schema.unwrap_or_else(|| panic!("{name} has no {part} schema in docs/asyncapi.yml"));
        std::sync::Arc::new(jsonschema::validator_for(&schema).expect("the document's schema"))
    });
    built.clone()
}

impl BusMessage {
    /// Reads one EventBridge event as a bus rule delivers it to SQS; panics unless it is a message of
    /// the app's AsyncAPI document (see [`BusMessage::conforming`]).
    pub fn parse(body: &str) -> BusMessage {
        let event: Value = serde_json::from_str(body).expect("bus event JSON");
        let detail = &event["detail"];
        BusMessage {
            name: event["detail-type"].as_str().unwrap_or_default().to_string(),
            attributes: detail["messageAttributes"].clone(),
            payload: detail["payload"].clone(),
            channel: detail["channel"].as_str().unwrap_or_default().to_string(),
        }
        .conforming()
    }

    /// The message, once checked against the app's AsyncAPI document: its channel, its headers (the
    /// message attributes) and its payload as the document's schemas describe them. Every message a
    /// through-the-stack test receives goes through here.
    pub fn conforming(self) -> BusMessage {
        let name = self.name.as_str();
        assert_eq!(
            shared::acp::asyncapi::channel_of(&ASYNCAPI, name).as_deref(),
            Some(self.channel.as_str()),
            "{name} is not a message of its channel in docs/asyncapi.yml"
        );
        for (what, value) in [("headers", &self.attributes), ("payload", &self.payload)] {
            let errors: Vec<String> = validator(name, what)
                .iter_errors(value)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{name}'s {what} break docs/asyncapi.yml: {errors:?} in {value}"
            );
        }
        self
    }

    /// The order a payment message is about: its `orderReference`, or the `entityReference` of
    /// PaymentCreated and PaymentUpdated.
    pub fn order(&self) -> Option<&str> {
        self.payload["orderReference"]
            .as_str()
            .or_else(|| self.payload["entityReference"].as_str())
    }
}

/// The messages' names, in order.
pub fn names(messages: &[BusMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.name.as_str()).collect()
}

/// Reads every message from the queue a bus rule delivers to, until at least `at_least` arrived and the
/// queue is quiet (or `within` passed: the caller's assertions then say what is missing).
pub async fn bus_messages(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    at_least: usize,
    within: Duration,
) -> Vec<BusMessage> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let bodies = take_bodies(sqs, queue_url).await;
        let quiet = bodies.is_empty();
        seen.extend(bodies.iter().map(|body| BusMessage::parse(body)));
        if quiet && (seen.len() >= at_least || Instant::now() > deadline) {
            return seen;
        }
    }
}

/// Like [`bus_messages`], but only the messages for `tenant` (other tests share the bus), waiting for
/// at least `at_least` of them.
pub async fn tenant_messages(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    tenant: &str,
    at_least: usize,
    within: Duration,
) -> Vec<BusMessage> {
    messages_where(sqs, queue_url, at_least, within, |m| {
        m.attributes["tenantIdentifier"] == tenant
    })
    .await
}

/// Like [`tenant_messages`], but only those about `order` of `tenant` (its `orderReference`, or the
/// `entityReference` of PaymentCreated): for tests that share a tenant.
pub async fn order_messages(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    tenant: &str,
    order: &str,
    at_least: usize,
    within: Duration,
) -> Vec<BusMessage> {
    messages_where(sqs, queue_url, at_least, within, |m| {
        m.attributes["tenantIdentifier"] == tenant && m.order() == Some(order)
    })
    .await
}

async fn messages_where(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    at_least: usize,
    within: Duration,
    wanted: impl Fn(&BusMessage) -> bool,
) -> Vec<BusMessage> {
    let deadline = Instant::now() + within;
    let mut mine = Vec::new();
    while mine.len() < at_least && Instant::now() < deadline {
        let batch = bus_messages(sqs, queue_url, 0, Duration::ZERO).await;
        mine.extend(batch.into_iter().filter(&wanted));
    }
    // Anything more arriving right after would be a duplicate: collect it too.
    let late = bus_messages(sqs, queue_url, 0, Duration::ZERO).await;
    mine.extend(late.into_iter().filter(&wanted));
    mine
}

/// Creates an order whose customer tried to pay `amount` EUR cents with the Stripe test `card`
/// (`pm_card_visa` pays; `pm_card_chargeCustomerFail` is declined), and records the payment as the
/// app would have after authorization. Returns the payment.
pub async fn seed_order<S: PaymentStore, G: PaymentGateway>(
    store: &S,
    gateway: &G,
    customer: &StripeCustomer,
    tenant: &str,
    amount: i64,
    card: &str,
) -> Payment {
    seed_order_of_items(store, gateway, customer, tenant, amount, card, &[]).await
}

/// Like [`seed_order`], for an order whose items (`(sales-order-item id, amount)`) the shop sent when it
/// initialized the payment.
pub async fn seed_order_of_items<S: PaymentStore, G: PaymentGateway>(
    store: &S,
    gateway: &G,
    customer: &StripeCustomer,
    tenant: &str,
    amount: i64,
    card: &str,
    items: &[(i64, i64)],
) -> Payment {
    let order = unique_name("DE");
    let transaction_id = unique_name("tx");
    let eur = Currency::parse("EUR").expect("EUR");
    let request = CreatePayment {
        amount: Money::new(amount, eur),
        method: PaymentMethod::Card,
        metadata: BTreeMap::from([
            ("orderReference".to_string(), order.clone()),
            ("tenantIdentifier".to_string(), tenant.to_string()),
            ("transactionId".to_string(), transaction_id.clone()),
        ]),
        idempotency_key: format!("create-{transaction_id}"),
    };
    let intent = gateway
        .create_payment(tenant, &request)
        .await
        .expect("create payment intent");
    // A declined card fails here; callers that use one want exactly that.
    let _ = customer.pay_with(&intent.id, card).await;
    let payment = Payment::new(
        tenant.into(),
        transaction_id,
        Some(order),
        intent.id,
        Money::new(amount, eur),
        "t0",
    );
    let payment = Payment {
        order_item_ids: items.iter().map(|(id, _)| *id).collect(),
        item_amounts: items.iter().copied().collect(),
        ..payment
    };
    let payment = payment
        .moved_to(PaymentStatus::Authorized, "t1")
        .expect("new -> authorized")
        .expect("a change");
    store.insert_payment(&payment).await.expect("insert payment");
    payment
}
