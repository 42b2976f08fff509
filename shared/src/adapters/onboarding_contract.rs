//! The conformance suite every [`OnboardingStore`] must pass (DynamoDB and the in-memory twin alike).
//! Each check uses its own random tenants, so checks can run in parallel on one store.

use crate::domain::{MerchantOnboarding, MerchantOnboardingStatus, StatusSource};
use crate::ports::StoreError;
use crate::ports::onboarding::OnboardingStore;

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
pub async fn run_all<S: OnboardingStore>(store: &S) {
    insert_get_and_find_by_account(store).await;
    one_onboarding_per_merchant_and_per_account(store).await;
    replace_needs_the_version_read(store).await;
    tenants_and_separators_stay_apart(store).await;
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
