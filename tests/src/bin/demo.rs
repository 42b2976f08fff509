//! The README's main job: plays a Spryker shop against a running local stack, by the surfaces a shop
//! has: the checkout's HTTP routes (with the stack's bearer token), the ACP event platform (stack.json
//! `acp`: it publishes its commands to `payment-commands` and reads `payment-events`,
//! `payment-method-commands` and `app-events` as its message broker does), and a shopper who pays on the
//! app's payment page in a headless browser (Debian's Chromium, card Element, 3-D Secure). It prints each
//! ACP message as the shop received it: the tenant configured first (`POST /private/configure`), then
//! create → the shopper pays → authorize → capture → refund (in part, then beyond what is left) and a
//! second payment canceled. Exits non-zero if an expected message is missing.
//!
//! Usage: `demo [path/to/.local/stack.json]`

use integration_tests::acp::BusMessage;
use integration_tests::browser::{Browser, THREE_D_SECURE_CARD};
use integration_tests::local_stack::{Checkout, StackInfo};
use integration_tests::shop::Shop;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::time::Duration;

/// What the timeline shows for a message: the PSP status for PaymentUpdated, the tenant's status for
/// AppConfigUpdated, the method for a payment-method command, else the outcome it names.
fn status(m: &BusMessage) -> String {
    if m.name == "AppConfigUpdated" {
        return m.payload["status"].as_str().unwrap_or("-").to_string();
    }
    if m.name.ends_with("PaymentMethod") {
        return m.payload["name"].as_str().unwrap_or("-").to_string();
    }
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
    let order = m.order();
    let amount = m.payload.get("amount").map(|a| a.to_string());
    println!(
        "{:<26}  {:<26}  {:<10}  {:<34}  {:>8}  {}",
        text(&m.attributes["timestamp"]),
        m.name,
        text(&m.attributes["tenantIdentifier"]),
        order.unwrap_or("-"),
        amount.unwrap_or_else(|| "-".into()),
        status(m)
    );
}

/// Waits for `expected` about `order` on the shop's channels, prints them, and notes what is missing.
struct Timeline {
    shop: Shop,
    missing: Vec<String>,
}

/// The channels a shop reads (the app's payment events, its payment methods, its configuration).
const CHANNELS: [&str; 3] = ["payment-events", "payment-method-commands", "app-events"];

impl Timeline {
    async fn expect(&mut self, what: &str, order: &str, expected: &[&str]) {
        let about = |m: &BusMessage| m.order() == Some(order);
        let arrived = self
            .shop
            .receive_until(&CHANNELS, expected.len(), Duration::from_secs(60), about)
            .await;
        arrived.iter().for_each(print_row);
        let names: Vec<&str> = arrived.iter().map(|m| m.name.as_str()).collect();
        if names != expected {
            self.missing
                .push(format!("{what}: expected {expected:?}, got {names:?}"));
        }
    }

    /// Waits for the tenant's announcements up to AppConfigUpdated (the first configure of a tenant
    /// also adds its payment method; a repeated one, on a kept stack, only updates the config).
    async fn configured(&mut self) {
        let mut seen: Vec<BusMessage> = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !seen.iter().any(|m| m.name == "AppConfigUpdated") && std::time::Instant::now() < deadline {
            seen.extend(
                self.shop
                    .receive_until(&CHANNELS, 1, Duration::from_secs(5), |_| true)
                    .await,
            );
        }
        seen.iter().for_each(print_row);
        if !seen.iter().any(|m| m.name == "AppConfigUpdated") {
            self.missing
                .push("configure the tenant: no AppConfigUpdated".to_string());
        }
    }
}

/// The shopper opens the checkout's payment page, pays with a card that asks for 3-D Secure, passes it
/// and lands on the shop's success page (the app applies the payment on the way back).
async fn shopper_pays(browser: &Browser, checkout: &Checkout, screenshot: &str) {
    browser
        .client
        .goto(&checkout.redirect_url)
        .await
        .expect("open redirectUrl");
    browser.screenshot(screenshot).await;
    browser.pay_with(THREE_D_SECURE_CARD).await;
    browser.authenticate("Complete authentication").await;
    browser.wait_for_url(&checkout.success_url).await;
}

async fn run(stack: StackInfo) -> Result<(), String> {
    let browser = Browser::start().await;
    // The shop whose Stripe webhooks localstripe delivers (stack.json `webhooks.tenant`), on the platform.
    let tenant = stack.webhooks().tenant.as_str();
    let shop = Shop::connect(&stack, tenant).await;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (first, second) = (format!("DE--DEMO-{run}-1"), format!("DE--DEMO-{run}-2"));
    let mut timeline = Timeline {
        shop: shop.clone(),
        missing: Vec::new(),
    };
    // The shop's OMS publishes its commands on the platform's payment-commands channel.
    let command = |name: &'static str, payload: Value| {
        let shop = shop.clone();
        async move {
            shop.command(name, &payload).await;
        }
    };
    let refund = |items: &[i64], amount: i64| {
        let lines: Vec<Value> = items
            .iter()
            .map(|i| json!({"orderItemId": i, "sku": format!("SKU-{i}")}))
            .collect();
        json!({"orderReference": first, "orderItems": lines, "orderItemIds": items, "amount": amount, "currencyIsoCode": "EUR"})
    };
    println!(
        "{:<26}  {:<26}  {:<10}  {:<34}  {:>8}  status",
        "time (UTC)", "message", "tenant", "orderReference", "amount"
    );

    println!(
        "-- the App Catalog configures the tenant first: POST /private/configure (its Stripe key and webhook secret go to Secrets Manager)"
    );
    integration_tests::tenant::configure_tenant(&stack, tenant).await;
    timeline.configured().await;

    println!("-- the shop's checkout creates the first order's payment: POST /private/initialize-payment");
    let checkout = stack.checkout(tenant, &first, 12_000, &[1, 2, 3]).await;
    timeline
        .expect("create the first payment", &first, &["PaymentCreated"])
        .await;

    println!(
        "-- the shopper pays on the app's payment page (headless Chromium: test card, 3-D Secure) and is sent back to the shop"
    );
    shopper_pays(&browser, &checkout, "demo-payment-page").await;
    timeline
        .expect(
            "authorize the first payment",
            &first,
            &["PaymentUpdated", "PaymentAuthorized"],
        )
        .await;

    // localstripe sends its own signed payment_intent.succeeded after the capture: already captured,
    // it changes nothing.
    println!("-- the first parcel ships: the shop publishes CapturePayment for items 1 and 2 on payment-commands");
    command(
        "CapturePayment",
        json!({"orderReference": first, "orderItemIds": [1, 2], "amount": 8_000, "currencyIsoCode": "EUR"}),
    )
    .await;
    timeline
        .expect(
            "capture the first parcel",
            &first,
            &["PaymentUpdated", "PaymentCaptured"],
        )
        .await;

    // Without multicapture (localstripe has none) that capture took the whole authorization: the item
    // never shipped is given back.
    println!("-- item 3 is out of stock: the shop publishes CancelPayment for it, and its money goes back");
    command(
        "CancelPayment",
        json!({"orderReference": first, "orderItemIds": [3], "amount": 0, "currencyIsoCode": "EUR"}),
    )
    .await;
    timeline
        .expect("cancel item 3", &first, &["PaymentUpdated", "PaymentCanceled"])
        .await;

    println!("-- the shop publishes RefundPayment for item 1 of it");
    command("RefundPayment", refund(&[1], -3_000)).await;
    timeline
        .expect("refund item 1", &first, &["PaymentUpdated", "PaymentRefunded"])
        .await;

    println!("-- the shop publishes RefundPayment for item 2, beyond what is left");
    command("RefundPayment", refund(&[2], -6_000)).await;
    timeline
        .expect("refund beyond the captured amount", &first, &["PaymentRefundFailed"])
        .await;

    println!("-- a second order: POST /private/initialize-payment, paid on the page, then CancelPayment");
    let checkout = stack.checkout(tenant, &second, 4_500, &[4]).await;
    timeline
        .expect("create the second payment", &second, &["PaymentCreated"])
        .await;
    shopper_pays(&browser, &checkout, "demo-payment-page-2").await;
    timeline
        .expect(
            "authorize the second payment",
            &second,
            &["PaymentUpdated", "PaymentAuthorized"],
        )
        .await;
    command(
        "CancelPayment",
        json!({"orderReference": second, "orderItemIds": [4], "amount": 0, "currencyIsoCode": "EUR"}),
    )
    .await;
    timeline
        .expect(
            "cancel the second order",
            &second,
            &["PaymentUpdated", "PaymentCanceled"],
        )
        .await;

    if timeline.missing.is_empty() {
        Ok(())
    } else {
        Err(timeline.missing.join("\n"))
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
            println!("\ndemo complete: the shop received every expected message from the ACP event platform");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("\ndemo FAILED:\n{problems}");
            ExitCode::FAILURE
        }
    }
}
