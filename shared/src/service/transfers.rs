//! Marketplace payouts (contract §6, `POST /private/payments/transfers`): [`Payouts`] pays merchants their
//! share of an order at the PSP, or takes it back, and answers one [`TransmissionResult`] per merchant,
//! order and direction (see [`crate::domain::transfer`]).
//!
//! Each transmission is made at most once:
//! 1. it is checked (a merchant with a completed onboarding, a payment for the order, the ledger's money
//!    rules) and stored in the order's ledger as *requested*, under a version condition, before the PSP
//!    is asked: two requests at once cannot both spend the same money;
//! 2. the PSP is asked with an idempotency key derived from tenant, order, merchant, direction, items and
//!    attempt: a repeat after a lost answer gets the same transfer;
//! 3. the answer is stored (*made* with its id, or *failed*: the money is free again, and a repeat of the
//!    request is a new attempt with a new key).
//!
//! A repeated request answers the stored transfers. Nothing here fails the whole request: every problem
//! is a failed entry with its reason (Spryker's OMS stores it and may try again).

use super::operation::digest;
use crate::domain::{
    Direction, MerchantOnboardingStatus, Money, Payment, TransferLedger, TransferPlan, TransferRecord, TransferState,
    Transmission, TransmissionItem,
};
use crate::ports::onboarding::OnboardingStore;
use crate::ports::transfers::{MerchantTransfers, TransferOrder, TransferStore};
use crate::ports::{PaymentStore, PspError, StoreError};
use std::collections::BTreeMap;

/// How often a ledger write is tried again after another request changed the ledger in between.
const LEDGER_ATTEMPTS: usize = 5;

/// What became of one transmission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransmissionResult {
    /// The transmission.
    pub transmission: Transmission,
    /// The transfer that paid the items (for a reversal: the transfer it took money back from).
    pub transfer_id: Option<String>,
    /// Why it was not made, if it was not.
    pub failure: Option<String>,
}

impl TransmissionResult {
    fn failed(transmission: &Transmission, why: impl Into<String>) -> Self {
        TransmissionResult {
            transmission: transmission.clone(),
            transfer_id: None,
            failure: Some(why.into()),
        }
    }

    /// Whether the money moved.
    pub fn is_successful(&self) -> bool {
        self.failure.is_none() && self.transfer_id.is_some()
    }

    /// Minor units as Spryker counts them: the sum of the items (negative for a reversal).
    pub fn signed_amount(&self) -> i64 {
        self.transmission.items.iter().map(|i| i.amount).sum()
    }
}

/// Why a transmission stopped short; becomes its failure message.
struct Stop(String);

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop(format!("temporarily unavailable ({e}); send the request again"))
    }
}

/// Pays merchants out of orders (and takes payouts back).
pub struct Payouts<'a, S, T> {
    /// Payments, onboardings and transfer ledgers.
    pub store: &'a S,
    /// The PSP's transfers.
    pub transfers: &'a T,
}

impl<S, T> Payouts<'_, S, T>
where
    S: PaymentStore + OnboardingStore + TransferStore,
    T: MerchantTransfers,
{
    /// Makes every transmission of a request's `items` for `tenant`, one after another (each order's
    /// ledger sees the transmissions before it), and answers each.
    pub async fn transmit(&self, tenant: &str, items: &[TransmissionItem]) -> Vec<TransmissionResult> {
        let mut results = Vec::new();
        for transmission in Transmission::group(items) {
            let result = match self.make(tenant, &transmission).await {
                Ok(record) => answer(&transmission, &record),
                Err(Stop(why)) => TransmissionResult::failed(&transmission, why),
            };
            match &result.failure {
                None => tracing::info!(
                    merchant = %transmission.merchant_reference,
                    order = %transmission.order_reference,
                    transfer = ?result.transfer_id,
                    amount = result.signed_amount(),
                    "transfer made"
                ),
                Some(why) => tracing::warn!(
                    merchant = %transmission.merchant_reference,
                    order = %transmission.order_reference,
                    reason = %why,
                    "transfer not made"
                ),
            }
            results.push(result);
        }
        results
    }

    /// Checks, reserves, asks the PSP and records one transmission; its settled record.
    async fn make(&self, tenant: &str, transmission: &Transmission) -> Result<TransferRecord, Stop> {
        if let Some(problem) = transmission.problem() {
            return Err(Stop(problem));
        }
        let order = transmission.order_reference.as_str();
        let payment = self
            .store
            .find_payment_by_order(tenant, order)
            .await?
            .ok_or_else(|| Stop(format!("the app has no payment for order {order}")))?;
        let destination = match &transmission.direction {
            Direction::Payout => Some(self.payable_account(tenant, &transmission.merchant_reference).await?),
            Direction::Reversal(_) => None,
        };
        let record = self.reserve(tenant, transmission, &payment).await?;
        if record.state != TransferState::Requested {
            return Ok(record);
        }
        let asked = match (&transmission.direction, destination) {
            (Direction::Reversal(transfer_id), _) => {
                self.transfers
                    .reverse(tenant, transfer_id, record.amount, &record.idempotency_key)
                    .await
            }
            (Direction::Payout, Some(destination)) => {
                let order = transfer_order(tenant, &payment, &record, destination);
                self.transfers.transfer(tenant, &order).await
            }
            (Direction::Payout, None) => unreachable!("a payout's destination is read above"),
        };
        let settled = match asked {
            Ok(id) => TransferRecord {
                psp_id: Some(id),
                state: TransferState::Made,
                ..record
            },
            Err(PspError::Declined { code, message }) => TransferRecord {
                state: TransferState::Failed(format!("the PSP refused the transfer ({code}): {message}")),
                ..record
            },
            Err(PspError::Unknown(why)) => {
                return Err(Stop(format!(
                    "the PSP's answer is unknown ({why}); send the request again: it is never made twice"
                )));
            }
        };
        self.update(tenant, order, |ledger| Some(ledger.with(settled.clone())))
            .await?;
        Ok(settled)
    }

    /// The PSP account of a merchant whose onboarding lets it be paid.
    async fn payable_account(&self, tenant: &str, merchant: &str) -> Result<String, Stop> {
        let onboarding = self.store.get_onboarding(tenant, merchant).await?.ok_or_else(|| {
            Stop(format!(
                "merchant {merchant} has not started its onboarding: it cannot be paid"
            ))
        })?;
        match onboarding.status {
            MerchantOnboardingStatus::Completed | MerchantOnboardingStatus::RestrictedSoon => Ok(onboarding.account_id),
            MerchantOnboardingStatus::Incomplete
            | MerchantOnboardingStatus::Pending
            | MerchantOnboardingStatus::Enabled
            | MerchantOnboardingStatus::Restricted
            | MerchantOnboardingStatus::Rejected => Err(Stop(format!(
                "merchant {merchant}'s onboarding is {}: it can be paid once the onboarding is completed",
                onboarding.status.as_str()
            ))),
        }
    }

    /// The record to ask the PSP for (stored as requested), or the settled one of an earlier request.
    async fn reserve(
        &self,
        tenant: &str,
        transmission: &Transmission,
        payment: &Payment,
    ) -> Result<TransferRecord, Stop> {
        let order = transmission.order_reference.as_str();
        let key = |attempt: u32| transfer_key(tenant, transmission, attempt);
        let mut chosen = None;
        self.update(tenant, order, |ledger| {
            match ledger.plan(transmission, payment.refundable(), key) {
                Ok(TransferPlan::Answered(record)) | Ok(TransferPlan::AskAgain(record)) => {
                    chosen = Some(Ok(record));
                    None
                }
                Ok(TransferPlan::Ask(record)) => {
                    chosen = Some(Ok(record.clone()));
                    Some(ledger.with(record))
                }
                Err(refusal) => {
                    chosen = Some(Err(Stop(refusal.to_string())));
                    None
                }
            }
        })
        .await?;
        chosen.unwrap_or_else(|| {
            Err(Stop(
                "the order's transfers kept changing; send the request again".into(),
            ))
        })
    }

    /// Reads the order's ledger and stores what `change` makes of it (nothing when it answers `None`),
    /// again from a fresh read when another request wrote in between.
    async fn update(
        &self,
        tenant: &str,
        order: &str,
        mut change: impl FnMut(&TransferLedger) -> Option<TransferLedger>,
    ) -> Result<(), Stop> {
        for _ in 0..LEDGER_ATTEMPTS {
            let ledger = self
                .store
                .get_transfers(tenant, order)
                .await?
                .unwrap_or_else(|| TransferLedger::new(tenant, order));
            let Some(next) = change(&ledger) else {
                return Ok(());
            };
            match self.store.put_transfers(&next).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Stop(
            "the order's transfers kept changing; send the request again".into(),
        ))
    }
}

/// The answer to a transmission from its settled record.
fn answer(transmission: &Transmission, record: &TransferRecord) -> TransmissionResult {
    match (&record.state, &record.direction) {
        (TransferState::Made, Direction::Payout) => TransmissionResult {
            transmission: transmission.clone(),
            transfer_id: record.psp_id.clone(),
            failure: None,
        },
        (TransferState::Made, Direction::Reversal(transfer_id)) => TransmissionResult {
            transmission: transmission.clone(),
            transfer_id: Some(transfer_id.clone()),
            failure: None,
        },
        (TransferState::Failed(why), _) => TransmissionResult::failed(transmission, why.clone()),
        (TransferState::Requested, _) => TransmissionResult::failed(
            transmission,
            "the PSP's answer is unknown; send the request again: it is never made twice",
        ),
    }
}

/// The PSP idempotency key of `attempt` of `transmission`: tenant, order, merchant, direction and the
/// sorted items (Stripe allows 255 characters; a digest keeps it short).
fn transfer_key(tenant: &str, transmission: &Transmission, attempt: u32) -> String {
    let direction = match &transmission.direction {
        Direction::Payout => "payout".to_string(),
        Direction::Reversal(transfer_id) => format!("reversal:{transfer_id}"),
    };
    let items = transmission.item_references().join(",");
    let hash = digest(&[
        "transfer",
        tenant,
        &transmission.order_reference,
        &transmission.merchant_reference,
        &direction,
        &items,
    ]);
    format!("transfer-{hash}-{attempt}")
}

/// The PSP transfer of a payout `record` to `destination`, funded by the order's payment.
fn transfer_order(tenant: &str, payment: &Payment, record: &TransferRecord, destination: String) -> TransferOrder {
    let order = payment.order_reference.clone().unwrap_or_default();
    TransferOrder {
        amount: Money {
            minor: record.amount,
            currency: payment.amount.currency,
        },
        destination,
        payment_psp_reference: payment.psp_reference.clone(),
        transfer_group: order.clone(),
        idempotency_key: record.idempotency_key.clone(),
        metadata: BTreeMap::from([
            ("tenantIdentifier".to_string(), tenant.to_string()),
            ("merchantReference".to_string(), record.merchant_reference.clone()),
            ("orderReference".to_string(), order),
        ]),
    }
}

#[cfg(test)]
#[path = "transfers_tests.rs"]
mod tests;
