//! The shopper's checkout in a real browser (headless Debian Chromium through ChromeDriver), against the
//! local stack: initialize-payment as Spryker calls it, then the shopper opens `redirectUrl`, types a
//! test card into Stripe's card Element (localstripe's stand-in, served by the stack), passes 3-D Secure
//! and lands on the shop's URL; the app's events are read off its bus. Each test saves a screenshot of
//! the page under `target/payment-page/` and prints its path.

use fantoccini::{Client, ClientBuilder, Locator};
use integration_tests::acp::{BusMessage, names, tenant_messages};
use integration_tests::aws::unique_name;
use integration_tests::local_stack::StackInfo;
use integration_tests::tenant::{configuration, configure};
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(60);

/// Stripe's test cards, as localstripe knows them.
const THREE_D_SECURE_CARD: &str = "4000002760003184";
const DECLINED_CARD: &str = "4000000000000002";
const GOOD_CARD: &str = "4242424242424242";

/// ChromeDriver on a free port, killed when dropped, with one headless Chromium session.
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
}

impl Browser {
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("/usr/bin/chromedriver (infra/local/test installs it: ensure_browser)");
        let profile = std::env::temp_dir().join(unique_name("chromium-profile"));
        let capabilities = json!({"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=390,844", format!("--user-data-dir={}", profile.display())],
        }});
        let capabilities = capabilities.as_object().cloned().expect("an object");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(client) = ClientBuilder::rustls()
                .expect("rustls")
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                return Browser {
                    client,
                    _driver: driver,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ChromeDriver did not start on {url}");
    }

    /// Types `card` (with a future expiry and a CVC) into the card Element and presses Pay.
    async fn pay_with(&self, card: &str) {
        for (field, value) in [
            ("number", card),
            ("exp_month", "12"),
            ("exp_year", "30"),
            ("cvc", "123"),
        ] {
            let input = self
                .client
                .wait()
                .at_most(WITHIN)
                .for_element(Locator::Css(&format!("#card-element input[placeholder=\"{field}\"]")))
                .await
                .expect("the card Element");
            input.clear().await.expect("clear");
            input.send_keys(value).await.expect("type");
        }
        self.client
            .find(Locator::Id("pay"))
            .await
            .expect("Pay")
            .click()
            .await
            .expect("click Pay");
    }

    /// Clicks the 3-D Secure challenge's button `label` once it shows.
    async fn authenticate(&self, label: &str) {
        self.client
            .wait()
            .at_most(WITHIN)
            .for_element(Locator::XPath(&format!("//button[normalize-space()='{label}']")))
            .await
            .expect("the 3-D Secure challenge")
            .click()
            .await
            .expect("click");
    }

    /// Waits until the browser is on a URL starting with `prefix`.
    async fn wait_for_url(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + WITHIN;
        loop {
            let url = self.client.current_url().await.expect("url").to_string();
            if url.starts_with(prefix) {
                return url;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still on {url}, waiting for {prefix}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until the page's error line says something, and returns it.
    async fn error_text(&self) -> String {
        let deadline = std::time::Instant::now() + WITHIN;
        loop {
            let text = self
                .client
                .find(Locator::Id("card-errors"))
                .await
                .expect("the error line")
                .text()
                .await
                .expect("text");
            if !text.trim().is_empty() {
                return text;
            }
            assert!(std::time::Instant::now() < deadline, "no error shown");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a screenshot of the page under `target/payment-page/` and prints its path.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/payment-page");
        std::fs::create_dir_all(&dir).expect("target/payment-page");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        println!("screenshot: {}", path.display());
    }
}

/// A shop of its own (with a publishable key) and an order of it through initialize-payment, returning
/// to the stack's own HTTP API (a page that answers 404 is enough to land on). Returns (tenant, order,
/// redirectUrl, success URL, cancel URL).
async fn shop_order(stack: &StackInfo, amount: i64) -> (String, String, String, String, String) {
    let tenant = unique_name("shopper");
    let (status, answer) = configure(stack, &tenant, &configuration(stack, &["Credit Card"])).await;
    assert_eq!(status, 200, "configure: {answer}");
    let order = unique_name("DE");
    let success = format!("{}/shop/payment/order-success", stack.http_base_url);
    let cancel = format!(
        "{}/shop/payment/order-cancel?orderReference={order}",
        stack.http_base_url
    );
    let body = json!({"orderData": {"orderReference": order, "currencyCode": "EUR", "grandTotal": amount,
                                    "paymentMethod": "Credit Card", "items": [{"idSalesOrderItem": 1}]},
                      "redirectSuccessUrl": success, "redirectCancelUrl": cancel,
                      "checkoutSummaryPageUrl": format!("{}/shop/checkout/summary", stack.http_base_url)});
    let answer = stack.initialize(&tenant, &body).await;
    let redirect = answer["redirectUrl"].as_str().expect("redirectUrl").to_string();
    (tenant, order, redirect, success, cancel)
}

/// The app's messages about `order` on its bus, once at least `at_least` arrived.
async fn order_events(stack: &StackInfo, watch: &str, tenant: &str, order: &str, at_least: usize) -> Vec<BusMessage> {
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    tenant_messages(&sqs, watch, tenant, at_least, WITHIN)
        .await
        .into_iter()
        .filter(|m| m.order() == Some(order))
        .collect()
}

/// A watch on the app's bus, removed when the test ends well.
async fn watch(stack: &StackInfo) -> (String, String) {
    stack.watch_bus(&stack.sdk_config().await).await
}

#[tokio::test]
async fn a_shopper_passes_3d_secure_and_lands_on_the_shops_success_url() {
    let stack = StackInfo::running();
    let (rule, queue) = watch(&stack).await;
    let (tenant, order, redirect, success, _) = shop_order(&stack, 4_990).await;
    let browser = Browser::start().await;
    browser.client.goto(&redirect).await.expect("open redirectUrl");
    let total = browser
        .client
        .find(Locator::Id("total"))
        .await
        .expect("total")
        .text()
        .await
        .expect("text");
    assert_eq!(total, "49.90 EUR");
    browser.screenshot("payment-page").await;
    browser.pay_with(THREE_D_SECURE_CARD).await;
    browser.authenticate("Complete authentication").await;
    browser.wait_for_url(&success).await;

    let events = order_events(&stack, &queue, &tenant, &order, 4).await;
    let names = names(&events);
    assert_eq!(
        names.iter().filter(|n| **n == "PaymentAuthorized").count(),
        1,
        "PaymentAuthorized once: {names:?}"
    );
    assert!(!names.contains(&"PaymentAuthorizationFailed"), "{names:?}");
    browser.client.close().await.expect("close");
    stack.unwatch_bus(&stack.sdk_config().await, &rule).await;
}

#[tokio::test]
async fn a_declined_card_then_a_good_one_authorizes_once_and_never_fails() {
    let stack = StackInfo::running();
    let (rule, queue) = watch(&stack).await;
    let (tenant, order, redirect, success, _) = shop_order(&stack, 2_500).await;
    let browser = Browser::start().await;
    browser.client.goto(&redirect).await.expect("open redirectUrl");
    browser.pay_with(DECLINED_CARD).await;
    let error = browser.error_text().await;
    assert!(error.contains("declined"), "Stripe's decline text: {error}");
    browser.screenshot("payment-page-declined").await;
    browser.pay_with(GOOD_CARD).await;
    browser.wait_for_url(&success).await;

    let events = order_events(&stack, &queue, &tenant, &order, 4).await;
    let names = names(&events);
    assert_eq!(
        names.iter().filter(|n| **n == "PaymentAuthorized").count(),
        1,
        "{names:?}"
    );
    assert!(!names.contains(&"PaymentAuthorizationFailed"), "{names:?}");
    browser.client.close().await.expect("close");
    stack.unwatch_bus(&stack.sdk_config().await, &rule).await;
}

#[tokio::test]
async fn cancel_leads_to_the_shops_cancel_url_and_fails_the_authorization() {
    let stack = StackInfo::running();
    let (rule, queue) = watch(&stack).await;
    let (tenant, order, redirect, _, cancel) = shop_order(&stack, 1_200).await;
    let browser = Browser::start().await;
    browser.client.goto(&redirect).await.expect("open redirectUrl");
    browser
        .client
        .find(Locator::Id("cancel"))
        .await
        .expect("the cancel link")
        .click()
        .await
        .expect("click");
    browser.wait_for_url(&cancel).await;

    let events = order_events(&stack, &queue, &tenant, &order, 3).await;
    let names = names(&events);
    assert!(names.contains(&"PaymentAuthorizationFailed"), "{names:?}");
    assert!(!names.contains(&"PaymentAuthorized"), "{names:?}");
    // The page is finished now: opening it again shows the error page, without a client secret.
    browser.client.goto(&redirect).await.expect("open redirectUrl again");
    let html = browser.client.source().await.expect("source");
    assert!(
        html.contains("already finished") && !html.contains("_secret_"),
        "{html}"
    );
    browser.client.close().await.expect("close");
    stack.unwatch_bus(&stack.sdk_config().await, &rule).await;
}

#[tokio::test]
async fn a_foreign_tenant_in_the_url_gets_the_error_page_and_no_client_secret() {
    let stack = StackInfo::running();
    let (tenant, _, redirect, _, _) = shop_order(&stack, 1_000).await;
    let (other, _, _, _, _) = shop_order(&stack, 1_000).await;
    let foreign = redirect.replace(
        &format!("tenantIdentifier={tenant}"),
        &format!("tenantIdentifier={other}"),
    );
    assert_ne!(foreign, redirect);
    let answer = reqwest::get(&foreign).await.expect("the page");
    assert_eq!(answer.status(), 404);
    let browser = Browser::start().await;
    browser.client.goto(&foreign).await.expect("open the foreign link");
    let html = browser.client.source().await.expect("source");
    assert!(!html.contains("_secret_") && !html.contains("card-element"), "{html}");
    browser.screenshot("payment-page-foreign").await;
    browser.client.close().await.expect("close");
}
