//! Marketplace payouts seen from the domain: the PSP moving money to and back from merchants' accounts
//! ([`MerchantTransfers`]), and where the app keeps each order's transfers ([`TransferStore`]).

use super::gateway::PspError;
use super::store::StoreError;
use crate::domain::{Money, TransferLedger};
use std::collections::BTreeMap;
use std::future::Future;

/// A transfer to make: money of the platform's balance to a merchant's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferOrder {
    /// What to transfer.
    pub amount: Money,
    /// The merchant's account at the PSP (`acct_…`).
    pub destination: String,
    /// The order's payment at the PSP (`pi_…`): the transfer is funded by its charge and waits until that
    /// money is available (Stripe `source_transaction`).
    pub payment_psp_reference: String,
    /// Groups an order's transfers at the PSP (the order reference; Stripe `transfer_group`).
    pub transfer_group: String,
    /// The same key on every retry of the same attempt: the PSP makes it once.
    pub idempotency_key: String,
    /// Reconciliation metadata kept on the transfer (tenant, merchant, order).
    pub metadata: BTreeMap<String, String>,
}

/// The PSP's transfers to merchants.
pub trait MerchantTransfers: Send + Sync {
    /// Makes `order` in `tenant`'s platform; its id (`tr_…`).
    fn transfer(&self, tenant: &str, order: &TransferOrder) -> impl Future<Output = Result<String, PspError>> + Send;

    /// Takes `amount` minor units of transfer `transfer_id` back; the reversal's id (`trr_…`).
    fn reverse(
        &self,
        tenant: &str,
        transfer_id: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<String, PspError>> + Send;
}

/// The orders' transfer ledgers.
pub trait TransferStore: Send + Sync {
    /// Reads an order's ledger (strongly consistent); `None` before its first transfer.
    fn get_transfers(
        &self,
        tenant: &str,
        order_reference: &str,
    ) -> impl Future<Output = Result<Option<TransferLedger>, StoreError>> + Send;

    /// Stores `ledger` if the stored one is still at `ledger.version - 1` (absent when that is 0), else
    /// `Conflict`. While the ledger has a transfer whose outcome is unknown, the tenant has open business
    /// ([`super::PaymentStore::has_open_payments`]).
    fn put_transfers(&self, ledger: &TransferLedger) -> impl Future<Output = Result<(), StoreError>> + Send;
}
