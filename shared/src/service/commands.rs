//! Processing one Spryker command (CapturePayment, CancelPayment, RefundPayment), exactly once. The
//! operation's life (claim, commit with outbox, publish) is the [`Runner`]'s; this module decides what
//! each command does: the domain's checks, then the PSP call with an idempotency key derived from the
//! command, mapped to the reply the tenant expects.

use super::operation::OperationId;
use super::runner::{Attempt, Operation, OperationError, OperationReport, Outcome, Runner, history_time};
use super::settings::Settings;
use crate::acp::{InboundCommand, InboundMessage, OutgoingMessage, PaymentPayload, RefundPayment};
use crate::domain::refund::RefundBucket;
use crate::domain::{
    CancelPlan, CaptureMode, CapturePlan, Money, Payment, PaymentStatus, Refund, RefundStatus, Rejection,
};
use crate::ports::{
    Clock, EventPublisher, OperationState, PaymentGateway, PaymentStore, PaymentWrite, PspError, PspPaymentIntent,
    PspRefund,
};
use backon::{ExponentialBuilder, Retryable};
use std::collections::BTreeMap;
use std::future::Future;
use tracing::Instrument;

/// The reply that tells the tenant the command failed, echoing the command (decision §9.6).
fn failure_message(command: &InboundCommand) -> OutgoingMessage {
    match command {
        InboundCommand::CapturePayment(c) => OutgoingMessage::PaymentCaptureFailed(c.clone()),
        InboundCommand::CancelPayment(c) => OutgoingMessage::PaymentCancellationFailed(c.clone()),
        InboundCommand::RefundPayment(r) => OutgoingMessage::PaymentRefundFailed(refund_echo(r)),
    }
}

/// A refund reply echoes the command's `amount` and `orderItemIds` exactly as received (decision §9.5).
fn refund_echo(r: &RefundPayment) -> PaymentPayload {
    PaymentPayload {
        order_reference: r.order_reference.clone(),
        order_item_ids: r.item_ids(),
        amount: Some(r.amount),
        currency_iso_code: r.currency_iso_code.clone(),
    }
}

impl Outcome {
    /// The PSP refused the command: the payment moves to `status` where the machine allows it.
    fn failed(command: &InboundCommand, payment: &Payment, status: PaymentStatus, at: &str, reason: &str) -> Self {
        tracing::warn!(command = command.name(), reason, "the PSP refused the command");
        let next = payment.moved_to(status, at).ok().flatten();
        Outcome::changed(payment, next, vec![failure_message(command)]).as_failure()
    }

    /// The command was refused before any PSP call.
    fn rejected(command: &InboundCommand, payment: Option<&Payment>, why: &Rejection) -> Self {
        tracing::warn!(command = command.name(), reason = %why, "command refused");
        Outcome {
            messages: vec![failure_message(command)],
            payment: payment.map(|p| PaymentWrite::Release {
                transaction_id: p.transaction_id.clone(),
            }),
            ..Outcome::nothing()
        }
        .as_failure()
    }
}

/// Processes commands. Generic over its ports so tests run it on the in-memory twins.
pub struct CommandService<S, G, P, C> {
    /// Payments, refunds and operation records.
    pub store: S,
    /// The PSP.
    pub gateway: G,
    /// The event bus.
    pub publisher: P,
    /// The clock.
    pub clock: C,
    /// Tunables.
    pub settings: Settings,
}

impl<S, G, P, C> CommandService<S, G, P, C>
where
    S: PaymentStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
{
    /// Handles one command. `Ok` means the record may be deleted from the queue; `Err` means retry it.
    ///
    /// A command holds its payment until it is answered (see [`crate::ports::ClaimRequest::payment_lease_until`]).
    /// When the holder is stalled (its worker died, or its PSP outcome was left unknown, and its lease has
    /// passed), the command waiting for the payment runs the holder first, as the holder's own
    /// redelivery would (reading the PSP before acting), instead of waiting for that redelivery or the
    /// reconciler.
    pub async fn handle(&self, msg: &InboundMessage) -> Result<OperationReport, OperationError> {
        async {
            match self.run_command(msg).await {
                Err(OperationError::PaymentBusy) if self.settle_stalled_holder(msg).await? => {
                    self.run_command(msg).await
                }
                result => result,
            }
        }
        .instrument(msg.span())
        .await
    }

    /// Runs the stalled command holding the payment of `msg`'s order, if one does. Returns whether it
    /// ran one to its answer.
    async fn settle_stalled_holder(&self, msg: &InboundMessage) -> Result<bool, OperationError> {
        let tenant = msg.tenant_identifier.as_str();
        let order = msg.command.order_reference();
        let Some(payment) = self.store.find_payment_by_order(tenant, order).await? else {
            return Ok(false);
        };
        let Some(holder) = self.store.payment_holder(tenant, &payment.transaction_id).await? else {
            return Ok(false);
        };
        let Some(record) = self.store.get_operation(tenant, &holder).await? else {
            return Ok(false);
        };
        let stalled = record.state == OperationState::InProgress && record.lease_until < self.clock.epoch_seconds();
        let Some(Ok(command)) = record
            .request
            .as_deref()
            .filter(|_| stalled)
            .map(InboundMessage::from_stored)
        else {
            return Ok(false);
        };
        tracing::info!(holder = %holder, "the command holding the payment stalled: running it first");
        match self.run_command(&command).await {
            Ok(report) => {
                tracing::info!(holder = %holder, ?report, "the stalled command is answered");
                Ok(true)
            }
            Err(reason) => {
                tracing::warn!(holder = %holder, %reason, "the stalled command is still unsettled");
                Ok(false)
            }
        }
    }

    /// Runs one command through the operation runner.
    async fn run_command(&self, msg: &InboundMessage) -> Result<OperationReport, OperationError> {
        let tenant = msg.tenant_identifier.as_str();
        let id = OperationId::of(msg);
        let found = self
            .store
            .find_payment_by_order(tenant, msg.command.order_reference())
            .await?;
        let op = Operation {
            tenant,
            id: &id,
            correlation_id: msg.correlation_id.as_deref(),
            payment: found.map(|p| p.transaction_id),
            // Same command identity with another amount or currency: refused before reaching the PSP.
            refused: vec![failure_message(&msg.command)],
            // Kept so the reconciler can run it again if it stays unsettled.
            request: Some(msg.to_stored()),
        };
        self.runner()
            .run(op, |payment, attempt| self.decide(msg, attempt, payment))
            .await
    }

    /// The operation runner on this service's store, bus and clock.
    pub(crate) fn runner(&self) -> Runner<'_, S, P, C> {
        Runner {
            store: &self.store,
            publisher: &self.publisher,
            clock: &self.clock,
            settings: &self.settings,
        }
    }

    /// Calls the PSP, retrying an unknown outcome a few times with the same idempotency key.
    pub(crate) async fn psp<T, F, Fut>(&self, call: F) -> Result<T, PspError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, PspError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.settings.psp_retry_delay)
            .with_max_times(self.settings.psp_attempts.saturating_sub(1))
            .with_jitter();
        call.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e| matches!(e, PspError::Unknown(_)))
            .notify(|e, after| tracing::warn!(error = %e, ?after, "PSP call failed; retrying with the same key"))
            .await
    }

    /// Decides and performs the command. `Err` carries the reason of an unknown PSP outcome.
    async fn decide(
        &self,
        msg: &InboundMessage,
        attempt: Attempt,
        payment: Option<Payment>,
    ) -> Result<Outcome, String> {
        let Attempt { id, retrying_unknown } = attempt;
        let id = &id;
        let Some(payment) = payment.as_ref() else {
            return Ok(Outcome::rejected(&msg.command, None, &Rejection::UnknownPayment));
        };
        let tenant = msg.tenant_identifier.as_str();
        let result = match &msg.command {
            InboundCommand::CapturePayment(c) => self.capture(tenant, id, payment, c, retrying_unknown).await,
            InboundCommand::CancelPayment(c) => self.cancel(tenant, id, payment, c, retrying_unknown).await,
            InboundCommand::RefundPayment(r) => self.refund(tenant, id, payment, r, retrying_unknown).await,
        };
        match result {
            Ok(outcome) => Ok(outcome),
            Err(PspError::Unknown(reason)) => Err(reason),
            // Only a read can end here (declines of the command itself become failure events): the
            // state at the PSP could not be learned, so the outcome stays unknown.
            Err(declined @ PspError::Declined { .. }) => Err(format!("reading the PSP's state failed: {declined}")),
        }
    }

    /// Performs a PSP operation on the payment; `done` tells from the PaymentIntent whether it took
    /// effect. After an unknown outcome the PSP may already have done it, so it is read first and asked
    /// again only if not: the PSP decides, never a local state that may be stale.
    pub(crate) async fn settle<F, Fut>(
        &self,
        tenant: &str,
        payment: &Payment,
        retrying_unknown: bool,
        done: impl Fn(&PspPaymentIntent) -> bool,
        call: F,
    ) -> Result<PspPaymentIntent, PspError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<PspPaymentIntent, PspError>>,
    {
        if retrying_unknown {
            let intent = self
                .psp(|| self.gateway.get_payment(tenant, &payment.psp_reference))
                .await?;
            if done(&intent) {
                return Ok(intent);
            }
        }
        self.psp(call).await
    }

    /// Whether the PSP can capture `payment` in parts: as recorded, else asked when it matters (a
    /// shipment that leaves items open, on a payment whose money is not taken yet).
    async fn multicapture(&self, tenant: &str, payment: &Payment, cmd: &PaymentPayload) -> Result<bool, PspError> {
        let items = cmd.order_item_ids.iter().copied().collect();
        let matters = payment.capture == CaptureMode::Manual
            && !payment.capture_closed
            && !payment.leaves_nothing_open(&items, cmd.amount);
        match payment.multicapture {
            Some(known) => Ok(known),
            None if matters => Ok(self
                .psp(|| self.gateway.get_payment(tenant, &payment.psp_reference))
                .await?
                .multicapture),
            None => Ok(false),
        }
    }

    /// CapturePayment for one shipment's items (decision §9.16): each command is answered PaymentCaptured
    /// for exactly its items and amount, however the money moves.
    async fn capture(
        &self,
        tenant: &str,
        id: &OperationId,
        payment: &Payment,
        cmd: &PaymentPayload,
        retrying_unknown: bool,
    ) -> Result<Outcome, PspError> {
        let command = InboundCommand::CapturePayment(cmd.clone());
        let multicapture = self.multicapture(tenant, payment, cmd).await?;
        let currency = cmd.currency_iso_code.as_deref();
        let capture = match payment.plan_split_capture(&cmd.order_item_ids, cmd.amount, currency, multicapture) {
            Ok(capture) => capture,
            Err(why) => return Ok(Outcome::rejected(&command, Some(payment), &why)),
        };
        let at = history_time(&self.clock);
        let reply = OutgoingMessage::PaymentCaptured(PaymentPayload {
            amount: Some(capture.amount),
            currency_iso_code: Some(
                cmd.currency_iso_code
                    .clone()
                    .unwrap_or_else(|| payment.amount.currency.code().to_string()),
            ),
            ..cmd.clone()
        });
        let captured = |psp_captured: i64| {
            let next = payment.capture_done(&capture, psp_captured, multicapture, &at);
            Outcome::changed(payment, Some(next), vec![reply.clone()])
        };
        let (amount, final_capture) = match capture.plan {
            // The money was taken before (a full capture, or when the shopper paid): nothing moves.
            CapturePlan::Taken => return Ok(captured(payment.money_taken())),
            CapturePlan::AlreadyCaptured => return Ok(Outcome::changed(payment, None, vec![reply])),
            CapturePlan::Psp { amount, final_capture } => (amount, final_capture),
        };
        let key = id.psp_idempotency_key();
        let money = |minor| Money::new(minor, payment.amount.currency);
        let expected = payment.captured + amount;
        let took =
            |intent: &PspPaymentIntent| intent.amount_captured >= expected || intent.status == PaymentStatus::Captured;
        let call = || {
            self.gateway
                .capture(tenant, &payment.psp_reference, money(amount), final_capture, &key)
        };
        let result = self.settle(tenant, payment, retrying_unknown, took, call).await;
        let failed = |reason: &str| Outcome::failed(&command, payment, PaymentStatus::CaptureFailed, &at, reason);
        match result {
            Ok(intent) if took(&intent) => Ok(captured(intent.amount_captured)),
            Ok(intent) => Ok(match intent.status {
                PaymentStatus::Canceled | PaymentStatus::AuthorizationFailed => failed(intent.status.as_str()),
                // Accepted but not final: the PSP's webhook finishes it.
                PaymentStatus::New
                | PaymentStatus::Authorized
                | PaymentStatus::CaptureRequested
                | PaymentStatus::Captured
                | PaymentStatus::CaptureFailed
                | PaymentStatus::CancellationFailed => {
                    let next = payment.moved_to(PaymentStatus::CaptureRequested, &at).ok().flatten();
                    Outcome::changed(payment, next, vec![])
                }
            }),
            Err(PspError::Declined { message, .. }) => Ok(failed(&message)),
            Err(unknown @ PspError::Unknown(_)) => Err(unknown),
        }
    }

    /// CancelPayment for some or all of an order's items (decision §9.17): only those items are canceled,
    /// and the money follows (released, or given back where a capture took it along).
    ///
    /// Contract note: Spryker's app-payment answers PaymentCanceled and PaymentCancellationFailed with
    /// the order's total and all its items. This app answers with the command's items and their amount:
    /// exactly what the shop asked to cancel, so the shop's state machine moves those items and no
    /// others (a split shipment's canceled part), and a retried cancel names the same items again.
    async fn cancel(
        &self,
        tenant: &str,
        id: &OperationId,
        payment: &Payment,
        cmd: &PaymentPayload,
        retrying_unknown: bool,
    ) -> Result<Outcome, PspError> {
        let command = InboundCommand::CancelPayment(cmd.clone());
        let plan = match payment.plan_partial_cancel(&cmd.order_item_ids) {
            Ok(plan) => plan,
            Err(why) => return Ok(Outcome::rejected(&command, Some(payment), &why)),
        };
        let at = history_time(&self.clock);
        let answer = vec![OutgoingMessage::PaymentCanceled(cmd.clone())];
        let canceled = || {
            let next = payment.cancel_done(&cmd.order_item_ids, plan, &at);
            Outcome::changed(payment, Some(next), answer.clone())
        };
        let failed = |reason: &str| Outcome::failed(&command, payment, PaymentStatus::CancellationFailed, &at, reason);
        let key = id.psp_idempotency_key();
        let psp = &payment.psp_reference;
        let money = |minor| Money::new(minor, payment.amount.currency);
        let result = match plan {
            CancelPlan::AlreadyCanceled => return Ok(Outcome::changed(payment, None, answer)),
            CancelPlan::Drop { .. } => return Ok(canceled()),
            CancelPlan::Refund { amount: 0 } => return Ok(canceled()),
            CancelPlan::Refund { amount } => {
                let refund = self.refund_for_cancel(tenant, id, payment, cmd, amount, retrying_unknown);
                return Ok(match refund.await {
                    Ok(refund) => match refund.status {
                        RefundStatus::Succeeded | RefundStatus::Pending | RefundStatus::Processing => canceled(),
                        RefundStatus::Failed | RefundStatus::Canceled => failed("the PSP did not give the money back"),
                    },
                    Err(PspError::Declined { message, .. }) => failed(&message),
                    Err(unknown @ PspError::Unknown(_)) => return Err(unknown),
                });
            }
            CancelPlan::CancelAtPsp => {
                let released = |intent: &PspPaymentIntent| intent.status == PaymentStatus::Canceled;
                let call = || self.gateway.cancel(tenant, psp, &key);
                self.settle(tenant, payment, retrying_unknown, released, call).await
            }
            CancelPlan::ReleaseRemainder => {
                // A final capture of nothing: the PSP releases what was never captured. The PaymentIntent
                // is read first: Stripe may have closed it already (a partly captured authorization that
                // expired ends `succeeded`), and then nothing is left to release.
                let released = |intent: &PspPaymentIntent| intent.status == PaymentStatus::Captured;
                let call = || self.gateway.capture(tenant, psp, money(0), true, &key);
                self.settle(tenant, payment, true, released, call).await
            }
        };
        match result {
            Ok(intent) => Ok(match (plan, intent.status) {
                (CancelPlan::CancelAtPsp, PaymentStatus::Canceled)
                | (CancelPlan::ReleaseRemainder, PaymentStatus::Captured) => canceled(),
                (_, status) => failed(status.as_str()),
            }),
            Err(PspError::Declined { message, .. }) => Ok(failed(&message)),
            Err(unknown @ PspError::Unknown(_)) => Err(unknown),
        }
    }

    /// Gives back `amount` that a capture took along for canceled items (or that a method captured when
    /// the shopper paid): a refund tagged `cancelId`, not `refundId`, so its refund webhooks change nothing.
    async fn refund_for_cancel(
        &self,
        tenant: &str,
        id: &OperationId,
        payment: &Payment,
        cmd: &PaymentPayload,
        amount: i64,
        retrying_unknown: bool,
    ) -> Result<PspRefund, PspError> {
        let metadata = BTreeMap::from([
            ("tenantIdentifier".to_string(), tenant.to_string()),
            ("transactionId".to_string(), payment.transaction_id.clone()),
            ("orderReference".to_string(), cmd.order_reference.clone()),
            ("cancelId".to_string(), id.key.clone()),
        ]);
        self.refund_once(tenant, id, payment, amount, ("cancelId", &metadata), retrying_unknown)
            .await
    }

    /// Refunds `amount` once for the attempt `id`, whose refund carries `tag` (a metadata key naming the
    /// attempt) among `metadata`. After an unknown outcome the payment's refunds are searched for it
    /// first: the same idempotency key would only protect for 24 h, a redrive may come later.
    async fn refund_once(
        &self,
        tenant: &str,
        id: &OperationId,
        payment: &Payment,
        amount: i64,
        (tag, metadata): (&str, &BTreeMap<String, String>),
        retrying_unknown: bool,
    ) -> Result<PspRefund, PspError> {
        let psp = &payment.psp_reference;
        if retrying_unknown
            && let Some(found) = self.psp(|| self.gateway.find_refund(tenant, psp, tag, &id.key)).await?
        {
            return Ok(found);
        }
        let key = id.psp_idempotency_key();
        let amount = Money::new(amount, payment.amount.currency);
        self.psp(|| self.gateway.refund(tenant, psp, amount, &key, metadata))
            .await
    }

    async fn refund(
        &self,
        tenant: &str,
        id: &OperationId,
        payment: &Payment,
        cmd: &RefundPayment,
        retrying_unknown: bool,
    ) -> Result<Outcome, PspError> {
        let command = InboundCommand::RefundPayment(cmd.clone());
        let items = cmd.item_ids();
        let amount = match payment.plan_refund(cmd.amount, cmd.currency_iso_code.as_deref(), &items) {
            Ok(amount) => amount,
            Err(why) => return Ok(Outcome::rejected(&command, Some(payment), &why)),
        };
        let metadata = BTreeMap::from([
            ("tenantIdentifier".to_string(), tenant.to_string()),
            ("transactionId".to_string(), payment.transaction_id.clone()),
            ("orderReference".to_string(), cmd.order_reference.clone()),
            ("refundId".to_string(), id.key.clone()),
        ]);
        let mut refund = Refund {
            refund_id: id.key.clone(),
            transaction_id: payment.transaction_id.clone(),
            psp_reference: None,
            status: RefundStatus::Failed,
            amount,
            requested_amount: cmd.amount,
            order_item_ids: items.clone(),
            currency_iso_code: cmd.currency_iso_code.clone(),
        };
        let result = self
            .refund_once(tenant, id, payment, amount, ("refundId", &metadata), retrying_unknown)
            .await;
        let mut outcome = match result {
            Ok(psp_refund) => {
                refund.psp_reference = Some(psp_refund.id);
                refund.status = psp_refund.status;
                let reply = match psp_refund.status {
                    RefundStatus::Succeeded => vec![OutgoingMessage::PaymentRefunded(refund_echo(cmd))],
                    RefundStatus::Failed | RefundStatus::Canceled => vec![failure_message(&command)],
                    // Not final yet: the refund webhook answers later.
                    RefundStatus::Pending | RefundStatus::Processing => vec![],
                };
                let next = match psp_refund.status.bucket() {
                    RefundBucket::Released => None,
                    RefundBucket::Reserved | RefundBucket::Refunded => {
                        Some(payment.refund_moved(amount, &items, None, psp_refund.status))
                    }
                };
                Outcome {
                    failed: psp_refund.status.bucket() == RefundBucket::Released,
                    ..Outcome::changed(payment, next, reply)
                }
            }
            Err(PspError::Declined { message, .. }) => {
                tracing::warn!(reason = %message, "refund declined by the PSP");
                Outcome::changed(payment, None, vec![failure_message(&command)]).as_failure()
            }
            Err(unknown @ PspError::Unknown(_)) => return Err(unknown),
        };
        outcome.refund = Some(refund);
        Ok(outcome)
    }
}

#[cfg(test)]
#[path = "commands_tests.rs"]
mod tests;
