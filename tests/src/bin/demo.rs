//! The README's main job: drives orders through a running local stack by its public surfaces only (the
//! command queues, the bus through a rule to a queue this program reads, and Stripe as the customer) and
//! prints each ACP message as it leaves the bus. Exits non-zero if an expected message is missing.
//!
//! Usage: `demo [path/to/.local/stack.json]`

use integration_tests::acp::{BusMessage, bus_messages, seed_order, send_command};
use integration_tests::local_stack::StackInfo;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;

const TENANT: &str = "demo-shop";

/// What the timeline shows for a message: the PSP status for PaymentUpdated, else the outcome it names.
fn status(m: &BusMessage) -> String {
    if m.name == "PaymentUpdated" {
        let details: Value = serde_json::from_str(m.payload["details"].as_str().unwrap_or("{}")).unwrap_or_default();
        return details["status"].as_str().unwrap_or("-").to_string();
    }
    let outcome = m.name.trim_start_matches("Payment");
    let mut words = String::new();
    for (i, c) in outcome.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    words
}

fn print_row(m: &BusMessage) {
    let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| "-".to_string());
    let order = m
        .payload
        .get("orderReference")
        .or_else(|| m.payload.get("entityReference"))
        .map(text);
    let amount = m.payload.get("amount").map(|a| a.to_string());
    println!(
        "{:<26}  {:<26}  {:<10}  {:<34}  {:>8}  {}",
        text(&m.attributes["timestamp"]),
        m.name,
        text(&m.attributes["tenantIdentifier"]),
        order.unwrap_or_else(|| "-".into()),
        amount.unwrap_or_else(|| "-".into()),
        status(m)
    );
}

async fn run(stack: StackInfo) -> Result<(), String> {
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    // Watch the bus like a tenant would: a rule on the app's source into a queue of our own.
    let (rule, watch) = stack.watch_bus(&aws).await;

    println!(
        "\n{:<26}  {:<26}  {:<10}  {:<34}  {:>8}  status",
        "time (UTC)", "message", "tenant", "orderReference", "amount"
    );
    println!("-- configure the tenant first: POST /private/configure (its Stripe key stays in Secrets Manager)");
    integration_tests::tenant::configure_tenant(&stack, TENANT).await;
    // The first configure also announces the payment method; a repeated one only AppConfigUpdated.
    let mut configured: Vec<BusMessage> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while configured.last().is_none_or(|m| m.name != "AppConfigUpdated") && std::time::Instant::now() < deadline {
        configured.extend(bus_messages(&sqs, &watch, 1, Duration::from_secs(5)).await);
    }
    configured.iter().for_each(print_row);
    let mut missing = Vec::new();
    if configured.last().is_none_or(|m| m.name != "AppConfigUpdated") {
        missing.push("configure: no AppConfigUpdated".to_string());
    }

    // Until the app creates payments itself (initialize-payment), the shop's checkout is played here:
    // a PaymentIntent the customer authorizes at Stripe, recorded as the app records an authorization.
    let store = stack.store(&aws);
    let (gateway, customer) = stack.stripe();
    println!("creating two orders whose customers authorize their payments at Stripe ...");
    let first = seed_order(&store, &gateway, &customer, TENANT, 12_000, "pm_card_visa").await;
    let second = seed_order(&store, &gateway, &customer, TENANT, 4_500, "pm_card_visa").await;
    let order = |p: &shared::domain::Payment| p.order_reference.clone().unwrap_or_default();

    let refund = |items: &[i64], amount: i64| {
        let lines: Vec<Value> = items
            .iter()
            .map(|i| json!({"orderItemId": i, "sku": format!("SKU-{i}")}))
            .collect();
        json!({"orderReference": order(&first), "orderItems": lines, "orderItemIds": items, "amount": amount, "currencyIsoCode": "EUR"})
    };
    let steps: Vec<(&str, &str, Value, Vec<&str>)> = vec![
        (
            "capture the first order",
            "CapturePayment",
            json!({"orderReference": order(&first), "orderItemIds": [1, 2, 3], "amount": 12_000, "currencyIsoCode": "EUR"}),
            vec!["PaymentUpdated", "PaymentCaptured"],
        ),
        (
            "refund item 1 of it",
            "RefundPayment",
            refund(&[1], -3_000),
            vec!["PaymentUpdated", "PaymentRefunded"],
        ),
        (
            "refund items 2 and 3 beyond what is left",
            "RefundPayment",
            refund(&[2, 3], -10_000),
            vec!["PaymentRefundFailed"],
        ),
        (
            "cancel the second order",
            "CancelPayment",
            json!({"orderReference": order(&second), "orderItemIds": [4], "amount": 0, "currencyIsoCode": "EUR"}),
            vec!["PaymentUpdated", "PaymentCanceled"],
        ),
    ];
    for (what, command, payload, expected) in steps {
        println!("-- {what}: {command}");
        send_command(&sqs, stack.queue(command), command, TENANT, &payload).await;
        let arrived = bus_messages(&sqs, &watch, expected.len(), Duration::from_secs(60)).await;
        arrived.iter().for_each(print_row);
        let names: Vec<&str> = arrived.iter().map(|m| m.name.as_str()).collect();
        if names != expected {
            missing.push(format!("{what}: expected {expected:?}, got {names:?}"));
        }
    }
    stack.unwatch_bus(&aws, &rule).await;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join("\n"))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| ".local/stack.json".to_string());
    let stack = match StackInfo::read(std::path::Path::new(&path)) {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("cannot read {path}: {e} (is the stack up? `infra/local/stack up`)");
            return ExitCode::FAILURE;
        }
    };
    match run(stack).await {
        Ok(()) => {
            println!("\ndemo complete: every expected message left the bus");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("\ndemo FAILED:\n{problems}");
            ExitCode::FAILURE
        }
    }
}
