//! The life of one operation (a command now; a PSP webhook event later), the same for every kind:
//!
//! 1. **claim** its record (idempotency, Powertools semantics) and lease its payment, so a redelivery, or
//!    another operation on the same payment, cannot move money concurrently. An operation identified by
//!    its content whose last attempt was answered with a failure starts a new attempt, keyed of its own;
//! 2. **decide** (the caller's part: the domain, and the PSP where money moves). An unknown PSP outcome
//!    releases the claim, marked so that the retry re-reads the PSP first;
//! 3. **commit** the payment change, the refund record and the resulting events (the outbox) in one
//!    transaction;
//! 4. **publish** the outbox, then mark it published. A crash in between is repaired by the next delivery.

use super::operation::OperationId;
use super::settings::Settings;
use crate::acp::event::event_id;
use crate::acp::{BusEvent, FundingPayload, OutgoingMessage, PaymentDetailsPayload, PaymentPayload};
use crate::domain::{FundingState, Payment, PaymentStatus, Refund};
use crate::ports::{
    Claim, ClaimRequest, Clock, Commit, EventPublisher, OperationRecord, OperationState, PaymentStore, PaymentWrite,
    PublishError, StoreError,
};
use serde_json::json;
use std::future::Future;
use time::macros::format_description;

/// An operation that could not be finished now. Every variant is retryable: an SQS record is reported as
/// a batch item failure and delivered again after its visibility timeout.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// Another delivery of the same operation holds it, or is publishing its outcome.
    #[error("the same operation is being processed by another delivery")]
    InProgress,
    /// Another operation holds the payment's lease.
    #[error("another operation is in progress on this payment")]
    PaymentBusy,
    /// The PSP's answer is unknown (timeout, 5xx, 429): retried with the same idempotency key.
    #[error("PSP outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// The store failed or a condition failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Events could not be published; they stay in the outbox.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// What running an operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationReport {
    /// Processed now; these messages were published.
    Completed(Vec<String>),
    /// Processed and published before: nothing to do.
    Duplicate,
    /// Processed before; its outbox was published now.
    Republished(Vec<String>),
}

impl OperationReport {
    /// The report as a metric's outcome: the last message the operation answered with, or
    /// `duplicate`, `republished`, `applied` (a change that sent no message).
    pub fn outcome(&self) -> &str {
        match self {
            OperationReport::Completed(messages) => messages.last().map_or("applied", String::as_str),
            OperationReport::Duplicate => "duplicate",
            OperationReport::Republished(_) => "republished",
        }
    }
}

/// What an operation leads to, before it is committed.
pub struct Outcome {
    /// The messages to send, in order.
    pub messages: Vec<OutgoingMessage>,
    /// The payment change (or the release of its lease).
    pub payment: Option<PaymentWrite>,
    /// A refund record to store.
    pub refund: Option<Refund>,
    /// Whether the answer is a failure: a repeat of the operation is then a new attempt.
    pub failed: bool,
    /// An earlier operation this outcome answers with a failure (see [`Commit::fails`]).
    pub fails: Option<String>,
}

/// One attempt of an operation, as its `decide` sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The attempt's identity: its record key and PSP idempotency key.
    pub id: OperationId,
    /// An earlier try of this attempt ended with an unknown PSP outcome: read the PSP before acting.
    pub retrying_unknown: bool,
}

/// Attempts of one operation before the runner gives up (the record stays for an operator).
const MAX_ATTEMPTS: u32 = 100;

/// The status-history timestamp (`YYYY-MM-DD HH:MM:SS` UTC) for a change happening now.
pub fn history_time<C: Clock>(clock: &C) -> String {
    formatted(clock.now())
}

/// `at` as `YYYY-MM-DD HH:MM:SS` UTC.
fn formatted(at: time::OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).unwrap_or_default()
}

/// The PaymentCreated / PaymentUpdated payload of `p`, which just moved `from` another status (if it did).
///
/// `details` is one flat JSON object, as Spryker's app-payment sends it (the shop shows one level): an
/// `External status "<status>"` key per status the payment went through, with its time, and on a change
/// of status `sourceStatus` and `targetStatus`. Beside them the app's own, each a single value: the
/// status, the PSP id and amounts; and when they apply the decline's reason, a failed refund, the PSP's
/// own cancel, the authorization's end, refunds made outside the app, a bank transfer's funding
/// (`fundingState`, `fundingRequestedAmount`, `fundingPaidAmount`) and each dispute (`Dispute "<id>"`:
/// `<status>: <amount> (<reason>)`).
fn payment_details(p: &Payment, from: Option<PaymentStatus>) -> PaymentDetailsPayload {
    let mut details = serde_json::Map::new();
    let mut put = |key: String, value: serde_json::Value| {
        details.insert(key, value);
    };
    for change in &p.history {
        put(
            format!("External status \"{}\"", change.status.as_str()),
            json!(change.at),
        );
    }
    if let Some(from) = from.filter(|from| *from != p.status) {
        put("sourceStatus".into(), json!(from.as_str()));
        put("targetStatus".into(), json!(p.status.as_str()));
    }
    put("status".into(), json!(p.status.as_str()));
    put("pspReference".into(), json!(p.psp_reference));
    put("amount".into(), json!(p.amount.minor));
    put("currencyIsoCode".into(), json!(p.amount.currency.code()));
    put("capturedAmount".into(), json!(p.captured));
    put("refundedAmount".into(), json!(p.refunded));
    put("pendingRefundAmount".into(), json!(p.refunding));
    if let Some(reason) = p.decline.as_deref().filter(|_| p.status == PaymentStatus::New) {
        put("declineReason".into(), json!(reason));
    }
    if let Some(failure) = &p.refund_failure {
        put("refundFailedAfterSuccess".into(), json!(failure));
    }
    if let Some(why) = &p.psp_canceled {
        put("canceledAtPsp".into(), json!(why));
    }
    let expiring = p.authorization_expires_at().filter(|_| p.expiry_warned);
    if let Some(end) = expiring.and_then(|end| time::OffsetDateTime::from_unix_timestamp(end).ok()) {
        put("authorizationExpiresAt".into(), json!(formatted(end)));
    }
    if p.external_refunded() > 0 {
        put("externalRefundedAmount".into(), json!(p.external_refunded()));
    }
    if let Some(state) = p.funding_state() {
        let (requested, paid) = state.amounts();
        put("fundingState".into(), json!(state.as_str()));
        put("fundingRequestedAmount".into(), json!(requested));
        put("fundingPaidAmount".into(), json!(paid));
    }
    for dispute in &p.disputes {
        put(
            format!("Dispute \"{}\"", dispute.id),
            json!(format!(
                "{}: {} ({})",
                dispute.status.as_str(),
                dispute.amount,
                dispute.reason
            )),
        );
    }
    PaymentDetailsPayload {
        entity_reference: p.order_reference.clone(),
        payment_reference: p.transaction_id.clone(),
        details: Some(serde_json::Value::Object(details).to_string()),
    }
}

/// PaymentUpdated for a changed payment, which moved `from` another status if it did.
pub fn payment_updated(p: &Payment, from: Option<PaymentStatus>) -> OutgoingMessage {
    OutgoingMessage::PaymentUpdated(payment_details(p, from))
}

/// PaymentCreated for a new payment.
pub fn payment_created(p: &Payment) -> OutgoingMessage {
    OutgoingMessage::PaymentCreated(payment_details(p, None))
}

/// PaymentUnderpaid or PaymentOverpaid for a payment of `order_reference` paid with another amount than
/// asked (decision §9.11); `None` when it was not.
pub fn funding_message(p: &Payment, order_reference: &str) -> Option<OutgoingMessage> {
    let state = p.funding_state()?;
    let (requested, paid) = state.amounts();
    let payload = FundingPayload {
        payment: PaymentPayload {
            order_reference: order_reference.to_string(),
            order_item_ids: p.order_item_ids.clone(),
            amount: Some(requested),
            currency_iso_code: Some(p.amount.currency.code().to_string()),
        },
        context: Some(serde_json::json!({"requestedAmount": requested, "paidAmount": paid}).to_string()),
    };
    Some(match state {
        FundingState::Underpaid { .. } => OutgoingMessage::PaymentUnderpaid(payload),
        FundingState::Overpaid { .. } => OutgoingMessage::PaymentOverpaid(payload),
    })
}

/// The message that tells the tenant a payment entered `status`, if that status has one.
pub fn status_message(status: PaymentStatus, payload: PaymentPayload) -> Option<OutgoingMessage> {
    match status {
        PaymentStatus::Authorized => Some(OutgoingMessage::PaymentAuthorized(payload)),
        PaymentStatus::AuthorizationFailed => Some(OutgoingMessage::PaymentAuthorizationFailed(payload)),
        PaymentStatus::Captured => Some(OutgoingMessage::PaymentCaptured(payload)),
        PaymentStatus::CaptureFailed => Some(OutgoingMessage::PaymentCaptureFailed(payload)),
        PaymentStatus::Canceled => Some(OutgoingMessage::PaymentCanceled(payload)),
        PaymentStatus::CancellationFailed => Some(OutgoingMessage::PaymentCancellationFailed(payload)),
        PaymentStatus::New | PaymentStatus::CaptureRequested => None,
    }
}

impl Outcome {
    /// The payment moved from `before` to `after` (or stayed, when `None`); `messages` follow PaymentUpdated.
    pub fn changed(before: &Payment, after: Option<Payment>, messages: Vec<OutgoingMessage>) -> Self {
        let (messages, payment) = match after {
            Some(next) => {
                // PaymentUpdated requires `entityReference` (§3.2): a payment without an order (a pre-order
                // payment not confirmed yet) is not announced as updated.
                let mut all: Vec<OutgoingMessage> = next
                    .order_reference
                    .is_some()
                    .then(|| payment_updated(&next, Some(before.status)))
                    .into_iter()
                    .collect();
                all.extend(messages);
                (
                    all,
                    PaymentWrite::Replace {
                        payment: next,
                        expected_version: before.version,
                    },
                )
            }
            None => (
                messages,
                PaymentWrite::Release {
                    transaction_id: before.transaction_id.clone(),
                },
            ),
        };
        Outcome {
            messages,
            payment: Some(payment),
            refund: None,
            failed: false,
            fails: None,
        }
    }

    /// Nothing changes and nothing is said (the payment's lease, if any, is released by the commit).
    pub fn nothing() -> Self {
        Outcome {
            messages: Vec::new(),
            payment: None,
            refund: None,
            failed: false,
            fails: None,
        }
    }

    /// This outcome, marked as a failure answer.
    pub fn as_failure(self) -> Self {
        Outcome { failed: true, ..self }
    }
}

/// One operation to run.
pub struct Operation<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// Its identity.
    pub id: &'a OperationId,
    /// The chain's correlation id, if the trigger carried one.
    pub correlation_id: Option<&'a str>,
    /// The transaction id of the payment to lease, when it is known.
    pub payment: Option<String>,
    /// The answer when the same key arrives with another payload (refused without deciding).
    pub refused: Vec<OutgoingMessage>,
    /// What runs the operation again, for the reconciler (a command's message); `None` when its caller
    /// retries it (Stripe retries a webhook, a shop its sync call).
    pub request: Option<String>,
}

/// Runs operations on the store, the bus and the clock of a service.
pub struct Runner<'a, S, P, C> {
    /// Payments, refunds and operation records.
    pub store: &'a S,
    /// The event bus.
    pub publisher: &'a P,
    /// The clock.
    pub clock: &'a C,
    /// Tunables.
    pub settings: &'a Settings,
}

impl<S: PaymentStore, P: EventPublisher, C: Clock> Runner<'_, S, P, C> {
    /// Runs `op`. `decide` gets the payment (read under the lease) and the attempt (its identity, and
    /// whether an earlier try ended with an unknown PSP outcome); it returns the outcome, or the reason the
    /// PSP's outcome is unknown.
    pub async fn run<D, Fut>(&self, op: Operation<'_>, decide: D) -> Result<OperationReport, OperationError>
    where
        D: FnOnce(Option<Payment>, Attempt) -> Fut,
        Fut: Future<Output = Result<Outcome, String>>,
    {
        let mut n = 1;
        loop {
            let id = op.id.attempt(n);
            let now = self.clock.epoch_seconds();
            let token = uuid::Uuid::new_v4().to_string();
            let claim = ClaimRequest {
                tenant: op.tenant.to_string(),
                key: id.key.clone(),
                fingerprint: id.fingerprint.clone(),
                token: token.clone(),
                payment: op.payment.clone(),
                now,
                lease_until: now + self.settings.lease_seconds,
                expires_at: now + self.settings.record_ttl_seconds,
                attention_due: now + self.settings.settle_after_seconds,
                request: op.request.clone(),
            };
            match self.store.claim(&claim).await? {
                Claim::Acquired {
                    outcome_unknown,
                    attempts,
                } => {
                    tracing::info!(key = %id.key, attempt = n, tries = attempts, outcome_unknown, "operation claimed");
                    let attempt = Attempt {
                        id,
                        retrying_unknown: outcome_unknown,
                    };
                    return self.complete(&op, attempt, token, decide).await;
                }
                // Answered with a failure and told: a repeat is a new attempt.
                Claim::Existing(record)
                    if op.id.retry_after_failure
                        && record.state == OperationState::Completed
                        && record.published
                        && record.failed =>
                {
                    n += 1;
                    if n > MAX_ATTEMPTS {
                        tracing::error!(key = %op.id.key, "too many attempts of one operation");
                        return Err(StoreError::Conflict(format!("{MAX_ATTEMPTS} attempts failed")).into());
                    }
                }
                Claim::Existing(record) => return self.on_existing(&op, &id, record).await,
                Claim::PaymentBusy => return Err(OperationError::PaymentBusy),
            }
        }
    }

    /// Decides, commits and publishes a claimed attempt.
    async fn complete<D, Fut>(
        &self,
        op: &Operation<'_>,
        attempt: Attempt,
        token: String,
        decide: D,
    ) -> Result<OperationReport, OperationError>
    where
        D: FnOnce(Option<Payment>, Attempt) -> Fut,
        Fut: Future<Output = Result<Outcome, String>>,
    {
        let id = attempt.id.clone();
        // The lease is ours now: read the payment again, an earlier read may predate another commit.
        let payment = match &op.payment {
            Some(tx) => self.store.get_payment(op.tenant, tx).await?,
            None => None,
        };
        let outcome = match decide(payment, attempt).await {
            Ok(outcome) => outcome,
            Err(reason) => {
                tracing::warn!(key = %id.key, %reason, "PSP outcome unknown; the operation will be retried");
                self.store.release_unknown(op.tenant, &id.key, &token).await?;
                return Err(OperationError::OutcomeUnknown(reason));
            }
        };
        let events = self.render(op, &id, &outcome.messages);
        let commit = Commit {
            tenant: op.tenant.to_string(),
            key: id.key.clone(),
            token,
            payment: outcome.payment,
            refund: outcome.refund,
            events: events.clone(),
            failed: outcome.failed,
            fails: outcome.fails,
            publish_lease_until: self.clock.epoch_seconds() + self.settings.publish_lease_seconds,
        };
        self.store.commit(&commit).await?;
        self.publish_outbox(op.tenant, &id.key, &events).await?;
        Ok(OperationReport::Completed(
            events.into_iter().map(|e| e.detail_type).collect(),
        ))
    }

    /// The attempt `id` exists already: a redelivery.
    async fn on_existing(
        &self,
        op: &Operation<'_>,
        id: &OperationId,
        record: OperationRecord,
    ) -> Result<OperationReport, OperationError> {
        if record.fingerprint != id.fingerprint {
            // Same identity, another payload: refused without deciding, and recorded as an operation of
            // its own so that a redelivery of the refused message is a duplicate too.
            tracing::warn!(key = %id.key, "same operation key with another payload: refused");
            let refused_id = OperationId {
                key: format!("{}-refused-{}", id.key, id.fingerprint),
                ..id.clone()
            };
            let refusal = Operation {
                tenant: op.tenant,
                id: &refused_id,
                correlation_id: op.correlation_id,
                payment: None,
                refused: Vec::new(),
                request: None,
            };
            let messages = op.refused.clone();
            let decide = |_, _| async {
                Ok(Outcome {
                    messages,
                    ..Outcome::nothing()
                }
                .as_failure())
            };
            return Box::pin(self.run(refusal, decide)).await;
        }
        match record.state {
            OperationState::InProgress => Err(OperationError::InProgress),
            OperationState::Completed if record.published => Ok(OperationReport::Duplicate),
            OperationState::Completed => {
                if !self.republish(&record).await? {
                    return Err(OperationError::InProgress);
                }
                Ok(OperationReport::Republished(
                    record.events.into_iter().map(|e| e.detail_type).collect(),
                ))
            }
        }
    }

    /// Publishes the outbox of a completed `record` that was not published, unless another worker holds
    /// its publish lease (`Ok(false)`). Its events keep their stored ids, so a duplicate is harmless.
    pub async fn republish(&self, record: &OperationRecord) -> Result<bool, OperationError> {
        let now = self.clock.epoch_seconds();
        let until = now + self.settings.publish_lease_seconds;
        if !self
            .store
            .take_publish_lease(&record.tenant, &record.key, now, until)
            .await?
        {
            return Ok(false);
        }
        self.publish_outbox(&record.tenant, &record.key, &record.events).await?;
        Ok(true)
    }

    async fn publish_outbox(&self, tenant: &str, key: &str, events: &[BusEvent]) -> Result<(), OperationError> {
        if !events.is_empty() {
            self.publisher.publish(events).await?;
        }
        self.store.mark_published(tenant, key).await?;
        Ok(())
    }

    /// Renders messages as bus events with ids derived from the operation, so a republish keeps them.
    fn render(&self, op: &Operation<'_>, id: &OperationId, messages: &[OutgoingMessage]) -> Vec<BusEvent> {
        let correlation_id = op
            .correlation_id
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let at = self.clock.now();
        messages
            .iter()
            .map(|m| {
                let event_id = event_id(&[op.tenant, &id.key, &id.fingerprint, m.name()]);
                BusEvent::render(
                    m,
                    op.tenant,
                    &self.settings.app_identifier,
                    &correlation_id,
                    event_id,
                    at,
                )
            })
            .collect()
    }
}
