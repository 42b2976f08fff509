//! The conformance suite of the marketplace's stores, [`OnboardingStore`] and [`TransferStore`] (DynamoDB
//! and the in-memory twin alike). Each check uses its own random tenants, so checks can run in parallel
//! on one store.

use crate::domain::{
    Direction, MerchantOnboarding, MerchantOnboardingStatus, StatusSource, TransferLedger, TransferRecord,
    TransferState, TransmissionItem, TransmissionKind,
};
use crate::ports::onboarding::OnboardingStore;
use crate::ports::transfers::TransferStore;
use crate::ports::{PaymentStore, StoreError};

fn tenant() -> String {
    format!("tenant-{}", uuid::Uuid::new_v4())
}

fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{what}: expected a conflict, got {result:?}"
    );
}

/// Runs every check.
pub async fn run_all<S: OnboardingStore + TransferStore + PaymentStore>(store: &S) {
    insert_get_and_find_by_account(store).await;
    one_onboarding_per_merchant_and_per_account(store).await;
    replace_needs_the_version_read(store).await;
    tenants_and_separators_stay_apart(store).await;
    transfer_ledgers_need_the_version_read(store).await;
    an_open_transfer_is_open_business(store).await;
}

/// A stored onboarding is found by its merchant and by its account.
pub async fn insert_get_and_find_by_account<S: OnboardingStore>(store: &S) {
    let t = tenant();
    let onboarding = MerchantOnboarding::new(t.clone(), "MER000001".into(), "acct_1".into());
    assert_eq!(store.get_onboarding(&t, "MER000001").await, Ok(None));
    assert_eq!(store.find_onboarding_by_account(&t, "acct_1").await, Ok(None));
    store.insert_onboarding(&onboarding).await.expect("insert");
    assert_eq!(
        store.get_onboarding(&t, "MER000001").await,
        Ok(Some(onboarding.clone()))
    );
    assert_eq!(
        store.find_onboarding_by_account(&t, "acct_1").await,
        Ok(Some(onboarding))
    );
}

/// A merchant has one onboarding, and an account belongs to one merchant.
pub async fn one_onboarding_per_merchant_and_per_account<S: OnboardingStore>(store: &S) {
    let t = tenant();
    let first = MerchantOnboarding::new(t.clone(), "MER1".into(), "acct_1".into());
    store.insert_onboarding(&first).await.expect("insert");
    assert_conflict(store.insert_onboarding(&first).await, "the same onboarding again");
    let second_account = MerchantOnboarding::new(t.clone(), "MER1".into(), "acct_2".into());
    assert_conflict(
        store.insert_onboarding(&second_account).await,
        "a second account for the merchant",
    );
    let taken = MerchantOnboarding::new(t.clone(), "MER2".into(), "acct_1".into());
    assert_conflict(store.insert_onboarding(&taken).await, "another merchant on the account");
    assert_eq!(store.get_onboarding(&t, "MER2").await, Ok(None), "nothing half-written");
    assert_eq!(store.find_onboarding_by_account(&t, "acct_2").await, Ok(None));
    assert_eq!(store.get_onboarding(&t, "MER1").await, Ok(Some(first)));
}

/// Replacing needs the version read; a stale writer conflicts and changes nothing.
pub async fn replace_needs_the_version_read<S: OnboardingStore>(store: &S) {
    let t = tenant();
    let start = MerchantOnboarding::new(t.clone(), "MER1".into(), "acct_1".into());
    store.insert_onboarding(&start).await.expect("insert");
    let next = MerchantOnboarding {
        status: MerchantOnboardingStatus::RestrictedSoon,
        status_source: Some(StatusSource {
            event_id: "evt_1".into(),
            created: 1_767_225_600,
        }),
        version: 1,
        ..start.clone()
    };
    store.replace_onboarding(&next, 0).await.expect("replace at version 0");
    let stale = MerchantOnboarding {
        status: MerchantOnboardingStatus::Rejected,
        version: 1,
        ..start.clone()
    };
    assert_conflict(store.replace_onboarding(&stale, 0).await, "a stale version");
    let other_account = MerchantOnboarding {
        account_id: "acct_other".into(),
        version: 2,
        ..next.clone()
    };
    assert_conflict(store.replace_onboarding(&other_account, 1).await, "another account");
    let missing = MerchantOnboarding::new(t.clone(), "MER-missing".into(), "acct_9".into());
    assert_conflict(store.replace_onboarding(&missing, 0).await, "a missing onboarding");
    assert_eq!(store.get_onboarding(&t, "MER1").await, Ok(Some(next.clone())));
    assert_eq!(store.find_onboarding_by_account(&t, "acct_1").await, Ok(Some(next)));
}

/// Tenants never see each other's merchants or accounts, whatever the ids contain.
pub async fn tenants_and_separators_stay_apart<S: OnboardingStore>(store: &S) {
    let (a, b) = (tenant(), tenant());
    let mine = MerchantOnboarding::new(a.clone(), "MER#1".into(), "acct#1".into());
    store.insert_onboarding(&mine).await.expect("insert");
    let theirs = MerchantOnboarding::new(b.clone(), "MER#1".into(), "acct#1".into());
    store
        .insert_onboarding(&theirs)
        .await
        .expect("the same ids in another tenant");
    assert_eq!(store.find_onboarding_by_account(&b, "acct#1").await, Ok(Some(theirs)));
    assert_eq!(store.get_onboarding(&a, "MER#1").await, Ok(Some(mine)));
    assert_eq!(store.get_onboarding(&format!("{a}#MERCHANT#MER"), "1").await, Ok(None));
}

/// A ledger with one payout record of 500 to `MER1` in `state`.
fn ledger_with(tenant: &str, order: &str, state: TransferState) -> TransferLedger {
    TransferLedger::new(tenant, order).with(TransferRecord {
        merchant_reference: "MER1".into(),
        direction: Direction::Payout,
        items: vec![TransmissionItem {
            kind: TransmissionKind::OrderItem,
            merchant_reference: "MER1".into(),
            order_reference: order.into(),
            item_reference: "0b9d8c4e-item".into(),
            amount: 500,
            transfer_id: None,
        }],
        amount: 500,
        attempt: 1,
        idempotency_key: "transfer-1".into(),
        psp_id: (state == TransferState::Made).then(|| "tr_1".to_string()),
        state,
    })
}

/// A ledger is stored whole, and each write must name the version it read: a second writer of the same
/// version gets a conflict.
pub async fn transfer_ledgers_need_the_version_read<S: TransferStore>(store: &S) {
    let t = tenant();
    assert_eq!(store.get_transfers(&t, "DE--1").await, Ok(None));
    let first = ledger_with(&t, "DE--1", TransferState::Requested);
    store.put_transfers(&first).await.expect("first write");
    assert_conflict(store.put_transfers(&first).await, "a second first write");
    assert_eq!(store.get_transfers(&t, "DE--1").await, Ok(Some(first.clone())));
    let made = first.with(TransferRecord {
        psp_id: Some("tr_1".into()),
        state: TransferState::Made,
        ..first.records[0].clone()
    });
    store.put_transfers(&made).await.expect("next version");
    assert_conflict(store.put_transfers(&made).await, "the same version again");
    assert_eq!(store.get_transfers(&t, "DE--1").await, Ok(Some(made)));
    // Orders (and separators in them) stay apart.
    assert_eq!(store.get_transfers(&t, "DE--1#x").await, Ok(None));
    assert_eq!(store.get_transfers(&tenant(), "DE--1").await, Ok(None));
}

/// While a transfer's outcome is unknown, the tenant has open business (disconnect asks to confirm).
pub async fn an_open_transfer_is_open_business<S: TransferStore + PaymentStore>(store: &S) {
    let t = tenant();
    let requested = ledger_with(&t, "DE--2", TransferState::Requested);
    store.put_transfers(&requested).await.expect("requested");
    assert_eq!(store.has_open_payments(&t).await, Ok(true));
    let made = requested.with(TransferRecord {
        psp_id: Some("tr_1".into()),
        state: TransferState::Made,
        ..requested.records[0].clone()
    });
    store.put_transfers(&made).await.expect("made");
    assert_eq!(store.has_open_payments(&t).await, Ok(false));
}
