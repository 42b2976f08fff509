//! The store conformance suites (payments with the webhook inbox; merchant onboardings) against `DynamoStore` on a moto table.
//!
//! Each test uses its own table. The suite's checks could share one table on real DynamoDB, but not
//! on moto 5.2: a failed TransactWriteItems there restores a copy of the whole table taken when the
//! transaction started, undoing concurrent writes to other items (moto/dynamodb/models/__init__.py,
//! `transact_write_items`).

use integration_tests::aws::{create_payment_table, sdk_config};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::marketplace_contract;
use shared::adapters::store_contract;

async fn store() -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = create_payment_table(&client).await;
    DynamoStore::new(client, table)
}

#[tokio::test]
async fn dynamo_store_passes_the_store_contract() {
    store_contract::run_all(&store().await).await;
}

#[tokio::test]
async fn dynamo_store_keeps_tenant_records_and_open_payment_markers() {
    store_contract::run_tenant_checks(&store().await).await;
}

#[tokio::test]
async fn dynamo_store_passes_the_marketplace_contract() {
    marketplace_contract::run_all(&store().await).await;
}

/// The raw items: keys, the store-internal payment lease and the operation's TTL attribute.
#[tokio::test]
async fn items_have_the_documented_layout() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::domain::{Currency, Money, Payment, PaymentStatus};
    use shared::ports::{
        Claim, ClaimRequest, Commit, InboxEntry, PaymentStore, PaymentWrite, WebhookChange, WebhookEvent,
    };
    use std::collections::HashMap;

    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = create_payment_table(&client).await;
    let store = DynamoStore::new(client.clone(), &table);
    let raw = |pk: String, sk: &'static str| {
        let client = client.clone();
        let table = table.clone();
        async move {
            client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::S(sk.into()))
                .consistent_read(true)
                .send()
                .await
                .expect("get item")
                .item
                .unwrap_or_default()
        }
    };
    let s = |item: &HashMap<String, AttributeValue>, name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let n = |item: &HashMap<String, AttributeValue>, name: &str| item.get(name).and_then(|v| v.as_n().ok()).cloned();

    let eur = Currency::parse("EUR").expect("EUR");
    let payment = Payment::new(
        "t1".into(),
        "tx1".into(),
        Some("DE--1".into()),
        "pi_1".into(),
        Money::new(500, eur),
        "2026-01-01 00:00:00",
    );
    store.insert_payment(&payment).await.expect("insert");
    let alias = raw("TENANT#t1#ORDER#DE--1".into(), "ORDER").await;
    assert_eq!(s(&alias, "transaction_id").as_deref(), Some("tx1"));
    let psp_alias = raw("TENANT#t1#PSP#pi_1".into(), "PSP").await;
    assert_eq!(s(&psp_alias, "transaction_id").as_deref(), Some("tx1"));
    let open = raw("TENANT#t1#OPEN".into(), "PAYMENT#tx1").await;
    assert_eq!(
        s(&open, "pk").as_deref(),
        Some("TENANT#t1#OPEN"),
        "a new payment is open"
    );

    let now = 1_900_000_000;
    let request = ClaimRequest {
        tenant: "t1".into(),
        key: "capture:tx1".into(),
        fingerprint: "fp".into(),
        token: "token-1".into(),
        payment: Some("tx1".into()),
        now,
        lease_until: now + 30,
        expires_at: now + 86_400,
        attention_due: now + 900,
        request: None,
    };
    assert!(matches!(store.claim(&request).await, Ok(Claim::Acquired { .. })));

    let leased = raw("TENANT#t1#PAYMENT#tx1".into(), "PAYMENT").await;
    assert_eq!(s(&leased, "op_lease").as_deref(), Some("capture:tx1"));
    assert_eq!(n(&leased, "op_lease_until"), Some((now + 30).to_string()));
    assert_eq!(s(&leased, "psp_reference").as_deref(), Some("pi_1"));
    assert_eq!(store.get_payment("t1", "tx1").await, Ok(Some(payment.clone())));

    let op = raw("TENANT#t1#OP#capture:tx1".into(), "OP").await;
    assert_eq!(s(&op, "state").as_deref(), Some("IN_PROGRESS"));
    assert_eq!(s(&op, "lease_token").as_deref(), Some("token-1"));
    assert_eq!(n(&op, "expires_at"), Some((now + 86_400).to_string()));

    let commit = Commit {
        tenant: "t1".into(),
        key: "capture:tx1".into(),
        token: "token-1".into(),
        payment: Some(PaymentWrite::Release {
            transaction_id: "tx1".into(),
        }),
        refund: None,
        events: Vec::new(),
        failed: false,
        fails: None,
        publish_lease_until: now + 30,
    };
    store.commit(&commit).await.expect("commit");
    let released = raw("TENANT#t1#PAYMENT#tx1".into(), "PAYMENT").await;
    assert!(!released.contains_key("op_lease") && !released.contains_key("op_lease_until"));
    let op = raw("TENANT#t1#OP#capture:tx1".into(), "OP").await;
    assert_eq!(s(&op, "state").as_deref(), Some("COMPLETED"));
    assert_eq!(op.get("published").and_then(|v| v.as_bool().ok()), Some(&false));

    let entry = InboxEntry {
        tenant: "t1".into(),
        event: WebhookEvent {
            event_id: "evt_1".into(),
            created: now,
            transaction_id: "tx1".into(),
            psp_reference: "pi_1".into(),
            tenant: Some("t1".into()),
            change: WebhookChange::Payment {
                status: PaymentStatus::Authorized,
                amount_captured: 0,
                decline: None,
            },
        },
        attempts: 2,
        given_up: false,
        retry_at: now + 120,
        expires_at: now + 86_400,
    };
    store.put_inbox(&entry).await.expect("put inbox entry");
    let inbox = raw("TENANT#t1#INBOX#tx1".into(), "EVENT#evt_1").await;
    assert_eq!(n(&inbox, "attempts"), Some("2".to_string()));
    // In the reconciler's index until it is given up.
    assert_eq!(s(&inbox, "attention").as_deref(), Some("INBOX"));
    assert_eq!(n(&inbox, "attention_due"), Some((now + 120).to_string()));
    assert_eq!(n(&inbox, "expires_at"), Some((now + 86_400).to_string()));
    assert_eq!(store.inbox("t1", "tx1").await, Ok(vec![entry]));
}

/// The onboarding items: the merchant's onboarding and the alias from its Stripe account.
#[tokio::test]
async fn onboarding_items_have_the_documented_layout() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use shared::domain::MerchantOnboarding;
    use shared::ports::OnboardingStore;

    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = create_payment_table(&client).await;
    let store = DynamoStore::new(client.clone(), &table);
    store
        .insert_onboarding(&MerchantOnboarding::new("t1".into(), "MER1".into(), "acct_1".into()))
        .await
        .expect("insert");
    let raw = |pk: &str, sk: &str| {
        client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
    };
    let onboarding = raw("TENANT#t1#MERCHANT#MER1", "ONBOARDING")
        .await
        .expect("get")
        .item
        .expect("onboarding item");
    assert_eq!(
        onboarding
            .get("account_id")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("acct_1")
    );
    assert_eq!(
        onboarding.get("status").and_then(|v| v.as_s().ok()).map(String::as_str),
        Some("incomplete")
    );
    let alias = raw("TENANT#t1#ACCOUNT#acct_1", "ACCOUNT")
        .await
        .expect("get")
        .item
        .expect("alias item");
    assert_eq!(
        alias
            .get("merchant_reference")
            .and_then(|v| v.as_s().ok())
            .map(String::as_str),
        Some("MER1")
    );
}
