//! The transfer twins: [`TransferStore`] on [`MemoryStore`] (with the condition of the DynamoDB one) and
//! [`MemoryTransfers`], the PSP's transfers to merchants.

use super::{MemoryStore, lock};
use crate::domain::TransferLedger;
use crate::ports::transfers::{MerchantTransfers, TransferOrder, TransferStore};
use crate::ports::{PspError, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::task::yield_now;

/// Transfer ledgers by (tenant, order reference).
pub(super) type Ledgers = HashMap<(String, String), TransferLedger>;

impl TransferStore for MemoryStore {
    async fn get_transfers(&self, tenant: &str, order_reference: &str) -> Result<Option<TransferLedger>, StoreError> {
        yield_now().await;
        Ok(lock(&self.transfers)
            .get(&(tenant.to_string(), order_reference.to_string()))
            .cloned())
    }

    async fn put_transfers(&self, ledger: &TransferLedger) -> Result<(), StoreError> {
        yield_now().await;
        let mut ledgers = lock(&self.transfers);
        let key = (ledger.tenant.clone(), ledger.order_reference.clone());
        let stored = ledgers.get(&key).map(|l| l.version).unwrap_or(0);
        if stored + 1 != ledger.version {
            return Err(StoreError::Conflict(format!(
                "transfers of {} at version {stored}, not {}",
                ledger.order_reference,
                ledger.version - 1
            )));
        }
        ledgers.insert(key, ledger.clone());
        Ok(())
    }
}

/// A transfer at the PSP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryTransfer {
    /// The tenant whose platform made it.
    pub tenant: String,
    /// What was asked for.
    pub order: TransferOrder,
    /// Minor units taken back so far.
    pub reversed: i64,
}

#[derive(Default)]
struct TransfersState {
    /// Transfers by id (`tr_…`), in order of creation.
    transfers: Vec<(String, MemoryTransfer)>,
    /// What each idempotency key answered (the PSP replays it).
    by_key: HashMap<String, String>,
    /// The error the next call answers with (and does nothing).
    fail_next: Option<PspError>,
    /// The next call takes effect, but its answer is lost.
    lose_next_answer: bool,
}

/// The PSP's transfers in memory, with its idempotency and its limits (a reversal takes back at most
/// what is left of its transfer).
#[derive(Default)]
pub struct MemoryTransfers {
    state: Mutex<TransfersState>,
}

impl MemoryTransfers {
    /// No transfers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The transfers made, in order.
    pub fn transfers(&self) -> Vec<(String, MemoryTransfer)> {
        lock(&self.state).transfers.clone()
    }

    /// The next call answers `error` and does nothing.
    pub fn fail_next(&self, error: PspError) {
        lock(&self.state).fail_next = Some(error);
    }

    /// The next call takes effect, and its caller hears `Unknown` (a timeout after the PSP acted).
    pub fn lose_next_answer(&self) {
        lock(&self.state).lose_next_answer = true;
    }

    /// Runs one call: a failure set up before, a replay of its key, or `act`; the answer may be lost.
    fn call(
        &self,
        key: &str,
        act: impl FnOnce(&mut TransfersState) -> Result<String, PspError>,
    ) -> Result<String, PspError> {
        let mut s = lock(&self.state);
        if let Some(error) = s.fail_next.take() {
            return Err(error);
        }
        let id = match s.by_key.get(key) {
            Some(id) => id.clone(),
            None => {
                let id = act(&mut s)?;
                s.by_key.insert(key.to_string(), id.clone());
                id
            }
        };
        if std::mem::take(&mut s.lose_next_answer) {
            return Err(PspError::Unknown("timeout talking to the PSP".into()));
        }
        Ok(id)
    }
}

impl MerchantTransfers for MemoryTransfers {
    async fn transfer(&self, tenant: &str, order: &TransferOrder) -> Result<String, PspError> {
        yield_now().await;
        self.call(&order.idempotency_key, |s| {
            let id = format!("tr_{}", s.transfers.len() + 1);
            let transfer = MemoryTransfer {
                tenant: tenant.to_string(),
                order: order.clone(),
                reversed: 0,
            };
            s.transfers.push((id.clone(), transfer));
            Ok(id)
        })
    }

    async fn reverse(
        &self,
        _tenant: &str,
        transfer_id: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<String, PspError> {
        yield_now().await;
        self.call(idempotency_key, |s| {
            let reversals = s.by_key.len();
            let Some((_, transfer)) = s.transfers.iter_mut().find(|(id, _)| id == transfer_id) else {
                return Err(PspError::Declined {
                    code: "resource_missing".into(),
                    message: format!("No such transfer: {transfer_id}"),
                });
            };
            if transfer.reversed + amount > transfer.order.amount.minor {
                return Err(PspError::Declined {
                    code: "parameter_invalid_integer".into(),
                    message: "the reversal exceeds what is left of the transfer".into(),
                });
            }
            transfer.reversed += amount;
            Ok(format!("trr_{reversals}"))
        })
    }
}
