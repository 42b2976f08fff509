//! The command path end to end, through the real handler and adapters: SQS (moto) → command handler →
//! DynamoDB (moto) → Stripe (localstripe, behind the fault-injecting proxy) → EventBridge (moto) → a bus
//! rule → an SQS queue the test reads. Nothing is mocked but the faults the proxy injects.

use aws_sdk_sqs::types::QueueAttributeName;
use functions::command_handler::handle_batch;
use integration_tests::acp::{bus_messages, seed_order, seed_order_of_items, send_command, send_message};
use integration_tests::aws::{BusToQueue, create_bus_to_queue, create_payment_table, sdk_config, unique_name};
use integration_tests::fault_proxy::{Fault, FaultProxy};
use integration_tests::sqs_source::{deliver_once, queue_arn};
use integration_tests::stripe_customer::{LOCALSTRIPE_API_KEY, StripeCustomer, stripe_api_base};
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::sqs_queues::SqsDeadLetters;
use shared::adapters::stripe::{StripeGateway, Timeouts};
use shared::domain::{Payment, PaymentStatus};
use shared::ports::clock::SystemClock;
use shared::ports::{PaymentGateway, PaymentStore};
use shared::service::testing::{MemoryDirectory, memory_directory};
use shared::service::{CommandService, Reconciler, Settings};
use std::time::{Duration, Instant};

const TENANT: &str = "tenant-e2e";

type Service = CommandService<DynamoStore, StripeGateway<MemoryDirectory>, EventBridgePublisher, SystemClock>;

/// One isolated copy of the app's resources, named uniquely so tests run in parallel.
struct Stack {
    sqs: aws_sdk_sqs::Client,
    bus: BusToQueue,
    proxy: FaultProxy,
    customer: StripeCustomer,
    service: Service,
    /// The tenant, configured with its own (localstripe) key.
    tenants: MemoryDirectory,
}

impl Stack {
    async fn new() -> Stack {
        let aws = sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let dynamo = aws_sdk_dynamodb::Client::new(&aws);
        let eb = aws_sdk_eventbridge::Client::new(&aws);
        let table = create_payment_table(&dynamo).await;
        let bus = create_bus_to_queue(&eb, &sqs).await;
        let proxy = FaultProxy::start(&stripe_api_base()).await;
        let timeouts = Timeouts {
            request: Duration::from_secs(2),
            ..Timeouts::default()
        };
        let tenants = memory_directory(&[TENANT]).await;
        let service = CommandService {
            store: DynamoStore::new(dynamo, table),
            gateway: StripeGateway::new(proxy.base_url(), tenants.clone(), timeouts).expect("stripe gateway"),
            publisher: EventBridgePublisher::new(eb, &bus.bus_name),
            clock: SystemClock,
            settings: Settings {
                psp_retry_delay: Duration::from_millis(100),
                // The reconciler may take over a few seconds after a claim (15 minutes when deployed).
                settle_after_seconds: 3,
                ..Settings::new(&bus.source)
            },
        };
        Stack {
            sqs,
            bus,
            proxy,
            customer: StripeCustomer::new(&stripe_api_base(), LOCALSTRIPE_API_KEY),
            service,
            tenants,
        }
    }

    /// A command queue like template.yaml's, with a DLQ after `max_receives`, and a short visibility
    /// timeout so retries come quickly. Returns (queue, dlq).
    async fn command_queue(&self, max_receives: u32) -> (String, String) {
        let create = |name: String| async {
            let out = self
                .sqs
                .create_queue()
                .queue_name(name)
                .send()
                .await
                .expect("create queue");
            out.queue_url.expect("queue url")
        };
        let dlq = create(unique_name("dlq")).await;
        let redrive = json!({"deadLetterTargetArn": queue_arn(&self.sqs, &dlq).await, "maxReceiveCount": max_receives});
        let queue = create(unique_name("commands")).await;
        self.sqs
            .set_queue_attributes()
            .queue_url(&queue)
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .attributes(QueueAttributeName::VisibilityTimeout, "1")
            .send()
            .await
            .expect("redrive policy");
        (queue, dlq)
    }

    /// An order whose payment the customer authorized at Stripe with the test card `pm_card_visa`.
    async fn order(&self, amount: i64) -> Payment {
        self.order_paid_with(amount, "pm_card_visa").await
    }

    /// An order whose customer tried to pay with `card`; the app's record says authorized either way.
    async fn order_paid_with(&self, amount: i64, card: &str) -> Payment {
        seed_order(
            &self.service.store,
            &self.service.gateway,
            &self.customer,
            TENANT,
            amount,
            card,
        )
        .await
    }

    async fn send(&self, queue: &str, name: &str, payload: &Value) {
        send_command(&self.sqs, queue, name, TENANT, payload).await;
    }

    /// Sends one command and runs its function until the queue is drained.
    async fn run(&self, queue: &str, name: &'static str, payload: &Value) {
        self.send(queue, name, payload).await;
        self.drain(queue, name, 10).await;
    }

    /// Runs the function on its queue until nothing is left to deliver.
    async fn drain(&self, queue: &str, accepts: &'static str, batch_size: i32) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut idle = 0;
        while idle < 3 {
            assert!(Instant::now() < deadline, "queue {queue} did not drain");
            let delivered = deliver_once(&self.sqs, queue, batch_size, |event| async {
                let event = lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default());
                handle_batch(&self.service, &self.tenants, accepts, event)
                    .await
                    .expect("handler")
            })
            .await;
            idle = if delivered == 0 { idle + 1 } else { 0 };
        }
    }

    /// The payment as the app has it now.
    async fn stored(&self, payment: &Payment) -> Payment {
        let found = self.service.store.get_payment(TENANT, &payment.transaction_id).await;
        found.expect("read payment").expect("payment exists")
    }

    /// Every message on the bus so far, as (message name, payload), after waiting for `at_least`.
    async fn bus_messages(&self, at_least: usize) -> Vec<(String, Value)> {
        let messages = bus_messages(&self.sqs, &self.bus.queue_url, at_least, Duration::from_secs(20)).await;
        messages
            .into_iter()
            .map(|m| {
                assert_eq!(m.attributes["transferName"], json!(m.name));
                assert_eq!(m.attributes["publisher"], json!(self.bus.source));
                (m.name, m.payload)
            })
            .collect()
    }
}

fn names(messages: &[(String, Value)]) -> Vec<&str> {
    messages.iter().map(|(n, _)| n.as_str()).collect()
}

/// Stripe's capture path of `p`'s PaymentIntent, where the proxy injects faults.
fn capture_path(p: &Payment) -> String {
    format!("/v1/payment_intents/{}/capture", p.psp_reference)
}

fn capture(p: &Payment, items: &[i64], amount: i64) -> Value {
    json!({"orderReference": p.order_reference, "orderItemIds": items, "amount": amount, "currencyIsoCode": "EUR"})
}

fn refund(p: &Payment, items: &[i64], amount: i64) -> Value {
    let order_items: Vec<Value> = items
        .iter()
        .map(|i| json!({"orderItemId": i, "sku": format!("SKU-{i}")}))
        .collect();
    json!({"orderReference": p.order_reference, "orderItems": order_items, "orderItemIds": items, "amount": amount, "currencyIsoCode": "EUR"})
}

#[tokio::test]
async fn capture_cancel_and_refund_each_get_their_answer() {
    let stack = Stack::new().await;
    let (captures, _) = stack.command_queue(5).await;
    let (cancels, _) = stack.command_queue(5).await;
    let (refunds, _) = stack.command_queue(5).await;
    let paid = stack.order(10_000).await;
    let other = stack.order(5_000).await;

    stack
        .run(&captures, "CapturePayment", &capture(&paid, &[1, 2], 10_000))
        .await;
    stack.run(&refunds, "RefundPayment", &refund(&paid, &[1], -4_000)).await;
    stack
        .send(
            &cancels,
            "CancelPayment",
            &json!({"orderReference": other.order_reference, "orderItemIds": [7], "amount": 0}),
        )
        .await;
    stack.drain(&cancels, "CancelPayment", 10).await;

    let bus = stack.bus_messages(6).await;
    assert_eq!(
        names(&bus),
        vec![
            "PaymentUpdated",
            "PaymentCaptured",
            "PaymentUpdated",
            "PaymentRefunded",
            "PaymentUpdated",
            "PaymentCanceled"
        ]
    );
    assert_eq!(bus[1].1, capture(&paid, &[1, 2], 10_000));
    assert_eq!(
        bus[3].1,
        json!({"orderReference": paid.order_reference, "orderItemIds": [1], "amount": -4_000, "currencyIsoCode": "EUR"})
    );
    assert_eq!(
        bus[5].1,
        json!({"orderReference": other.order_reference, "orderItemIds": [7], "amount": 0})
    );
    let stored = stack.stored(&paid).await;
    assert_eq!(
        (stored.status, stored.captured, stored.refunded),
        (PaymentStatus::Captured, 10_000, 4_000)
    );
    let canceled = stack.stored(&other).await;
    assert_eq!(canceled.status, PaymentStatus::Canceled);
}

#[tokio::test]
async fn a_psp_decline_answers_capture_failed() {
    let stack = Stack::new().await;
    let (captures, _) = stack.command_queue(5).await;
    // The record says authorized, but the customer's card was declined: Stripe refuses the capture.
    let unpaid = stack.order_paid_with(2_000, "pm_card_chargeCustomerFail").await;
    stack
        .run(&captures, "CapturePayment", &capture(&unpaid, &[1], 2_000))
        .await;
    let bus = stack.bus_messages(2).await;
    assert_eq!(names(&bus), vec!["PaymentUpdated", "PaymentCaptureFailed"]);
    let stored = stack.stored(&unpaid).await;
    assert_eq!(stored.status, PaymentStatus::CaptureFailed);
}

#[tokio::test]
async fn the_same_capture_three_times_in_a_row_and_at_once_moves_money_once() {
    let stack = Stack::new().await;
    let (captures, _) = stack.command_queue(5).await;
    let in_a_row = stack.order(3_000).await;
    for _ in 0..3 {
        stack
            .send(&captures, "CapturePayment", &capture(&in_a_row, &[1], 3_000))
            .await;
        stack.drain(&captures, "CapturePayment", 1).await;
    }
    // Three Lambdas get the same command at the same moment.
    let at_once = stack.order(4_000).await;
    for _ in 0..3 {
        stack
            .send(&captures, "CapturePayment", &capture(&at_once, &[1], 4_000))
            .await;
    }
    let lambdas = (0..3).map(|_| stack.drain(&captures, "CapturePayment", 1));
    futures::future::join_all(lambdas).await;

    let bus = stack.bus_messages(4).await;
    assert_eq!(
        names(&bus).iter().filter(|n| **n == "PaymentCaptured").count(),
        2,
        "{bus:?}"
    );
    assert_eq!(
        bus.len(),
        4,
        "one PaymentUpdated and one PaymentCaptured per payment: {bus:?}"
    );
    for p in [&in_a_row, &at_once] {
        let path = format!("/v1/payment_intents/{}/capture", p.psp_reference);
        assert_eq!(
            stack.proxy.forwarded("POST", &path),
            1,
            "Stripe saw one capture of {}",
            p.psp_reference
        );
    }
}

#[tokio::test]
async fn a_malformed_record_fails_alone_and_ends_in_the_dlq() {
    let stack = Stack::new().await;
    let (captures, dlq) = stack.command_queue(2).await;
    let paid = stack.order(1_500).await;
    stack
        .send(&captures, "CapturePayment", &capture(&paid, &[1], 1_500))
        .await;
    stack
        .sqs
        .send_message()
        .queue_url(&captures)
        .message_body("{not json")
        .send()
        .await
        .unwrap();
    stack.drain(&captures, "CapturePayment", 10).await;

    assert_eq!(
        names(&stack.bus_messages(2).await),
        vec!["PaymentUpdated", "PaymentCaptured"]
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let out = stack
            .sqs
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = out.messages().first() {
            break m.body().unwrap_or_default().to_string();
        }
        assert!(Instant::now() < deadline, "the malformed record never reached the DLQ");
        // The redrive happens when the record is received once more than maxReceiveCount.
        stack.drain(&captures, "CapturePayment", 10).await;
    };
    assert_eq!(dead, "{not json");
}

#[tokio::test]
async fn two_partial_refunds_then_one_beyond_the_captured_amount() {
    let stack = Stack::new().await;
    let (captures, _) = stack.command_queue(5).await;
    let (refunds, _) = stack.command_queue(5).await;
    let paid = stack.order(10_000).await;
    stack
        .run(&captures, "CapturePayment", &capture(&paid, &[1, 2, 3], 6_000))
        .await;
    for (items, amount) in [([1], -3_000), ([2], -2_000), ([3], -1_001)] {
        stack
            .run(&refunds, "RefundPayment", &refund(&paid, &items, amount))
            .await;
    }
    let bus = stack.bus_messages(7).await;
    let results: Vec<(&str, &Value)> = bus
        .iter()
        .filter(|(n, _)| n.starts_with("PaymentRefund"))
        .map(|(n, p)| (n.as_str(), &p["amount"]))
        .collect();
    assert_eq!(
        results,
        vec![
            ("PaymentRefunded", &json!(-3_000)),
            ("PaymentRefunded", &json!(-2_000)),
            ("PaymentRefundFailed", &json!(-1_001))
        ]
    );
    assert_eq!(
        stack.proxy.forwarded("POST", "/v1/refunds"),
        2,
        "the refused refund never reached Stripe"
    );
    // The order's items are unknown and localstripe has no multicapture: the capture took the whole
    // authorization, and the shop captured 6,000 of it (refunds count against the shop's capture).
    let stored = stack.stored(&paid).await;
    assert_eq!(
        (stored.captured, stored.shop_captured, stored.refunded),
        (10_000, 6_000, 5_000)
    );
}

#[tokio::test]
async fn psp_errors_and_timeouts_are_retried_never_reported_as_failures() {
    let stack = Stack::new().await;
    let (captures, _) = stack.command_queue(5).await;
    let (refunds, _) = stack.command_queue(5).await;
    let paid = stack.order(8_000).await;
    let capture_path = capture_path(&paid);
    // Stripe captures but the answer is lost, then it is unreachable for the in-process retries: the
    // first delivery ends unknown; the next one reads the PaymentIntent and finds it captured.
    stack
        .proxy
        .inject("POST", &capture_path, Fault::FailAfterForwarding { status: 500 }, 1);
    stack
        .proxy
        .inject("POST", &capture_path, Fault::FailBeforeForwarding { status: 503 }, 2);
    stack
        .run(&captures, "CapturePayment", &capture(&paid, &[1, 2], 8_000))
        .await;
    // The refund's answer comes too late (the client times out after 2 s); the retries carry the same
    // idempotency key, so Stripe refunds once.
    stack.proxy.inject(
        "POST",
        "/v1/refunds",
        Fault::DelayAfterForwarding(Duration::from_secs(3)),
        1,
    );
    stack.run(&refunds, "RefundPayment", &refund(&paid, &[1], -2_500)).await;

    let bus = stack.bus_messages(4).await;
    assert_eq!(
        names(&bus),
        vec!["PaymentUpdated", "PaymentCaptured", "PaymentUpdated", "PaymentRefunded"]
    );
    assert_eq!(
        stack.proxy.forwarded("POST", &capture_path),
        1,
        "one capture reached Stripe"
    );
    assert_eq!(
        stack.proxy.forwarded("POST", "/v1/refunds"),
        1,
        "one refund reached Stripe"
    );
}

/// The refunds Stripe holds for `payment`, as (amount, metadata) read from localstripe.
async fn stripe_refunds(payment: &Payment) -> Vec<(i64, Value)> {
    let list: Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/refunds?payment_intent={}",
            stripe_api_base(),
            payment.psp_reference
        ))
        .bearer_auth(LOCALSTRIPE_API_KEY)
        .send()
        .await
        .expect("list refunds")
        .json()
        .await
        .expect("refund list");
    list["data"]
        .as_array()
        .expect("refunds")
        .iter()
        .map(|r| (r["amount"].as_i64().expect("amount"), r["metadata"].clone()))
        .collect()
}

/// What Stripe captured of `payment`.
async fn stripe_captured(stack: &Stack, payment: &Payment) -> i64 {
    stack
        .service
        .gateway
        .get_payment(TENANT, &payment.psp_reference)
        .await
        .expect("read intent")
        .amount_captured
}

#[tokio::test]
async fn a_command_answered_with_a_failure_is_a_new_attempt_when_sent_again() {
    let stack = Stack::new().await;
    let (captures, _) = stack.command_queue(5).await;
    let (refunds, _) = stack.command_queue(5).await;
    let paid = stack.order(5_000).await;
    // Refused before the capture (nothing to refund yet): PaymentRefundFailed.
    stack.run(&refunds, "RefundPayment", &refund(&paid, &[1], -1_000)).await;
    stack
        .run(&captures, "CapturePayment", &capture(&paid, &[1, 2], 5_000))
        .await;
    // The OMS operator retries the refund: the same command, without a message id, is a new attempt.
    stack.run(&refunds, "RefundPayment", &refund(&paid, &[1], -1_000)).await;
    // With Spryker's transactionId: the same message again is a redelivery, a new one a new attempt.
    let second = refund(&paid, &[2], -9_000);
    for id in ["m-1", "m-1"] {
        send_message(&stack.sqs, &refunds, "RefundPayment", TENANT, &second, Some(id)).await;
        stack.drain(&refunds, "RefundPayment", 10).await;
    }
    let bus = stack.bus_messages(6).await;
    assert_eq!(
        names(&bus),
        vec![
            "PaymentRefundFailed",
            "PaymentUpdated",
            "PaymentCaptured",
            "PaymentUpdated",
            "PaymentRefunded",
            "PaymentRefundFailed"
        ]
    );
    assert_eq!(stack.stored(&paid).await.refunded, 1_000);
    assert_eq!(stripe_refunds(&paid).await.len(), 1, "one refund at Stripe");
}

#[tokio::test]
async fn split_shipments_without_multicapture_capture_once_and_give_back_what_is_canceled() {
    let stack = Stack::new().await;
    let (captures, _) = stack.command_queue(5).await;
    let (cancels, _) = stack.command_queue(5).await;
    let (refunds, _) = stack.command_queue(5).await;
    // Three items and 500 of shipping; localstripe has no multicapture.
    let items = [(11, 3_000), (12, 3_000), (13, 3_500)];
    let paid = seed_order_of_items(
        &stack.service.store,
        &stack.service.gateway,
        &stack.customer,
        TENANT,
        10_000,
        "pm_card_visa",
        &items,
    )
    .await;
    // First parcel (with the shipping), second parcel, then the third item is canceled.
    stack
        .run(&captures, "CapturePayment", &capture(&paid, &[11], 3_500))
        .await;
    stack
        .run(&captures, "CapturePayment", &capture(&paid, &[12], 3_000))
        .await;
    let cancel = json!({"orderReference": paid.order_reference, "orderItemIds": [13], "amount": 0});
    stack.run(&cancels, "CancelPayment", &cancel).await;
    // A refund of the first parcel, then one beyond what the shop captured.
    stack
        .run(&refunds, "RefundPayment", &refund(&paid, &[11], -3_500))
        .await;
    stack
        .run(&refunds, "RefundPayment", &refund(&paid, &[12], -3_001))
        .await;

    let bus = stack.bus_messages(9).await;
    assert_eq!(
        names(&bus),
        vec![
            "PaymentUpdated",
            "PaymentCaptured",
            "PaymentUpdated",
            "PaymentCaptured",
            "PaymentUpdated",
            "PaymentCanceled",
            "PaymentUpdated",
            "PaymentRefunded",
            "PaymentRefundFailed"
        ]
    );
    assert_eq!(bus[1].1, capture(&paid, &[11], 3_500));
    assert_eq!(bus[3].1, capture(&paid, &[12], 3_000));
    assert_eq!(bus[5].1, cancel, "echoes the command's items");
    assert_eq!(stripe_captured(&stack, &paid).await, 10_000, "one capture took it all");
    let given_back: Vec<i64> = stripe_refunds(&paid).await.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        given_back.iter().sum::<i64>(),
        3_500 + 3_500,
        "the canceled item and the refund"
    );
    let stored = stack.stored(&paid).await;
    assert_eq!(
        (stored.status, stored.captured, stored.shop_captured, stored.refunded),
        (PaymentStatus::Captured, 10_000, 6_500, 7_000)
    );
}

#[tokio::test]
async fn a_partial_cancel_before_any_capture_lowers_the_amount_and_the_last_cancels_the_intent() {
    let stack = Stack::new().await;
    let (captures, _) = stack.command_queue(5).await;
    let (cancels, _) = stack.command_queue(5).await;
    let items = [(21, 4_000), (22, 6_000)];
    let seed = |amount| {
        seed_order_of_items(
            &stack.service.store,
            &stack.service.gateway,
            &stack.customer,
            TENANT,
            amount,
            "pm_card_visa",
            &items,
        )
    };
    let shipped = seed(10_000).await;
    let canceled = seed(10_000).await;
    let cancel =
        |p: &Payment, items: &[i64]| json!({"orderReference": p.order_reference, "orderItemIds": items, "amount": 0});
    // Item 21 is canceled before shipping: the capture of item 22 takes only what is still open.
    stack.run(&cancels, "CancelPayment", &cancel(&shipped, &[21])).await;
    stack
        .run(&captures, "CapturePayment", &capture(&shipped, &[22], 6_000))
        .await;
    // Both items of the other order are canceled one by one: the last one cancels the PaymentIntent.
    stack.run(&cancels, "CancelPayment", &cancel(&canceled, &[21])).await;
    stack.run(&cancels, "CancelPayment", &cancel(&canceled, &[22])).await;

    let bus = stack.bus_messages(7).await;
    let answers: Vec<&str> = names(&bus).into_iter().filter(|n| *n != "PaymentUpdated").collect();
    assert_eq!(
        answers,
        vec![
            "PaymentCanceled",
            "PaymentCaptured",
            "PaymentCanceled",
            "PaymentCanceled"
        ]
    );
    assert_eq!(
        stripe_captured(&stack, &shipped).await,
        6_000,
        "the canceled item was released"
    );
    assert!(stripe_refunds(&shipped).await.is_empty());
    let stored = stack.stored(&shipped).await;
    assert_eq!((stored.status, stored.captured), (PaymentStatus::Captured, 6_000));
    let intent = stack
        .service
        .gateway
        .get_payment(TENANT, &canceled.psp_reference)
        .await
        .expect("intent");
    assert_eq!(intent.status, PaymentStatus::Canceled);
    assert_eq!(stack.stored(&canceled).await.status, PaymentStatus::Canceled);
}

#[tokio::test]
async fn a_revoked_key_is_retried_and_a_lost_refund_is_found_again_not_repeated() {
    let stack = Stack::new().await;
    let (captures, _) = stack.command_queue(10).await;
    let (refunds, _) = stack.command_queue(10).await;
    let paid = stack.order(6_000).await;
    let capture_path = capture_path(&paid);
    // A rolled key: 401 on every try of the first delivery. Never a failure answer; retried.
    stack
        .proxy
        .inject("POST", &capture_path, Fault::FailBeforeForwarding { status: 401 }, 3);
    stack
        .run(&captures, "CapturePayment", &capture(&paid, &[1], 6_000))
        .await;
    // Stripe refunds, but every answer of the first delivery is lost; the next delivery finds the refund
    // by its metadata instead of asking again.
    stack
        .proxy
        .inject("POST", "/v1/refunds", Fault::FailAfterForwarding { status: 500 }, 1);
    stack
        .proxy
        .inject("POST", "/v1/refunds", Fault::FailBeforeForwarding { status: 502 }, 2);
    stack.run(&refunds, "RefundPayment", &refund(&paid, &[1], -2_000)).await;

    let bus = stack.bus_messages(4).await;
    assert_eq!(
        names(&bus),
        vec!["PaymentUpdated", "PaymentCaptured", "PaymentUpdated", "PaymentRefunded"]
    );
    assert_eq!(stack.proxy.forwarded("POST", &capture_path), 1);
    assert_eq!(stack.proxy.forwarded("POST", "/v1/refunds"), 1, "refunded once");
    assert_eq!(stripe_refunds(&paid).await.len(), 1);
}

#[tokio::test]
async fn a_capture_unsettled_when_its_message_went_to_the_dlq_is_answered_by_the_reconciler() {
    let stack = Stack::new().await;
    let (captures, dlq) = stack.command_queue(2).await;
    let paid = stack.order(4_000).await;
    let intent_path = format!("/v1/payment_intents/{}", paid.psp_reference);
    let capture_path = format!("{intent_path}/capture");
    // Stripe captures, its answer is lost, and it stays unreachable for both deliveries of the message.
    let proxy = &stack.proxy;
    proxy.inject("POST", &capture_path, Fault::FailAfterForwarding { status: 500 }, 1);
    proxy.inject("POST", &capture_path, Fault::FailBeforeForwarding { status: 503 }, 2);
    proxy.inject("GET", &intent_path, Fault::FailBeforeForwarding { status: 503 }, 3);
    stack
        .run(&captures, "CapturePayment", &capture(&paid, &[1], 4_000))
        .await;
    let depth = |sqs: aws_sdk_sqs::Client, dlq: String| async move {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(dlq)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("DLQ attributes");
        attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse::<usize>().ok())
    };
    assert_eq!(
        depth(stack.sqs.clone(), dlq.clone()).await,
        Some(1),
        "the queue gave up on the command"
    );
    // Stripe answers again: the reconciler finds the command through the index and runs it again, then
    // finds its letter in the DLQ (answered now: a duplicate) and deletes it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reconciler = Reconciler {
        commands: &stack.service,
        batch: 1000,
    };
    let report = reconciler.run().await.expect("a pass");
    assert!(report.settled >= 1, "{report:?}");
    let letters = SqsDeadLetters::new(stack.sqs.clone(), vec![dlq.clone()]);
    let letters_report = reconciler
        .settle_dead_letters(&letters, &stack.tenants)
        .await
        .expect("the DLQ is readable");
    assert_eq!(
        (letters_report.answered, letters_report.held),
        (1, 0),
        "{letters_report:?}"
    );
    assert_eq!(
        depth(stack.sqs.clone(), dlq).await,
        Some(0),
        "the answered letter is gone"
    );
    let bus = stack.bus_messages(2).await;
    assert_eq!(names(&bus), vec!["PaymentUpdated", "PaymentCaptured"]);
    assert_eq!(proxy.forwarded("POST", &capture_path), 1, "captured once");
    assert_eq!(stack.stored(&paid).await.status, PaymentStatus::Captured);
}

#[tokio::test]
async fn a_dead_lettered_command_nobody_answered_gets_its_answer_and_one_of_an_unknown_tenant_waits() {
    let stack = Stack::new().await;
    let (_, dlq) = stack.command_queue(1).await;
    let paid = stack.order(2_500).await;
    // The command went to the DLQ before any worker claimed it (the tenant was being configured).
    send_command(&stack.sqs, &dlq, "CapturePayment", TENANT, &capture(&paid, &[1], 2_500)).await;
    let stranger = "tenant-nobody-configured";
    send_command(
        &stack.sqs,
        &dlq,
        "CapturePayment",
        stranger,
        &capture(&paid, &[1], 2_500),
    )
    .await;
    let reconciler = Reconciler {
        commands: &stack.service,
        batch: 10,
    };
    let letters = SqsDeadLetters::new(stack.sqs.clone(), vec![dlq.clone()]);
    let report = reconciler
        .settle_dead_letters(&letters, &stack.tenants)
        .await
        .expect("the DLQ is readable");
    assert_eq!((report.answered, report.held, report.pending), (1, 1, 0), "{report:?}");
    let bus = stack.bus_messages(2).await;
    assert_eq!(names(&bus), vec!["PaymentUpdated", "PaymentCaptured"]);
    assert_eq!(stack.stored(&paid).await.status, PaymentStatus::Captured);
    // The unknown tenant's command stays, hidden for an hour: a second pass finds nothing to do.
    let again = reconciler
        .settle_dead_letters(&letters, &stack.tenants)
        .await
        .expect("readable");
    assert_eq!(again, Default::default());
}
