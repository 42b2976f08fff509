//! Applying verified PSP webhook events (hyperswitch style: verify → identify → classify → apply; the
//! first three are the PSP adapter's, this module applies). Each event is one operation of the
//! [`Runner`], keyed by the PSP's event id, on its payment's lease:
//!
//! * a redelivered event (same id) has no second effect;
//! * state never goes backwards: a status the machine refuses (a late `authorized` after `captured`), or
//!   the status the payment already has (another event id, same status), changes nothing and emits
//!   nothing;
//! * a status change emits PaymentUpdated, then the status's message (PaymentAuthorized, ...); a refund
//!   settling emits PaymentUpdated, then PaymentRefunded or PaymentRefundFailed (decision §9.5 echo);
//! * an event for a payment that is not known yet, or has no order yet (headless flow, contract §5.4),
//!   waits in the inbox until [`WebhookService::drain_inbox`] applies it.

use super::checkout::{ListenerError, PaymentKnownListener};
use super::commands::CommandService;
use super::operation::OperationId;
use super::runner::{
    Operation, OperationError, OperationReport, Outcome, Runner, funding_message, history_time, payment_updated,
    status_message,
};
use super::settings::Settings;
use crate::acp::{OutgoingMessage, PaymentPayload};
use crate::domain::{Dispute, Payment, PaymentStatus, Refund, RefundStatus};
use crate::metrics;
use crate::ports::{Clock, EventPublisher, InboxEntry, PaymentStore, StoreError, WebhookChange, WebhookEvent};

/// After this many failed attempts an inbox entry is given up: unlike ACP's `processUnprocessedWebhooks`
/// (contract §5.8), which drops it, it is kept for an operator with an error log.
pub const INBOX_MAX_ATTEMPTS: u32 = 9;

/// How long a new inbox entry waits before the reconciler tries it (a drain usually applies it first),
/// and how long an entry whose payment is still not ready waits again.
const INBOX_RETRY_SECONDS: i64 = 300;

/// When an inbox entry that failed `attempts` times is tried again: 1, 2, 4, ... minutes, at most an hour.
fn inbox_retry_at(now: i64, attempts: u32) -> i64 {
    now + (60_i64 << attempts.min(6)).min(3600)
}

/// Why an event was not applied.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The event contradicts the app's records (another tenant, PSP payment or PSP refund): refused.
    #[error("the event does not match the app's records: {0}")]
    Mismatch(&'static str),
    /// The refund is not recorded yet (its RefundPayment is still being committed): retry later.
    #[error("the refund is not recorded yet")]
    RefundNotRecorded,
    /// The operation could not be finished now: retry later.
    #[error(transparent)]
    Operation(#[from] OperationError),
}

impl From<StoreError> for WebhookError {
    fn from(e: StoreError) -> Self {
        WebhookError::Operation(OperationError::Store(e))
    }
}

impl WebhookError {
    /// Whether a later delivery may succeed (the PSP should retry); a mismatch never will.
    pub fn is_retryable(&self) -> bool {
        match self {
            WebhookError::Mismatch(_) => false,
            WebhookError::RefundNotRecorded | WebhookError::Operation(_) => true,
        }
    }
}

/// What handling an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookReport {
    /// Applied (or found applied before) through the runner.
    Applied(OperationReport),
    /// Kept in the inbox until its payment is known and has an order.
    Inboxed,
    /// About a PSP payment none of the tenant's payments has (a payment made outside the app): ignored.
    NotOurs,
}

impl WebhookReport {
    /// The report as a metric's outcome (see [`OperationReport::outcome`]), `inboxed` or `not_ours`.
    pub fn outcome(&self) -> &str {
        match self {
            WebhookReport::Applied(report) => report.outcome(),
            WebhookReport::Inboxed => "inboxed",
            WebhookReport::NotOurs => "not_ours",
        }
    }
}

/// What draining an inbox did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Entries applied and removed.
    pub applied: usize,
    /// Entries kept for a later drain.
    pub kept: usize,
    /// Entries given up now (refused, or failed [`INBOX_MAX_ATTEMPTS`] times), kept for an operator.
    pub given_up: usize,
}

/// Whether an event could be applied now.
enum Applied {
    Done(OperationReport),
    /// The payment is unknown or has no order yet.
    NotReady,
}

/// Applies webhook events. It borrows a service's parts, so any function holding a store, a bus, a
/// clock and settings (the webhook functions, the sync endpoints draining an inbox) can build one.
pub struct WebhookService<'a, S, P, C> {
    /// Payments, refunds, operation records and the inbox.
    pub store: &'a S,
    /// The event bus.
    pub publisher: &'a P,
    /// The clock.
    pub clock: &'a C,
    /// Tunables (app identifier, leases, record TTL, also used for inbox entries).
    pub settings: &'a Settings,
}

impl<'a, S, P, C> WebhookService<'a, S, P, C> {
    /// The webhook service on a command service's store, bus, clock and settings.
    pub fn of<G>(commands: &'a CommandService<S, G, P, C>) -> Self {
        WebhookService {
            store: &commands.store,
            publisher: &commands.publisher,
            clock: &commands.clock,
            settings: &commands.settings,
        }
    }
}

impl<S: PaymentStore, P: EventPublisher, C: Clock> WebhookService<'_, S, P, C> {
    /// Handles a verified event received on `tenant`'s route. It opens no span of its own: the caller's
    /// names the tenant and the event, and gets the payment's `orderReference` once it is known.
    pub async fn handle(&self, tenant: &str, event: &WebhookEvent) -> Result<WebhookReport, WebhookError> {
        if event.tenant.as_deref().is_some_and(|t| t != tenant) {
            return Err(WebhookError::Mismatch("the object belongs to another tenant"));
        }
        let named;
        let event = if event.transaction_id.is_empty() {
            // A dispute or a charge names only the PaymentIntent.
            match self
                .store
                .find_payment_by_psp_reference(tenant, &event.psp_reference)
                .await?
            {
                Some(payment) => {
                    named = WebhookEvent {
                        transaction_id: payment.transaction_id,
                        ..event.clone()
                    };
                    &named
                }
                None => {
                    tracing::info!(psp_reference = %event.psp_reference, "no payment of the tenant has this PSP payment: ignored");
                    return Ok(WebhookReport::NotOurs);
                }
            }
        } else {
            event
        };
        match self.apply(tenant, event).await? {
            Applied::Done(report) => Ok(WebhookReport::Applied(report)),
            Applied::NotReady => {
                let entry = InboxEntry {
                    tenant: tenant.to_string(),
                    event: event.clone(),
                    attempts: 0,
                    given_up: false,
                    retry_at: self.clock.epoch_seconds() + INBOX_RETRY_SECONDS,
                    expires_at: self.clock.epoch_seconds() + self.settings.record_ttl_seconds,
                };
                self.store.put_inbox(&entry).await?;
                tracing::info!(transaction_id = %event.transaction_id, "payment not ready: event kept in the inbox");
                // The payment may have become ready (and its inbox drained) since it was read.
                if self.ready(tenant, &event.transaction_id).await? {
                    self.drain_inbox(tenant, &event.transaction_id).await?;
                }
                Ok(WebhookReport::Inboxed)
            }
        }
    }

    /// Applies the inbox of a payment, oldest event first: call it after a payment was created or got
    /// its order (the reconciler calls it too, for entries whose `retry_at` came). Entries whose payment
    /// is still not ready stay; failed ones are retried by a later drain, up to [`INBOX_MAX_ATTEMPTS`]
    /// times, then kept as given up (never dropped; an error log and the `InboxGivenUp` metric say so).
    #[tracing::instrument(skip(self), fields(orderReference = tracing::field::Empty))]
    pub async fn drain_inbox(&self, tenant: &str, transaction_id: &str) -> Result<DrainReport, StoreError> {
        let mut report = DrainReport::default();
        let now = self.clock.epoch_seconds();
        for entry in self.store.inbox(tenant, transaction_id).await? {
            if entry.given_up {
                continue;
            }
            let event_id = entry.event.event_id.as_str();
            match self.apply(tenant, &entry.event).await {
                Ok(Applied::Done(_)) => {
                    self.store.delete_inbox(tenant, transaction_id, event_id).await?;
                    report.applied += 1;
                }
                Ok(Applied::NotReady) => {
                    if entry.retry_at <= now {
                        let retry_at = now + INBOX_RETRY_SECONDS;
                        self.store.put_inbox(&InboxEntry { retry_at, ..entry }).await?;
                    }
                    report.kept += 1;
                }
                Err(error) => {
                    let attempts = entry.attempts + 1;
                    if !error.is_retryable() || attempts >= INBOX_MAX_ATTEMPTS {
                        tracing::error!(event_id, attempts, %error, "inbox entry given up: kept for an operator");
                        metrics::count("InboxGivenUp", 1);
                        let given_up = InboxEntry {
                            attempts,
                            given_up: true,
                            ..entry
                        };
                        self.store.put_inbox(&given_up).await?;
                        report.given_up += 1;
                    } else {
                        tracing::warn!(event_id, attempts, %error, "inbox entry failed; kept for the next drain");
                        let retry_at = inbox_retry_at(now, attempts);
                        self.store
                            .put_inbox(&InboxEntry {
                                attempts,
                                retry_at,
                                ..entry
                            })
                            .await?;
                        report.kept += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// The runner on this service's ports (each PSP event is one of its operations).
    pub(super) fn runner(&self) -> Runner<'_, S, P, C> {
        Runner {
            store: self.store,
            publisher: self.publisher,
            clock: self.clock,
            settings: self.settings,
        }
    }

    /// Whether the payment is known and has an order.
    async fn ready(&self, tenant: &str, transaction_id: &str) -> Result<bool, StoreError> {
        let payment = self.store.get_payment(tenant, transaction_id).await?;
        Ok(payment.is_some_and(|p| p.order_reference.is_some()))
    }

    /// Identifies the event's payment (and refund), cross-checks them, and runs the event.
    async fn apply(&self, tenant: &str, event: &WebhookEvent) -> Result<Applied, WebhookError> {
        let payment = self.store.get_payment(tenant, &event.transaction_id).await?;
        let Some(payment) = payment.filter(|p| p.order_reference.is_some()) else {
            return Ok(Applied::NotReady);
        };
        tracing::Span::current().record("orderReference", payment.order_reference.as_deref());
        let named = [Some(payment.psp_reference.as_str()), payment.psp_customer.as_deref()];
        if !named.contains(&Some(event.psp_reference.as_str())) {
            return Err(WebhookError::Mismatch("the PSP payment is not the payment's"));
        }
        if let WebhookChange::Refund {
            refund_id,
            psp_refund_id,
            ..
        } = &event.change
        {
            let refund = self
                .store
                .get_refund(tenant, &event.transaction_id, refund_id)
                .await?
                .ok_or(WebhookError::RefundNotRecorded)?;
            if refund.psp_reference.as_ref().is_some_and(|r| r != psp_refund_id) {
                return Err(WebhookError::Mismatch("the PSP refund is not the refund's"));
            }
        }
        let id = OperationId::keyed(event.change.operation_key(&event.psp_reference, &event.event_id));
        let op = Operation {
            tenant,
            id: &id,
            correlation_id: None,
            payment: Some(payment.transaction_id),
            refused: Vec::new(),
            request: None,
        };
        let report = self
            .runner()
            .run(op, |payment, _| self.decide(tenant, event, payment))
            .await?;
        Ok(Applied::Done(report))
    }

    /// Decides under the payment's lease. `Err` releases the claim for a retry (the refund record could
    /// not be read).
    async fn decide(&self, tenant: &str, event: &WebhookEvent, payment: Option<Payment>) -> Result<Outcome, String> {
        let Some(payment) = payment else {
            return Err("the payment disappeared".into());
        };
        let Some(order_reference) = payment.order_reference.clone() else {
            return Err("the payment has no order".into());
        };
        match &event.change {
            WebhookChange::Payment {
                status,
                amount_captured,
                decline,
            } => Ok(payment_outcome(
                &payment,
                order_reference,
                payment.status_reported_by_psp(*status),
                *amount_captured,
                decline.as_deref(),
                (&history_time(self.clock), self.clock.epoch_seconds()),
            )),
            WebhookChange::Refund {
                refund_id,
                psp_refund_id,
                status,
                failure_reason,
            } => {
                let refund = self
                    .store
                    .get_refund(tenant, &payment.transaction_id, refund_id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("the refund disappeared")?;
                // The RefundPayment was answered by this failure: a repeat of it is a new attempt. Its
                // record may have expired (the PSP can fail a refund weeks later): then there is none to mark.
                let command = self
                    .store
                    .get_operation(tenant, &refund.refund_id)
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|record| record.key);
                let psp_refund = (psp_refund_id.as_str(), failure_reason.as_deref());
                let mut outcome = refund_outcome(&payment, order_reference, refund, psp_refund, *status);
                if outcome
                    .messages
                    .iter()
                    .any(|m| matches!(m, OutgoingMessage::PaymentRefundFailed(_)))
                {
                    outcome.fails = command;
                }
                Ok(outcome)
            }
            WebhookChange::Dispute {
                dispute_id,
                amount,
                reason,
                status,
            } => {
                let dispute = Dispute {
                    id: dispute_id.clone(),
                    amount: *amount,
                    reason: reason.clone(),
                    status: *status,
                    reported_at: event.created,
                };
                let next = payment.disputed(dispute);
                if next.is_some() {
                    // Operators answer disputes (evidence, deadlines) in the PSP's dashboard.
                    tracing::warn!(
                        transaction_id = payment.transaction_id,
                        order_reference,
                        dispute_id,
                        amount,
                        reason,
                        status = status.as_str(),
                        "payment disputed"
                    );
                }
                Ok(Outcome::changed(&payment, next, Vec::new()))
            }
            WebhookChange::Funding { balance, currency } => {
                if currency != payment.amount.currency.code() {
                    tracing::error!(
                        transaction_id = payment.transaction_id,
                        currency,
                        balance,
                        "bank transfer money in another currency than the payment's: an operator must settle it"
                    );
                    return Ok(Outcome::changed(&payment, None, Vec::new()));
                }
                let next = payment.funding_reported(*balance, event.created);
                let message = next.as_ref().and_then(|n| funding_message(n, &order_reference));
                match (&next, &message) {
                    (Some(_), Some(OutgoingMessage::PaymentOverpaid(_))) => tracing::warn!(
                        transaction_id = payment.transaction_id,
                        order_reference,
                        balance,
                        "the shopper sent more than asked: give the rest back from the PSP customer's balance"
                    ),
                    (Some(_), None) if *balance > 0 => tracing::error!(
                        transaction_id = payment.transaction_id,
                        order_reference,
                        balance,
                        status = payment.status.as_str(),
                        "bank transfer money the payment did not take waits in the PSP customer's balance"
                    ),
                    _ => {}
                }
                Ok(Outcome::changed(&payment, next, message.into_iter().collect()))
            }
            WebhookChange::Refunded { amount_refunded } => {
                let next = payment.psp_refunded_reported(*amount_refunded, event.created);
                if let Some(next) = next
                    .as_ref()
                    .filter(|n| n.external_refunded() != payment.external_refunded())
                {
                    tracing::warn!(
                        transaction_id = payment.transaction_id,
                        order_reference,
                        external_refunded = next.external_refunded(),
                        "money refunded at the PSP outside the app (no RefundPayment asked for it)"
                    );
                }
                Ok(Outcome::changed(&payment, next, Vec::new()))
            }
        }
    }
}

/// The payment is in `status` at the PSP; `decline` says why its last attempt was declined; `(at, now)`
/// is the time of the change, for the history and in Unix seconds.
fn payment_outcome(
    payment: &Payment,
    order_reference: String,
    status: PaymentStatus,
    amount_captured: i64,
    decline: Option<&str>,
    (at, now): (&str, i64),
) -> Outcome {
    let next = match status {
        PaymentStatus::Captured => payment.captured(amount_captured, at),
        PaymentStatus::Canceled => payment.canceled_at_psp(at, now),
        PaymentStatus::New
        | PaymentStatus::Authorized
        | PaymentStatus::AuthorizationFailed
        | PaymentStatus::CaptureRequested
        | PaymentStatus::CaptureFailed
        | PaymentStatus::CancellationFailed => payment.moved_to(status, at),
    };
    match next {
        Ok(Some(next)) => {
            let (amount, order_item_ids) = match status {
                PaymentStatus::Captured => (next.captured, next.order_item_ids.clone()),
                // Only what was still open is canceled: items captured or canceled before keep their answer.
                PaymentStatus::Canceled => (payment.open_amount(), payment.open_items().into_iter().collect()),
                PaymentStatus::New
                | PaymentStatus::Authorized
                | PaymentStatus::AuthorizationFailed
                | PaymentStatus::CaptureRequested
                | PaymentStatus::CaptureFailed
                | PaymentStatus::CancellationFailed => (next.amount.minor, next.order_item_ids.clone()),
            };
            let payload = PaymentPayload {
                order_reference,
                order_item_ids,
                amount: Some(amount),
                currency_iso_code: Some(next.amount.currency.code().to_string()),
            };
            let messages = status_message(status, payload).into_iter().collect();
            Outcome::changed(payment, Some(next), messages)
        }
        // Progress while undecided (a decline the shopper may retry, requires_action, processing): the
        // tenant hears PaymentUpdated, with the decline's reason while there is one.
        Ok(None) if status == PaymentStatus::New => {
            let decline = decline.map(str::to_string);
            if payment.decline == decline {
                return Outcome::changed(payment, None, vec![payment_updated(payment, None)]);
            }
            let mut next = payment.clone();
            next.decline = decline;
            next.version += 1;
            Outcome::changed(payment, Some(next), Vec::new())
        }
        Ok(None) => Outcome::changed(payment, None, Vec::new()),
        Err(why) => {
            tracing::info!(reason = %why, to = status.as_str(), "out-of-order PSP status ignored");
            Outcome::changed(payment, None, Vec::new())
        }
    }
}

/// One of the payment's refunds is in `to` at the PSP.
/// `psp_refund` is the PSP's id of the refund and, when it failed, why.
fn refund_outcome(
    payment: &Payment,
    order_reference: String,
    refund: Refund,
    (psp_refund_id, failure_reason): (&str, Option<&str>),
    to: RefundStatus,
) -> Outcome {
    if !refund.status.can_move_to(to) {
        return Outcome::changed(payment, None, Vec::new());
    }
    let mut next = payment.refund_moved(refund.amount, &refund.order_item_ids, Some(refund.status), to);
    // Echo what the RefundPayment asked (decision §9.5).
    let echo = PaymentPayload {
        order_reference,
        order_item_ids: refund.order_item_ids.clone(),
        amount: Some(refund.requested_amount),
        currency_iso_code: refund.currency_iso_code.clone(),
    };
    let messages = match (refund.status, to) {
        // Spryker was told the money went back: it hears of the failure through PaymentUpdated (the
        // refunded amount drops), and an operator must settle it with the shopper.
        (RefundStatus::Succeeded, _) => {
            let reason = failure_reason.unwrap_or("no reason given");
            tracing::error!(
                refund_id = refund.refund_id,
                psp_refund_id,
                amount = refund.amount,
                reason,
                "a refund reported as succeeded failed at the PSP: the shopper did not get the money"
            );
            next.refund_failure = Some(format!("{psp_refund_id}: {reason}"));
            Vec::new()
        }
        (_, RefundStatus::Succeeded) => vec![OutgoingMessage::PaymentRefunded(echo)],
        (_, RefundStatus::Failed | RefundStatus::Canceled) => vec![OutgoingMessage::PaymentRefundFailed(echo)],
        (_, RefundStatus::Pending | RefundStatus::Processing) => Vec::new(),
    };
    let mut outcome = Outcome::changed(payment, Some(next), messages);
    outcome.refund = Some(Refund {
        status: to,
        psp_reference: Some(psp_refund_id.to_string()),
        ..refund
    });
    outcome
}

#[cfg(test)]
#[path = "webhooks_tests.rs"]
mod tests;

/// Drains the webhook inbox of a payment as soon as the tenant can name it: the checkout endpoints'
/// [`PaymentKnownListener`]. It owns its ports (cheap clones of the checkout service's clients).
pub struct InboxDrain<S, P, C> {
    /// Payments and the inbox.
    pub store: S,
    /// The event bus.
    pub publisher: P,
    /// The clock.
    pub clock: C,
    /// Tunables.
    pub settings: Settings,
}

impl<S: PaymentStore, P: EventPublisher, C: Clock> PaymentKnownListener for InboxDrain<S, P, C> {
    async fn after_payment_known(&self, tenant: &str, transaction_id: &str) -> Result<(), ListenerError> {
        let service = WebhookService {
            store: &self.store,
            publisher: &self.publisher,
            clock: &self.clock,
            settings: &self.settings,
        };
        let report = service
            .drain_inbox(tenant, transaction_id)
            .await
            .map_err(|e| ListenerError(e.to_string()))?;
        tracing::info!(tenant, transaction_id, ?report, "webhook inbox drained");
        Ok(())
    }
}
