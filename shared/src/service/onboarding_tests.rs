use super::*;
use crate::adapters::memory::{FixedClock, MemoryAccounts, MemoryPublisher, MemoryStore};
use crate::domain::{AccountHold, AccountReview};
use crate::ports::onboarding::PspAccount;
use crate::service::testing::{MemoryCommandService, memory_service};
use MerchantOnboardingStatus as S;

const TENANT: &str = "t1";

fn request(merchant: &str) -> OnboardingRequest {
    OnboardingRequest::new(
        merchant,
        "Merchant One",
        "https://shop.example/onboarding/success",
        "https://shop.example/onboarding/refresh",
        &[
            ("cancelUrl", Some("https://shop.example/onboarding/cancel")),
            ("errorUrl", None),
        ],
    )
    .unwrap()
}

fn onboarder<'a>(
    svc: &'a MemoryCommandService,
    accounts: &'a MemoryAccounts,
) -> MerchantOnboarder<'a, MemoryStore, MemoryAccounts> {
    MerchantOnboarder {
        store: &svc.store,
        accounts,
    }
}

fn webhooks(svc: &MemoryCommandService) -> WebhookService<'_, MemoryStore, MemoryPublisher, FixedClock> {
    WebhookService::of(svc)
}

/// Starts MER1's onboarding of [`TENANT`] as the onboarding endpoint does, with a fresh memory PSP.
async fn start_mer1(svc: &MemoryCommandService) -> Result<OnboardingLink, OnboardingError> {
    onboarder(svc, &MemoryAccounts::new())
        .start(TENANT, &request("MER1"))
        .await
}

/// The statuses of the MerchantAppOnboardingStatusChanged messages published so far, in order.
fn statuses(svc: &MemoryCommandService) -> Vec<String> {
    svc.publisher
        .published()
        .iter()
        .map(|e| {
            assert_eq!(e.detail_type, "MerchantAppOnboardingStatusChanged");
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
            assert_eq!(detail["channel"], "merchant-app-events");
            assert_eq!(detail["payload"]["merchantReference"], "MER1");
            assert_eq!(detail["payload"]["appIdentifier"], "app-test");
            assert_eq!(detail["payload"]["type"], "payment");
            detail["payload"]["status"].as_str().unwrap().to_string()
        })
        .collect()
}

const SUBMITTED: AccountReview = AccountReview {
    details_submitted: true,
    charges_enabled: false,
    payouts_enabled: false,
    hold: None,
    past_due: false,
    due_soon: false,
};

fn event(id: &str, created: i64, account: &str, review: AccountReview) -> AccountEvent {
    AccountEvent {
        event_id: id.into(),
        created,
        account: PspAccount {
            id: account.into(),
            review,
        },
    }
}

#[tokio::test]
async fn the_first_call_creates_the_account_later_calls_only_continue() {
    let svc = memory_service();
    let accounts = MemoryAccounts::new();
    let onboarder = onboarder(&svc, &accounts);
    let first = onboarder.start(TENANT, &request("MER1")).await.unwrap();
    assert_eq!(
        first,
        OnboardingLink {
            created: true,
            url: "https://connect.example/setup/acct_1/1".into()
        }
    );
    let stored = svc.store.get_onboarding(TENANT, "MER1").await.unwrap().unwrap();
    assert_eq!(
        stored,
        MerchantOnboarding::new(TENANT.into(), "MER1".into(), "acct_1".into())
    );
    assert_eq!(stored.status, S::Incomplete);
    let again = onboarder.start(TENANT, &request("MER1")).await.unwrap();
    assert_eq!(
        (again.created, again.url.as_str()),
        (false, "https://connect.example/setup/acct_1/2")
    );
    assert_eq!(onboarder.accounts.created(), 1, "one account per merchant, ever");
    let (account, urls) = &onboarder.accounts.links()[1];
    assert_eq!(account, "acct_1");
    assert_eq!(
        (urls.return_url.as_str(), urls.refresh_url.as_str()),
        (
            "https://shop.example/onboarding/success",
            "https://shop.example/onboarding/refresh"
        )
    );
    // Another merchant, another tenant: their own accounts.
    onboarder.start(TENANT, &request("MER2")).await.unwrap();
    onboarder.start("t2", &request("MER1")).await.unwrap();
    assert_eq!(onboarder.accounts.created(), 3);
    assert!(
        svc.publisher.published().is_empty(),
        "the tenant sets `incomplete` itself"
    );
}

#[tokio::test]
async fn concurrent_first_calls_create_one_account() {
    let svc = memory_service();
    let accounts = MemoryAccounts::new();
    let onboarder = onboarder(&svc, &accounts);
    let req = request("MER1");
    let (a, b) = tokio::join!(onboarder.start(TENANT, &req), onboarder.start(TENANT, &req));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(onboarder.accounts.created(), 1);
    assert!(a.created != b.created, "one of them created it: {a:?} {b:?}");
}

#[tokio::test]
async fn psp_failures_store_nothing_and_a_retry_creates_the_account_once() {
    let svc = memory_service();
    let accounts = MemoryAccounts::new();
    let onboarder = onboarder(&svc, &accounts);
    onboarder.accounts.fail_next(PspError::Unknown("timeout".into()));
    assert!(matches!(
        onboarder.start(TENANT, &request("MER1")).await,
        Err(OnboardingError::Unavailable(_))
    ));
    onboarder.accounts.fail_next(PspError::Declined {
        code: "invalid_request_error".into(),
        message: "not a Connect platform".into(),
    });
    assert!(matches!(
        onboarder.start(TENANT, &request("MER1")).await,
        Err(OnboardingError::Refused(_))
    ));
    assert_eq!(svc.store.get_onboarding(TENANT, "MER1").await.unwrap(), None);
    assert!(onboarder.start(TENANT, &request("MER1")).await.unwrap().created);
    assert_eq!(onboarder.accounts.created(), 1);
}

#[test]
fn invalid_requests_are_refused() {
    let ok = "https://shop.example/x";
    let cases = [
        OnboardingRequest::new(" ", "Name", ok, ok, &[]),
        OnboardingRequest::new("MER1", "", ok, ok, &[]),
        OnboardingRequest::new("MER1", "Name", "/relative", ok, &[]),
        OnboardingRequest::new("MER1", "Name", ok, "javascript:alert(1)", &[]),
        OnboardingRequest::new("MER1", "Name", ok, ok, &[("errorUrl", Some("not a url"))]),
    ];
    for case in cases {
        assert!(matches!(case, Err(OnboardingError::Invalid(_))), "{case:?}");
    }
}

#[tokio::test]
async fn a_status_sequence_is_told_once_per_change_in_order() {
    let svc = memory_service();
    start_mer1(&svc).await.unwrap();
    let hooks = webhooks(&svc);
    let enabled = AccountReview {
        charges_enabled: true,
        ..SUBMITTED
    };
    let completed = AccountReview {
        payouts_enabled: true,
        ..enabled
    };
    let steps = [
        // Still filling in the form: no change from the stored `incomplete`.
        event(
            "evt_0",
            100,
            "acct_1",
            AccountReview {
                details_submitted: false,
                ..SUBMITTED
            },
        ),
        event("evt_1", 101, "acct_1", SUBMITTED),
        event("evt_2", 102, "acct_1", enabled),
        event("evt_3", 103, "acct_1", completed),
        event("evt_4", 104, "acct_1", completed), // same status
        event(
            "evt_5",
            105,
            "acct_1",
            AccountReview {
                due_soon: true,
                ..completed
            },
        ),
        event(
            "evt_6",
            106,
            "acct_1",
            AccountReview {
                past_due: true,
                ..completed
            },
        ),
        event(
            "evt_7",
            107,
            "acct_1",
            AccountReview {
                hold: Some(AccountHold::Rejected),
                ..completed
            },
        ),
    ];
    for step in &steps {
        hooks.handle_account(TENANT, step).await.unwrap();
    }
    assert_eq!(
        statuses(&svc),
        vec![
            "pending",
            "enabled",
            "completed",
            "restricted soon",
            "restricted",
            "rejected"
        ]
    );
    let stored = svc.store.get_onboarding(TENANT, "MER1").await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (S::Rejected, 6));
    // A rejected merchant gets no more links.
    assert_eq!(start_mer1(&svc).await, Err(OnboardingError::Rejected));
}

#[tokio::test]
async fn duplicates_older_events_and_unknown_accounts_change_nothing() {
    let svc = memory_service();
    start_mer1(&svc).await.unwrap();
    let hooks = webhooks(&svc);
    let pending = event("evt_1", 200, "acct_1", SUBMITTED);
    assert!(matches!(
        hooks.handle_account(TENANT, &pending).await.unwrap(),
        AccountReport::Applied(OperationReport::Completed(_))
    ));
    assert_eq!(
        hooks.handle_account(TENANT, &pending).await.unwrap(),
        AccountReport::Applied(OperationReport::Duplicate)
    );
    // Delivered late: an event from before the one that set `pending`.
    let older = event(
        "evt_0",
        199,
        "acct_1",
        AccountReview {
            details_submitted: false,
            ..SUBMITTED
        },
    );
    hooks.handle_account(TENANT, &older).await.unwrap();
    assert_eq!(
        hooks
            .handle_account(TENANT, &event("evt_9", 300, "acct_unknown", SUBMITTED))
            .await
            .unwrap(),
        AccountReport::UnknownAccount
    );
    // The account is the tenant's own: on another tenant's route it is unknown.
    assert_eq!(
        hooks
            .handle_account("t2", &event("evt_8", 300, "acct_1", SUBMITTED))
            .await
            .unwrap(),
        AccountReport::UnknownAccount
    );
    assert_eq!(statuses(&svc), vec!["pending"]);
    let stored = svc.store.get_onboarding(TENANT, "MER1").await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (S::Pending, 1));
}

#[tokio::test]
async fn a_change_is_never_lost_between_store_write_and_bus() {
    let svc = memory_service();
    start_mer1(&svc).await.unwrap();
    let hooks = webhooks(&svc);
    // The bus is down: the change is stored with its message in the outbox; the PSP retries.
    svc.publisher.fail_next(1);
    let pending = event("evt_1", 200, "acct_1", SUBMITTED);
    assert!(matches!(
        hooks.handle_account(TENANT, &pending).await,
        Err(OperationError::Publish(_))
    ));
    assert!(statuses(&svc).is_empty());
    // Stripe retries after the failed publisher's lease ran out.
    svc.clock.advance(svc.settings.publish_lease_seconds + 1);
    assert!(matches!(
        hooks.handle_account(TENANT, &pending).await.unwrap(),
        AccountReport::Applied(OperationReport::Republished(_))
    ));
    assert_eq!(statuses(&svc), vec!["pending"]);

    // A crash after the onboarding was written but before its operation committed: the redelivery
    // finds its own change and tells the tenant then, with the id the first attempt would have used.
    let current = svc.store.get_onboarding(TENANT, "MER1").await.unwrap().unwrap();
    let enabled = event(
        "evt_2",
        201,
        "acct_1",
        AccountReview {
            charges_enabled: true,
            ..SUBMITTED
        },
    );
    let StatusDecision::Changed(next) = current.decide(
        &enabled.account.review,
        StatusSource {
            event_id: "evt_2".into(),
            created: 201,
        },
    ) else {
        panic!("pending -> enabled is a change")
    };
    svc.store.replace_onboarding(&next, current.version).await.unwrap();
    hooks.handle_account(TENANT, &enabled).await.unwrap();
    assert_eq!(statuses(&svc), vec!["pending", "enabled"]);
    let ids: Vec<String> = svc.publisher.published().iter().map(|e| e.event_id.clone()).collect();
    assert_ne!(ids[0], ids[1]);
}
