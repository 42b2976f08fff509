//! The reconciler (issue 12 §1): a scheduled pass that finishes what nothing else would. Each pass queries
//! the "needs attention" index (never a scan), a bounded batch of each kind:
//!
//! - **outbox**: a completed operation whose events were never published (the publish failed after the
//!   commit and no delivery came again: an inbox drain, a sync call, a webhook Stripe got its 200 for) is
//!   published under its stored event ids, so a duplicate is harmless;
//! - **in flight**: a command still in progress long after its lease (its worker died, or its PSP outcome
//!   stayed unknown past the queue's redeliveries) is run again from its stored message: the takeover
//!   reads the PSP first, and the command gets its answer or stays pending with a logged reason.
//!
//! Two passes at once do nothing twice: the publish lease and the operation claim let one of them act.

use super::commands::CommandService;
use crate::acp::InboundMessage;
use crate::ports::{Attention, Clock, EventPublisher, OperationState, PaymentGateway, PaymentStore, StoreError};

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
            match self.commands.runner().republish(&record).await {
                Ok(true) => report.published += 1,
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
        Ok(report)
    }
}

#[cfg(test)]
#[path = "reconciler_tests.rs"]
mod tests;
