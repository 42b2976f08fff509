//! The conformance suite every [`PaymentStore`] must pass (DynamoDB and the in-memory twin alike).
//!
//! Each check uses its own random tenant, so checks and suites can run in parallel on one store
//! (on real DynamoDB or the in-memory twin; not on one moto table, whose failed transactions roll
//! back the whole table).
//! Times are the caller-supplied epoch seconds of the store protocol, around the real clock so that a
//! real TTL never removes the records under test. Call [`run_all`], or one check at a time.

use crate::acp::BusEvent;
use crate::domain::payment::StatusChange;
use crate::domain::tenant::SecretCounts;
use crate::domain::{Currency, Money, Payment, PaymentStatus, Refund, RefundStatus};
use crate::ports::store::{
    Attention, Claim, ClaimRequest, Commit, OperationRecord, OperationState, PaymentStore, PaymentWrite, StoreError,
};
use crate::ports::tenant::{TenantRecord, TenantStore};
use crate::ports::webhook::{InboxEntry, WebhookChange, WebhookEvent};

/// Operation lease length used by the checks, in seconds.
const LEASE: i64 = 30;

/// One check's world: a fresh tenant and a base time.
struct Scope {
    tenant: String,
    now: i64,
}

impl Scope {
    fn new() -> Self {
        Scope {
            tenant: format!("tenant-{}", uuid::Uuid::new_v4()),
            now: time::OffsetDateTime::now_utc().unix_timestamp(),
        }
    }

    fn payment(&self, transaction_id: &str) -> Payment {
        let eur = Currency::parse("EUR").expect("EUR is a currency");
        Payment::new(
            self.tenant.clone(),
            transaction_id.to_string(),
            Some(format!("order-{transaction_id}")),
            format!("pi_{transaction_id}"),
            Money::new(1000, eur),
            "2026-01-01 00:00:00",
        )
    }

    /// A claim of operation `key` on `payment` by the worker `token` at `now`.
    fn claim(&self, key: &str, token: &str, payment: Option<&str>, now: i64) -> ClaimRequest {
        ClaimRequest {
            tenant: self.tenant.clone(),
            key: key.to_string(),
            fingerprint: format!("fp-{key}"),
            token: token.to_string(),
            payment: payment.map(str::to_string),
            now,
            lease_until: now + LEASE,
            expires_at: self.now + 86_400,
            attention_due: now + 2 * LEASE,
            request: Some(format!("request-{key}")),
        }
    }

    /// A claim of an operation its caller retries (a webhook, a sync call): nothing stored to run it again.
    fn claim_retried_by_caller(&self, key: &str, token: &str, payment: Option<&str>, now: i64) -> ClaimRequest {
        ClaimRequest {
            request: None,
            ..self.claim(key, token, payment, now)
        }
    }

    fn commit(&self, key: &str, token: &str, payment: Option<PaymentWrite>) -> Commit {
        Commit {
            tenant: self.tenant.clone(),
            key: key.to_string(),
            token: token.to_string(),
            payment,
            refund: None,
            events: vec![self.event(key)],
            failed: false,
            fails: None,
            publish_lease_until: self.now + LEASE,
        }
    }

    fn event(&self, key: &str) -> BusEvent {
        BusEvent {
            event_id: format!("event-{key}"),
            source: "app-contract".into(),
            detail_type: "PaymentCaptured".into(),
            tenant: self.tenant.clone(),
            detail: format!("{{\"operation\":\"{key}\"}}"),
        }
    }

    /// Inserts a payment and returns it.
    async fn inserted<S: PaymentStore>(&self, store: &S, transaction_id: &str) -> Payment {
        let payment = self.payment(transaction_id);
        store.insert_payment(&payment).await.expect("insert payment");
        payment
    }
}

const FRESH: Claim = Claim::Acquired {
    attempts: 0,
    outcome_unknown: false,
};

async fn claim<S: PaymentStore>(store: &S, request: &ClaimRequest) -> Claim {
    store.claim(request).await.expect("claim")
}

/// The record of a claim that found an existing operation.
async fn existing<S: PaymentStore>(store: &S, request: &ClaimRequest) -> OperationRecord {
    match claim(store, request).await {
        Claim::Existing(record) => record,
        other => panic!("expected an existing operation, got {other:?}"),
    }
}

fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{what}: expected a conflict, got {result:?}"
    );
}

/// Runs every check.
pub async fn run_all<S: PaymentStore>(store: &S) {
    insert_twice_conflicts(store).await;
    find_by_order(store).await;
    reconciler_finds_what_is_due(store).await;
    ids_with_separators_stay_apart(store).await;
    claim_lifecycle(store).await;
    claim_without_payment(store).await;
    busy_payment_leaves_no_claim_behind(store).await;
    release_unknown_hands_over_at_once(store).await;
    commit_with_wrong_token_conflicts(store).await;
    commit_with_stale_version_conflicts(store).await;
    commit_replaces_payment_and_completes(store).await;
    commit_release_keeps_payment(store).await;
    commit_inserts_payment_with_its_order(store).await;
    commit_attaches_an_order(store).await;
    publish_lease(store).await;
    commit_replaces_a_refund(store).await;
    inbox_keeps_events_per_payment_in_order(store).await;
    attention_follows_the_operation(store).await;
}

/// Inserting a payment twice is a conflict, as is another payment on the same order; reads find it.
pub async fn insert_twice_conflicts<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let payment = scope.inserted(store, "tx-1").await;
    assert_conflict(store.insert_payment(&payment).await, "same payment again");

    let mut same_order = scope.payment("tx-2");
    same_order.order_reference = payment.order_reference.clone();
    assert_conflict(store.insert_payment(&same_order).await, "other payment, same order");
    assert_eq!(store.get_payment(&scope.tenant, "tx-2").await, Ok(None));
    assert_eq!(store.get_payment(&scope.tenant, "tx-1").await, Ok(Some(payment)));
}

/// A payment is found by its order reference and by its PSP payment, and only in its own tenant.
pub async fn find_by_order<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let payment = scope.inserted(store, "tx-1").await;
    let order = payment.order_reference.clone().expect("order reference");
    assert_eq!(
        store.find_payment_by_order(&scope.tenant, &order).await,
        Ok(Some(payment.clone()))
    );
    assert_eq!(
        store.find_payment_by_order(&scope.tenant, "no-such-order").await,
        Ok(None)
    );
    assert_eq!(store.find_payment_by_order("other-tenant", &order).await, Ok(None));
    assert_eq!(
        store
            .find_payment_by_psp_reference(&scope.tenant, &payment.psp_reference)
            .await,
        Ok(Some(payment.clone()))
    );
    assert_eq!(
        store
            .find_payment_by_psp_reference("other-tenant", &payment.psp_reference)
            .await,
        Ok(None)
    );
    assert_eq!(
        store.find_payment_by_psp_reference(&scope.tenant, "pi_unknown").await,
        Ok(None)
    );

    // A bank transfer's customer names its payment too.
    let mut transfer = scope.payment("tx-bank-transfer");
    transfer.order_reference = Some(format!("{order}-bank"));
    transfer.psp_reference = format!("{}-bank", payment.psp_reference);
    transfer.psp_customer = Some(format!("cus-{}", transfer.psp_reference));
    store
        .insert_payment(&transfer)
        .await
        .expect("insert bank transfer payment");
    assert_eq!(
        store
            .find_payment_by_psp_reference(&scope.tenant, transfer.psp_customer.as_deref().unwrap_or_default())
            .await,
        Ok(Some(transfer.clone()))
    );

    let mut headless = scope.payment("tx-headless");
    headless.order_reference = None;
    store.insert_payment(&headless).await.expect("insert headless payment");
    assert_eq!(
        store.get_payment(&scope.tenant, "tx-headless").await,
        Ok(Some(headless))
    );
}

/// Ids are outside input: a tenant and an order that spell another tenant's key never reach its records.
pub async fn ids_with_separators_stay_apart<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let mut first = scope.payment("tx-sep-1");
    first.tenant = format!("{}#ORDER#b", scope.tenant);
    first.order_reference = Some("c".into());
    let mut second = scope.payment("tx-sep-2");
    second.order_reference = Some("b#ORDER#c".into());
    store.insert_payment(&first).await.expect("insert the first payment");
    store
        .insert_payment(&second)
        .await
        .expect("the second payment is not the first");
    assert_eq!(store.find_payment_by_order(&first.tenant, "c").await, Ok(Some(first)));
    assert_eq!(
        store.find_payment_by_order(&scope.tenant, "b#ORDER#c").await,
        Ok(Some(second))
    );
}

/// Fresh claim → acquired; a second one while leased → existing; after the lease expired → taken over by
/// the same payload only.
pub async fn claim_lifecycle<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    scope.inserted(store, "tx-1").await;
    let first = scope.claim("op-1", "worker-a", Some("tx-1"), scope.now);
    assert_eq!(claim(store, &first).await, FRESH);

    let second = scope.claim("op-1", "worker-b", Some("tx-1"), scope.now + 1);
    let record = existing(store, &second).await;
    assert_eq!(record.state, OperationState::InProgress);
    assert_eq!(record.lease_token, "worker-a");
    assert_eq!(record.lease_until, scope.now + LEASE);
    assert_eq!(record.attempts, 0);
    assert!(!record.outcome_unknown);
    assert_eq!(record.payment.as_deref(), Some("tx-1"));
    assert_eq!(record.fingerprint, "fp-op-1");
    assert!(record.events.is_empty());

    // Another payload under the same key never takes it over: the record is returned as it stands.
    let other_payload = ClaimRequest {
        fingerprint: "another".into(),
        ..scope.claim("op-1", "worker-x", Some("tx-1"), scope.now + LEASE + 1)
    };
    let record = existing(store, &other_payload).await;
    assert_eq!(
        (record.lease_token.as_str(), record.state),
        ("worker-a", OperationState::InProgress)
    );
    let after_expiry = scope.claim("op-1", "worker-c", Some("tx-1"), scope.now + LEASE + 1);
    assert_eq!(
        claim(store, &after_expiry).await,
        Claim::Acquired {
            attempts: 1,
            outcome_unknown: true
        }
    );
    // The new holder's token commits; the old one's no longer does.
    assert_conflict(store.commit(&scope.commit("op-1", "worker-a", None)).await, "old token");
    let release = PaymentWrite::Release {
        transaction_id: "tx-1".into(),
    };
    assert_eq!(
        store.commit(&scope.commit("op-1", "worker-c", Some(release))).await,
        Ok(())
    );
}

/// The "needs attention" index follows an operation: in progress until it completes (due when the claim
/// says), then its outbox until published (due when its publish lease ends), then nothing.
pub async fn attention_follows_the_operation<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let mine = |records: Vec<OperationRecord>| -> Vec<String> {
        records
            .into_iter()
            .filter(|r| r.tenant == scope.tenant)
            .map(|r| r.key)
            .collect()
    };
    let due = |kind, at| async move { mine(store.due_operations(kind, at, 1000).await.expect("due operations")) };
    let request = scope.claim("op-1", "worker-a", None, scope.now);
    assert_eq!(claim(store, &request).await, FRESH);
    assert!(
        due(Attention::InProgress, scope.now + LEASE).await.is_empty(),
        "not due yet"
    );
    assert_eq!(due(Attention::InProgress, scope.now + 2 * LEASE).await, ["op-1"]);
    let record = existing(store, &request).await;
    assert_eq!(record.request.as_deref(), Some("request-op-1"), "kept to run it again");
    assert_eq!(store.commit(&scope.commit("op-1", "worker-a", None)).await, Ok(()));
    assert!(due(Attention::InProgress, scope.now + 2 * LEASE).await.is_empty());
    assert_eq!(due(Attention::Outbox, scope.now + LEASE).await, ["op-1"]);
    assert_eq!(store.mark_published(&scope.tenant, "op-1").await, Ok(()));
    assert!(
        due(Attention::Outbox, scope.now + 10 * LEASE).await.is_empty(),
        "published: settled"
    );
    // A record nobody can finish is taken out of the index, and frees the payment it held.
    scope.inserted(store, "tx-2").await;
    let other = scope.claim("op-2", "worker-a", Some("tx-2"), scope.now);
    assert_eq!(claim(store, &other).await, FRESH);
    let waiting = scope.claim("op-3", "worker-b", Some("tx-2"), scope.now + 1);
    assert_eq!(claim(store, &waiting).await, Claim::PaymentBusy);
    assert_eq!(store.clear_attention(&scope.tenant, "op-2").await, Ok(()));
    assert!(due(Attention::InProgress, scope.now + 10 * LEASE).await.is_empty());
    assert_eq!(claim(store, &waiting).await, FRESH);
}

/// An operation without a payment is claimed and committed on its own, its failure answer recorded.
pub async fn claim_without_payment<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let request = scope.claim("op-1", "worker-a", None, scope.now);
    assert_eq!(claim(store, &request).await, FRESH);
    let failure = Commit {
        failed: true,
        ..scope.commit("op-1", "worker-a", None)
    };
    assert_eq!(store.commit(&failure).await, Ok(()));
    let record = existing(store, &request).await;
    assert_eq!(
        (record.state, record.failed),
        (OperationState::Completed, true),
        "a failure answer is kept"
    );
}

/// Another operation on a leased payment is told the payment is busy, and leaves nothing behind:
/// it is busy again while the lease holds and acquired fresh once the payment is free.
pub async fn busy_payment_leaves_no_claim_behind<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    scope.inserted(store, "tx-1").await;
    assert_eq!(
        claim(store, &scope.claim("op-a", "worker-a", Some("tx-1"), scope.now)).await,
        FRESH
    );

    let other = scope.claim("op-b", "worker-b", Some("tx-1"), scope.now + 1);
    assert_eq!(claim(store, &other).await, Claim::PaymentBusy);
    assert_eq!(claim(store, &other).await, Claim::PaymentBusy);
    assert_eq!(
        store.payment_holder(&scope.tenant, "tx-1").await,
        Ok(Some("op-a".to_string())),
        "the holder is known"
    );

    assert_eq!(
        store
            .commit(&scope.commit("op-a", "worker-a", Some(release_of("tx-1"))))
            .await,
        Ok(())
    );
    assert_eq!(store.payment_holder(&scope.tenant, "tx-1").await, Ok(None), "released");
    assert_eq!(claim(store, &other).await, FRESH);
    assert_eq!(
        store.payment_holder(&scope.tenant, "tx-1").await,
        Ok(Some("op-b".to_string()))
    );

    // A command holds the payment until it completes, even past its lease (its worker may have died
    // after moving money): other operations wait, its own redelivery takes over.
    let third = scope.claim_retried_by_caller("op-c", "worker-c", Some("tx-1"), scope.now + LEASE + 2);
    assert_eq!(claim(store, &third).await, Claim::PaymentBusy);
    let redelivery = scope.claim("op-b", "worker-d", Some("tx-1"), scope.now + LEASE + 2);
    assert!(matches!(
        claim(store, &redelivery).await,
        Claim::Acquired {
            outcome_unknown: true,
            ..
        }
    ));
    assert_eq!(
        store
            .commit(&scope.commit("op-b", "worker-d", Some(release_of("tx-1"))))
            .await,
        Ok(())
    );

    // An operation its caller retries holds it for its lease only.
    assert_eq!(claim(store, &third).await, FRESH);
    let fourth = scope.claim("op-d", "worker-e", Some("tx-1"), scope.now + 2 * LEASE + 3);
    assert_eq!(claim(store, &fourth).await, FRESH);
}

fn release_of(transaction_id: &str) -> PaymentWrite {
    PaymentWrite::Release {
        transaction_id: transaction_id.into(),
    }
}

/// After `release_unknown` the next claim takes over at once, told the outcome is unknown. A command's
/// payment stays held meanwhile (its money may have moved); an operation its caller retries frees it. A
/// wrong token cannot release.
pub async fn release_unknown_hands_over_at_once<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    scope.inserted(store, "tx-1").await;
    assert_eq!(
        claim(store, &scope.claim("op-1", "worker-a", Some("tx-1"), scope.now)).await,
        FRESH
    );
    assert_conflict(
        store.release_unknown(&scope.tenant, "op-1", "worker-x").await,
        "release with a wrong token",
    );
    assert_eq!(store.release_unknown(&scope.tenant, "op-1", "worker-a").await, Ok(()));

    let retry = scope.claim("op-1", "worker-b", Some("tx-1"), scope.now + 1);
    assert_eq!(
        claim(store, &retry).await,
        Claim::Acquired {
            attempts: 1,
            outcome_unknown: true
        }
    );
    assert_eq!(
        claim(store, &scope.claim("op-2", "worker-c", Some("tx-1"), scope.now + 1)).await,
        Claim::PaymentBusy
    );

    // Released again, the command still holds the payment: only it runs until its outcome is known.
    assert_eq!(store.release_unknown(&scope.tenant, "op-1", "worker-b").await, Ok(()));
    assert_eq!(
        claim(store, &scope.claim("op-2", "worker-c", Some("tx-1"), scope.now + 2)).await,
        Claim::PaymentBusy
    );
    let settled = scope.claim("op-1", "worker-d", Some("tx-1"), scope.now + 3);
    assert!(matches!(claim(store, &settled).await, Claim::Acquired { .. }));
    assert_eq!(
        store
            .commit(&scope.commit("op-1", "worker-d", Some(release_of("tx-1"))))
            .await,
        Ok(())
    );

    // An operation its caller retries frees the payment with its unknown outcome.
    let webhook = scope.claim_retried_by_caller("op-3", "worker-e", Some("tx-1"), scope.now + 4);
    assert_eq!(claim(store, &webhook).await, FRESH);
    assert_eq!(store.release_unknown(&scope.tenant, "op-3", "worker-e").await, Ok(()));
    assert_eq!(
        claim(store, &scope.claim("op-2", "worker-c", Some("tx-1"), scope.now + 5)).await,
        FRESH
    );
}

/// A commit by a worker that does not hold the lease changes nothing.
pub async fn commit_with_wrong_token_conflicts<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let payment = scope.inserted(store, "tx-1").await;
    let request = scope.claim("op-1", "worker-a", Some("tx-1"), scope.now);
    assert_eq!(claim(store, &request).await, FRESH);

    let next = moved(&payment);
    let write = PaymentWrite::Replace {
        payment: next,
        expected_version: payment.version,
    };
    assert_conflict(
        store.commit(&scope.commit("op-1", "worker-b", Some(write))).await,
        "commit with a wrong token",
    );
    assert_eq!(store.get_payment(&scope.tenant, "tx-1").await, Ok(Some(payment)));
    assert_eq!(existing(store, &request).await.state, OperationState::InProgress);
}

/// A commit replacing a payment that moved on since it was read changes nothing.
pub async fn commit_with_stale_version_conflicts<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let payment = scope.inserted(store, "tx-1").await;
    let request = scope.claim("op-1", "worker-a", Some("tx-1"), scope.now);
    assert_eq!(claim(store, &request).await, FRESH);

    let write = PaymentWrite::Replace {
        payment: moved(&payment),
        expected_version: payment.version + 1,
    };
    assert_conflict(
        store.commit(&scope.commit("op-1", "worker-a", Some(write))).await,
        "commit with a stale version",
    );
    assert_eq!(store.get_payment(&scope.tenant, "tx-1").await, Ok(Some(payment)));
    assert_eq!(existing(store, &request).await.state, OperationState::InProgress);
}

/// A commit replaces the payment, frees its lease, stores the refund and completes the record with
/// its outbox; a later claim of the same operation finds it completed.
pub async fn commit_replaces_payment_and_completes<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let payment = scope.inserted(store, "tx-1").await;
    let request = scope.claim("op-1", "worker-a", Some("tx-1"), scope.now);
    assert_eq!(claim(store, &request).await, FRESH);

    let next = moved(&payment);
    let refund = Refund {
        refund_id: "refund-1".into(),
        transaction_id: "tx-1".into(),
        psp_reference: Some("re_1".into()),
        status: RefundStatus::Pending,
        amount: 300,
        requested_amount: -300,
        order_item_ids: vec![1, 2],
        currency_iso_code: Some("EUR".into()),
    };
    let mut commit = scope.commit(
        "op-1",
        "worker-a",
        Some(PaymentWrite::Replace {
            payment: next.clone(),
            expected_version: payment.version,
        }),
    );
    commit.refund = Some(refund.clone());
    assert_eq!(store.commit(&commit).await, Ok(()));

    assert_eq!(store.get_payment(&scope.tenant, "tx-1").await, Ok(Some(next.clone())));
    let order = next.order_reference.clone().expect("order reference");
    assert_eq!(store.find_payment_by_order(&scope.tenant, &order).await, Ok(Some(next)));
    assert_eq!(
        store.get_refund(&scope.tenant, "tx-1", "refund-1").await,
        Ok(Some(refund))
    );
    assert_eq!(store.get_refund(&scope.tenant, "tx-1", "refund-2").await, Ok(None));

    let record = existing(store, &scope.claim("op-1", "worker-b", Some("tx-1"), scope.now + 1)).await;
    assert_eq!(record.state, OperationState::Completed);
    assert_eq!(record.events, commit.events);
    assert!(!record.published);
    assert_eq!(record.publish_lease_until, commit.publish_lease_until);
    assert_conflict(store.commit(&commit).await, "commit twice");

    // The lease is gone: another operation gets the payment before the old lease would have expired.
    assert_eq!(
        claim(store, &scope.claim("op-2", "worker-c", Some("tx-1"), scope.now + 1)).await,
        FRESH
    );
}

/// A commit that only releases the payment leaves it as it was, free for the next operation.
pub async fn commit_release_keeps_payment<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let payment = scope.inserted(store, "tx-1").await;
    assert_eq!(
        claim(store, &scope.claim("op-1", "worker-a", Some("tx-1"), scope.now)).await,
        FRESH
    );
    let release = PaymentWrite::Release {
        transaction_id: "tx-1".into(),
    };
    assert_eq!(
        store.commit(&scope.commit("op-1", "worker-a", Some(release))).await,
        Ok(())
    );
    assert_eq!(store.get_payment(&scope.tenant, "tx-1").await, Ok(Some(payment)));
    assert_eq!(
        claim(store, &scope.claim("op-2", "worker-b", Some("tx-1"), scope.now + 1)).await,
        FRESH
    );
}

/// A commit may create a payment (no lease: it did not exist) with its order alias, all or nothing: an
/// existing payment or an order that has one fails the commit and leaves the operation in progress.
pub async fn commit_inserts_payment_with_its_order<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let existing_payment = scope.inserted(store, "tx-1").await;
    assert_eq!(
        claim(store, &scope.claim("op-1", "worker-a", None, scope.now)).await,
        FRESH
    );

    let mut same_order = scope.payment("tx-2");
    same_order.order_reference = existing_payment.order_reference.clone();
    let insert = |p: &Payment| scope.commit("op-1", "worker-a", Some(PaymentWrite::Insert(p.clone())));
    assert_conflict(
        store.commit(&insert(&same_order)).await,
        "insert on an order that has a payment",
    );
    assert_conflict(
        store.commit(&insert(&existing_payment)).await,
        "insert of an existing payment",
    );
    assert_eq!(store.get_payment(&scope.tenant, "tx-2").await, Ok(None));

    let mut fresh = scope.payment("tx-3");
    fresh.order_item_ids = vec![7, 8];
    assert_eq!(store.commit(&insert(&fresh)).await, Ok(()));
    assert_eq!(store.get_payment(&scope.tenant, "tx-3").await, Ok(Some(fresh.clone())));
    let order = fresh.order_reference.clone().expect("order reference");
    assert_eq!(
        store.find_payment_by_order(&scope.tenant, &order).await,
        Ok(Some(fresh))
    );
    let record = existing(store, &scope.claim("op-1", "worker-b", None, scope.now + 1)).await;
    assert_eq!(record.state, OperationState::Completed);

    // Without an order reference (a headless payment) only the payment is created, free to lease.
    let mut headless = scope.payment("tx-4");
    headless.order_reference = None;
    assert_eq!(
        claim(store, &scope.claim("op-2", "worker-a", None, scope.now)).await,
        FRESH
    );
    let commit = scope.commit("op-2", "worker-a", Some(PaymentWrite::Insert(headless.clone())));
    assert_eq!(store.commit(&commit).await, Ok(()));
    assert_eq!(store.get_payment(&scope.tenant, "tx-4").await, Ok(Some(headless)));
    assert_eq!(
        claim(store, &scope.claim("op-3", "worker-a", Some("tx-4"), scope.now)).await,
        FRESH
    );
}

/// A headless payment learns its order: the payment and the new order alias are written together, and
/// an order that already has another payment fails the whole commit.
pub async fn commit_attaches_an_order<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let other = scope.inserted(store, "tx-other").await;
    let mut headless = scope.payment("tx-1");
    headless.order_reference = None;
    store.insert_payment(&headless).await.expect("insert headless payment");
    assert_eq!(
        claim(store, &scope.claim("op-1", "worker-a", Some("tx-1"), scope.now)).await,
        FRESH
    );
    let attach = |order: &str| {
        let mut next = moved(&headless);
        next.order_reference = Some(order.to_string());
        let write = PaymentWrite::AttachOrder {
            payment: next.clone(),
            expected_version: headless.version,
        };
        (next, scope.commit("op-1", "worker-a", Some(write)))
    };
    let taken = other.order_reference.clone().expect("order reference");
    assert_conflict(
        store.commit(&attach(&taken).1).await,
        "attach an order that has a payment",
    );
    assert_eq!(
        store.get_payment(&scope.tenant, "tx-1").await,
        Ok(Some(headless.clone()))
    );
    assert_eq!(
        store.find_payment_by_order(&scope.tenant, &taken).await,
        Ok(Some(other))
    );

    let (next, commit) = attach("order-new");
    assert_eq!(store.commit(&commit).await, Ok(()));
    assert_eq!(store.get_payment(&scope.tenant, "tx-1").await, Ok(Some(next.clone())));
    assert_eq!(
        store.find_payment_by_order(&scope.tenant, "order-new").await,
        Ok(Some(next))
    );
}

/// The publish lease goes to one worker at a time, is free again once expired, and never after the
/// outbox was marked published.
pub async fn publish_lease<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let tenant = scope.tenant.as_str();
    let request = scope.claim("op-1", "worker-a", None, scope.now);
    assert_eq!(claim(store, &request).await, FRESH);
    assert!(
        !store
            .take_publish_lease(tenant, "op-1", scope.now, scope.now + 60)
            .await
            .expect("lease"),
        "an operation in progress has no outbox to publish"
    );
    assert_eq!(store.commit(&scope.commit("op-1", "worker-a", None)).await, Ok(()));

    let after_committer = scope.now + LEASE + 1;
    assert!(
        !store
            .take_publish_lease(tenant, "op-1", scope.now + 1, scope.now + 60)
            .await
            .expect("lease"),
        "the committing worker holds the publish lease"
    );
    assert!(
        store
            .take_publish_lease(tenant, "op-1", after_committer, after_committer + 60)
            .await
            .expect("lease")
    );
    assert!(
        !store
            .take_publish_lease(tenant, "op-1", after_committer + 1, after_committer + 90)
            .await
            .expect("lease")
    );
    assert!(
        store
            .take_publish_lease(tenant, "op-1", after_committer + 61, after_committer + 120)
            .await
            .expect("lease")
    );

    assert_eq!(store.mark_published(tenant, "op-1").await, Ok(()));
    assert!(existing(store, &request).await.published);
    assert!(
        !store
            .take_publish_lease(tenant, "op-1", after_committer + 1000, after_committer + 1060)
            .await
            .expect("lease")
    );
}

/// A later commit replaces a refund record (the refund webhook settling a pending refund).
pub async fn commit_replaces_a_refund<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    scope.inserted(store, "tx-1").await;
    let mut refund = Refund {
        refund_id: "refund-1".into(),
        transaction_id: "tx-1".into(),
        psp_reference: None,
        status: RefundStatus::Pending,
        amount: 300,
        requested_amount: -300,
        order_item_ids: vec![1],
        currency_iso_code: None,
    };
    for (key, token) in [("op-1", "worker-a"), ("op-2", "worker-b")] {
        assert_eq!(
            claim(store, &scope.claim(key, token, Some("tx-1"), scope.now)).await,
            FRESH
        );
        let mut commit = scope.commit(
            key,
            token,
            Some(PaymentWrite::Release {
                transaction_id: "tx-1".into(),
            }),
        );
        commit.refund = Some(refund.clone());
        assert_eq!(store.commit(&commit).await, Ok(()));
        assert_eq!(
            store.get_refund(&scope.tenant, "tx-1", "refund-1").await,
            Ok(Some(refund.clone()))
        );
        refund.status = RefundStatus::Succeeded;
        refund.psp_reference = Some("re_1".into());
    }
}

/// Inbox entries are kept per tenant and payment, listed oldest event first, replaced by the same
/// event id, and deleted one by one (deleting twice is fine).
pub async fn inbox_keeps_events_per_payment_in_order<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let entry = |tx: &str, event_id: &str, created: i64| InboxEntry {
        tenant: scope.tenant.clone(),
        event: WebhookEvent {
            event_id: event_id.to_string(),
            created,
            transaction_id: tx.to_string(),
            psp_reference: format!("pi_{tx}"),
            tenant: Some(scope.tenant.clone()),
            change: WebhookChange::Payment {
                status: PaymentStatus::Authorized,
                amount_captured: 0,
                decline: None,
            },
        },
        attempts: 0,
        given_up: false,
        retry_at: scope.now,
        expires_at: scope.now + 86_400,
    };
    let late = entry("tx#1", "evt_b", scope.now + 5);
    let early = InboxEntry {
        event: WebhookEvent {
            change: WebhookChange::Refund {
                refund_id: "refund#1".into(),
                failure_reason: None,
                psp_refund_id: "re_1".into(),
                status: RefundStatus::Succeeded,
            },
            ..entry("tx#1", "evt_c", scope.now).event
        },
        ..entry("tx#1", "evt_c", scope.now)
    };
    let other_payment = entry("tx", "evt_a", scope.now);
    for e in [&late, &early, &other_payment] {
        assert_eq!(store.put_inbox(e).await, Ok(()));
    }
    assert_eq!(
        store.inbox(&scope.tenant, "tx#1").await,
        Ok(vec![early.clone(), late.clone()])
    );
    assert_eq!(store.inbox("other-tenant", "tx#1").await, Ok(vec![]));

    let retried = InboxEntry {
        attempts: 3,
        given_up: false,
        ..late.clone()
    };
    assert_eq!(store.put_inbox(&retried).await, Ok(()));
    assert_eq!(store.delete_inbox(&scope.tenant, "tx#1", "evt_c").await, Ok(()));
    assert_eq!(store.delete_inbox(&scope.tenant, "tx#1", "evt_c").await, Ok(()));
    assert_eq!(store.inbox(&scope.tenant, "tx#1").await, Ok(vec![retried]));
    assert_eq!(store.inbox(&scope.tenant, "tx").await, Ok(vec![other_payment]));
}

/// The reconciler's queries of the "needs attention" index: inbox entries whose retry came (not those
/// given up, not those due later), and authorized payments whose expiry warning is due until it is
/// recorded.
pub async fn reconciler_finds_what_is_due<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    let mut authorized = scope.payment("tx-authorized");
    authorized.status = PaymentStatus::Authorized;
    authorized.history.push(StatusChange {
        status: PaymentStatus::Authorized,
        at: "2020-01-01 00:00:00".into(),
    });
    store
        .insert_payment(&authorized)
        .await
        .expect("insert authorized payment");
    scope.inserted(store, "tx-new").await;
    let due = authorized.expiry_warning_due().expect("an uncaptured authorization");
    let ours = |payments: Vec<Payment>| -> Vec<String> {
        payments
            .into_iter()
            .filter(|p| p.tenant == scope.tenant)
            .map(|p| p.transaction_id)
            .collect()
    };
    assert_eq!(store.due_expiry_warnings(due - 1, 1000).await.map(ours), Ok(vec![]));
    assert_eq!(
        store.due_expiry_warnings(due, 1000).await.map(ours),
        Ok(vec!["tx-authorized".to_string()])
    );
    let request = scope.claim("warn", "worker-a", Some("tx-authorized"), scope.now);
    assert_eq!(claim(store, &request).await, FRESH);
    let write = PaymentWrite::Replace {
        payment: authorized.expiry_announced(),
        expected_version: authorized.version,
    };
    assert_eq!(
        store.commit(&scope.commit("warn", "worker-a", Some(write))).await,
        Ok(())
    );
    assert_eq!(store.due_expiry_warnings(due, 1000).await.map(ours), Ok(vec![]));

    let entry = |event_id: &str, retry_at: i64, given_up: bool| InboxEntry {
        tenant: scope.tenant.clone(),
        event: WebhookEvent {
            event_id: event_id.to_string(),
            created: scope.now,
            transaction_id: "tx-later".into(),
            psp_reference: "pi_later".into(),
            tenant: None,
            change: WebhookChange::Refunded { amount_refunded: 100 },
        },
        attempts: 0,
        given_up,
        retry_at,
        expires_at: scope.now + 86_400,
    };
    for e in [
        entry("evt_due", scope.now, false),
        entry("evt_later", scope.now + 60, false),
        entry("evt_given_up", scope.now - 60, true),
    ] {
        assert_eq!(store.put_inbox(&e).await, Ok(()));
    }
    let due_events = |entries: Vec<InboxEntry>| -> Vec<String> {
        entries
            .into_iter()
            .filter(|e| e.tenant == scope.tenant)
            .map(|e| e.event.event_id)
            .collect()
    };
    assert_eq!(
        store.due_inbox(scope.now, 1000).await.map(due_events),
        Ok(vec!["evt_due".to_string()])
    );
    assert_eq!(
        store.due_inbox(scope.now + 60, 1000).await.map(due_events),
        Ok(vec!["evt_due".to_string(), "evt_later".to_string()])
    );
}

/// The payment after a change: captured, one version on.
fn moved(payment: &Payment) -> Payment {
    payment
        .captured(payment.amount.minor, "2026-01-01 00:01:00")
        .expect("a new payment may be captured")
        .expect("the status changes")
}

/// Runs the checks of the tenant records and the open-payment question.
pub async fn run_tenant_checks<S: PaymentStore + TenantStore>(store: &S) {
    open_payments_follow_their_status(store).await;
    tenant_records_are_written_conditionally(store).await;
}

/// A payment counts as open from its insert until a commit moves it to captured (or canceled) with no
/// refund pending, and an operation while its PSP outcome is unknown; other tenants' never count.
pub async fn open_payments_follow_their_status<S: PaymentStore>(store: &S) {
    let scope = Scope::new();
    assert_eq!(store.has_open_payments(&scope.tenant).await, Ok(false));
    let payment = scope.inserted(store, "tx-1").await;
    assert_eq!(store.has_open_payments(&scope.tenant).await, Ok(true));
    assert_eq!(store.has_open_payments(&Scope::new().tenant).await, Ok(false));

    let request = scope.claim("op-1", "worker-a", Some("tx-1"), scope.now);
    assert_eq!(claim(store, &request).await, FRESH);
    let authorized = payment
        .moved_to(PaymentStatus::Authorized, "2026-01-01 00:00:01")
        .expect("new -> authorized")
        .expect("a change");
    let commit = scope.commit(
        "op-1",
        "worker-a",
        Some(PaymentWrite::Replace {
            payment: authorized.clone(),
            expected_version: payment.version,
        }),
    );
    assert_eq!(store.commit(&commit).await, Ok(()));
    assert_eq!(
        store.has_open_payments(&scope.tenant).await,
        Ok(true),
        "authorized is open"
    );

    let request = scope.claim("op-2", "worker-a", Some("tx-1"), scope.now);
    assert_eq!(claim(store, &request).await, FRESH);
    let captured = authorized
        .captured(1000, "2026-01-01 00:00:02")
        .expect("authorized -> captured")
        .expect("a change");
    let refunding = Payment {
        refunding: 300,
        ..captured.clone()
    };
    let commit = scope.commit(
        "op-2",
        "worker-a",
        Some(PaymentWrite::Replace {
            payment: refunding.clone(),
            expected_version: authorized.version,
        }),
    );
    assert_eq!(store.commit(&commit).await, Ok(()));
    assert_eq!(
        store.has_open_payments(&scope.tenant).await,
        Ok(true),
        "captured with a refund pending is open"
    );

    // An operation whose PSP outcome is unknown is open until it is settled.
    let request = scope.claim("op-3", "worker-a", Some("tx-1"), scope.now);
    assert_eq!(claim(store, &request).await, FRESH);
    assert_eq!(store.release_unknown(&scope.tenant, "op-3", "worker-a").await, Ok(()));
    let settled = Payment {
        refunding: 0,
        ..refunding.clone()
    };
    let retry = scope.claim("op-3", "worker-b", Some("tx-1"), scope.now + 1);
    assert!(matches!(claim(store, &retry).await, Claim::Acquired { .. }));
    assert_eq!(
        store.has_open_payments(&scope.tenant).await,
        Ok(true),
        "an unknown outcome is open"
    );
    let commit = scope.commit(
        "op-3",
        "worker-b",
        Some(PaymentWrite::Replace {
            payment: settled,
            expected_version: refunding.version,
        }),
    );
    assert_eq!(store.commit(&commit).await, Ok(()));
    assert_eq!(
        store.has_open_payments(&scope.tenant).await,
        Ok(false),
        "captured and settled is closed"
    );
}

/// Tenant records: created once, replaced only at the version read, outbox cleared only at its version.
pub async fn tenant_records_are_written_conditionally<S: TenantStore>(store: &S) {
    let scope = Scope::new();
    assert_eq!(store.get_tenant(&scope.tenant).await, Ok(None));
    let mut record = TenantRecord {
        tenant: scope.tenant.clone(),
        status: crate::acp::AppConfigStatus::New,
        is_active: true,
        settings: serde_json::json!({"paymentMethods": ["Credit Card"], "mode": "test", "ratio": 0.5, "none": null})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        announced_methods: vec![crate::domain::tenant::payment_method(
            "Credit Card",
            "https://app.example.com",
        )],
        secrets: Some(crate::ports::tenant::SecretRef {
            name: "app/tenants/x/stripe".into(),
            version: "v1".into(),
        }),
        secret_counts: SecretCounts {
            stripe_secret_key: 1,
            webhook_signing_secrets: 2,
        },
        version: 1,
        outbox: vec![scope.event("configure-1")],
        token_subject: Some("client-1@clients".into()),
    };
    assert_eq!(store.put_tenant(&record, None).await, Ok(()));
    assert_eq!(store.get_tenant(&scope.tenant).await, Ok(Some(record.clone())));
    assert_conflict(store.put_tenant(&record, None).await, "create twice");

    let first = record.clone();
    record.version = 2;
    record.status = crate::acp::AppConfigStatus::Disconnected;
    record.outbox = vec![scope.event("disconnect-1")];
    assert_conflict(store.put_tenant(&record, Some(0)).await, "stale version");
    assert_eq!(store.put_tenant(&record, Some(1)).await, Ok(()));
    assert_conflict(store.put_tenant(&first, Some(1)).await, "lost update");

    assert_eq!(store.clear_tenant_outbox(&scope.tenant, 1).await, Ok(()));
    assert_eq!(
        store.get_tenant(&scope.tenant).await,
        Ok(Some(record.clone())),
        "other version untouched"
    );
    assert_eq!(store.clear_tenant_outbox(&scope.tenant, 2).await, Ok(()));
    record.outbox.clear();
    assert_eq!(store.get_tenant(&scope.tenant).await, Ok(Some(record)));
}
