//! The local stack end to end (`infra/local/stack up` must have run; `infra/local/test` does it): a
//! command sent to the capture queue reaches the real `capture-payment` binary through the emulated
//! event source mapping and its answer reaches the bus; a malformed message ends in the dead-letter queue.

use aws_sdk_sqs::config::{Credentials, Region};
use aws_sdk_sqs::types::MessageAttributeValue;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// stack.json from `LOCAL_STACK_JSON`, else `.local/stack.json` at the repo root.
fn stack() -> Value {
    let path = std::env::var_os("LOCAL_STACK_JSON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/stack.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the local stack is not up ({}: {e}): run `infra/local/stack up` first (infra/local/test does)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("stack.json is JSON")
}

async fn config(stack: &Value) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(stack["aws_endpoint_url"].as_str().expect("aws_endpoint_url"))
        .region(Region::new(stack["region"].as_str().expect("region").to_string()))
        .credentials_provider(Credentials::new("test", "test", None, None, "local-stack"))
        .load()
        .await
}

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
    let stack = stack();
    let config = config(&stack).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let bus = stack["bus_name"].as_str().expect("bus_name");
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
        "source": [stack["app_identifier"]],
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

    let capture_queue = stack["command_queues"]["CapturePayment"]
        .as_str()
        .expect("capture queue");
    let order = format!("DE--X-{run}");
    let bad = format!("{{bad {run}");
    let tenant = format!("tenant-{run}");
    let stack_info = integration_tests::local_stack::StackInfo::running();
    integration_tests::tenant::configure_tenant(&stack_info, &tenant).await;
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
    let dlq = stack["dead_letter_queues"]["CapturePayment"]
        .as_str()
        .expect("capture DLQ");
    assert!(
        wait_for(&sqs, dlq, Duration::from_secs(60), |body| body == bad).await,
        "the malformed message did not reach the capture DLQ within 60 s"
    );
    assert!(
        stack["functions"]["CapturePaymentFunction"]["queue"].as_str() == Some(capture_queue),
        "stack.json names the capture queue as the capture function's source"
    );
}

/// Orders through the real `capture-payment`, `refund-payment` and `cancel-payment` binaries: the answers,
/// a command delivered three times moving money once, and refunds bounded by the captured amount.
#[tokio::test]
async fn orders_move_through_the_real_functions_once_each() {
    use integration_tests::acp::{seed_order, send_command, tenant_messages};
    use integration_tests::local_stack::StackInfo;
    use serde_json::json;

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
    let within = Duration::from_secs(60);
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
    use integration_tests::acp::{seed_order, tenant_messages};
    use integration_tests::local_stack::StackInfo;
    use serde_json::json;
    use shared::adapters::stripe::webhook::signature_header;

    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (_rule, watch) = stack.watch_bus(&aws).await;
    // A tenant configured with its webhook signing secret through POST /private/configure.
    let tenant = &integration_tests::aws::unique_name("tenant");
    integration_tests::tenant::configure_watched_tenant(&stack, &sqs, &watch, tenant).await;
    let secret = integration_tests::tenant::WEBHOOK_SECRET;
    let (gateway, customer) = stack.stripe();
    let paid = seed_order(&stack.store(&aws), &gateway, &customer, tenant, 5_000, "pm_card_visa").await;
    let event = json!({
        "id": integration_tests::aws::unique_name("evt"), "object": "event", "type": "payment_intent.succeeded",
        "created": 1, "livemode": false,
        "data": {"object": {"id": paid.psp_reference, "object": "payment_intent", "amount": 5_000,
                            "amount_received": 5_000, "currency": "eur", "status": "succeeded",
                            "capture_method": "manual",
                            "metadata": {"transactionId": paid.transaction_id, "tenantIdentifier": tenant,
                                         "orderReference": paid.order_reference}}}
    })
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let http = reqwest::Client::new();
    let post = |route_tenant: &str, signature: String, body: String| {
        let url = format!("{}/webhooks/stripe/{route_tenant}/payment-intents", stack.http_base_url);
        http.post(url)
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let status = |r: reqwest::Result<reqwest::Response>| r.expect("the stack answers").status().as_u16();

    let signed = signature_header(&[secret], now, event.as_bytes());
    assert_eq!(status(post(tenant, signed.clone(), event.clone()).await), 200);
    let names: Vec<String> = tenant_messages(&sqs, &watch, tenant, 2, Duration::from_secs(60))
        .await
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, vec!["PaymentUpdated", "PaymentCaptured"]);

    // Stripe delivers it again: acknowledged, nothing new.
    assert_eq!(status(post(tenant, signed.clone(), event.clone()).await), 200);
    let forged = signature_header(&["whsec_not_the_tenants"], now, event.as_bytes());
    assert_eq!(status(post(tenant, forged, event.clone()).await), 400);
    let stale = signature_header(&[secret], now - 301, event.as_bytes());
    assert_eq!(status(post(tenant, stale, event.clone()).await), 400);
    assert_eq!(
        status(post("another-tenant", signed, event.clone()).await),
        400,
        "a tenant's secret is its own"
    );
    let again = tenant_messages(&sqs, &watch, tenant, 0, Duration::from_secs(3)).await;
    assert!(again.is_empty(), "nothing else moved: {again:?}");
}
