//! The shopper's checkout in a real browser (headless Debian Chromium through ChromeDriver), against the
//! local stack: initialize-payment as Spryker calls it, then the shopper opens `redirectUrl`, types a
//! test card into Stripe's card Element (localstripe's stand-in, served by the stack), passes 3-D Secure
//! and lands on the shop's URL; the app's events are read off its bus. Each test saves a screenshot of
//! the page under `target/payment-page/` and prints its path.

use fantoccini::Locator;
use integration_tests::acp::{BusMessage, names, send_command, tenant_messages};
use integration_tests::aws::unique_name;
use integration_tests::browser::{Browser, DECLINED_CARD, GOOD_CARD, THREE_D_SECURE_CARD};
use integration_tests::local_stack::{Checkout, StackInfo};
use integration_tests::tenant::{configuration, configure};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(60);

/// A shop of its own (configured with localstripe's keys) and the hosted checkout of a new order of it.
async fn shop_order(stack: &StackInfo, amount: i64) -> (String, String, Checkout) {
    let tenant = unique_name("shopper");
    let (status, answer) = configure(stack, &tenant, &configuration(stack, &["Credit Card"])).await;
    assert_eq!(status, 200, "configure: {answer}");
    let order = unique_name("DE");
    let checkout = stack.checkout(&tenant, &order, amount, &[1]).await;
    (tenant, order, checkout)
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
    let (tenant, order, checkout) = shop_order(&stack, 4_990).await;
    let (redirect, success) = (&checkout.redirect_url, &checkout.success_url);
    let browser = Browser::start().await;
    browser.client.goto(redirect).await.expect("open redirectUrl");
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
    browser.wait_for_url(success).await;

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
    let (tenant, order, checkout) = shop_order(&stack, 2_500).await;
    let (redirect, success) = (&checkout.redirect_url, &checkout.success_url);
    let browser = Browser::start().await;
    browser.client.goto(redirect).await.expect("open redirectUrl");
    browser.pay_with(DECLINED_CARD).await;
    let error = browser.error_text().await;
    assert!(error.contains("declined"), "Stripe's decline text: {error}");
    browser.screenshot("payment-page-declined").await;
    browser.pay_with(GOOD_CARD).await;
    browser.wait_for_url(success).await;

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
    let (tenant, order, checkout) = shop_order(&stack, 1_200).await;
    let (redirect, cancel) = (&checkout.redirect_url, &checkout.cancel_url);
    let browser = Browser::start().await;
    browser.client.goto(redirect).await.expect("open redirectUrl");
    let link = match browser
        .client
        .wait()
        .at_most(WITHIN)
        .for_element(Locator::Id("cancel"))
        .await
    {
        Ok(link) => link,
        Err(e) => panic!(
            "no cancel link ({e}): {}",
            browser.client.source().await.unwrap_or_default()
        ),
    };
    link.click().await.expect("click");
    browser.wait_for_url(cancel).await;

    let events = order_events(&stack, &queue, &tenant, &order, 3).await;
    let names = names(&events);
    assert!(names.contains(&"PaymentAuthorizationFailed"), "{names:?}");
    assert!(!names.contains(&"PaymentAuthorized"), "{names:?}");
    // The page is finished now: opening it again shows the error page, without a client secret.
    browser.client.goto(redirect).await.expect("open redirectUrl again");
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
    let (tenant, _, checkout) = shop_order(&stack, 1_000).await;
    let redirect = &checkout.redirect_url;
    let (other, _, _) = shop_order(&stack, 1_000).await;
    let foreign = redirect.replace(
        &format!("tenantIdentifier={tenant}"),
        &format!("tenantIdentifier={other}"),
    );
    assert_ne!(&foreign, redirect);
    let answer = reqwest::get(&foreign).await.expect("the page");
    assert_eq!(answer.status(), 404);
    let browser = Browser::start().await;
    browser.client.goto(&foreign).await.expect("open the foreign link");
    let html = browser.client.source().await.expect("source");
    assert!(!html.contains("_secret_") && !html.contains("card-element"), "{html}");
    browser.screenshot("payment-page-foreign").await;
    browser.client.close().await.expect("close");
}

#[tokio::test]
async fn a_method_captured_when_paid_is_authorized_on_return_and_its_capture_moves_no_money() {
    let stack = StackInfo::running();
    let (rule, queue) = watch(&stack).await;
    let tenant = unique_name("shopper");
    let (status, answer) = configure(&stack, &tenant, &configuration(&stack, &["SEPA Direct Debit"])).await;
    assert_eq!(status, 200, "configure: {answer}");
    let order = unique_name("DE");
    let checkout = stack
        .checkout_with(&tenant, &order, 3_300, &[1], "SEPA Direct Debit")
        .await;
    // localstripe takes any card for any method: the money arrives at once (automatic capture).
    let browser = Browser::start().await;
    browser
        .client
        .goto(&checkout.redirect_url)
        .await
        .expect("open redirectUrl");
    browser.pay_with(GOOD_CARD).await;
    browser.wait_for_url(&checkout.success_url).await;
    let authorized = order_events(&stack, &queue, &tenant, &order, 5).await;
    assert_eq!(
        names(&authorized),
        ["PaymentCreated", "PaymentUpdated", "PaymentAuthorized"]
    );
    let intent = stack
        .stripe_intent(&stack.intent_of_order(&stack.sdk_config().await, &tenant, &order).await)
        .await;
    assert_eq!(intent["status"], "succeeded", "captured at Stripe when paid");

    let aws = stack.sdk_config().await;
    let capture = serde_json::json!({"orderReference": order, "orderItemIds": [1], "amount": 3_300,
                                     "currencyIsoCode": "EUR"});
    send_command(
        &aws_sdk_sqs::Client::new(&aws),
        stack.queue("CapturePayment"),
        "CapturePayment",
        &tenant,
        &capture,
    )
    .await;
    let captured = order_events(&stack, &queue, &tenant, &order, 2).await;
    assert_eq!(names(&captured), ["PaymentUpdated", "PaymentCaptured"]);
    browser.client.close().await.expect("close");
    stack.unwatch_bus(&aws, &rule).await;
}
