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
    for body in [
        format!(r#"{{"orderReference":"{order}","orderItemIds":[1]}}"#),
        bad.clone(),
    ] {
        sqs.send_message()
            .queue_url(capture_queue)
            .message_body(body)
            .message_attributes("transferName", string_attribute("CapturePayment"))
            .message_attributes("tenantIdentifier", string_attribute("t1"))
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
    // The default tenant and its webhook secret, as infra/local/parameters.json gives them to the stack.
    let parameters: Value = serde_json::from_str(include_str!("../../infra/local/parameters.json")).expect("JSON");
    let tenant = parameters["Parameters"]["DefaultTenantIdentifier"]
        .as_str()
        .expect("default tenant");
    let secret = parameters["Parameters"]["StripeWebhookSecrets"]
        .as_str()
        .expect("secret");
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

/// POSTs `body` to the `/private` route `path` of the stack with the tenant's `headers`. Every call to a
/// JWT-protected route goes through here, so adding the stack's bearer token is one change.
async fn post_private(
    stack: &integration_tests::local_stack::StackInfo,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", stack.http_base_url))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the stack answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// Merchant onboarding through the real `merchant-onboarding` and `stripe-accounts-webhook` binaries.
///
/// localstripe has no Connect, so the stack's onboarding function cannot reach a Stripe that creates
/// accounts: through the stack this test checks its input errors (400) and that a PSP refusal comes
/// back as 412 in the §5.7 error shape; the happy path (account created once, links) is covered
/// in-process against an HTTP double of Stripe (`tests/tests/onboarding.rs`). The status sequence runs
/// entirely through the stack: an onboarding stored as the endpoint stores it, then signed
/// `account.updated` deliveries, checked against the exact MerchantAppOnboardingStatusChanged messages
/// on the bus.
#[tokio::test]
async fn a_merchant_onboarding_status_sequence_through_the_real_functions() {
    use integration_tests::acp::bus_messages;
    use integration_tests::local_stack::StackInfo;
    use serde_json::json;
    use shared::adapters::stripe::webhook::signature_header;
    use shared::domain::MerchantOnboarding;
    use shared::ports::OnboardingStore;

    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (rule, watch) = stack.watch_bus(&aws).await;
    let parameters: Value = serde_json::from_str(include_str!("../../infra/local/parameters.json")).expect("JSON");
    let tenant = parameters["Parameters"]["DefaultTenantIdentifier"]
        .as_str()
        .expect("default tenant");
    let secret = parameters["Parameters"]["StripeWebhookSecrets"]
        .as_str()
        .expect("secret");
    let merchant = integration_tests::aws::unique_name("MER");
    let account = integration_tests::aws::unique_name("acct");

    // The onboarding endpoint: bad input is 400, a PSP that cannot onboard merchants is 412.
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
    let (status, answer) = post_private(&stack, route, &headers, &body).await;
    assert_eq!(status, 412, "localstripe refuses /v1/accounts: {answer}");
    assert!(answer["errors"][0]["message"].is_string(), "{answer}");

    // The merchant's onboarding as the endpoint stores it on its first call.
    let store = stack.store(&aws);
    let onboarding = MerchantOnboarding::new(tenant.to_string(), merchant.clone(), account.clone());
    store.insert_onboarding(&onboarding).await.expect("seed onboarding");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let http = reqwest::Client::new();
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
        http.post(format!(
            "{}/webhooks/stripe/{route_tenant}/accounts",
            stack.http_base_url
        ))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(event)
        .send()
    };
    let status = |r: reqwest::Result<reqwest::Response>| r.expect("the stack answers").status().as_u16();
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
            status(deliver(&event_id, created, changes, secret, tenant).await),
            200,
            "{event_id}"
        );
    }
    // Refused: a forged signature, and this tenant's secret on another tenant's route.
    assert_eq!(
        status(deliver(&evt(9), 107, json!({}), "whsec_forged", tenant).await),
        400
    );
    assert_eq!(
        status(deliver(&evt(10), 107, json!({}), secret, "another-tenant").await),
        400
    );

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
