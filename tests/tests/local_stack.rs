//! The local stack end to end (`infra/local/stack up` must have run; `infra/local/test` does it): a
//! command sent to the capture queue reaches the real `capture-payment` binary through the emulated
//! event source mapping and its answer reaches the bus; a malformed message ends in the dead-letter queue.

use aws_sdk_sqs::types::MessageAttributeValue;
use integration_tests::acp::names;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("message attribute")
}

/// Receives from `queue` until a message body satisfies `found`, for at most `within`.
async fn wait_for(sqs: &aws_sdk_sqs::Client, queue: &str, within: Duration, found: impl Fn(&str) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        if out.messages().iter().filter_map(|m| m.body()).any(&found) {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn a_command_runs_through_the_real_function_and_a_malformed_one_ends_in_the_dlq() {
    let stack = integration_tests::local_stack::StackInfo::running();
    let config = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let bus = stack.bus_name.as_str();
    let run = uuid::Uuid::new_v4().simple().to_string();

    // A rule on the app's bus to a queue of this test: where the function's answer shows.
    let observed = sqs
        .create_queue()
        .queue_name(format!("local-stack-events-{run}"))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue URL");
    let arn = integration_tests::sqs_source::queue_arn(&sqs, &observed).await;
    let rule = format!("local-stack-{run}");
    let pattern = serde_json::json!({
        "source": [stack.app_identifier],
        "detail-type": ["PaymentCaptureFailed"],
    });
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("put rule");
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("test")
                .arn(arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("put targets");

    let capture_queue = stack.queue("CapturePayment");
    let order = format!("DE--X-{run}");
    let bad = format!("{{bad {run}");
    let tenant = format!("tenant-{run}");
    integration_tests::tenant::configure_tenant(&stack, &tenant).await;
    for body in [
        format!(r#"{{"orderReference":"{order}","orderItemIds":[1]}}"#),
        bad.clone(),
    ] {
        sqs.send_message()
            .queue_url(capture_queue)
            .message_body(body)
            .message_attributes("transferName", string_attribute("CapturePayment"))
            .message_attributes("tenantIdentifier", string_attribute(&tenant))
            .send()
            .await
            .expect("send command");
    }

    assert!(
        wait_for(&sqs, &observed, Duration::from_secs(60), |body| body.contains(&order)).await,
        "no PaymentCaptureFailed for {order} on {bus} within 60 s (see .local/logs/lambda-CapturePaymentFunction.log)"
    );
    let dlq = stack.dead_letter_queues["CapturePayment"].as_str();
    assert!(
        wait_for(&sqs, dlq, Duration::from_secs(60), |body| body == bad).await,
        "the malformed message did not reach the capture DLQ within 60 s"
    );
    assert!(
        stack.functions["CapturePaymentFunction"].queue.as_deref() == Some(capture_queue),
        "stack.json names the capture queue as the capture function's source"
    );
}

/// Orders through the real `capture-payment`, `refund-payment` and `cancel-payment` binaries: the answers,
/// a command delivered three times moving money once, and refunds bounded by the captured amount.
#[tokio::test]
async fn orders_move_through_the_real_functions_once_each() {
    use integration_tests::acp::{seed_order, send_command, tenant_messages};
    use integration_tests::local_stack::StackInfo;

    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (_rule, watch) = stack.watch_bus(&aws).await;
    let store = stack.store(&aws);
    let (gateway, customer) = stack.stripe();
    let tenant = &integration_tests::aws::unique_name("tenant");
    integration_tests::tenant::configure_watched_tenant(&stack, &sqs, &watch, tenant).await;
    let paid = seed_order(&store, &gateway, &customer, tenant, 9_000, "pm_card_visa").await;
    let other = seed_order(&store, &gateway, &customer, tenant, 2_000, "pm_card_visa").await;
    let order = paid.order_reference.clone().expect("order");

    let capture =
        json!({"orderReference": order, "orderItemIds": [1, 2, 3], "amount": 9_000, "currencyIsoCode": "EUR"});
    for _ in 0..3 {
        send_command(&sqs, stack.queue("CapturePayment"), "CapturePayment", tenant, &capture).await;
    }
    let refund = |item: i64, amount: i64| {
        json!({"orderReference": order, "orderItems": [{"orderItemId": item, "sku": "SKU"}], "orderItemIds": [item],
               "amount": amount, "currencyIsoCode": "EUR"})
    };
    let within = WAIT;
    let captured = tenant_messages(&sqs, &watch, tenant, 2, within).await;
    let names: Vec<&str> = captured.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["PaymentUpdated", "PaymentCaptured"],
        "three deliveries, one capture"
    );

    // One at a time: a standard queue keeps no order, and the last refund is refused only after the others.
    let steps = [
        (
            "RefundPayment",
            refund(1, -4_000),
            vec!["PaymentUpdated", "PaymentRefunded"],
        ),
        (
            "RefundPayment",
            refund(2, -4_000),
            vec!["PaymentUpdated", "PaymentRefunded"],
        ),
        ("RefundPayment", refund(3, -1_001), vec!["PaymentRefundFailed"]),
        (
            "CancelPayment",
            json!({"orderReference": other.order_reference, "orderItemIds": [9], "amount": 0}),
            vec!["PaymentUpdated", "PaymentCanceled"],
        ),
    ];
    for (command, payload, expected) in steps {
        send_command(&sqs, stack.queue(command), command, tenant, &payload).await;
        let answers = tenant_messages(&sqs, &watch, tenant, expected.len(), within).await;
        let names: Vec<&str> = answers.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, expected, "{command} {payload}");
        assert_eq!(
            answers.last().map(|m| m.payload["amount"].clone()),
            Some(payload["amount"].clone())
        );
    }
}

/// Stripe's webhooks through the stack's HTTP API to the real `stripe-payment-intents-webhook` binary:
/// a signed event moves the payment once; a replay, a bad signature, a stale one and another tenant's
/// route change nothing.
#[tokio::test]
async fn signed_stripe_webhooks_reach_the_real_function_and_nothing_else_does() {
    use integration_tests::acp::{order_messages, seed_order};
    use integration_tests::local_stack::StackInfo;
    use shared::adapters::stripe::webhook::signature_header;

    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (_rule, watch) = stack.watch_bus(&aws).await;
    let tenant = &integration_tests::tenant::configure_local_tenant(&stack).await;
    let secret = stack.webhooks().secrets[0].as_str();
    let (gateway, customer) = stack.stripe();
    let paid = seed_order(&stack.store(&aws), &gateway, &customer, tenant, 5_000, "pm_card_visa").await;
    let order = paid.order_reference.clone().expect("order");
    let event = stack
        .stripe_event("payment_intent.succeeded", &paid.psp_reference, "succeeded")
        .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let post = |route_tenant: &str, signature: String| {
        let (stack, event, route_tenant) = (&stack, &event, route_tenant.to_string());
        async move {
            stack
                .post_webhook(&route_tenant, "payment-intents", &signature, event)
                .await
        }
    };

    let signed = signature_header(&[secret], now, event.as_bytes());
    assert_eq!(post(tenant, signed.clone()).await, 200);
    let names: Vec<String> = order_messages(&sqs, &watch, tenant, &order, 2, WAIT)
        .await
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, vec!["PaymentUpdated", "PaymentCaptured"]);

    // Stripe delivers it again: acknowledged, nothing new.
    assert_eq!(post(tenant, signed.clone()).await, 200);
    let forged = signature_header(&["whsec_not_the_tenants"], now, event.as_bytes());
    assert_eq!(post(tenant, forged).await, 400);
    let stale = signature_header(&[secret], now - 301, event.as_bytes());
    assert_eq!(post(tenant, stale).await, 400);
    assert_eq!(
        post("another-tenant", signed).await,
        400,
        "a tenant's secret is its own"
    );
    let again = order_messages(&sqs, &watch, tenant, &order, 1, QUIET).await;
    assert!(again.is_empty(), "nothing else moved: {again:?}");
}

/// How long a test waits to see that nothing (more) arrives.
const QUIET: Duration = Duration::from_secs(5);

/// How long a test waits for the messages it expects.
const WAIT: Duration = Duration::from_secs(60);

/// A through-the-stack webhook test's order: the running stack, a watch on its bus, the stack's webhook
/// tenant (configured) and a new order of it through `POST /private/initialize-payment` (PaymentCreated),
/// paid by the customer at localstripe (`requires_capture`) but not yet reported by Stripe.
struct PaidOrder {
    stack: integration_tests::local_stack::StackInfo,
    sqs: aws_sdk_sqs::Client,
    watch: String,
    tenant: String,
    order: String,
    intent: String,
}

impl PaidOrder {
    /// A new order over `amount` EUR cents with `items` (sales order item ids), paid.
    async fn new(amount: i64, items: &[i64]) -> PaidOrder {
        let stack = integration_tests::local_stack::StackInfo::running();
        let aws = stack.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let (_rule, watch) = stack.watch_bus(&aws).await;
        let tenant = integration_tests::tenant::configure_local_tenant(&stack).await;
        let order = integration_tests::aws::unique_name("DE");
        stack.initialize_payment(&tenant, &order, amount, items).await;
        let intent = stack.pay(&aws, &tenant, &order).await;
        PaidOrder {
            stack,
            sqs,
            watch,
            tenant,
            order,
            intent,
        }
    }

    /// [`PaidOrder::new`], its PaymentCreated taken off the watch and, acting as Stripe (localstripe never
    /// sends `payment_intent.amount_capturable_updated`), its authorization reported by the signed webhook
    /// (PaymentUpdated, PaymentAuthorized).
    async fn authorized(amount: i64, items: &[i64]) -> PaidOrder {
        let paid = PaidOrder::new(amount, items).await;
        assert_eq!(names(&paid.messages(1, WAIT).await), vec!["PaymentCreated"]);
        paid.stack.report_authorization(&paid.tenant, &paid.intent).await;
        let authorized = paid.messages(2, WAIT).await;
        assert_eq!(names(&authorized), vec!["PaymentUpdated", "PaymentAuthorized"]);
        paid
    }

    /// The bus messages about the order (see [`integration_tests::acp::order_messages`]).
    async fn messages(&self, at_least: usize, within: Duration) -> Vec<integration_tests::acp::BusMessage> {
        integration_tests::acp::order_messages(&self.sqs, &self.watch, &self.tenant, &self.order, at_least, within)
            .await
    }

    /// A Stripe event of `event_type` about the order's PaymentIntent with its `status` (see
    /// [`integration_tests::local_stack::StackInfo::stripe_event`]).
    async fn stripe_event(&self, event_type: &str, status: &str) -> String {
        self.stack.stripe_event(event_type, &self.intent, status).await
    }

    /// Delivers `body` to the tenant's payment-intents webhook route, signed now; returns the status.
    async fn deliver(&self, body: &str) -> u16 {
        self.stack.deliver_signed(&self.tenant, "payment-intents", body).await
    }
}

/// The `payment_intent.succeeded` events localstripe created for `intent` since `since` (Unix seconds).
async fn localstripe_succeeded_events(
    stack: &integration_tests::local_stack::StackInfo,
    intent: &str,
    since: u64,
) -> usize {
    let url = format!(
        "{}/v1/events?type=payment_intent.succeeded&limit=100&created[gt]={since}",
        stack.stripe_base_url
    );
    let events: Value = reqwest::Client::new()
        .get(url)
        .bearer_auth(integration_tests::stripe_customer::LOCALSTRIPE_API_KEY)
        .send()
        .await
        .expect("localstripe")
        .json()
        .await
        .expect("events JSON");
    events["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["data"]["object"]["id"] == intent)
        .count()
}

/// A payment created by initialize-payment, authorized, then captured at Stripe outside the app (in
/// Stripe's dashboard, say): localstripe's own signed `payment_intent.succeeded` reaches the webhook
/// route, passes the signature check and captures the payment in the app.
#[tokio::test]
async fn localstripes_own_signed_webhook_moves_the_payment() {
    let paid = PaidOrder::authorized(3_300, &[1, 2]).await;

    let captured = reqwest::Client::new()
        .post(format!(
            "{}/v1/payment_intents/{}/capture",
            paid.stack.stripe_base_url, paid.intent
        ))
        .bearer_auth(integration_tests::stripe_customer::LOCALSTRIPE_API_KEY)
        .send()
        .await
        .expect("localstripe");
    assert!(
        captured.status().is_success(),
        "capture at Stripe: {}",
        captured.status()
    );
    let messages = paid.messages(2, WAIT).await;
    assert_eq!(names(&messages), vec!["PaymentUpdated", "PaymentCaptured"]);
    assert_eq!(messages[1].payload["amount"], json!(3_300));
}

/// The app captures through a CapturePayment command; localstripe then sends its own signed
/// `payment_intent.succeeded` for the capture, which the app has already recorded: it changes nothing and
/// emits nothing.
#[tokio::test]
async fn localstripes_webhook_after_a_command_capture_changes_nothing() {
    use integration_tests::acp::send_command;

    let paid = PaidOrder::authorized(4_100, &[1, 2]).await;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        - 1;

    let capture =
        json!({"orderReference": paid.order, "orderItemIds": [1, 2], "amount": 4_100, "currencyIsoCode": "EUR"});
    let queue = paid.stack.queue("CapturePayment");
    send_command(&paid.sqs, queue, "CapturePayment", &paid.tenant, &capture).await;
    let messages = paid.messages(2, WAIT).await;
    assert_eq!(names(&messages), vec!["PaymentUpdated", "PaymentCaptured"]);
    // localstripe made the event at the capture and delivers it a second later.
    let start = Instant::now();
    while localstripe_succeeded_events(&paid.stack, &paid.intent, since).await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "localstripe made no payment_intent.succeeded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = paid.messages(1, QUIET).await;
    assert!(after.is_empty(), "the late webhook moved nothing: {after:?}");
}

/// Stripe's events out of order: `succeeded` arrives before `amount_capturable_updated`. The payment is
/// captured once; the late authorization changes nothing and emits nothing.
#[tokio::test]
async fn a_late_authorization_after_the_capture_changes_nothing() {
    let paid = PaidOrder::new(2_200, &[7]).await;
    let authorized = paid
        .stripe_event("payment_intent.amount_capturable_updated", "requires_capture")
        .await;
    let succeeded = paid.stripe_event("payment_intent.succeeded", "succeeded").await;

    assert_eq!(paid.deliver(&succeeded).await, 200);
    let messages = paid.messages(3, WAIT).await;
    assert_eq!(
        names(&messages),
        vec!["PaymentCreated", "PaymentUpdated", "PaymentCaptured"]
    );
    assert_eq!(
        paid.deliver(&authorized).await,
        200,
        "acknowledged: Stripe must not retry it"
    );
    let after = paid.messages(1, QUIET).await;
    assert!(after.is_empty(), "captured stays captured: {after:?}");
}

/// A correctly signed body over the size cap is refused (413) before anything else and changes
/// nothing; the same event at its normal size is then applied (the refusal recorded nothing).
#[tokio::test]
async fn an_oversized_webhook_is_refused_and_changes_nothing() {
    let paid = PaidOrder::new(1_500, &[3]).await;
    let created = paid.messages(1, WAIT).await;
    assert_eq!(names(&created), vec!["PaymentCreated"]);
    let event = paid
        .stripe_event("payment_intent.amount_capturable_updated", "requires_capture")
        .await;
    let mut padded: Value = serde_json::from_str(&event).expect("event JSON");
    padded["padding"] = json!("x".repeat(functions::webhook_handler::MAX_BODY_BYTES));
    let padded = padded.to_string();

    assert_eq!(paid.deliver(&padded).await, 413);
    let after = paid.messages(1, QUIET).await;
    assert!(after.is_empty(), "nothing moved: {after:?}");
    assert_eq!(paid.deliver(&event).await, 200);
    let authorized = paid.messages(2, WAIT).await;
    assert_eq!(names(&authorized), vec!["PaymentUpdated", "PaymentAuthorized"]);
}

/// The /private routes are behind the JWT authorizer: without a token, with a token of another key, with
/// the stack's own claims unsigned (`alg: none`) or with garbage the stack answers 401 and the function
/// never runs (no PaymentCreated); with the stack's `bearer_token` (RS256, its key published under the
/// issuer URL) the request reaches it. The webhook routes take no token.
#[tokio::test]
async fn private_routes_need_the_stacks_bearer_token() {
    use integration_tests::acp::order_messages;
    use integration_tests::local_stack::StackInfo;
    use local_stack::jwt::LocalIssuer;

    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (_rule, watch) = stack.watch_bus(&aws).await;
    let tenant = integration_tests::aws::unique_name("tenant");
    let order = integration_tests::aws::unique_name("DE");
    let body = json!({"orderData": {"orderReference": order, "currencyCode": "EUR", "grandTotal": 1_000,
                                    "items": [{"idSalesOrderItem": 1}]}});
    let another_key = LocalIssuer::generate(&local_stack::jwt::issuer_url(&stack.http_base_url))
        .expect("issuer")
        .token("aop-app", Duration::from_secs(600))
        .expect("token");
    // The stack's own token with its header replaced by the base64url of {"alg":"none","typ":"JWT"} and
    // its signature dropped: the claims are right, the algorithm is not RS256.
    let claims = stack
        .bearer_token()
        .split('.')
        .nth(1)
        .expect("the bearer token is a JWT");
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
    let unauthorized = (401, r#"{"message":"Unauthorized"}"#.to_string());
    for (why, token) in [
        ("no token", None),
        ("another key", Some(another_key.as_str())),
        ("alg none", Some(alg_none.as_str())),
        ("not a JWT", Some("not-a-jwt")),
    ] {
        let answer = stack
            .call_private("/private/initialize-payment", &tenant, token, &body)
            .await;
        assert_eq!(answer, unauthorized, "{why}");
    }
    let nothing = order_messages(&sqs, &watch, &tenant, &order, 1, QUIET).await;
    assert!(nothing.is_empty(), "the function did not run: {nothing:?}");

    integration_tests::tenant::configure_tenant(&stack, &tenant).await;
    let (status, answer) = stack
        .call_private(
            "/private/initialize-payment",
            &tenant,
            Some(stack.bearer_token()),
            &body,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let created = order_messages(&sqs, &watch, &tenant, &order, 1, WAIT).await;
    assert_eq!(names(&created), vec!["PaymentCreated"]);

    // The issuer publishes its key as an OIDC issuer does, where API Gateway would fetch it.
    let issuer = local_stack::jwt::issuer_url(&stack.http_base_url);
    let get = |url: String| async move {
        let response = reqwest::get(&url).await.expect("GET");
        assert_eq!(response.status(), 200, "{url}");
        response.json::<Value>().await.expect("JSON")
    };
    let discovery = get(format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(discovery["issuer"], issuer.as_str());
    let jwks = get(discovery["jwks_uri"].as_str().expect("jwks_uri").to_string()).await;
    assert_eq!(jwks["keys"][0]["kty"], "RSA", "{jwks}");
    assert_eq!(jwks["keys"][0]["alg"], "RS256", "{jwks}");

    // No token on a webhook route: the function answers (an unsigned body is its 400, not the API's 401).
    assert_eq!(stack.post_webhook(&tenant, "payment-intents", "", "{}").await, 400);
}

/// POSTs `body` to the `/private` route `path` of the stack with the stack's bearer token and the
/// caller's `headers` (which may leave out the tenant's, unlike [`StackInfo::private_request`]).
async fn post_private(
    stack: &integration_tests::local_stack::StackInfo,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", stack.http_base_url))
        .bearer_auth(stack.bearer_token())
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the stack answers");
    integration_tests::http_answer::conforming(path, response).await
}

/// Merchant onboarding through the real `merchant-onboarding` and `stripe-accounts-webhook` binaries.
///
/// The endpoint's input errors (400), then the merchant's account created once at the stack's Connect
/// double (`infra/local/stripe_connect.py`; localstripe has no Connect) with a new link on each call.
/// The status sequence: signed `account.updated` deliveries for that account, checked against the exact
/// MerchantAppOnboardingStatusChanged messages on the bus.
#[tokio::test]
async fn a_merchant_onboarding_status_sequence_through_the_real_functions() {
    use integration_tests::acp::bus_messages;
    use integration_tests::local_stack::StackInfo;
    use serde_json::json;
    use shared::adapters::stripe::webhook::signature_header;
    use shared::ports::OnboardingStore;

    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (rule, watch) = stack.watch_bus(&aws).await;
    let tenant = integration_tests::aws::unique_name("tenant");
    let tenant = tenant.as_str();
    integration_tests::tenant::configure_tenant(&stack, tenant).await;
    let secret = stack.webhooks().secrets[0].as_str();
    let merchant = integration_tests::aws::unique_name("MER");

    // The onboarding endpoint: bad input is 400; the first call creates the account (201), the next
    // continues it (200) with a new link.
    let body = json!({"merchant": {"merchantReference": merchant, "name": "Merchant One"},
                      "successUrl": "https://mp.example/ok", "refreshUrl": "https://mp.example/again",
                      "cancelUrl": "https://mp.example/cancel", "errorUrl": "https://mp.example/error"});
    let route = "/private/merchants/onboarding";
    let headers = [
        ("x-tenant-identifier", tenant),
        ("x-merchant-reference", merchant.as_str()),
    ];
    let (status, answer) = post_private(&stack, route, &headers[1..], &body).await;
    assert_eq!(
        (status, answer["errors"][0]["message"].as_str()),
        (400, Some("the x-tenant-identifier header is missing"))
    );
    let (status, answer) = post_private(&stack, route, &headers, &json!({"merchant": {"name": "M"}})).await;
    assert_eq!(status, 400, "{answer}");
    let mut relative = body.clone();
    relative["successUrl"] = json!("/ok");
    let (status, answer) = post_private(&stack, route, &headers, &relative).await;
    assert_eq!(
        (status, answer["errors"][0]["message"].as_str()),
        (400, Some("successUrl is not an absolute http(s) URL"))
    );
    let (status, first) = post_private(&stack, route, &headers, &body).await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = post_private(&stack, route, &headers, &body).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(first["url"], second["url"], "a new link each time");
    let store = stack.store(&aws);
    let account = stack.merchant_account(&aws, tenant, &merchant).await;
    assert!(first["url"].as_str().is_some_and(|u| u.contains(&account)), "{first}");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let deliver = |event_id: &str, created: i64, changes: Value, signing_secret: &str, route_tenant: &str| {
        let mut object = json!({
            "id": account, "object": "account", "type": "express", "country": "DE",
            "details_submitted": true, "charges_enabled": false, "payouts_enabled": false,
            "metadata": {"merchantReference": merchant, "tenantIdentifier": tenant},
            "requirements": {"current_deadline": null, "currently_due": [], "disabled_reason": null,
                             "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []}
        });
        for (k, v) in changes.as_object().expect("object") {
            match k.strip_prefix("requirements.") {
                Some(field) => object["requirements"][field] = v.clone(),
                None => object[k] = v.clone(),
            }
        }
        let event = json!({"id": event_id, "object": "event", "type": "account.updated", "created": created,
                           "livemode": false, "account": account, "data": {"object": object}})
        .to_string();
        let signature = signature_header(&[signing_secret], now, event.as_bytes());
        let (stack, route_tenant) = (&stack, route_tenant.to_string());
        async move { stack.post_webhook(&route_tenant, "accounts", &signature, &event).await }
    };
    let evt = |n: u32| format!("evt_{account}_{n}");
    let not_submitted = json!({"details_submitted": false, "requirements.currently_due": ["external_account"]});
    let steps = [
        (evt(1), 100, not_submitted.clone()), // still incomplete: nothing to tell
        (evt(2), 101, json!({})),             // submitted, not enabled: pending
        (evt(2), 101, json!({})),             // the same delivery again
        (evt(3), 102, json!({"charges_enabled": true})),
        (evt(4), 103, json!({"charges_enabled": true, "payouts_enabled": true})),
        (evt(5), 103, json!({"charges_enabled": true, "payouts_enabled": true})), // unchanged
        (evt(0), 99, not_submitted),                                              // late and old: never moves back
        (
            evt(6),
            104,
            json!({"charges_enabled": true, "payouts_enabled": true,
                   "requirements.currently_due": ["individual.verification.document"],
                   "requirements.current_deadline": 1_900_000_000}),
        ),
        (
            evt(7),
            105,
            json!({"requirements.past_due": ["individual.verification.document"],
                   "requirements.disabled_reason": "requirements.past_due"}),
        ),
        (evt(8), 106, json!({"requirements.disabled_reason": "rejected.fraud"})),
    ];
    for (event_id, created, changes) in steps {
        assert_eq!(
            deliver(&event_id, created, changes, secret, tenant).await,
            200,
            "{event_id}"
        );
    }
    // Refused: a forged signature, and this tenant's secret on another tenant's route.
    assert_eq!(deliver(&evt(9), 107, json!({}), "whsec_forged", tenant).await, 400);
    assert_eq!(deliver(&evt(10), 107, json!({}), secret, "another-tenant").await, 400);

    let expected = [
        "pending",
        "enabled",
        "completed",
        "restricted soon",
        "restricted",
        "rejected",
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let batch = bus_messages(&sqs, &watch, 0, Duration::ZERO).await;
        seen.extend(
            batch
                .into_iter()
                .filter(|m| m.payload["merchantReference"] == merchant.as_str()),
        );
        if seen.len() >= expected.len() || std::time::Instant::now() > deadline {
            break;
        }
    }
    // Anything arriving right after would be a duplicate: collect it too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let late = bus_messages(&sqs, &watch, 0, Duration::ZERO).await;
    seen.extend(
        late.into_iter()
            .filter(|m| m.payload["merchantReference"] == merchant.as_str()),
    );
    let got: Vec<(String, String, String)> = seen
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                m.channel.clone(),
                m.payload["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = expected
        .iter()
        .map(|s| {
            (
                "MerchantAppOnboardingStatusChanged".to_string(),
                "merchant-app-events".to_string(),
                s.to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
    for m in &seen {
        assert_eq!(m.attributes["tenantIdentifier"], tenant);
        assert_eq!(m.payload["appIdentifier"], stack.app_identifier.as_str());
        assert_eq!(m.payload["type"], "payment");
    }
    let stored = store
        .get_onboarding(tenant, &merchant)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.status, shared::domain::MerchantOnboardingStatus::Rejected);
    stack.unwatch_bus(&aws, &rule).await;
}

/// A shop's order of three items, initialized through the app's API with the items' amounts and paid,
/// shipped in two parcels and its third item canceled, through the real functions (localstripe has no
/// multicapture: the first parcel's capture takes the whole authorization). A refund the app refuses is
/// answered again when the shop sends it again, never left waiting.
#[tokio::test]
async fn split_shipments_a_partial_cancel_and_a_repeated_refusal_through_the_real_functions() {
    use integration_tests::acp::{send_command, tenant_messages};
    use integration_tests::local_stack::StackInfo;

    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (_rule, watch) = stack.watch_bus(&aws).await;
    let tenant = &integration_tests::aws::unique_name("tenant");
    integration_tests::tenant::configure_watched_tenant(&stack, &sqs, &watch, tenant).await;
    let order = integration_tests::aws::unique_name("DE");
    let items = json!([
        {"idSalesOrderItem": 31, "sku": "A", "quantity": 1, "unitPrice": 3_000, "sumPriceToPayAggregation": 3_000},
        {"idSalesOrderItem": 32, "sku": "B", "quantity": 1, "unitPrice": 3_000, "sumPriceToPayAggregation": 3_000},
        {"idSalesOrderItem": 33, "sku": "C", "quantity": 1, "unitPrice": 3_500, "sumPriceToPayAggregation": 3_500}
    ]);
    let body = json!({"orderData": {"orderReference": order, "currencyCode": "EUR", "grandTotal": 10_000,
                                    "paymentMethodName": "Credit Card", "items": items}});
    stack.initialize(tenant, &body).await;
    let created = tenant_messages(&sqs, &watch, tenant, 1, WAIT).await;
    assert_eq!(names(&created), ["PaymentCreated"]);
    let intent = stack.pay_and_report_authorization(&aws, tenant, &order).await;
    let authorized = tenant_messages(&sqs, &watch, tenant, 2, WAIT).await;
    assert_eq!(names(&authorized), ["PaymentUpdated", "PaymentAuthorized"]);

    let capture = |items: &[i64], amount: i64| json!({"orderReference": order, "orderItemIds": items, "amount": amount, "currencyIsoCode": "EUR"});
    let refund = json!({"orderReference": order, "orderItems": [{"orderItemId": 31, "sku": "A"}],
                        "orderItemIds": [31], "amount": -7_000, "currencyIsoCode": "EUR"});
    let steps = [
        (
            "CapturePayment",
            capture(&[31], 3_500),
            vec!["PaymentUpdated", "PaymentCaptured"],
        ),
        (
            "CapturePayment",
            capture(&[32], 3_000),
            vec!["PaymentUpdated", "PaymentCaptured"],
        ),
        (
            "CancelPayment",
            json!({"orderReference": order, "orderItemIds": [33], "amount": 0}),
            vec!["PaymentUpdated", "PaymentCanceled"],
        ),
        // More than the shop captured (6,500): refused, and refused again when sent again.
        ("RefundPayment", refund.clone(), vec!["PaymentRefundFailed"]),
        ("RefundPayment", refund, vec!["PaymentRefundFailed"]),
    ];
    for (command, payload, expected) in steps {
        send_command(&sqs, stack.queue(command), command, tenant, &payload).await;
        let answers = tenant_messages(&sqs, &watch, tenant, expected.len(), WAIT).await;
        assert_eq!(names(&answers), expected, "{command} {payload}");
        let answer = answers.last().expect("an answer");
        assert_eq!(
            answer.payload["orderItemIds"], payload["orderItemIds"],
            "echoes the command's items"
        );
    }
    let charged = stack.stripe_intent(&intent).await;
    assert_eq!(charged["status"], "succeeded");
    assert_eq!(
        charged["latest_charge"]["amount_captured"], 10_000,
        "one capture took it all"
    );
    let refunds: Value = reqwest::Client::new()
        .get(format!("{}/v1/refunds?payment_intent={intent}", stack.stripe_base_url))
        .bearer_auth(integration_tests::stripe_customer::LOCALSTRIPE_API_KEY)
        .send()
        .await
        .expect("localstripe answers")
        .json()
        .await
        .expect("refund list");
    let amounts: Vec<i64> = refunds["data"]
        .as_array()
        .expect("refunds")
        .iter()
        .filter_map(|r| r["amount"].as_i64())
        .collect();
    assert_eq!(amounts, [3_500], "the canceled item's money went back");
}

/// Express checkout (contract §6 `/private/customer`): the shopper's wallet hands Stripe their shipping
/// address (here an update of the PaymentIntent, as the Express Checkout Element makes it), and the shop
/// reads it back through the real `customer` function; before anything was collected, and for another
/// tenant, it gets a clear error.
#[tokio::test]
async fn an_express_checkouts_shopper_is_read_back_for_the_shop() {
    use integration_tests::local_stack::StackInfo;
    use integration_tests::stripe_customer::LOCALSTRIPE_API_KEY;
    use shared::ports::PaymentStore;

    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let tenant = integration_tests::aws::unique_name("tenant");
    integration_tests::tenant::configure_tenant(&stack, &tenant).await;
    let token = Some(stack.bearer_token());
    let pre_order = json!({"orderData": {"currencyCode": "EUR", "grandTotal": 2_500,
                                         "items": [{"sku": "socks-1", "quantity": 1, "unitPrice": 2_500}]}});
    let (status, answer) = stack
        .call_private("/private/pre-order-payment", &tenant, token, &pre_order)
        .await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("JSON");
    let tx = answer["preOrderPaymentData"]["transactionId"]
        .as_str()
        .expect("transactionId");
    let lookup = json!({"customerPaymentServiceProviderData": {"transactionId": tx}});
    let customer = |tenant: String| {
        let (stack, lookup) = (&stack, &lookup);
        async move {
            let (status, answer) = stack.call_private("/private/customer", &tenant, token, lookup).await;
            (status, serde_json::from_str::<Value>(&answer).unwrap_or(Value::Null))
        }
    };
    let (status, answer) = customer(tenant.clone()).await;
    assert_eq!(status, 422, "nothing collected yet: {answer}");
    assert!(answer["error"].is_string(), "{answer}");

    let intent = stack
        .store(&aws)
        .get_payment(&tenant, tx)
        .await
        .expect("read")
        .expect("the payment")
        .psp_reference;
    let shipping = [
        ("shipping[name]", "Jane Doe"),
        ("shipping[phone]", "+4930123456"),
        ("shipping[address][line1]", "Julie-Wolfthorn-Str. 1"),
        ("shipping[address][city]", "Berlin"),
        ("shipping[address][postal_code]", "10115"),
        ("shipping[address][country]", "DE"),
    ];
    let updated = reqwest::Client::new()
        .post(format!("{}/v1/payment_intents/{intent}", stack.stripe_base_url))
        .bearer_auth(LOCALSTRIPE_API_KEY)
        .form(&shipping)
        .send()
        .await
        .expect("localstripe answers");
    assert_eq!(updated.status(), 200, "{:?}", updated.text().await);

    let (status, answer) = customer(tenant.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"isSuccessful": true, "customer": {
            "phone": "+4930123456", "firstName": "Jane", "lastName": "Doe",
            "shippingAddress": {"firstName": "Jane", "lastName": "Doe", "address1": "Julie-Wolfthorn-Str. 1",
                                "city": "Berlin", "zipCode": "10115", "iso2Code": "DE", "phone": "+4930123456"}}})
    );
    let (status, _) = customer(integration_tests::aws::unique_name("other")).await;
    assert_eq!(status, 404, "another tenant's payment is not found");
}
