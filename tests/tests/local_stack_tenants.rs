//! The tenant lifecycle through a running local stack (`infra/local/stack up`), by its public surfaces
//! only: `POST /private/configure` and `/private/disconnect` on the HTTP API, the command queues, the
//! webhook route, and the bus seen through a rule. Each step checks the exact messages, in order. The
//! last test scans the functions' logs and the bus for every configured secret.

use integration_tests::acp::{BusMessage, names, seed_order, send_command, tenant_messages};
use integration_tests::aws::unique_name;
use integration_tests::local_stack::StackInfo;
use integration_tests::tenant::{
    configuration, configure, configure_as, configure_body, configured_secrets, disconnect,
};
use serde_json::{Value, json};
use shared::adapters::stripe::webhook::signature_header;
use shared::adapters::tenant_directory::DEFAULT_TTL;
use shared::domain::PaymentStatus;
use shared::ports::{PaymentStore, TenantStore};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(60);

/// The next `count` messages for `tenant`, checked to be exactly `expected`.
async fn expect(sqs: &aws_sdk_sqs::Client, watch: &str, tenant: &str, expected: &[&str]) -> Vec<BusMessage> {
    let seen = tenant_messages(sqs, watch, tenant, expected.len(), WITHIN).await;
    assert_eq!(names(&seen), expected, "messages for {tenant}");
    seen
}

/// A signed `payment_intent.succeeded` for `psp_reference` of `tenant`, posted to its webhook route.
async fn post_webhook(stack: &StackInfo, tenant: &str, psp_reference: &str, tx: &str, secret: &str) -> (u16, Value) {
    let event = json!({
        "id": unique_name("evt"), "object": "event", "type": "payment_intent.succeeded", "created": 1,
        "livemode": false,
        "data": {"object": {"id": psp_reference, "object": "payment_intent", "amount": 3_000,
                            "amount_received": 3_000, "currency": "eur", "status": "succeeded",
                            "metadata": {"transactionId": tx, "tenantIdentifier": tenant}}}
    })
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .expect("a clock after 1970");
    let signature = signature_header(&[secret], now, event.as_bytes());
    stack
        .post_webhook_answer(tenant, "payment-intents", &signature, &event)
        .await
}

#[tokio::test]
async fn configure_reconfigure_disconnect_and_reconnect() {
    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (rule, watch) = stack.watch_bus(&aws).await;
    let tenant = &unique_name("tenant");

    // Configure: the method, then the configuration with its secrets redacted.
    let (status, answer) = configure(&stack, tenant, &configuration(&stack, &["Credit Card"])).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["tenantIdentifier"], tenant.as_str());
    assert_eq!(answer["configuration"]["stripeSecretKey"], "[redacted]");
    assert_eq!(answer["configuration"]["webhookSigningSecrets"], json!(["[redacted]"]));
    let seen = expect(&sqs, &watch, tenant, &["AddPaymentMethod", "AppConfigUpdated"]).await;
    assert_eq!(seen[0].channel, "payment-method-commands");
    assert_eq!(seen[0].payload["name"], "Credit Card");
    assert_eq!(seen[0].payload["providerName"], "Stripe");
    assert_eq!(
        (&seen[1].payload["status"], &seen[1].payload["isActive"]),
        (&json!("NEW"), &json!(true))
    );
    assert_eq!(seen[1].payload["config"], answer["configuration"]);
    assert_eq!(seen[1].payload["messageChannels"].as_array().map(Vec::len), Some(5));

    // A key Stripe refuses (localstripe, like Stripe, answers GET /v1/account with 401): a 422 naming the
    // field, and nothing announced (the next expectation sees only the reconfigure's messages).
    let (status, refused) = configure(&stack, tenant, &json!({"stripeSecretKey": "rk_test_not_accepted"})).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused.to_string().contains("stripeSecretKey: Stripe refuses"),
        "{refused}"
    );

    // The App Catalog echoes the configuration it was answered, [redacted] secrets and all: the stored
    // secrets stay (a checkout with the tenant's key still works), and the echo moves no method.
    let (status, echoed) = configure(&stack, tenant, &answer["configuration"]).await;
    assert_eq!(
        (status, &echoed["configuration"]),
        (200, &answer["configuration"]),
        "{echoed}"
    );
    expect(&sqs, &watch, tenant, &["AppConfigUpdated"]).await;
    stack.checkout(tenant, &unique_name("DE"), 1_000, &[1]).await;
    expect(&sqs, &watch, tenant, &["PaymentCreated"]).await;

    // Reconfigure with another method set: the diff, then the configuration.
    let (status, _) = configure(&stack, tenant, &json!({"paymentMethods": ["Klarna", "PayPal"]})).await;
    assert_eq!(status, 200);
    let seen = expect(
        &sqs,
        &watch,
        tenant,
        &[
            "AddPaymentMethod",
            "AddPaymentMethod",
            "DeletePaymentMethod",
            "AppConfigUpdated",
        ],
    )
    .await;
    assert_eq!(
        [
            &seen[0].payload["name"],
            &seen[1].payload["name"],
            &seen[2].payload["name"]
        ],
        [&json!("Klarna"), &json!("PayPal"), &json!("Credit Card")]
    );

    // An open payment: disconnect needs a confirmation; a declined one changes nothing.
    let (gateway, customer) = stack.stripe();
    let store = stack.store(&aws);
    let paid = seed_order(&store, &gateway, &customer, tenant, 3_000, "pm_card_visa").await;
    let (status, body) = disconnect(&stack, tenant, None).await;
    assert_eq!((status, &body["errors"][0]["code"]), (409, &json!("21000")), "{body}");
    assert_eq!(
        body["errors"][0]["confirm"],
        json!({"labelOk": "Ignore & Disconnect", "labelCancel": "Cancel"})
    );
    let (status, body) = disconnect(&stack, tenant, Some(false)).await;
    assert_eq!((status, &body["errors"][0]["code"]), (400, &json!("21001")), "{body}");
    assert_eq!(disconnect(&stack, tenant, Some(true)).await, (204, Value::Null));
    let seen = expect(
        &sqs,
        &watch,
        tenant,
        &["DeletePaymentMethod", "DeletePaymentMethod", "AppConfigUpdated"],
    )
    .await;
    assert_eq!(
        (&seen[2].payload["status"], &seen[2].payload["isActive"]),
        (&json!("DISCONNECTED"), &json!(false))
    );

    // Disconnected: a command is acknowledged without effect, a webhook and a checkout are refused.
    let order = paid.order_reference.clone().expect("order");
    let capture = json!({"orderReference": order, "orderItemIds": [1], "amount": 3_000, "currencyIsoCode": "EUR"});
    send_command(&sqs, stack.queue("CapturePayment"), "CapturePayment", tenant, &capture).await;
    let (status, body) = post_webhook(
        &stack,
        tenant,
        &paid.psp_reference,
        &paid.transaction_id,
        &stack.webhooks().secrets[0],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    let initialize = json!({"orderData": {"orderReference": unique_name("DE"), "currencyCode": "EUR", "grandTotal": 100,
                                          "items": [{"idSalesOrderItem": 1}]}});
    let (initialize, _) = stack
        .call_private(
            "/private/initialize-payment",
            tenant,
            Some(stack.bearer_token()),
            &initialize,
        )
        .await;
    assert_eq!(initialize, 400);
    let quiet = tenant_messages(&sqs, &watch, tenant, 0, Duration::from_secs(8)).await;
    assert_eq!(names(&quiet), Vec::<&str>::new(), "nothing is sent while disconnected");
    let stored = store.get_payment(tenant, &paid.transaction_id).await.expect("read");
    assert_eq!(
        stored.map(|p| p.status),
        Some(PaymentStatus::Authorized),
        "no money moved"
    );

    // Reconnect: the methods are added again, the status is CONNECTED, and commands work again (once
    // the functions' tenant cache has let go of the disconnected state).
    let (status, _) = configure(&stack, tenant, &json!({"paymentMethods": ["Klarna"]})).await;
    assert_eq!(status, 200);
    let seen = expect(&sqs, &watch, tenant, &["AddPaymentMethod", "AppConfigUpdated"]).await;
    assert_eq!(
        (&seen[1].payload["status"], &seen[1].payload["isActive"]),
        (&json!("CONNECTED"), &json!(true))
    );
    tokio::time::sleep(DEFAULT_TTL + Duration::from_secs(1)).await;
    send_command(&sqs, stack.queue("CapturePayment"), "CapturePayment", tenant, &capture).await;
    expect(&sqs, &watch, tenant, &["PaymentUpdated", "PaymentCaptured"]).await;
    stack.unwatch_bus(&aws, &rule).await;
}

/// Issue 14 §1: a tenant is proven by its token, not by the header naming it. Another shop's token (from
/// the stack's token endpoint) gets 403 with a JSON error on every /private route of the tenant, and
/// changes nothing; a token without a tenant claim whose subject is not the one the tenant's first
/// configure bound is refused too. The tenant's own token goes on working.
#[tokio::test]
async fn another_tenants_token_is_refused_on_every_private_route_and_changes_nothing() {
    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let store = stack.store(&aws);
    let tenant = &unique_name("tenant");
    let own = stack.tenant_token(tenant).await;
    let intruder = stack.tenant_token(&unique_name("intruder")).await;
    let (status, answer) = configure_as(&stack, &own, tenant, &configuration(&stack, &["Credit Card"])).await;
    assert_eq!(status, 200, "{answer}");
    let order = unique_name("DE");
    let initialize = json!({"orderData": {"orderReference": order, "currencyCode": "EUR", "grandTotal": 3_000,
                                          "paymentMethodName": "Credit Card", "items": [{"idSalesOrderItem": 1}]}});
    let (status, text) = stack
        .call_private("/private/initialize-payment", tenant, Some(&own), &initialize)
        .await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let transaction_id = answer["transactionId"].as_str().unwrap().to_string();
    let before = store.get_tenant(tenant).await.unwrap().expect("the tenant's record");
    let payment_before = store.get_payment(tenant, &transaction_id).await.unwrap();

    let takeover =
        configure_body(&json!({"stripeSecretKey": "sk_test_intruder", "webhookSigningSecrets": ["whsec_intruder"]}));
    let order_data = json!({"orderReference": unique_name("DE"), "currencyCode": "EUR", "grandTotal": 1_000,
                            "paymentMethodName": "Credit Card", "items": []});
    let calls = [
        ("/private/configure", takeover),
        ("/private/disconnect", json!({})),
        ("/private/initialize-payment", json!({"orderData": order_data})),
        ("/private/pre-order-payment", json!({"orderData": order_data})),
        (
            "/private/confirm-pre-order-payment",
            json!({"orderReference": order, "preOrderPaymentData": {"transactionId": transaction_id}}),
        ),
        (
            "/private/cancel-pre-order-payment",
            json!({"preOrderPaymentData": {"transactionId": transaction_id}}),
        ),
        (
            "/private/merchants/onboarding",
            json!({"merchant": {"merchantReference": "MER-1", "name": "Merchant"},
                   "successUrl": "https://shop.example/ok", "refreshUrl": "https://shop.example/again",
                   "cancelUrl": "https://shop.example/cancel"}),
        ),
        ("/private/customer", json!({"transactionId": transaction_id})),
        ("/private/payments/transfers", json!({"orderItems": []})),
    ];
    for token in [intruder.as_str(), stack.bearer_token()] {
        for (route, body) in &calls {
            let (status, text) = stack.call_private(route, tenant, Some(token), body).await;
            assert_eq!(status, 403, "{route}: {text}");
            let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{route}: a JSON error, {text}"));
            assert!(!text.contains("sk_test"), "{route}: {error}");
        }
    }
    assert_eq!(
        store.get_tenant(tenant).await.unwrap(),
        Some(before),
        "the tenant's record is unchanged"
    );
    assert_eq!(
        store.get_payment(tenant, &transaction_id).await.unwrap(),
        payment_before
    );

    // The tenant's own token still works.
    let (status, answer) = configure_as(&stack, &own, tenant, &configuration(&stack, &["Credit Card"])).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn disconnect_without_open_payments_needs_no_confirmation() {
    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (rule, watch) = stack.watch_bus(&aws).await;
    let tenant = &unique_name("tenant");
    assert_eq!(disconnect(&stack, tenant, None).await.0, 400, "an unknown tenant");
    let (status, _) = configure(&stack, tenant, &configuration(&stack, &["Credit Card"])).await;
    assert_eq!(status, 200);
    assert_eq!(disconnect(&stack, tenant, None).await, (204, Value::Null));
    let seen = expect(
        &sqs,
        &watch,
        tenant,
        &[
            "AddPaymentMethod",
            "AppConfigUpdated",
            "DeletePaymentMethod",
            "AppConfigUpdated",
        ],
    )
    .await;
    assert_eq!(
        seen[2].payload,
        json!({"name": "Credit Card", "providerName": "Stripe"})
    );
    stack.unwatch_bus(&aws, &rule).await;
}

/// Every configured secret (this test's own, and the ones the demo and the other tests configure) is
/// searched for in every line the functions logged and in every event on the bus while this test ran.
#[tokio::test]
async fn no_configured_secret_appears_in_logs_or_events() {
    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (rule, watch) = stack.watch_bus(&aws).await;
    let tenant = &unique_name("tenant");
    let key = format!("sk_test_{}", unique_name("scan"));
    let hook = format!("whsec_{}", unique_name("scan"));
    let secrets: Vec<String> = [key.clone(), hook.clone()]
        .into_iter()
        .chain(configured_secrets(&stack))
        .collect();

    // Every path that handles the secrets: configure (twice), a command, a webhook, a disconnect.
    let config = json!({"stripeSecretKey": key, "webhookSigningSecrets": [hook], "paymentMethods": ["Credit Card"],
                        "isMarketplace": true});
    let (status, answer) = configure(&stack, tenant, &config).await;
    assert_eq!(status, 200);
    let (status, _) = configure(&stack, tenant, &json!({"stripeSecretKey": "not a key"})).await;
    assert_eq!(status, 422);
    let (gateway, customer) = stack.stripe();
    let paid = seed_order(&stack.store(&aws), &gateway, &customer, tenant, 3_000, "pm_card_visa").await;
    let capture = json!({"orderReference": paid.order_reference, "orderItemIds": [1], "amount": 3_000,
                         "currencyIsoCode": "EUR"});
    send_command(&sqs, stack.queue("CapturePayment"), "CapturePayment", tenant, &capture).await;
    let seen = expect(
        &sqs,
        &watch,
        tenant,
        &[
            "AddPaymentMethod",
            "ReadyForMerchantAppOnboarding",
            "AppConfigUpdated",
            "PaymentUpdated",
            "PaymentCaptured",
        ],
    )
    .await;
    // Merchants onboard below the app's base URL: locally the stack's HTTP API (the runner gives it to
    // the functions as APP_BASE_URL, so the payment page's links reach the page).
    let base = &stack.http_base_url;
    assert_eq!(
        seen[1].payload["onboarding"],
        json!({"url": format!("{base}/private/merchants/onboarding"), "strategy": "api"})
    );
    // The capture's own outcome, reported again by Stripe's webhook: verified with the secret, no change.
    let (status, _) = post_webhook(&stack, tenant, &paid.psp_reference, &paid.transaction_id, &hook).await;
    assert_eq!(status, 200);
    assert_eq!(disconnect(&stack, tenant, None).await.0, 204, "captured: nothing open");
    expect(&sqs, &watch, tenant, &["DeletePaymentMethod", "AppConfigUpdated"]).await;
    assert!(!answer.to_string().contains(&key));

    // Every event on the bus meanwhile (all tests' events, not only this tenant's).
    let others = integration_tests::acp::bus_messages(&sqs, &watch, 0, Duration::from_secs(2)).await;
    for message in seen.iter().chain(&others) {
        let text = format!("{} {}", message.attributes, message.payload);
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a configured secret in {} event",
                message.name
            );
        }
    }
    // Every line every function logged so far.
    let logs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/logs");
    let mut scanned = 0;
    for entry in std::fs::read_dir(&logs).expect("the stack's log directory") {
        let path = entry.expect("log entry").path();
        let is_function_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("lambda-") && n.ends_with(".log"));
        if !is_function_log {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable log");
        for (number, line) in text.lines().enumerate() {
            for secret in &secrets {
                assert!(
                    !line.contains(secret.as_str()),
                    "a configured secret in {}:{}",
                    path.display(),
                    number + 1
                );
            }
        }
        scanned += 1;
    }
    assert!(
        scanned >= 11,
        "only {scanned} function logs found in {}",
        logs.display()
    );
    stack.unwatch_bus(&aws, &rule).await;
}
