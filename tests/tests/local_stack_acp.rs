//! The app connected to ACP through a running local stack: shops (tenants) speak only to the local ACP
//! event platform, as Spryker's message broker does (stack.json `acp`). Commands they publish on
//! `payment-commands` reach the command functions through the receiver; every message the app emits
//! reaches them through the publisher, with every attribute header, in the order emitted, only for their
//! own tenant, also when the platform fails at first. The first test also runs on a stack in the
//! `http-sqs` wiring (`infra/local/test` brings one up: commands through the SQS queue the platform fills,
//! messages through the http sender's endpoint).

use integration_tests::acp::seed_order;
use integration_tests::acp::{BusMessage, names};
use integration_tests::aws::unique_name;
use integration_tests::local_stack::StackInfo;
use integration_tests::shop::{Shop, platform_messages, platform_requests, script_faults};
use integration_tests::tenant::configure_tenant;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Generous: the burst test shares the stack, and every message leaves through one FIFO queue.
const WITHIN: Duration = Duration::from_secs(240);

/// The attributes every message of the app carries (contract §1.1, decision §9.3).
const ATTRIBUTES: [&str; 10] = [
    "transferName",
    "name",
    "event",
    "tenantIdentifier",
    "storeReference",
    "actorId",
    "publisher",
    "timestamp",
    "correlationId",
    "transactionId",
];

fn about(order: &str) -> impl Fn(&BusMessage) -> bool + '_ {
    move |m| m.order() == Some(order)
}

/// A new tenant configured through the HTTP API, and its shop on the platform, which has received the
/// announcements of the configure (AddPaymentMethod, AppConfigUpdated).
async fn configured_shop(stack: &StackInfo) -> Shop {
    let tenant = unique_name("shop");
    configure_tenant(stack, &tenant).await;
    let shop = Shop::connect(stack, &tenant).await;
    let announced = shop
        .receive_until(&["payment-method-commands", "app-events"], 2, WITHIN, |_| true)
        .await;
    let mut seen = names(&announced);
    seen.sort();
    assert_eq!(
        seen,
        vec!["AddPaymentMethod", "AppConfigUpdated"],
        "{tenant}'s configure"
    );
    shop
}

/// An order of `shop`'s tenant whose payment is authorized at localstripe and in the app.
async fn authorized_order(stack: &StackInfo, shop: &Shop, amount: i64) -> String {
    let aws = stack.sdk_config().await;
    let (gateway, customer) = stack.stripe();
    let payment = seed_order(
        &stack.store(&aws),
        &gateway,
        &customer,
        &shop.tenant,
        amount,
        "pm_card_visa",
    )
    .await;
    payment.order_reference.expect("an order")
}

/// Waits until the app has acknowledged the command with `correlation` on `payment-commands` (an
/// acknowledgement the platform failed, see the fault test, is made again after the platform hands the
/// command out once more).
async fn assert_acknowledged_by_the_app(stack: &StackInfo, correlation: &str) {
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let commands = platform_messages(stack, "payment-commands").await;
        let mine = commands
            .iter()
            .find(|m| m["MessageAttributes"]["correlationId"] == correlation)
            .expect("the command is on the platform");
        if mine["acknowledgedBy"]
            .as_array()
            .is_some_and(|by| by.contains(&json!(stack.app_identifier)))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not acknowledged by the app: {mine}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn capture(order: &str, amount: i64) -> Value {
    json!({"orderReference": order, "orderItemIds": [1, 2], "amount": amount, "currencyIsoCode": "EUR"})
}

#[tokio::test]
async fn a_command_published_by_a_shop_is_answered_on_its_payment_events() {
    let stack = StackInfo::running();
    let shop = configured_shop(&stack).await;
    let order = authorized_order(&stack, &shop, 2_500).await;

    let correlation = shop.command("CapturePayment", &capture(&order, 2_500)).await;
    let answers = shop.receive_until(&["payment-events"], 2, WITHIN, about(&order)).await;
    assert_eq!(names(&answers), vec!["PaymentUpdated", "PaymentCaptured"]);
    let captured = &answers[1];
    assert_eq!(captured.payload["amount"], 2_500);
    assert_eq!(captured.payload["orderItemIds"], json!([1, 2]));
    for attribute in ATTRIBUTES {
        assert!(
            captured.attributes[attribute].as_str().is_some_and(|v| !v.is_empty()),
            "{attribute} in {:?}",
            captured.attributes
        );
    }
    assert_eq!(captured.attributes["tenantIdentifier"], shop.tenant.as_str());
    assert_eq!(captured.attributes["storeReference"], shop.tenant.as_str());
    assert_eq!(captured.attributes["actorId"], stack.app_identifier.as_str());
    assert_eq!(captured.attributes["publisher"], stack.app_identifier.as_str());
    assert_eq!(
        captured.attributes["correlationId"],
        correlation.as_str(),
        "the command's chain"
    );
    if stack.acp_transport.as_deref() == Some("http-sqs") {
        // The command came through the payment-commands queue the platform fills, the answer through
        // the http sender's endpoint.
        let commands = platform_messages(&stack, "payment-commands").await;
        let mine = commands
            .iter()
            .find(|m| m["MessageAttributes"]["correlationId"] == correlation.as_str())
            .expect("the command is on the platform");
        assert_eq!(mine["deliveredToQueue"], true, "{mine}");
        assert!(platform_requests(&stack).await["http"].as_u64() > Some(0));
    } else {
        // The app acknowledged the command it enqueued.
        assert_acknowledged_by_the_app(&stack, &correlation).await;
    }
}

#[tokio::test]
async fn a_shop_never_sees_another_shops_messages() {
    let stack = StackInfo::running();
    let (a, b) = (configured_shop(&stack).await, configured_shop(&stack).await);
    let order = authorized_order(&stack, &a, 1_000).await;
    a.command("CapturePayment", &capture(&order, 1_000)).await;
    let answers = a.receive_until(&["payment-events"], 2, WITHIN, about(&order)).await;
    assert_eq!(names(&answers), vec!["PaymentUpdated", "PaymentCaptured"]);
    // Nothing of a's, on any channel, ever reaches b (b's own announcements were taken by configured_shop).
    for channel in [
        "payment-events",
        "payment-method-commands",
        "app-events",
        "merchant-app-events",
    ] {
        let seen = b.receive(channel).await;
        assert!(seen.is_empty(), "{} saw {:?} on {channel}", b.tenant, names(&seen));
    }
    for m in platform_messages(&stack, "payment-events").await {
        if m["MessageAttributes"]["tenantIdentifier"] == a.tenant.as_str() {
            assert!(m["deliveries"].get(&b.tenant).is_none(), "{m}");
        }
    }
}

#[tokio::test]
async fn a_message_naming_no_command_lands_in_the_receivers_dead_letter_queue_acknowledged() {
    let stack = StackInfo::running();
    let shop = Shop::connect(&stack, &unique_name("shop")).await;
    let marker = unique_name("not-a-command");
    let correlation = shop.command("ExplodePayment", &json!({"orderReference": marker})).await;
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let dlq = &stack.acp_queues["AcpInboundDeadLetterQueue"];
    let deadline = std::time::Instant::now() + WITHIN;
    let kept = loop {
        let bodies = integration_tests::aws::take_bodies(&sqs, dlq).await;
        if let Some(body) = bodies.into_iter().find(|b| b.contains(&marker)) {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "nothing in the dead-letter queue");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let record: Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(record["MessageAttributes"]["transferName"], "ExplodePayment");
    assert_eq!(record["MessageAttributes"]["correlationId"], correlation.as_str());
    assert_acknowledged_by_the_app(&stack, &correlation).await;
}

#[tokio::test]
async fn a_failing_platform_still_gets_every_message_and_every_command() {
    let stack = StackInfo::running();
    let shop = configured_shop(&stack).await;
    let order = authorized_order(&stack, &shop, 4_000).await;
    // The platform fails the next publishes (a 500, a 401 although the token is valid, a dropped
    // connection, a 429) and the app's next consumes and acknowledgements.
    script_faults(
        &stack,
        &json!({"publish": [500, 401, "drop", 429], "consume": [503, "drop"], "ack": [500]}),
    )
    .await;
    shop.command("CapturePayment", &capture(&order, 4_000)).await;
    let answers = shop.receive_until(&["payment-events"], 2, WITHIN, about(&order)).await;
    assert_eq!(
        names(&answers),
        vec!["PaymentUpdated", "PaymentCaptured"],
        "each exactly once: a command enqueued twice is a redelivery"
    );
}

#[tokio::test]
#[ignore = "runs alone, in the ACP burst step of infra/local/test: its 200 captures would hold up the other tests' commands"]
async fn a_burst_of_200_commands_over_10_shops_is_all_answered_in_order() {
    let stack = StackInfo::running();
    let mut shops = Vec::new();
    for _ in 0..10 {
        shops.push(configured_shop(&stack).await);
    }
    let mut orders: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for shop in &shops {
        for _ in 0..20 {
            let order = authorized_order(&stack, shop, 700).await;
            orders.entry(shop.tenant.clone()).or_default().push(order);
        }
    }
    for shop in &shops {
        for order in &orders[&shop.tenant] {
            shop.command("CapturePayment", &capture(order, 700)).await;
        }
    }
    for shop in &shops {
        let mine = &orders[&shop.tenant];
        let answers = shop
            .receive_until(&["payment-events"], 2 * mine.len(), WITHIN, |m| {
                m.order().is_some_and(|o| mine.iter().any(|x| x == o))
            })
            .await;
        for order in mine {
            let per_order: Vec<&str> = answers
                .iter()
                .filter(|m| m.order() == Some(order.as_str()))
                .map(|m| m.name.as_str())
                .collect();
            assert_eq!(
                per_order,
                vec!["PaymentUpdated", "PaymentCaptured"],
                "{}'s {order}: answered once, in the order emitted",
                shop.tenant
            );
        }
    }
}
