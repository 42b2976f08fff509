//! The README's main job: drives orders through a running local stack by its public surfaces only (the
//! command queues, the bus through a rule to a queue this program reads, and Stripe as the customer) and
//! prints each ACP message as it leaves the bus. Exits non-zero if an expected message is missing.
//!
//! Usage: `demo [path/to/.local/stack.json]`

use aws_sdk_eventbridge::types::Target;
use integration_tests::acp::{BusMessage, bus_messages, seed_order, send_command};
use integration_tests::aws::unique_name;
use integration_tests::sqs_source::queue_arn;
use integration_tests::stripe_customer::{LOCALSTRIPE_API_KEY, StripeCustomer};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::stripe::{StaticApiKey, StripeGateway, Timeouts};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

const TENANT: &str = "demo-shop";

/// The parts of `.local/stack.json` the demo uses.
#[derive(Deserialize)]
struct StackInfo {
    region: String,
    aws_endpoint_url: String,
    stripe_base_url: String,
    app_identifier: String,
    bus_name: String,
    tables: BTreeMap<String, String>,
    command_queues: BTreeMap<String, String>,
}

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
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&stack.aws_endpoint_url)
        .region(aws_config::Region::new(stack.region.clone()))
        .test_credentials()
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let eb = aws_sdk_eventbridge::Client::new(&aws);

    // Watch the bus like a tenant would: a rule on the app's source into a queue of our own.
    let watch = sqs
        .create_queue()
        .queue_name(unique_name("demo-watch"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let watch = watch.queue_url.ok_or("no queue url")?;
    let rule = unique_name("demo-watch");
    eb.put_rule()
        .name(&rule)
        .event_bus_name(&stack.bus_name)
        .event_pattern(json!({"source": [stack.app_identifier]}).to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let target = Target::builder()
        .id("demo")
        .arn(queue_arn(&sqs, &watch).await)
        .build()
        .map_err(|e| e.to_string())?;
    eb.put_targets()
        .rule(&rule)
        .event_bus_name(&stack.bus_name)
        .targets(target)
        .send()
        .await
        .map_err(|e| e.to_string())?;

    // Until the app creates payments itself (initialize-payment), the shop's checkout is played here:
    // a PaymentIntent the customer authorizes at Stripe, recorded as the app records an authorization.
    let table = stack
        .tables
        .get("PaymentsTable")
        .ok_or("stack.json lists no PaymentsTable")?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table);
    let key = StaticApiKey::new(LOCALSTRIPE_API_KEY.to_string().into());
    let gateway = StripeGateway::new(&stack.stripe_base_url, key, Timeouts::default()).map_err(|e| e.to_string())?;
    let customer = StripeCustomer::new(&stack.stripe_base_url, LOCALSTRIPE_API_KEY);
    println!("creating two orders whose customers authorize their payments at Stripe ...");
    let first = seed_order(&store, &gateway, &customer, TENANT, 12_000, "pm_card_visa").await;
    let second = seed_order(&store, &gateway, &customer, TENANT, 4_500, "pm_card_visa").await;
    let order = |p: &shared::domain::Payment| p.order_reference.clone().unwrap_or_default();

    let queue = |name: &str| {
        stack
            .command_queues
            .get(name)
            .cloned()
            .ok_or(format!("stack.json has no {name} queue"))
    };
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
    println!(
        "\n{:<26}  {:<26}  {:<10}  {:<34}  {:>8}  status",
        "time (UTC)", "message", "tenant", "orderReference", "amount"
    );
    let mut missing = Vec::new();
    for (what, command, payload, expected) in steps {
        println!("-- {what}: {command}");
        send_command(&sqs, &queue(command)?, command, TENANT, &payload).await;
        let arrived = bus_messages(&sqs, &watch, expected.len(), Duration::from_secs(60)).await;
        arrived.iter().for_each(print_row);
        let names: Vec<&str> = arrived.iter().map(|m| m.name.as_str()).collect();
        if names != expected {
            missing.push(format!("{what}: expected {expected:?}, got {names:?}"));
        }
    }
    eb.remove_targets()
        .rule(&rule)
        .event_bus_name(&stack.bus_name)
        .ids("demo")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    eb.delete_rule()
        .name(&rule)
        .event_bus_name(&stack.bus_name)
        .send()
        .await
        .map_err(|e| e.to_string())?;
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
    let stack = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str::<StackInfo>(&s).map_err(|e| e.to_string()))
    {
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
