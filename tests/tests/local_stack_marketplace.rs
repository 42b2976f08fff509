//! A marketplace order through the running local stack's real functions: a marketplace tenant is
//! configured, its merchant onboards at Stripe Connect (the stack's Connect double beside localstripe,
//! `infra/local/stripe_connect.py`: localstripe has no Connect) and is reported completed by a signed
//! `account.updated`; a shopper pays, the shop captures, the OMS pays the merchant out through
//! `POST /private/payments/transfers` and reverses part of it.
//!
//! Needs a running stack (`infra/local/stack up`); `infra/local/test` runs it.

use integration_tests::acp::{send_command, tenant_messages};
use integration_tests::local_stack::StackInfo;
use integration_tests::stripe_customer::LOCALSTRIPE_API_KEY;
use serde_json::{Value, json};
use shared::adapters::stripe::webhook::signature_header;
use shared::domain::MerchantOnboardingStatus;
use shared::ports::OnboardingStore;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// `GET {stripe}/v1/{path}` as the platform.
async fn stripe_get(stack: &StackInfo, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/v1/{path}", stack.stripe_base_url))
        .bearer_auth(LOCALSTRIPE_API_KEY)
        .send()
        .await
        .expect("localstripe answers")
        .json()
        .await
        .expect("JSON")
}

/// `POST /private/payments/transfers` for `tenant` with `items` (in Spryker's snake_case, the same list
/// twice); the status and the answer.
async fn transfers(stack: &StackInfo, tenant: &str, items: &Value) -> (u16, Value) {
    let body = json!({"orderItems": items, "paymentTransmissionItems": items});
    let (status, answer) = stack
        .call_private("/private/payments/transfers", tenant, Some(stack.bearer_token()), &body)
        .await;
    (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
}

fn item(merchant: &str, order: &str, reference: &str, amount: &str, transfer: Option<&str>) -> Value {
    json!({"transfer_id": transfer, "type": "order-item", "merchant_reference": merchant,
           "order_reference": order, "item_reference": reference, "amount": amount,
           "is_successful": null, "failure_message": null})
}

#[tokio::test]
async fn a_marketplace_order_is_paid_out_to_its_onboarded_merchant_and_reversed() {
    let stack = StackInfo::running();
    let aws = stack.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let (rule, watch) = stack.watch_bus(&aws).await;
    let tenant = &integration_tests::aws::unique_name("market");
    let mut configuration = integration_tests::tenant::configuration(&stack, &["Credit Card"]);
    configuration["isMarketplace"] = json!(true);
    let (status, answer) = integration_tests::tenant::configure(&stack, tenant, &configuration).await;
    assert_eq!(status, 200, "{answer}");
    let announced = tenant_messages(&sqs, &watch, tenant, 3, WAIT).await;
    let names: Vec<&str> = announced.iter().map(|m| m.name.as_str()).collect();
    assert!(names.contains(&"ReadyForMerchantAppOnboarding"), "{names:?}");

    // The merchant onboards: an Express account at the Connect double and a link into its onboarding.
    let merchant = integration_tests::aws::unique_name("MER");
    let onboarding = json!({"merchant": {"merchantReference": merchant, "name": "Merchant One"},
                            "successUrl": "https://mp.example/ok", "refreshUrl": "https://mp.example/again"});
    let (status, answer) = stack
        .call_private(
            "/private/merchants/onboarding",
            tenant,
            Some(stack.bearer_token()),
            &onboarding,
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let link: Value = serde_json::from_str(&answer).expect("JSON");
    assert!(
        link["url"].as_str().is_some_and(|u| u.contains("/connect/setup/acct_")),
        "{link}"
    );
    let store = stack.store(&aws);
    let account = stack.merchant_account(&aws, tenant, &merchant).await;

    // Before it finished onboarding, a payout is refused with a clear entry (not an error).
    let order = integration_tests::aws::unique_name("DE");
    let early = json!([item(&merchant, &order, "item-1", "4000", None)]);
    let (status, answer) = transfers(&stack, tenant, &early).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["transfers"][0]["isSuccessful"], false, "{answer}");

    // The merchant completes Stripe's onboarding; Stripe reports the account in `account.updated`.
    let completed: Value = reqwest::Client::new()
        .post(format!("{}/v1/accounts/{account}/_onboard", stack.stripe_base_url))
        .bearer_auth(LOCALSTRIPE_API_KEY)
        .send()
        .await
        .expect("the Connect double answers")
        .json()
        .await
        .expect("account");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let event = json!({"id": format!("evt_{account}"), "object": "event", "type": "account.updated",
                       "created": now, "livemode": false, "account": account,
                       "data": {"object": completed}})
    .to_string();
    let signature = signature_header(&[stack.webhooks().secrets[0].as_str()], now, event.as_bytes());
    assert_eq!(stack.post_webhook(tenant, "accounts", &signature, &event).await, 200);
    let status_changed = tenant_messages(&sqs, &watch, tenant, 1, WAIT).await;
    assert_eq!(status_changed[0].payload["status"], "completed");
    let stored = store
        .get_onboarding(tenant, &merchant)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.status, MerchantOnboardingStatus::Completed);

    // A shopper pays 10,000 cents; the shop captures it all.
    stack.initialize_payment(tenant, &order, 10_000, &[1, 2]).await;
    tenant_messages(&sqs, &watch, tenant, 1, WAIT).await;
    let intent = stack.pay_and_report_authorization(&aws, tenant, &order).await;
    tenant_messages(&sqs, &watch, tenant, 2, WAIT).await;
    // A marketplace's PaymentIntent carries its order as the group its payouts join.
    assert_eq!(stack.stripe_intent(&intent).await["transfer_group"], json!(order));
    let capture = json!({"orderReference": order, "orderItemIds": [1, 2], "amount": 10_000, "currencyIsoCode": "EUR"});
    send_command(&sqs, stack.queue("CapturePayment"), "CapturePayment", tenant, &capture).await;
    let captured = tenant_messages(&sqs, &watch, tenant, 2, WAIT).await;
    assert_eq!(captured[1].name, "PaymentCaptured");

    // The OMS pays the merchant its share of both items: one transfer from the order's charge.
    let payout = json!([
        item(&merchant, &order, "item-1", "4000", None),
        item(&merchant, &order, "item-2", "3000", None)
    ]);
    let (status, answer) = transfers(&stack, tenant, &payout).await;
    assert_eq!(status, 200, "{answer}");
    let entry = &answer["transfers"][0];
    assert_eq!(answer["transfers"].as_array().map(Vec::len), Some(1), "{answer}");
    assert_eq!(
        (&entry["isSuccessful"], &entry["amount"], &entry["itemReferences"]),
        (&json!(true), &json!("7000"), &json!("item-1,item-2")),
        "{answer}"
    );
    let transfer_id = entry["transferId"].as_str().expect("a transfer id").to_string();
    let transfer = stripe_get(&stack, &format!("transfers/{transfer_id}")).await;
    let charge = stack.stripe_intent(&intent).await["latest_charge"]["id"].clone();
    assert_eq!(
        (
            &transfer["amount"],
            &transfer["destination"],
            &transfer["transfer_group"],
            &transfer["source_transaction"]
        ),
        (&json!(7000), &json!(account), &json!(order), &charge),
        "{transfer}"
    );
    // Sent again (the OMS retries): the same answer, still one transfer.
    let (_, again) = transfers(&stack, tenant, &payout).await;
    assert_eq!(again, answer);
    // More than the order holds is refused.
    let beyond = json!([item(&merchant, &order, "item-3", "3001", None)]);
    let (_, refused) = transfers(&stack, tenant, &beyond).await;
    assert_eq!(
        refused["transfers"][0]["failureMessage"],
        "3001 exceeds what the order still holds for payouts (3000)"
    );

    // The second item is returned: its payout is reversed.
    let reversal = json!([item(&merchant, &order, "item-2", "-3000", Some(&transfer_id))]);
    let (status, answer) = transfers(&stack, tenant, &reversal).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (
            &answer["transfers"][0]["isSuccessful"],
            &answer["transfers"][0]["amount"]
        ),
        (&json!(true), &json!("-3000")),
        "{answer}"
    );
    let transfer = stripe_get(&stack, &format!("transfers/{transfer_id}")).await;
    assert_eq!(transfer["amount_reversed"], 3000, "{transfer}");
    stack.unwatch_bus(&aws, &rule).await;
}
