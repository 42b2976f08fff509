//! [`TransferStore`] on the payments table (see the parent module for the helpers and the other items).
//!
//! | item      | `pk`                       | `sk`                  | attributes                       |
//! |-----------|----------------------------|-----------------------|----------------------------------|
//! | transfers | `TENANT#{t}#ORDER#{order}` | `TRANSFERS`           | the [`TransferLedger`] fields    |
//! | open      | `TENANT#{t}#OPEN`          | `TRANSFER#{order}`    | none: exists while one is open   |
//!
//! The ledger sits beside the order's alias item. Each write is conditional on the version read
//! (optimistic locking) and keeps the tenant's open marker in step, in one transaction: a transfer
//! whose outcome is unknown is open business for disconnect.

use super::{DynamoStore, decode, item_with_key, key, marker_action, n, names, open_pk, order_pk, part, put, values};
use crate::domain::TransferLedger;
use crate::ports::StoreError;
use crate::ports::transfers::TransferStore;

const TRANSFERS_SK: &str = "TRANSFERS";
/// The stored ledger is still at the version read.
const SAME_VERSION: &str = "#version = :expected";
/// No ledger yet.
const NO_LEDGER: &str = "attribute_not_exists(pk)";

fn ledger_key(tenant: &str, order_reference: &str) -> super::Item {
    key(order_pk(tenant, order_reference), TRANSFERS_SK)
}

impl TransferStore for DynamoStore {
    async fn get_transfers(&self, tenant: &str, order_reference: &str) -> Result<Option<TransferLedger>, StoreError> {
        self.get(ledger_key(tenant, order_reference))
            .await?
            .map(|item| decode("transfers", item))
            .transpose()
    }

    async fn put_transfers(&self, ledger: &TransferLedger) -> Result<(), StoreError> {
        let item = item_with_key("transfers", ledger, ledger_key(&ledger.tenant, &ledger.order_reference))?;
        let write = if ledger.version <= 1 {
            put(
                &self.table,
                item,
                Some(NO_LEDGER),
                Default::default(),
                Default::default(),
            )?
        } else {
            put(
                &self.table,
                item,
                Some(SAME_VERSION),
                names(&["version"]),
                values([("expected", n(ledger.version - 1))]),
            )?
        };
        let marker = key(
            open_pk(&ledger.tenant),
            format!("TRANSFER#{}", part(&ledger.order_reference)),
        );
        self.transact(vec![write, marker_action(&self.table, marker, ledger.has_open())?])
            .await
            .map_err(|f| f.into_store_error("put transfers"))
    }
}
