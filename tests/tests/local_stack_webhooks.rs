//! Stripe webhooks end to end through the running local stack (`infra/local/stack up`; `infra/local/test`
//! does it), beyond `local_stack.rs`: a refund left pending by Stripe and settled by the refunds webhook,
//! a webhook that arrives before its headless payment has an order and is applied by the sync endpoint's
//! drain, and the same event delivered concurrently on both routes and twice on one. Each test has a
//! tenant of its own (configured through `POST /private/configure` with the stack's webhook secrets) and
//! checks the exact messages the app put on the bus for it.

use integration_tests::acp::{BusMessage, names, send_command, tenant_messages};
use integration_tests::aws::unique_name;
use integration_tests::local_stack::StackInfo;
use integration_tests::stripe_customer::LOCALSTRIPE_API_KEY;
use serde_json::{Value, json};
use shared::acp::envelope::parse_record;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::stripe::{StaticApiKey, StripeGateway, Timeouts};
use shared::ports::PaymentStore;
use shared::ports::clock::SystemClock;
use shared::service::{CommandService, Settings};
use std::collections::BTreeMap;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// How long a test waits for messages it expects.
const WITHIN: Duration = Duration::from_secs(60);
/// How long a test waits to see that nothing (more) arrives.
const QUIET: Duration = Duration::from_secs(5);

/// A test's view of the stack: its AWS configuration, SQS, a watch on the bus and its own tenant.
struct Watched {
    stack: StackInfo,
    aws: aws_config::SdkConfig,
    sqs: aws_sdk_sqs::Client,
    watch: String,
    tenant: String,
}

impl Watched {
    /// Watches the bus and configures a new tenant (AddPaymentMethod, AppConfigUpdated checked).
    async fn new() -> Watched {
        let stack = StackInfo::running();
        let aws = stack.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let (_rule, watch) = stack.watch_bus(&aws).await;
        let tenant = unique_name("tenant");
        integration_tests::tenant::configure_watched_tenant(&stack, &sqs, &watch, &tenant).await;
        Watched {
            stack,
            aws,
            sqs,
            watch,
            tenant,
        }
    }

    /// The tenant's next `n` messages (and any arriving right after them: they would be duplicates).
    async fn next(&self, n: usize) -> Vec<BusMessage> {
        tenant_messages(&self.sqs, &self.watch, &self.tenant, n, WITHIN).await
    }

    /// Checks that no message for the tenant arrives.
    async fn nothing_more(&self, why: &str) {
        let more = tenant_messages(&self.sqs, &self.watch, &self.tenant, 1, QUIET).await;
        assert!(more.is_empty(), "{why}: {more:?}");
    }

    /// Sends `command` for the tenant to its queue on the stack.
    async fn command(&self, command: &str, payload: &Value) {
        send_command(&self.sqs, self.stack.queue(command), command, &self.tenant, payload).await;
    }

    /// A new order of `amount` EUR cents over `items`: initialized through the stack's HTTP API, paid by
    /// the customer, authorized by the signed webhook and captured by a CapturePayment through the stack.
    /// Returns the order reference and its PaymentIntent.
    async fn captured_order(&self, amount: i64, items: &[i64]) -> (String, String) {
        let order = unique_name("DE");
        self.stack.initialize_payment(&self.tenant, &order, amount, items).await;
        assert_eq!(names(&self.next(1).await), ["PaymentCreated"]);
        let intent = self
            .stack
            .pay_and_report_authorization(&self.aws, &self.tenant, &order)
            .await;
        assert_eq!(names(&self.next(2).await), ["PaymentUpdated", "PaymentAuthorized"]);
        let capture =
            json!({"orderReference": order, "orderItemIds": items, "amount": amount, "currencyIsoCode": "EUR"});
        self.command("CapturePayment", &capture).await;
        assert_eq!(names(&self.next(2).await), ["PaymentUpdated", "PaymentCaptured"]);
        (order, intent)
    }
}

/// A RefundPayment of `amount` (negative, as Spryker sends it) for `items` of `order`.
fn refund_payment(order: &str, items: &[i64], amount: i64) -> Value {
    let lines: Vec<Value> = items.iter().map(|i| json!({"orderItemId": i, "sku": "SKU"})).collect();
    json!({"orderReference": order, "orderItems": lines, "orderItemIds": items, "amount": amount,
           "currencyIsoCode": "EUR"})
}

/// A signed Stripe event of `event_type` about `object`, as Stripe would send it.
fn stripe_event(event_type: &str, object: &Value) -> String {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    json!({"id": unique_name("evt"), "object": "event", "type": event_type, "created": created,
           "livemode": false, "api_version": "2024-06-20", "data": {"object": object}})
    .to_string()
}

/// Delivers `event` on the tenant's routes all at once, each `(route kind, times)` as often as given.
/// Returns the statuses.
async fn deliver_concurrently(stack: &StackInfo, tenant: &str, event: &str, routes: &[(&str, usize)]) -> Vec<u16> {
    let deliveries = routes
        .iter()
        .flat_map(|(kind, times)| std::iter::repeat_n(*kind, *times))
        .map(|kind| stack.deliver_signed(tenant, kind, event));
    futures::future::join_all(deliveries).await
}

/// Checks that concurrent deliveries of one event were all acknowledged or, where one found the payment
/// leased by its twin, refused for Stripe to retry (500); the retry is then acknowledged.
async fn settle_deliveries(stack: &StackInfo, tenant: &str, kind: &str, event: &str, statuses: &[u16]) {
    assert!(statuses.iter().all(|s| *s == 200 || *s == 500), "{statuses:?}");
    if statuses.contains(&500) {
        assert_eq!(stack.deliver_signed(tenant, kind, event).await, 200, "Stripe's retry");
    }
}

/// The refund-payment function's code (`CommandService`) on the stack's table and bus, with a Stripe
/// that leaves every refund `pending`: localstripe completes refunds at once, has no idempotency layer
/// that could replay a pending one, and the stack's functions call it directly, so this one step runs
/// in-process; everything before and after it goes through the stack. Returns the form the refund was
/// asked with, as Stripe received it.
async fn refund_left_pending(w: &Watched, payload: &Value, psp_refund_id: &str) -> BTreeMap<String, String> {
    let stripe = MockServer::start().await;
    let amount = payload["amount"].as_i64().expect("amount").abs();
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": psp_refund_id, "object": "refund", "status": "pending", "amount": amount, "currency": "eur"
        })))
        .expect(1)
        .mount(&stripe)
        .await;
    let key = StaticApiKey::new(LOCALSTRIPE_API_KEY.to_string().into());
    let service = CommandService {
        store: w.stack.store(&w.aws),
        gateway: StripeGateway::new(&stripe.uri(), key, Timeouts::default()).expect("gateway"),
        publisher: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&w.aws), &w.stack.bus_name),
        clock: SystemClock,
        settings: Settings::new(&w.stack.app_identifier),
    };
    let attributes = BTreeMap::from([
        ("transferName".to_string(), "RefundPayment".to_string()),
        ("tenantIdentifier".to_string(), w.tenant.clone()),
    ]);
    let message = parse_record(&payload.to_string(), &attributes).expect("a RefundPayment");
    service.handle(&message).await.expect("the refund is recorded");
    let requests = stripe.received_requests().await.expect("requests");
    let body = String::from_utf8(requests[0].body.clone()).expect("form");
    let url = reqwest::Url::parse(&format!("http://stripe/?{body}")).expect("a form");
    url.query_pairs().into_owned().collect()
}

/// The refund object Stripe sends in its refund events for the refund asked with `form`, now in `status`.
fn refund_object(psp_refund_id: &str, form: &BTreeMap<String, String>, status: &str) -> Value {
    let metadata: BTreeMap<&str, &str> = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("metadata[")?.strip_suffix(']')?, v.as_str())))
        .collect();
    json!({"id": psp_refund_id, "object": "refund", "status": status,
           "amount": form["amount"].parse::<i64>().expect("amount"), "currency": "eur",
           "payment_intent": form["payment_intent"], "metadata": metadata})
}

/// A refund Stripe leaves `pending` answers nothing but PaymentUpdated and reserves its amount and items;
/// the signed `charge.refund.updated` (succeeded) on the refunds route then answers PaymentRefunded,
/// echoing the RefundPayment's amount and orderItemIds, once, although delivered twice at the same time
/// and once more to the payment-intents route. A second pending refund is settled by `refund.failed`:
/// PaymentRefundFailed with the same echo, and its amount is free again (refused while reserved, refunded
/// after).
#[tokio::test]
async fn a_pending_refund_is_settled_by_the_refunds_webhook() {
    let w = Watched::new().await;
    let (order, intent) = w.captured_order(6_000, &[1, 2, 3]).await;
    let tenant = w.tenant.as_str();

    // Settled as succeeded.
    let first = refund_payment(&order, &[1], -2_500);
    let re_first = unique_name("re_pending");
    let form = refund_left_pending(&w, &first, &re_first).await;
    assert_eq!(form["payment_intent"], intent);
    assert_eq!(form["amount"], "2500");
    assert_eq!(names(&w.next(1).await), ["PaymentUpdated"], "pending: no answer yet");
    w.nothing_more("nothing else while Stripe has not decided").await;

    let succeeded = stripe_event("charge.refund.updated", &refund_object(&re_first, &form, "succeeded"));
    let statuses = deliver_concurrently(&w.stack, tenant, &succeeded, &[("refunds", 2), ("payment-intents", 1)]).await;
    settle_deliveries(&w.stack, tenant, "refunds", &succeeded, &statuses).await;
    let settled = w.next(2).await;
    assert_eq!(names(&settled), ["PaymentUpdated", "PaymentRefunded"]);
    let refunded = &settled[1].payload;
    assert_eq!(
        (
            &refunded["orderReference"],
            &refunded["amount"],
            &refunded["orderItemIds"]
        ),
        (&json!(order), &json!(-2_500), &json!([1]))
    );
    assert_eq!(
        w.stack.deliver_signed(tenant, "refunds", &succeeded).await,
        200,
        "a replay"
    );
    w.nothing_more("one refund, one answer").await;

    // Settled as failed: the reserved amount is released.
    let second = refund_payment(&order, &[2], -3_500);
    let re_second = unique_name("re_pending");
    let form = refund_left_pending(&w, &second, &re_second).await;
    assert_eq!(names(&w.next(1).await), ["PaymentUpdated"]);
    w.command("RefundPayment", &refund_payment(&order, &[3], -1_000)).await;
    let refused = w.next(1).await;
    assert_eq!(
        names(&refused),
        ["PaymentRefundFailed"],
        "6000 captured, 2500 refunded, 3500 reserved: nothing left"
    );
    assert_eq!(refused[0].payload["amount"], json!(-1_000));

    let failed = stripe_event("refund.failed", &refund_object(&re_second, &form, "failed"));
    assert_eq!(w.stack.deliver_signed(tenant, "refunds", &failed).await, 200);
    let settled = w.next(2).await;
    assert_eq!(names(&settled), ["PaymentUpdated", "PaymentRefundFailed"]);
    let echo = &settled[1].payload;
    assert_eq!(
        (&echo["orderReference"], &echo["amount"], &echo["orderItemIds"]),
        (&json!(order), &json!(-3_500), &json!([2]))
    );
    w.nothing_more("one failure, one answer").await;

    w.command("RefundPayment", &refund_payment(&order, &[2, 3], -3_500))
        .await;
    let later = w.next(2).await;
    assert_eq!(
        names(&later),
        ["PaymentUpdated", "PaymentRefunded"],
        "the released amount"
    );
    assert_eq!(
        (&later[1].payload["amount"], &later[1].payload["orderItemIds"]),
        (&json!(-3_500), &json!([2, 3]))
    );
    let payment = w
        .stack
        .store(&w.aws)
        .find_payment_by_order(tenant, &order)
        .await
        .expect("read")
        .expect("the payment");
    assert_eq!((payment.refunded, payment.refunding), (6_000, 0));
}

/// The headless flow (contract §5.4): `pre-order-payment` creates a payment without an order (PaymentCreated
/// without an entity); Stripe's signed `payment_intent.amount_capturable_updated` arrives before the tenant
/// confirms: acknowledged (200), kept in the inbox, nothing emitted. `confirm-pre-order-payment` gives
/// the payment its order (PaymentUpdated; Stripe's PaymentIntent, read at confirm, has no decision yet)
/// and drains the inbox: the kept event authorizes it (PaymentUpdated, PaymentAuthorized).
#[tokio::test]
async fn a_webhook_before_a_headless_payment_has_an_order_is_applied_by_the_confirm() {
    let w = Watched::new().await;
    let tenant = w.tenant.as_str();
    let token = Some(w.stack.bearer_token());
    let pre_order = json!({"orderData": {"currencyCode": "EUR", "grandTotal": 1_200,
                                         "items": [{"name": "Socks", "sku": "socks-1", "quantity": 1, "unitPrice": 1_200}]},
                           "preOrderPaymentData": {}});
    let (status, answer) = w
        .stack
        .call_private("/private/pre-order-payment", tenant, token, &pre_order)
        .await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["isSuccessful"], json!(true), "{answer}");
    let tx = answer["preOrderPaymentData"]["transactionId"]
        .as_str()
        .expect("transactionId")
        .to_string();
    let store = w.stack.store(&w.aws);
    let payment = store
        .get_payment(tenant, &tx)
        .await
        .expect("read")
        .expect("the payment");
    assert_eq!(payment.order_reference, None);
    let created = w.next(1).await;
    assert_eq!(names(&created), ["PaymentCreated"]);
    assert_eq!(created[0].payload["paymentReference"], json!(tx));
    assert!(
        created[0].payload.get("entityReference").is_none(),
        "no entity before the order"
    );
    w.nothing_more("announced once").await;

    let authorized = w
        .stack
        .stripe_event(
            "payment_intent.amount_capturable_updated",
            &payment.psp_reference,
            "requires_capture",
        )
        .await;
    assert_eq!(
        w.stack.deliver_signed(tenant, "payment-intents", &authorized).await,
        200
    );
    assert_eq!(store.inbox(tenant, &tx).await.expect("inbox").len(), 1, "kept");
    w.nothing_more("kept, not applied").await;

    let order = unique_name("DE");
    let confirm = json!({"orderReference": order, "preOrderPaymentData": {"transactionId": tx},
                         "orderData": {"currencyCode": "EUR", "grandTotal": 1_200,
                                       "items": [{"idSalesOrderItem": 7, "sku": "socks-1"}]}});
    let (status, answer) = w
        .stack
        .call_private("/private/confirm-pre-order-payment", tenant, token, &confirm)
        .await;
    assert_eq!(status, 200, "{answer}");
    let messages = w.next(3).await;
    assert_eq!(
        names(&messages),
        ["PaymentUpdated", "PaymentUpdated", "PaymentAuthorized"]
    );
    let payload = &messages[2].payload;
    assert_eq!(
        (&payload["orderReference"], &payload["amount"], &payload["orderItemIds"]),
        (&json!(order), &json!(1_200), &json!([7]))
    );
    assert!(store.inbox(tenant, &tx).await.expect("inbox").is_empty(), "drained");
    assert_eq!(
        w.stack.deliver_signed(tenant, "payment-intents", &authorized).await,
        200,
        "Stripe's retry of the kept event"
    );
    w.nothing_more("applied once").await;
}

/// One Stripe event delivered at the same time to both of the tenant's routes (Stripe sends every event
/// to each endpoint subscribed to it), twice to the payment-intents route: one authorization, one set of
/// messages.
#[tokio::test]
async fn the_same_event_concurrently_on_both_routes_moves_the_payment_once() {
    let w = Watched::new().await;
    let tenant = w.tenant.as_str();
    let order = unique_name("DE");
    w.stack.initialize_payment(tenant, &order, 2_400, &[4, 5]).await;
    assert_eq!(names(&w.next(1).await), ["PaymentCreated"]);
    let intent = w.stack.intent_of_order(&w.aws, tenant, &order).await;
    let (_, customer) = w.stack.stripe();
    customer.authorize(&intent).await.expect("the customer pays");
    let event = w
        .stack
        .stripe_event("payment_intent.amount_capturable_updated", &intent, "requires_capture")
        .await;

    let statuses = deliver_concurrently(&w.stack, tenant, &event, &[("payment-intents", 2), ("refunds", 2)]).await;
    settle_deliveries(&w.stack, tenant, "payment-intents", &event, &statuses).await;
    let messages = w.next(2).await;
    assert_eq!(names(&messages), ["PaymentUpdated", "PaymentAuthorized"]);
    assert_eq!(
        (&messages[1].payload["orderReference"], &messages[1].payload["amount"]),
        (&json!(order), &json!(2_400))
    );
    w.nothing_more("one event, one effect").await;
}

/// The `details` of a PaymentUpdated.
fn details(message: &BusMessage) -> Value {
    serde_json::from_str(message.payload["details"].as_str().expect("details")).expect("details JSON")
}

#[tokio::test]
async fn a_dashboard_refund_and_a_dispute_are_recorded_and_shown_never_answered_as_refunds() {
    let w = Watched::new().await;
    let tenant = w.tenant.as_str();
    let (order, intent) = w.captured_order(5_000, &[1, 2]).await;
    // Someone refunds 1500 in the Stripe Dashboard: a refund without the app's metadata.
    let refund: Value = reqwest::Client::new()
        .post(format!("{}/v1/refunds", w.stack.stripe_base_url))
        .bearer_auth(LOCALSTRIPE_API_KEY)
        .form(&[("payment_intent", intent.as_str()), ("amount", "1500")])
        .send()
        .await
        .expect("localstripe answers")
        .json()
        .await
        .expect("a refund");
    assert_eq!(refund["status"], "succeeded", "{refund}");
    // localstripe sends no charge.refunded: Stripe's event, with the charge's refunded total.
    let charge = json!({"id": unique_name("ch"), "object": "charge", "amount_refunded": 1500, "currency": "eur",
                        "payment_intent": intent, "metadata": {}});
    let event = stripe_event("charge.refunded", &charge);
    assert_eq!(w.stack.deliver_signed(tenant, "refunds", &event).await, 200);
    let updated = w.next(1).await;
    assert_eq!(names(&updated), ["PaymentUpdated"]);
    assert_eq!(details(&updated[0])["externalRefundedAmount"], 1500);

    // The shopper disputes the rest with their bank.
    let dispute = json!({"id": unique_name("du"), "object": "dispute", "amount": 3500, "currency": "eur",
                         "reason": "fraudulent", "status": "needs_response", "charge": charge["id"],
                         "payment_intent": intent, "metadata": {}});
    let event = stripe_event("charge.dispute.created", &dispute);
    assert_eq!(w.stack.deliver_signed(tenant, "payment-intents", &event).await, 200);
    let updated = w.next(1).await;
    assert_eq!(names(&updated), ["PaymentUpdated"]);
    assert_eq!(
        details(&updated[0])[format!("Dispute \"{}\"", dispute["id"].as_str().unwrap())],
        "needs_response: 3500 (fraudulent)"
    );

    // 3500 may still be refunded: a RefundPayment of 4000 is refused, and no PaymentRefunded was invented.
    w.command("RefundPayment", &refund_payment(&order, &[1, 2], -4_000))
        .await;
    let answer = w.next(1).await;
    assert_eq!(names(&answer), ["PaymentRefundFailed"]);
    w.nothing_more("nothing else").await;
}

#[tokio::test]
async fn a_bank_transfer_arriving_short_then_over_is_underpaid_then_overpaid() {
    let w = Watched::new().await;
    let tenant = w.tenant.as_str();
    let order = unique_name("DE");
    w.stack
        .checkout_with(tenant, &order, 10_000, &[1, 2], "Bank Transfer")
        .await;
    assert_eq!(names(&w.next(1).await), ["PaymentCreated"]);
    // The payment's own Stripe customer, whose cash balance receives the shopper's transfer.
    let intent = w.stack.intent_of_order(&w.aws, tenant, &order).await;
    let created = w.stack.stripe_intent(&intent).await;
    let customer = created["customer"].as_str().expect("a customer of its own").to_string();
    assert_eq!(created["capture_method"], "automatic", "{created}");

    // 6000 arrive: Stripe's partially_funded (localstripe has no bank transfers) with 4000 missing.
    let mut short = created.clone();
    short["status"] = json!("requires_action");
    short["next_action"] = json!({"type": "display_bank_transfer_instructions",
        "display_bank_transfer_instructions": {"amount_remaining": 4000, "currency": "eur",
                                               "type": "eu_bank_transfer"}});
    let event = stripe_event("payment_intent.partially_funded", &short);
    assert_eq!(w.stack.deliver_signed(tenant, "payment-intents", &event).await, 200);
    let underpaid = w.next(2).await;
    assert_eq!(names(&underpaid), ["PaymentUpdated", "PaymentUnderpaid"]);
    assert_eq!(
        (&underpaid[1].payload["orderReference"], &underpaid[1].payload["amount"]),
        (&json!(order), &json!(10_000))
    );
    let context: Value =
        serde_json::from_str(underpaid[1].payload["context"].as_str().expect("context")).expect("context JSON");
    assert_eq!(context, json!({"requestedAmount": 10_000, "paidAmount": 6_000}));

    // 6500 more arrive: the intent is paid (authorized for Spryker), 2500 stay in the customer's balance.
    let mut paid = created.clone();
    paid["status"] = json!("succeeded");
    paid["amount_received"] = json!(10_000);
    let event = stripe_event("payment_intent.succeeded", &paid);
    assert_eq!(w.stack.deliver_signed(tenant, "payment-intents", &event).await, 200);
    assert_eq!(names(&w.next(2).await), ["PaymentUpdated", "PaymentAuthorized"]);
    let balance = json!({"object": "cash_balance", "available": {"eur": 2500}, "customer": customer,
                         "livemode": false, "settings": {"reconciliation_mode": "automatic"}});
    let event = stripe_event("cash_balance.funds_available", &balance);
    assert_eq!(w.stack.deliver_signed(tenant, "refunds", &event).await, 200);
    let overpaid = w.next(2).await;
    assert_eq!(names(&overpaid), ["PaymentUpdated", "PaymentOverpaid"]);
    assert_eq!(details(&overpaid[0])["fundingPaidAmount"], 12_500);

    // Spryker captures: the money is there already.
    w.command(
        "CapturePayment",
        &json!({"orderReference": order, "orderItemIds": [1, 2], "amount": 10_000, "currencyIsoCode": "EUR"}),
    )
    .await;
    assert_eq!(names(&w.next(2).await), ["PaymentUpdated", "PaymentCaptured"]);
    w.nothing_more("nothing else").await;
}
