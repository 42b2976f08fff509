//! The payment store: payments, refunds and operation records (idempotency plus outbox).
//!
//! An *operation* is one command (or, later, one webhook event) identified by a deterministic key. Its
//! record follows the Powertools idempotency protocol (IN_PROGRESS with a lease → COMPLETED) and, once
//! completed, holds the events the operation produced: the outbox. The state change, the completed
//! record and its events are written in one transaction; publishing happens after the commit.
//!
//! While an operation is in progress it also holds a lease on its payment, so two different commands
//! on one payment can never both move money.
//!
//! The store also keeps the webhook *inbox*: verified PSP events for payments that are not known yet
//! (or have no order yet), keyed by tenant, transaction id and PSP event id.

use super::webhook::InboxEntry;
use crate::acp::BusEvent;
use crate::domain::{Payment, Refund, TenantId};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// Where an operation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationState {
    /// Claimed by a worker holding the lease until `lease_until`.
    InProgress,
    /// Done; `events` is its outbox.
    Completed,
}

/// What an operation record needs from the reconciler, when it needs anything (its "needs attention"
/// index: this kind and a due time; a settled record is not in the index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Attention {
    /// Claimed and not completed: if it is still so when due, its worker died or its PSP outcome stayed
    /// unknown, and the reconciler runs it again.
    InProgress,
    /// Completed, its outbox not published: if it is still so when due, the reconciler publishes it.
    Outbox,
}

/// The idempotency and outbox record of one operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationRecord {
    /// The tenant.
    pub tenant: TenantId,
    /// The operation's deterministic key.
    pub key: String,
    /// Hash of the parts of the payload not in the key (amount, currency): same key, other payload is refused.
    pub fingerprint: String,
    /// Life-cycle state.
    pub state: OperationState,
    /// Random token of the worker holding the lease.
    pub lease_token: String,
    /// Unix seconds until which the lease holds.
    pub lease_until: i64,
    /// How many times the operation was claimed before.
    pub attempts: u32,
    /// A previous attempt ended with an unknown PSP outcome: re-read the PSP before acting.
    pub outcome_unknown: bool,
    /// The transaction id of the payment the operation works on, if any.
    pub payment: Option<String>,
    /// The events produced (the outbox), set on completion.
    pub events: Vec<BusEvent>,
    /// Whether the outbox has been published.
    pub published: bool,
    /// Whether the operation was answered with a failure: a repeat of a command identified by its content
    /// is then a new attempt (decision §9.15).
    #[serde(default)]
    pub failed: bool,
    /// What runs the operation again (a command's message, see `InboundMessage::to_record`), when its
    /// caller cannot be relied on to retry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What the reconciler must do about it, while anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<Attention>,
    /// Unix seconds from which the reconciler acts on `attention`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_due: Option<i64>,
    /// Unix seconds until which one worker is publishing the outbox.
    pub publish_lease_until: i64,
    /// Unix seconds after which the record may be deleted (DynamoDB TTL).
    pub expires_at: i64,
}

/// A request to claim an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The tenant.
    pub tenant: TenantId,
    /// The operation's key.
    pub key: String,
    /// Payload fingerprint.
    pub fingerprint: String,
    /// This worker's random token.
    pub token: String,
    /// The payment to lease, if the operation works on one.
    pub payment: Option<String>,
    /// Unix seconds now.
    pub now: i64,
    /// Unix seconds until which the lease holds (about the function timeout).
    pub lease_until: i64,
    /// Unix seconds for the record's TTL.
    pub expires_at: i64,
    /// Unix seconds from which the reconciler takes the operation over if it is still in progress.
    pub attention_due: i64,
    /// What runs the operation again (see [`OperationRecord::request`]).
    pub request: Option<String>,
}

impl ClaimRequest {
    /// Unix seconds until which the claim holds its payment. An operation the reconciler can run again (a
    /// command) holds it until it completes, at most as long as its record lives: while its worker is dead
    /// or its PSP outcome unknown, money may be moving, and another operation planning from the stored
    /// payment could move it again (a second refund of the same items). Any other operation holds it for
    /// its lease, as its caller retries it.
    pub fn payment_lease_until(&self) -> i64 {
        match self.request {
            Some(_) => self.expires_at,
            None => self.lease_until,
        }
    }
}

/// The result of a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per claim; boxing the record would buy nothing"
)]
pub enum Claim {
    /// This worker holds the operation (and the payment's lease).
    Acquired {
        /// Claims before this one (0 on first delivery).
        attempts: u32,
        /// A previous attempt ended with an unknown PSP outcome.
        outcome_unknown: bool,
    },
    /// The operation exists and is completed or leased by another worker.
    Existing(OperationRecord),
    /// Another operation holds the payment's lease: try again later.
    PaymentBusy,
}

/// How a commit changes the payment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per operation; boxing the payment would buy nothing"
)]
pub enum PaymentWrite {
    /// Replace the payment if it is still at `expected_version`; releases the lease.
    Replace {
        /// The new state.
        payment: Payment,
        /// The version read before.
        expected_version: u64,
    },
    /// The payment did not change; only release the lease.
    Release {
        /// The payment's transaction id.
        transaction_id: String,
    },
    /// Create the payment and the alias of its order (when it has one); `Conflict` if either exists.
    /// The operation leases no payment: nothing exists to lease yet.
    Insert(Payment),
    /// Like [`PaymentWrite::Replace`], and create the alias of `payment`'s order reference, which the stored
    /// payment did not have; `Conflict` when the order already points to another payment.
    AttachOrder {
        /// The new state, with its order reference set.
        payment: Payment,
        /// The version read before.
        expected_version: u64,
    },
}

/// Completes an operation atomically: the payment change, the refund record and the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The tenant.
    pub tenant: TenantId,
    /// The operation's key.
    pub key: String,
    /// The token the lease was claimed with; the commit fails if the lease was lost.
    pub token: String,
    /// The payment change, if the operation works on a payment.
    pub payment: Option<PaymentWrite>,
    /// A refund record to put (new) or replace.
    pub refund: Option<Refund>,
    /// The outbox.
    pub events: Vec<BusEvent>,
    /// Whether the answer is a failure (see [`OperationRecord::failed`]).
    pub failed: bool,
    /// An earlier operation whose answer this commit gives as a failure (a refund the PSP accepted, then
    /// failed): its record is marked failed too, so a repeat of that command is a new attempt. The record
    /// must exist, or the commit conflicts.
    pub fails: Option<String>,
    /// Unix seconds until which the committing worker publishes the outbox.
    pub publish_lease_until: i64,
}

/// A store failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A condition failed: the lease was lost, the version moved or the item exists. Retry later.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend failed (throttling, network). Retry later.
    #[error("store unavailable: {0}")]
    Backend(String),
}

/// Payments, refunds and operation records.
pub trait PaymentStore: Send + Sync {
    /// Inserts a new payment (and the aliases of its order and PSP payment). `Conflict` if it exists.
    fn insert_payment(&self, payment: &Payment) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads a payment by its transaction id (strongly consistent).
    fn get_payment(
        &self,
        tenant: &str,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;

    /// Reads the payment of an order (strongly consistent).
    fn find_payment_by_order(
        &self,
        tenant: &str,
        order_reference: &str,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;

    /// Reads the payment whose PSP payment, or PSP customer made for it, is `psp_reference` (for PSP
    /// events whose object names only that: disputes, charges, a bank transfer customer's balance).
    fn find_payment_by_psp_reference(
        &self,
        tenant: &str,
        psp_reference: &str,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;

    /// Reads a refund record.
    fn get_refund(
        &self,
        tenant: &str,
        transaction_id: &str,
        refund_id: &str,
    ) -> impl Future<Output = Result<Option<Refund>, StoreError>> + Send;

    /// Reads an operation record.
    fn get_operation(
        &self,
        tenant: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<OperationRecord>, StoreError>> + Send;

    /// The key of the operation holding `transaction_id`'s lease, if one does (expired or not).
    fn payment_holder(
        &self,
        tenant: &str,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Claims an operation: creates it IN_PROGRESS (or takes over an expired lease of the same payload
    /// fingerprint, whose outcome is then unknown: the dead worker may have reached the PSP) and leases
    /// its payment. A record of another fingerprint is returned as it stands.
    fn claim(&self, request: &ClaimRequest) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Gives up a claim after an unknown PSP outcome: marks it and frees it for the retry. The payment stays
    /// held by an operation the reconciler can run again (see [`ClaimRequest::payment_lease_until`]) and is
    /// freed for any other.
    fn release_unknown(
        &self,
        tenant: &str,
        key: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Completes an operation atomically (see [`Commit`]).
    fn commit(&self, commit: &Commit) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the right to publish a completed operation's outbox; false if another worker holds it.
    fn take_publish_lease(
        &self,
        tenant: &str,
        key: &str,
        now: i64,
        until: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Operation records whose `attention` is `kind` and due at `now`, oldest due first, at most `limit`
    /// (a query of the "needs attention" index, never a scan).
    fn due_operations(
        &self,
        kind: Attention,
        now: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OperationRecord>, StoreError>> + Send;

    /// Takes an operation out of the "needs attention" index (nothing is left to do about it) and frees its
    /// payment if it still holds it: nobody runs it again.
    fn clear_attention(&self, tenant: &str, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Marks a completed operation's outbox as published (and settled: out of the attention index).
    fn mark_published(&self, tenant: &str, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether `tenant` has open business: a payment neither captured nor canceled, a refund pending at
    /// the PSP, an operation whose PSP outcome is unknown, or a transfer to a merchant whose outcome is
    /// unknown (strongly consistent: exact as of the last write).
    fn has_open_payments(&self, tenant: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Payments whose authorization ends within a day and whose operators were not warned yet
    /// ([`Payment::expiry_warning_due`] at `now`), at most `limit` (a query of the same index).
    fn due_expiry_warnings(
        &self,
        now: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Payment>, StoreError>> + Send;

    /// Inbox entries, not given up, whose `retry_at` has come, oldest first, at most `limit` (a query of
    /// the same index).
    fn due_inbox(&self, now: i64, limit: usize) -> impl Future<Output = Result<Vec<InboxEntry>, StoreError>> + Send;

    /// Puts an inbox entry, replacing the one with the same tenant, transaction id and event id.
    fn put_inbox(&self, entry: &InboxEntry) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The inbox entries of a payment, oldest PSP event first (by `created`, then event id).
    fn inbox(
        &self,
        tenant: &str,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Vec<InboxEntry>, StoreError>> + Send;

    /// Deletes an inbox entry; deleting a missing one is not an error.
    fn delete_inbox(
        &self,
        tenant: &str,
        transaction_id: &str,
        event_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
