//! The reconciler (issue 12 §1): a scheduled pass that finishes what nothing else would. Each pass queries
//! the "needs attention" index (never a scan), a bounded batch of each kind:
//!
//! - **outbox**: a completed operation whose events were never published (the publish failed after the
//!   commit and no delivery came again: an inbox drain, a sync call, a webhook Stripe got its 200 for) is
//!   published under its stored event ids, so a duplicate is harmless;
//! - **in flight**: a command still in progress long after its lease (its worker died, or its PSP outcome
//!   stayed unknown past the queue's redeliveries) is run again from its stored message: the takeover
//!   reads the PSP first, and the command gets its answer or stays pending with a logged reason;
//! - **inbox**: PSP events kept until their payment was known are applied once it is (entries given up
//!   stay for an operator);
//! - **authorizations near their end**: operators are warned (log, `AuthorizationExpiring` metric,
//!   PaymentUpdated with `authorizationExpiresAt`) a day before the PSP cancels an uncaptured one.
//!
//! [`Reconciler::settle_dead_letters`] reads the command queues' dead-letter queues: each command gets its
//! answer where one can be given (re-reading the PSP for a payment the app knows), or stays, logged.
//!
//! Two passes at once do nothing twice: the publish lease, the operation claim and the payment lease let
//! one of them act, and a dead letter received by one is hidden from the other.

use super::commands::CommandService;
use super::operation::OperationId;
use super::runner::{Operation, OperationError, OperationReport, Outcome};
use super::webhooks::WebhookService;
use crate::acp::{InboundMessage, parse_record};
use crate::domain::Payment;
use crate::metrics;
use crate::ports::{
    Attention, Clock, DeadLetter, DeadLetters, EventPublisher, OperationState, PaymentGateway, PaymentStore,
    StoreError, TenantAccess, Tenants,
};
use std::collections::BTreeSet;

/// How long a dead letter nobody can answer now stays hidden before it is looked at (and logged) again.
const DEAD_LETTER_HOLD_SECONDS: i32 = 3600;

/// Receives of dead letters per pass (each of up to the batch size), while the queues have letters
/// visible and the pass has time left: a backlog is answered in a few passes, not one batch a minute.
const DEAD_LETTER_ROUNDS: usize = 20;

/// The time a pass spends receiving more dead letters (the reconciler function has 50 s).
const DEAD_LETTER_BUDGET: std::time::Duration = std::time::Duration::from_secs(25);

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Outboxes published.
    pub published: usize,
    /// Operations run again that got their answer.
    pub settled: usize,
    /// Operations still unsettled (logged with their reason; the next pass tries again).
    pub pending: usize,
    /// Operations nobody can run again (their caller retries them), taken out of the index.
    pub released: usize,
    /// Inbox entries applied.
    pub inbox_applied: usize,
    /// Inbox entries given up in this pass (kept for an operator).
    pub inbox_given_up: usize,
    /// Authorizations whose end was announced.
    pub expiry_warnings: usize,
}

/// What one pass over the dead-letter queues did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadLetterReport {
    /// Commands answered (their letters deleted).
    pub answered: usize,
    /// Commands nobody can answer now (unreadable, tenant not configured): kept, hidden for an hour.
    pub held: usize,
    /// Commands whose answer is still unknown: tried again next pass.
    pub pending: usize,
}

/// The reconciler, on a command service's store, PSP, bus and clock.
pub struct Reconciler<'a, S, G, P, C> {
    /// Runs commands again, and holds the store, the bus and the clock.
    pub commands: &'a CommandService<S, G, P, C>,
    /// Records of each kind handled per pass.
    pub batch: usize,
}

impl<S, G, P, C> Reconciler<'_, S, G, P, C>
where
    S: PaymentStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
{
    /// One pass. `Err` only when the index cannot be read; each record's own failure is logged and left
    /// for the next pass.
    pub async fn run(&self) -> Result<ReconcileReport, StoreError> {
        let store = &self.commands.store;
        let now = self.commands.clock.epoch_seconds();
        let mut report = ReconcileReport::default();
        for record in store.due_operations(Attention::Outbox, now, self.batch).await? {
            // Committed a publish lease before the lease's end: how long the shop has waited.
            let committed = record.publish_lease_until - self.commands.settings.publish_lease_seconds;
            match self.commands.runner().republish(&record).await {
                Ok(true) => {
                    report.published += 1;
                    metrics::outbox_unpublished_age(u64::try_from(now - committed).unwrap_or(0));
                }
                Ok(false) => {}
                Err(reason) => {
                    tracing::warn!(tenant = record.tenant, key = record.key, %reason, "outbox not published yet");
                    report.pending += 1;
                }
            }
        }
        for record in store.due_operations(Attention::InProgress, now, self.batch).await? {
            // Completed or still leased since the index was read: nothing to do now.
            if record.state != OperationState::InProgress || record.lease_until >= now {
                continue;
            }
            match record.request.as_deref().map(InboundMessage::from_stored) {
                Some(Ok(msg)) => match self.commands.handle(&msg).await {
                    Ok(outcome) => {
                        tracing::info!(
                            tenant = record.tenant,
                            key = record.key,
                            ?outcome,
                            "unsettled command settled"
                        );
                        report.settled += 1;
                    }
                    Err(reason) => {
                        tracing::warn!(tenant = record.tenant, key = record.key, %reason, "command still unsettled");
                        report.pending += 1;
                    }
                },
                unrunnable => {
                    if let Some(Err(e)) = unrunnable {
                        tracing::error!(tenant = record.tenant, key = record.key, error = %e, "stored command unreadable");
                    } else {
                        tracing::warn!(
                            tenant = record.tenant,
                            key = record.key,
                            "unfinished operation left to its caller's retry"
                        );
                    }
                    store.clear_attention(&record.tenant, &record.key).await?;
                    report.released += 1;
                }
            }
        }
        let webhooks = WebhookService::of(self.commands);
        let mut drained = BTreeSet::new();
        for entry in store.due_inbox(now, self.batch).await? {
            if !drained.insert((entry.tenant.clone(), entry.event.transaction_id.clone())) {
                continue;
            }
            let drain = webhooks.drain_inbox(&entry.tenant, &entry.event.transaction_id).await?;
            report.inbox_applied += drain.applied;
            report.inbox_given_up += drain.given_up;
        }
        for payment in store.due_expiry_warnings(now, self.batch).await? {
            match self.announce_expiry(&payment, now).await {
                Ok(true) => report.expiry_warnings += 1,
                Ok(false) => {}
                Err(reason) => {
                    tracing::warn!(tenant = payment.tenant, transaction_id = payment.transaction_id, %reason, "expiry warning not recorded yet");
                    report.pending += 1;
                }
            }
        }
        // Every pass, so the alarm on what stays unsettled sees a figure each minute.
        metrics::level(metrics::RECONCILER_UNSETTLED, report.pending as u64);
        Ok(report)
    }

    /// Warns that `payment`'s uncaptured authorization ends within a day, once: an operation on the
    /// payment's lease records it and tells the shop (PaymentUpdated, `authorizationExpiresAt`).
    async fn announce_expiry(&self, payment: &Payment, now: i64) -> Result<bool, OperationError> {
        let id = OperationId::keyed(format!("expiry-warning-{}", payment.transaction_id));
        let op = Operation {
            tenant: &payment.tenant,
            id: &id,
            correlation_id: None,
            payment: Some(payment.transaction_id.clone()),
            refused: Vec::new(),
            request: None,
        };
        let report = self
            .commands
            .runner()
            .run(op, |current, _| async move {
                let current = current.ok_or("the payment disappeared")?;
                let Some(end) = current.authorization_expires_at() else {
                    return Ok(Outcome::changed(&current, None, Vec::new()));
                };
                if current.expiry_warning_due().is_none_or(|due| due > now) {
                    return Ok(Outcome::changed(&current, None, Vec::new()));
                }
                tracing::warn!(
                    tenant = current.tenant,
                    transaction_id = current.transaction_id,
                    order_reference = current.order_reference,
                    expires_at = end,
                    open_amount = current.open_amount(),
                    "uncaptured authorization ends within a day: capture or cancel it, or the PSP cancels it"
                );
                metrics::count("AuthorizationExpiring", 1);
                Ok(Outcome::changed(&current, Some(current.expiry_announced()), Vec::new()))
            })
            .await?;
        Ok(matches!(report, OperationReport::Completed(messages) if !messages.is_empty()))
    }

    /// Reads up to `batch` letters of the command dead-letter queues and gives each command its answer
    /// where one can be given: run again (a takeover re-reads the PSP for a payment the app knows), its
    /// letter deleted once answered. A letter nobody can answer now (unreadable; the tenant is not
    /// configured) is logged at error and hidden for an hour; one whose tenant disconnected is dropped as
    /// its command function would.
    pub async fn settle_dead_letters<Q: DeadLetters, T: Tenants>(
        &self,
        letters: &Q,
        tenants: &T,
    ) -> Result<DeadLetterReport, String> {
        let mut report = DeadLetterReport::default();
        let started = std::time::Instant::now();
        for _ in 0..DEAD_LETTER_ROUNDS {
            // Received letters stay hidden for the queue's visibility timeout: a round never sees a
            // letter of an earlier round of this pass again.
            let received = letters.receive(self.batch).await?;
            if received.is_empty() {
                break;
            }
            for letter in received {
                match self.settle_dead_letter(&letter, tenants).await {
                    Letter::Answered => {
                        letters.delete(&letter).await?;
                        report.answered += 1;
                    }
                    Letter::Held => {
                        letters.hide(&letter, DEAD_LETTER_HOLD_SECONDS).await?;
                        report.held += 1;
                    }
                    Letter::Pending => report.pending += 1,
                }
            }
            if started.elapsed() > DEAD_LETTER_BUDGET {
                break;
            }
        }
        if report.held + report.pending > 0 {
            metrics::level(metrics::DEAD_LETTERS_UNANSWERED, (report.held + report.pending) as u64);
        }
        Ok(report)
    }

    async fn settle_dead_letter<T: Tenants>(&self, letter: &DeadLetter, tenants: &T) -> Letter {
        let msg = match parse_record(&letter.body, &letter.attributes) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::error!(queue = letter.queue, error = %e, "unreadable command in a dead-letter queue: kept for an operator");
                return Letter::Held;
            }
        };
        let tenant = msg.tenant_identifier.as_str();
        let command = msg.command.name();
        let order_reference = msg.command.order_reference();
        match tenants.access(tenant).await {
            Ok(TenantAccess::Active) => {}
            Ok(TenantAccess::Disconnected) => {
                tracing::warn!(
                    tenant,
                    command,
                    order_reference,
                    "dead letter of a disconnected tenant dropped"
                );
                return Letter::Answered;
            }
            Ok(TenantAccess::NotConfigured) => {
                tracing::error!(
                    tenant,
                    command,
                    order_reference,
                    "command of a tenant that is not configured: kept in its dead-letter queue (redrive it once configured)"
                );
                return Letter::Held;
            }
            Err(e) => {
                tracing::warn!(tenant, command, error = %e, "tenant unavailable: dead letter tried again next pass");
                return Letter::Pending;
            }
        }
        match self.commands.handle(&msg).await {
            Ok(report) => {
                tracing::info!(
                    tenant,
                    command,
                    order_reference,
                    ?report,
                    "dead-lettered command answered"
                );
                Letter::Answered
            }
            Err(reason) => {
                tracing::warn!(tenant, command, order_reference, %reason, "dead-lettered command still unanswered");
                Letter::Pending
            }
        }
    }
}

/// What became of one dead letter.
enum Letter {
    Answered,
    Held,
    Pending,
}

#[cfg(test)]
#[path = "reconciler_tests.rs"]
mod tests;
