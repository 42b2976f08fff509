//! Marketplace payouts (contract §6, `POST /private/payments/transfers`): a marketplace's OMS asks the
//! app to pay each merchant its share of an order (positive amounts), or to take a payout back (negative
//! amounts naming the transfer).
//!
//! Spryker sends a flat list of [`TransmissionItem`]s; [`Transmission::group`] turns it into one
//! transmission per merchant, order and direction (a payout, or the reversal of one transfer). The app
//! keeps one [`TransferLedger`] per order: every transfer it asked the PSP for and how it ended. The
//! ledger enforces the two money rules: what is paid out for an order never exceeds what the shop holds
//! for it (captured less refunded), and a reversal never takes back more than its transfer paid.

use super::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an item pays for (Spryker's `PaymentTransmissionItem.type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TransmissionKind {
    /// A sales order item.
    OrderItem,
    /// An order expense (e.g. the merchant's shipping).
    OrderExpense,
}

/// One line of a transfer request: the merchant's share of one item or expense.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TransmissionItem {
    /// What it pays for.
    pub kind: TransmissionKind,
    /// The merchant paid.
    pub merchant_reference: String,
    /// The order.
    pub order_reference: String,
    /// The item's (or expense's) UUID.
    pub item_reference: String,
    /// Minor units: positive pays out, negative takes back.
    pub amount: i64,
    /// On a reversal: the transfer that paid the item.
    pub transfer_id: Option<String>,
}

/// Which way the money goes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "transfer_id")]
pub enum Direction {
    /// From the platform to the merchant.
    Payout,
    /// Back from the merchant, out of this transfer (`tr_…`).
    Reversal(String),
}

/// The items of one merchant and order that move money the same way: one PSP call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmission {
    /// The merchant.
    pub merchant_reference: String,
    /// The order.
    pub order_reference: String,
    /// Payout, or the reversal of one transfer.
    pub direction: Direction,
    /// The items, in request order.
    pub items: Vec<TransmissionItem>,
}

impl Transmission {
    /// Groups a request's items into transmissions, in the order their first item came. Negative items
    /// are reversals of the transfer they name; a negative item without one is its own transmission and
    /// is refused by [`Transmission::problem`].
    pub fn group(items: &[TransmissionItem]) -> Vec<Transmission> {
        let mut groups: Vec<Transmission> = Vec::new();
        for item in items {
            let direction = if item.amount >= 0 {
                Direction::Payout
            } else {
                Direction::Reversal(item.transfer_id.clone().unwrap_or_default())
            };
            let same = |g: &&mut Transmission| {
                g.merchant_reference == item.merchant_reference
                    && g.order_reference == item.order_reference
                    && g.direction == direction
            };
            match groups.iter_mut().find(|g| same(g)) {
                Some(group) => group.items.push(item.clone()),
                None => groups.push(Transmission {
                    merchant_reference: item.merchant_reference.clone(),
                    order_reference: item.order_reference.clone(),
                    direction,
                    items: vec![item.clone()],
                }),
            }
        }
        groups
    }

    /// Minor units moved (positive either way).
    pub fn amount(&self) -> i64 {
        self.items.iter().map(|i| i.amount).sum::<i64>().abs()
    }

    /// The item references, sorted: with the direction, they identify the transmission.
    pub fn item_references(&self) -> Vec<String> {
        let mut references: Vec<String> = self.items.iter().map(|i| i.item_reference.clone()).collect();
        references.sort();
        references
    }

    /// Why the transmission cannot be made whatever the ledger says, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.merchant_reference.trim().is_empty() {
            return Some("merchantReference is missing".into());
        }
        if self.order_reference.trim().is_empty() {
            return Some("orderReference is missing".into());
        }
        match &self.direction {
            Direction::Reversal(id) if id.trim().is_empty() => {
                Some("a negative amount reverses a transfer: transferId is missing".into())
            }
            Direction::Payout | Direction::Reversal(_) if self.amount() == 0 => Some("the amount is zero".into()),
            Direction::Payout | Direction::Reversal(_) => None,
        }
    }
}

/// How a transfer the app asked for stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "message")]
pub enum TransferState {
    /// Asked for; the PSP's answer is not known yet. Its amount counts as moved until it is known.
    Requested,
    /// The PSP made it.
    Made,
    /// The PSP refused it (its message): nothing moved. A repeat of the request is a new attempt.
    Failed(String),
}

/// One transfer (or reversal) the app asked the PSP for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRecord {
    /// The merchant.
    pub merchant_reference: String,
    /// Payout, or the reversal of which transfer.
    pub direction: Direction,
    /// The items, as requested.
    pub items: Vec<TransmissionItem>,
    /// Minor units (positive).
    pub amount: i64,
    /// The attempt (1, 2, ...): a failed transfer requested again is a new attempt with a new PSP key.
    pub attempt: u32,
    /// The PSP's idempotency key of this attempt.
    pub idempotency_key: String,
    /// The PSP's id (`tr_…` for a payout, `trr_…` for a reversal) once made.
    pub psp_id: Option<String>,
    /// How it stands.
    pub state: TransferState,
}

impl TransferRecord {
    /// Whether this record is `transmission` (same merchant, direction and items).
    pub fn is(&self, transmission: &Transmission) -> bool {
        let mut references: Vec<&str> = self.items.iter().map(|i| i.item_reference.as_str()).collect();
        references.sort_unstable();
        self.merchant_reference == transmission.merchant_reference
            && self.direction == transmission.direction
            && references == transmission.item_references()
    }

    /// Whether its money counts as moved (made, or asked for and not known to have failed).
    fn counts(&self) -> bool {
        match self.state {
            TransferState::Requested | TransferState::Made => true,
            TransferState::Failed(_) => false,
        }
    }
}

/// Why a transmission is refused before anything is asked of the PSP.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferRefusal {
    /// More than the order still holds for payouts.
    #[error("{requested} exceeds what the order still holds for payouts ({available})")]
    ExceedsOrder {
        /// Minor units asked for.
        requested: i64,
        /// Minor units left: captured less refunded less paid out.
        available: i64,
    },
    /// The transfer to reverse is not one of this merchant's for this order.
    #[error("transfer {0} is not a payout of this merchant for this order")]
    UnknownTransfer(String),
    /// More than is left of the transfer.
    #[error("{requested} exceeds what is left of transfer {transfer_id} ({left})")]
    ExceedsTransfer {
        /// The transfer.
        transfer_id: String,
        /// Minor units asked for.
        requested: i64,
        /// Minor units not yet reversed.
        left: i64,
    },
}

/// What to do with a transmission, given the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferPlan {
    /// Answered before: answer the same.
    Answered(TransferRecord),
    /// Asked for before without a known answer: ask the PSP again with the same key.
    AskAgain(TransferRecord),
    /// New (or a new attempt after a failure): store this record, then ask the PSP.
    Ask(TransferRecord),
}

/// Every transfer of one order of one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLedger {
    /// The tenant.
    pub tenant: TenantId,
    /// The order.
    pub order_reference: String,
    /// The transfers and reversals, in the order they were first asked for.
    pub records: Vec<TransferRecord>,
    /// Optimistic-locking version: 0 before the first write, incremented on each.
    pub version: u64,
}

impl TransferLedger {
    /// An order without transfers.
    pub fn new(tenant: &str, order_reference: &str) -> Self {
        TransferLedger {
            tenant: tenant.to_string(),
            order_reference: order_reference.to_string(),
            records: Vec::new(),
            version: 0,
        }
    }

    /// Minor units paid out for the order, net of reversals (requested ones count).
    pub fn paid_out(&self) -> i64 {
        self.records
            .iter()
            .filter(|r| r.counts())
            .map(|r| match r.direction {
                Direction::Payout => r.amount,
                Direction::Reversal(_) => -r.amount,
            })
            .sum()
    }

    /// What is left of payout `transfer_id` of `merchant`, or `None` when the ledger has no such made payout.
    pub fn left_of(&self, merchant_reference: &str, transfer_id: &str) -> Option<i64> {
        let payout = self.records.iter().find(|r| {
            r.direction == Direction::Payout
                && r.merchant_reference == merchant_reference
                && r.state == TransferState::Made
                && r.psp_id.as_deref() == Some(transfer_id)
        })?;
        let reversed: i64 = self
            .records
            .iter()
            .filter(|r| r.counts() && r.direction == Direction::Reversal(transfer_id.to_string()))
            .map(|r| r.amount)
            .sum();
        Some(payout.amount - reversed)
    }

    /// Whether some transfer's outcome is still unknown.
    pub fn has_open(&self) -> bool {
        self.records.iter().any(|r| r.state == TransferState::Requested)
    }

    /// What to do with `transmission`, the order holding `held` minor units (captured less refunded).
    /// `key` derives the PSP idempotency key of an attempt. The latest attempt of the same transmission
    /// decides: made → answered; requested → ask again; failed → a new attempt, checked like a new one.
    pub fn plan(
        &self,
        transmission: &Transmission,
        held: i64,
        key: impl Fn(u32) -> String,
    ) -> Result<TransferPlan, TransferRefusal> {
        let latest = self.records.iter().rev().find(|r| r.is(transmission));
        let attempt = match latest {
            Some(r) if r.state == TransferState::Made => return Ok(TransferPlan::Answered(r.clone())),
            Some(r) if r.state == TransferState::Requested => return Ok(TransferPlan::AskAgain(r.clone())),
            Some(r) => r.attempt + 1,
            None => 1,
        };
        let requested = transmission.amount();
        match &transmission.direction {
            Direction::Payout => {
                let available = (held - self.paid_out()).max(0);
                if requested > available {
                    return Err(TransferRefusal::ExceedsOrder { requested, available });
                }
            }
            Direction::Reversal(transfer_id) => {
                let left = self
                    .left_of(&transmission.merchant_reference, transfer_id)
                    .ok_or_else(|| TransferRefusal::UnknownTransfer(transfer_id.clone()))?;
                if requested > left {
                    return Err(TransferRefusal::ExceedsTransfer {
                        transfer_id: transfer_id.clone(),
                        requested,
                        left,
                    });
                }
            }
        }
        Ok(TransferPlan::Ask(TransferRecord {
            merchant_reference: transmission.merchant_reference.clone(),
            direction: transmission.direction.clone(),
            items: transmission.items.clone(),
            amount: requested,
            attempt,
            idempotency_key: key(attempt),
            psp_id: None,
            state: TransferState::Requested,
        }))
    }

    /// The ledger with `record` stored: it replaces the record with the same idempotency key, or is added.
    pub fn with(&self, record: TransferRecord) -> TransferLedger {
        let mut next = self.clone();
        match next
            .records
            .iter_mut()
            .find(|r| r.idempotency_key == record.idempotency_key)
        {
            Some(stored) => *stored = record,
            None => next.records.push(record),
        }
        next.version += 1;
        next
    }

    /// Minor units paid out per merchant, net of reversals (made ones only): what the merchants got.
    pub fn per_merchant(&self) -> BTreeMap<String, i64> {
        let mut sums = BTreeMap::new();
        for r in self.records.iter().filter(|r| r.state == TransferState::Made) {
            let signed = match r.direction {
                Direction::Payout => r.amount,
                Direction::Reversal(_) => -r.amount,
            };
            *sums.entry(r.merchant_reference.clone()).or_insert(0) += signed;
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(merchant: &str, reference: &str, amount: i64, transfer: Option<&str>) -> TransmissionItem {
        TransmissionItem {
            kind: TransmissionKind::OrderItem,
            merchant_reference: merchant.into(),
            order_reference: "DE--1".into(),
            item_reference: reference.into(),
            amount,
            transfer_id: transfer.map(str::to_string),
        }
    }

    fn key(attempt: u32) -> String {
        format!("key-{attempt}")
    }

    /// `ledger` after `transmission` was asked for (under a key of its own) and made as `psp_id`.
    fn made(ledger: &TransferLedger, transmission: &Transmission, held: i64, psp_id: &str) -> TransferLedger {
        let own_key = |attempt: u32| format!("{psp_id}-{attempt}");
        let TransferPlan::Ask(mut record) = ledger.plan(transmission, held, own_key).unwrap() else {
            panic!("expected a new transfer")
        };
        record.psp_id = Some(psp_id.into());
        record.state = TransferState::Made;
        ledger.with(record)
    }

    #[test]
    fn items_group_by_merchant_order_and_direction() {
        let groups = Transmission::group(&[
            item("MER1", "a", 500, None),
            item("MER2", "b", 300, None),
            item("MER1", "c", 200, None),
            item("MER1", "d", -100, Some("tr_1")),
            item("MER1", "e", -50, Some("tr_2")),
        ]);
        let summary: Vec<(&str, &Direction, i64, Vec<String>)> = groups
            .iter()
            .map(|g| {
                (
                    g.merchant_reference.as_str(),
                    &g.direction,
                    g.amount(),
                    g.item_references(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("MER1", &Direction::Payout, 700, vec!["a".to_string(), "c".to_string()]),
                ("MER2", &Direction::Payout, 300, vec!["b".to_string()]),
                ("MER1", &Direction::Reversal("tr_1".into()), 100, vec!["d".to_string()]),
                ("MER1", &Direction::Reversal("tr_2".into()), 50, vec!["e".to_string()]),
            ]
        );
    }

    #[test]
    fn a_reversal_without_its_transfer_or_a_zero_amount_is_refused() {
        let groups = Transmission::group(&[item("MER1", "a", -100, None), item("MER2", "b", 0, None)]);
        assert_eq!(
            groups[0].problem().as_deref(),
            Some("a negative amount reverses a transfer: transferId is missing")
        );
        assert_eq!(groups[1].problem().as_deref(), Some("the amount is zero"));
        assert_eq!(Transmission::group(&[item("MER1", "a", 1, None)])[0].problem(), None);
    }

    #[test]
    fn payouts_never_exceed_what_the_order_holds() {
        let ledger = TransferLedger::new("t", "DE--1");
        let first = &Transmission::group(&[item("MER1", "a", 700, None)])[0];
        let ledger = made(&ledger, first, 1000, "tr_1");
        let second = &Transmission::group(&[item("MER2", "b", 400, None)])[0];
        assert_eq!(
            ledger.plan(second, 1000, key),
            Err(TransferRefusal::ExceedsOrder {
                requested: 400,
                available: 300
            })
        );
        // A reversal gives the room back.
        let back = &Transmission::group(&[item("MER1", "a", -200, Some("tr_1"))])[0];
        let ledger = made(&ledger, back, 1000, "trr_1");
        assert_eq!(ledger.paid_out(), 500);
        assert!(matches!(ledger.plan(second, 1000, key), Ok(TransferPlan::Ask(_))));
        assert_eq!(ledger.per_merchant(), BTreeMap::from([("MER1".to_string(), 500)]));
    }

    #[test]
    fn a_repeated_transmission_is_answered_the_same_and_a_requested_one_is_asked_again() {
        let ledger = TransferLedger::new("t", "DE--1");
        let payout = &Transmission::group(&[item("MER1", "a", 300, None), item("MER1", "b", 200, None)])[0];
        let TransferPlan::Ask(requested) = ledger.plan(payout, 1000, key).unwrap() else {
            panic!("expected a new transfer")
        };
        assert_eq!(
            (requested.amount, requested.attempt, requested.idempotency_key.as_str()),
            (500, 1, "key-1")
        );
        let ledger = ledger.with(requested.clone());
        // The same items in another order are the same transmission.
        let again = &Transmission::group(&[item("MER1", "b", 200, None), item("MER1", "a", 300, None)])[0];
        assert_eq!(
            ledger.plan(again, 1000, key),
            Ok(TransferPlan::AskAgain(requested.clone()))
        );
        let ledger = ledger.with(TransferRecord {
            psp_id: Some("tr_1".into()),
            state: TransferState::Made,
            ..requested
        });
        assert_eq!(ledger.records.len(), 1);
        assert!(
            matches!(ledger.plan(again, 1000, key), Ok(TransferPlan::Answered(r)) if r.psp_id.as_deref() == Some("tr_1"))
        );
    }

    #[test]
    fn a_failed_transfer_asked_again_is_a_new_attempt_and_its_money_counts_no_more() {
        let ledger = TransferLedger::new("t", "DE--1");
        let payout = &Transmission::group(&[item("MER1", "a", 600, None)])[0];
        let TransferPlan::Ask(first) = ledger.plan(payout, 1000, key).unwrap() else {
            panic!("expected a new transfer")
        };
        let ledger = ledger.with(TransferRecord {
            state: TransferState::Failed("insufficient funds".into()),
            ..first
        });
        assert_eq!(ledger.paid_out(), 0);
        let Ok(TransferPlan::Ask(second)) = ledger.plan(payout, 1000, key) else {
            panic!("expected a new attempt")
        };
        assert_eq!((second.attempt, second.idempotency_key.as_str()), (2, "key-2"));
        assert_eq!(ledger.with(second).records.len(), 2);
    }

    #[test]
    fn a_reversal_takes_back_at_most_what_is_left_of_its_own_merchants_transfer() {
        let ledger = TransferLedger::new("t", "DE--1");
        let payout = &Transmission::group(&[item("MER1", "a", 600, None)])[0];
        let ledger = made(&ledger, payout, 1000, "tr_1");
        let too_much = &Transmission::group(&[item("MER1", "a", -700, Some("tr_1"))])[0];
        assert_eq!(
            ledger.plan(too_much, 1000, key),
            Err(TransferRefusal::ExceedsTransfer {
                transfer_id: "tr_1".into(),
                requested: 700,
                left: 600
            })
        );
        let other_merchant = &Transmission::group(&[item("MER2", "a", -100, Some("tr_1"))])[0];
        assert_eq!(
            ledger.plan(other_merchant, 1000, key),
            Err(TransferRefusal::UnknownTransfer("tr_1".into()))
        );
        let part = &Transmission::group(&[item("MER1", "a", -250, Some("tr_1"))])[0];
        let ledger = made(&ledger, part, 1000, "trr_1");
        assert_eq!(ledger.left_of("MER1", "tr_1"), Some(350));
        assert!(!ledger.has_open());
    }
}
