//! Split shipments and partial cancels (decisions §9.16, §9.17): what a CapturePayment or CancelPayment
//! for some of an order's items does to the money, decided on the payment alone.
//!
//! Spryker's OMS sends one CapturePayment per shipment, for that shipment's items and amount, and one
//! CancelPayment for the items it cancels (its amount is always 0). The payment keeps two ledgers:
//! - the **money** at the PSP: `captured` (what the PSP took), `refunded`, and whether the PSP takes
//!   another capture (`capture_closed`);
//! - the **shop's view**: the items answered PaymentCaptured (`captured_item_ids`, `shop_captured`) and
//!   PaymentCanceled (`canceled_item_ids`, `canceled`).
//!
//! With multicapture, each shipment is captured on its own (the last one as the final capture). Without
//! it, the first capture takes everything still open; later shipments are answered without moving money,
//! and items canceled afterwards are given back by a refund.

use super::payment::{Payment, PaymentStatus, Rejection};
use super::payment_method::CaptureMode;
use std::collections::BTreeSet;

/// What a CapturePayment does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapturePlan {
    /// Ask the PSP to capture `amount`; `final_capture` when nothing may be captured after it.
    Psp {
        /// Minor units to capture now.
        amount: i64,
        /// Whether the PSP releases what is left after this capture.
        final_capture: bool,
    },
    /// The money is taken already (a full capture took these items along, or the method captured when
    /// the shopper paid): answer without moving money.
    Taken,
    /// The items are captured for the shop already (an earlier attempt, or the PSP's webhook, got there
    /// first): answer again, nothing changes.
    AlreadyCaptured,
}

/// A capture checked against the payment: the amount answered to the shop and what to do at the PSP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The amount PaymentCaptured reports: the command's, or what is still open.
    pub amount: i64,
    /// The command's items.
    pub items: BTreeSet<i64>,
    /// The PSP side.
    pub plan: CapturePlan,
}

/// What a CancelPayment does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelPlan {
    /// Cancel the PaymentIntent: nothing was captured and no open item is left.
    CancelAtPsp,
    /// Release what is left to capture with a final capture of zero: some shipments were captured
    /// (multicapture) and no open item is left.
    ReleaseRemainder,
    /// Only the shop's ledger changes: `amount` is no longer to be captured (the PSP releases what is
    /// never captured).
    Drop {
        /// Minor units no longer to capture (0 when the items' amounts are unknown).
        amount: i64,
    },
    /// Give back `amount` that a capture took along for these items.
    Refund {
        /// Minor units to refund.
        amount: i64,
    },
    /// The items are canceled already: answer again, nothing moves.
    AlreadyCanceled,
}

impl Payment {
    /// Items of the order neither captured nor canceled for the shop (empty when the order's items are
    /// unknown).
    pub fn open_items(&self) -> BTreeSet<i64> {
        self.order_item_ids
            .iter()
            .copied()
            .filter(|i| !self.captured_item_ids.contains(i) && !self.canceled_item_ids.contains(i))
            .collect()
    }

    /// Minor units still to capture for the shop: authorized − answered captures − canceled items.
    pub fn open_amount(&self) -> i64 {
        self.amount.minor - self.shop_captured - self.canceled
    }

    /// Money the PSP holds for this payment: what it captured, or everything once paid by a method that
    /// captures when the shopper pays.
    pub fn money_taken(&self) -> i64 {
        match (self.capture, self.status) {
            (CaptureMode::Automatic, PaymentStatus::New) | (CaptureMode::Manual, _) => self.captured,
            (CaptureMode::Automatic, _) => self.amount.minor.max(self.captured),
        }
    }

    /// Money taken but neither answered as captured nor given back for a cancel.
    pub fn unassigned(&self) -> i64 {
        self.money_taken() - self.shop_captured - self.cancel_refunded
    }

    /// Whether the PSP holds the money already (a final capture, or a method that captures when paid).
    fn money_fully_taken(&self) -> bool {
        self.capture_closed || (self.capture == CaptureMode::Automatic && self.status != PaymentStatus::New)
    }

    /// Whether nothing stays open after `items` (or the command's amount, when the order's items are
    /// unknown) are captured or canceled.
    pub fn leaves_nothing_open(&self, items: &BTreeSet<i64>, amount: Option<i64>) -> bool {
        if self.order_item_ids.is_empty() {
            return amount.is_none_or(|a| a >= self.open_amount());
        }
        self.open_items().is_subset(items)
    }

    /// Σ of the items' amounts, when every one is known.
    fn items_amount(&self, items: &BTreeSet<i64>) -> Option<i64> {
        items.iter().map(|i| self.item_amounts.get(i).copied()).sum()
    }

    /// Checks a CapturePayment for `items` (`amount` as sent; absent means what is open) and plans it.
    /// `multicapture` says whether the PSP can capture this payment in several parts.
    pub fn plan_split_capture(
        &self,
        items: &[i64],
        amount: Option<i64>,
        currency: Option<&str>,
        multicapture: bool,
    ) -> Result<Capture, Rejection> {
        let capturable = match self.status {
            PaymentStatus::Authorized
            | PaymentStatus::CaptureRequested
            | PaymentStatus::CaptureFailed
            | PaymentStatus::Captured => true,
            PaymentStatus::New
            | PaymentStatus::AuthorizationFailed
            | PaymentStatus::Canceled
            | PaymentStatus::CancellationFailed => false,
        };
        if !capturable {
            return Err(self.not_allowed("captured"));
        }
        self.check_currency(currency)?;
        let items: BTreeSet<i64> = items.iter().copied().collect();
        let fully_captured = self.status == PaymentStatus::Captured
            && self.capture_closed
            && self.open_amount() <= 0
            && self.unassigned() <= 0;
        if (!items.is_empty() && items.is_subset(&self.captured_item_ids)) || fully_captured {
            return Ok(Capture {
                amount: amount.or_else(|| self.items_amount(&items)).unwrap_or(0),
                items,
                plan: CapturePlan::AlreadyCaptured,
            });
        }
        let canceled: Vec<i64> = items.intersection(&self.canceled_item_ids).copied().collect();
        if !canceled.is_empty() {
            return Err(Rejection::ItemsCanceled(canceled));
        }
        let open = self.open_amount();
        let last = self.leaves_nothing_open(&items, amount);
        let requested = match amount {
            Some(a) => a,
            None if last => open,
            None => self.items_amount(&items).unwrap_or(open),
        };
        if requested <= 0 {
            return Err(Rejection::ZeroAmount);
        }
        if requested > open {
            return Err(Rejection::AmountExceeds {
                requested,
                available: open,
            });
        }
        let plan = if self.money_fully_taken() {
            let available = self.unassigned();
            if requested > available {
                return Err(Rejection::AmountExceeds { requested, available });
            }
            CapturePlan::Taken
        } else if multicapture {
            CapturePlan::Psp {
                amount: requested,
                final_capture: last,
            }
        } else {
            // One capture only: it takes everything still open; later shipments are answered from it.
            CapturePlan::Psp {
                amount: open,
                final_capture: true,
            }
        };
        Ok(Capture {
            amount: requested,
            items,
            plan,
        })
    }

    /// The payment after `capture` was done; `psp_captured` is the PSP's captured total afterwards
    /// (the PSP decides, not a sum kept here). `multicapture` is what the PSP said of it.
    pub fn capture_done(&self, capture: &Capture, psp_captured: i64, multicapture: bool, at: &str) -> Payment {
        let mut next = self
            .moved_to(PaymentStatus::Captured, at)
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                let mut same = self.clone();
                same.version += 1;
                same
            });
        next.captured = next.captured.max(psp_captured);
        next.shop_captured += capture.amount;
        next.captured_item_ids.extend(&capture.items);
        next.multicapture = Some(multicapture);
        match capture.plan {
            CapturePlan::Psp { final_capture, .. } => next.capture_closed |= final_capture,
            CapturePlan::Taken | CapturePlan::AlreadyCaptured => {}
        }
        next
    }

    /// Checks a CancelPayment for `items` and plans it. Items a CapturePayment named are captured for
    /// the shop: cancelling them is refused (Spryker refunds captured items, contract §5.6).
    pub fn plan_partial_cancel(&self, items: &[i64]) -> Result<CancelPlan, Rejection> {
        let items: BTreeSet<i64> = items.iter().copied().collect();
        let captured: Vec<i64> = items.intersection(&self.captured_item_ids).copied().collect();
        if !captured.is_empty() {
            return Err(Rejection::ItemsCaptured(captured));
        }
        if !items.is_empty() && items.is_subset(&self.canceled_item_ids) {
            return Ok(CancelPlan::AlreadyCanceled);
        }
        let last = items.is_empty() || self.leaves_nothing_open(&items, None);
        let fresh: BTreeSet<i64> = items.difference(&self.canceled_item_ids).copied().collect();
        // Never more than is still open: the shop's capture amounts need not add up to the items'.
        let amount = self.items_amount(&fresh).map(|a| a.min(self.open_amount().max(0)));
        match self.status {
            PaymentStatus::Canceled | PaymentStatus::AuthorizationFailed => return Err(self.not_allowed("canceled")),
            PaymentStatus::New
            | PaymentStatus::Authorized
            | PaymentStatus::CaptureRequested
            | PaymentStatus::Captured
            | PaymentStatus::CaptureFailed
            | PaymentStatus::CancellationFailed => {}
        }
        if self.money_taken() == 0 && self.shop_captured == 0 {
            // Nothing captured: the last open items cancel the PaymentIntent, others lower the amount.
            self.plan_cancel()?;
            return Ok(if last || self.status == PaymentStatus::New {
                CancelPlan::CancelAtPsp
            } else {
                CancelPlan::Drop {
                    amount: amount.unwrap_or(0),
                }
            });
        }
        let unassigned = self.unassigned();
        Ok(if !self.money_fully_taken() {
            // Shipments captured one by one (multicapture): what is never captured is released.
            match last {
                true => CancelPlan::ReleaseRemainder,
                false => CancelPlan::Drop {
                    amount: amount.unwrap_or(0),
                },
            }
        } else if last {
            // Whatever the capture took and the shop never captured goes back.
            CancelPlan::Refund { amount: unassigned }
        } else {
            match amount {
                Some(amount) => CancelPlan::Refund {
                    amount: amount.min(unassigned),
                },
                // Unknown amounts: given back when the last open items are canceled.
                None => CancelPlan::Drop { amount: 0 },
            }
        })
    }

    /// The payment after a cancel of `items` planned as `plan` was done (`refunded`: money given back).
    /// A payment with nothing captured and nothing left open is canceled.
    pub fn cancel_done(&self, items: &[i64], plan: CancelPlan, at: &str) -> Payment {
        let all_gone = |p: &Payment| p.shop_captured == 0 && (items.is_empty() || p.open_items().is_empty());
        let mut next = self.clone();
        next.version += 1;
        let fresh: BTreeSet<i64> = items
            .iter()
            .copied()
            .filter(|i| !self.canceled_item_ids.contains(i))
            .collect();
        next.canceled_item_ids.extend(&fresh);
        match plan {
            CancelPlan::CancelAtPsp => {}
            CancelPlan::AlreadyCanceled => return next,
            CancelPlan::ReleaseRemainder => next.capture_closed = true,
            CancelPlan::Drop { amount } => next.canceled += amount,
            CancelPlan::Refund { amount } => {
                next.canceled += amount.min(self.open_amount().max(0));
                next.cancel_refunded += amount;
                next.refunded += amount;
            }
        }
        if plan == CancelPlan::CancelAtPsp || (all_gone(&next) && next.status != PaymentStatus::Captured) {
            next.canceled = next.amount.minor - next.shop_captured;
            if let Ok(Some(canceled)) = next.moved_to(PaymentStatus::Canceled, at) {
                return canceled;
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money};

    /// An authorized 1000 payment of items 1 (300), 2 (300) and 3 (400).
    fn order() -> Payment {
        let mut p = Payment::new(
            "t".into(),
            "tx".into(),
            Some("DE--1".into()),
            "pi_1".into(),
            Money::new(1000, Currency::parse("EUR").unwrap()),
            "t0",
        );
        p.order_item_ids = vec![1, 2, 3];
        p.item_amounts = [(1, 300), (2, 300), (3, 400)].into();
        p.moved_to(PaymentStatus::Authorized, "t1").unwrap().unwrap()
    }

    #[test]
    fn multicapture_captures_each_shipment_and_the_last_one_finally() {
        let p = order();
        let first = p.plan_split_capture(&[1], Some(300), None, true).unwrap();
        assert_eq!(
            first.plan,
            CapturePlan::Psp {
                amount: 300,
                final_capture: false
            }
        );
        let p = p.capture_done(&first, 300, true, "t2");
        assert_eq!(
            (p.status, p.captured, p.shop_captured),
            (PaymentStatus::Captured, 300, 300)
        );
        let last = p.plan_split_capture(&[2, 3], Some(700), None, true).unwrap();
        assert_eq!(
            last.plan,
            CapturePlan::Psp {
                amount: 700,
                final_capture: true
            }
        );
        let p = p.capture_done(&last, 1000, true, "t3");
        assert!(p.capture_closed);
        let again = p.plan_split_capture(&[3], Some(400), None, true).unwrap();
        assert_eq!(
            again.plan,
            CapturePlan::AlreadyCaptured,
            "captured before: answered again"
        );
    }

    #[test]
    fn without_multicapture_the_first_capture_takes_everything_and_later_ones_move_nothing() {
        let p = order();
        let first = p.plan_split_capture(&[1], Some(300), None, false).unwrap();
        assert_eq!(
            first.plan,
            CapturePlan::Psp {
                amount: 1000,
                final_capture: true
            }
        );
        let p = p.capture_done(&first, 1000, false, "t2");
        assert_eq!((p.captured, p.shop_captured, p.unassigned()), (1000, 300, 700));
        let second = p.plan_split_capture(&[2], Some(300), None, false).unwrap();
        assert_eq!(second.plan, CapturePlan::Taken);
        let p = p.capture_done(&second, 1000, false, "t3");
        // Item 3 is never shipped: its cancel gives its money back.
        assert_eq!(p.plan_partial_cancel(&[3]), Ok(CancelPlan::Refund { amount: 400 }));
        let p = p.cancel_done(&[3], CancelPlan::Refund { amount: 400 }, "t4");
        assert_eq!((p.refunded, p.unassigned(), p.open_amount()), (400, 0, 0));
        assert_eq!(p.status, PaymentStatus::Captured);
        assert_eq!(
            p.plan_partial_cancel(&[1]),
            Err(Rejection::ItemsCaptured(vec![1])),
            "captured items are refunded by Spryker, never canceled"
        );
    }

    #[test]
    fn partial_cancels_before_any_capture_lower_the_amount_and_the_last_cancels_the_intent() {
        let p = order();
        assert_eq!(p.plan_partial_cancel(&[1]), Ok(CancelPlan::Drop { amount: 300 }));
        let p = p.cancel_done(&[1], CancelPlan::Drop { amount: 300 }, "t2");
        assert_eq!((p.status, p.open_amount()), (PaymentStatus::Authorized, 700));
        assert_eq!(p.plan_partial_cancel(&[1]), Ok(CancelPlan::AlreadyCanceled));
        // A capture without multicapture now takes only what is still open.
        let capture = p.plan_split_capture(&[2], Some(300), None, false).unwrap();
        assert_eq!(
            capture.plan,
            CapturePlan::Psp {
                amount: 700,
                final_capture: true
            }
        );
        assert_eq!(p.plan_partial_cancel(&[2, 3]), Ok(CancelPlan::CancelAtPsp));
        let canceled = p.cancel_done(&[2, 3], CancelPlan::CancelAtPsp, "t3");
        assert_eq!((canceled.status, canceled.open_amount()), (PaymentStatus::Canceled, 0));
    }

    #[test]
    fn the_last_cancel_after_multicapture_releases_the_remainder() {
        let p = order();
        let first = p.plan_split_capture(&[1], Some(300), None, true).unwrap();
        let p = p.capture_done(&first, 300, true, "t2");
        assert_eq!(p.plan_partial_cancel(&[2]), Ok(CancelPlan::Drop { amount: 300 }));
        let p = p.cancel_done(&[2], CancelPlan::Drop { amount: 300 }, "t3");
        assert_eq!(p.plan_partial_cancel(&[3]), Ok(CancelPlan::ReleaseRemainder));
        let p = p.cancel_done(&[3], CancelPlan::ReleaseRemainder, "t4");
        assert!(p.capture_closed);
        assert_eq!(p.status, PaymentStatus::Captured);
    }

    #[test]
    fn unknown_items_keep_the_whole_order_semantics() {
        let mut p = order();
        p.order_item_ids.clear();
        p.item_amounts.clear();
        assert_eq!(p.plan_partial_cancel(&[1]), Ok(CancelPlan::CancelAtPsp));
        let all = p.plan_split_capture(&[1], None, None, true).unwrap();
        assert_eq!(
            all.plan,
            CapturePlan::Psp {
                amount: 1000,
                final_capture: true
            }
        );
        let part = p.plan_split_capture(&[1], Some(400), None, true).unwrap();
        assert_eq!(
            part.plan,
            CapturePlan::Psp {
                amount: 400,
                final_capture: false
            }
        );
    }

    #[test]
    fn captures_never_exceed_what_is_open_nor_take_canceled_items() {
        let p = order();
        let p = p.cancel_done(&[3], CancelPlan::Drop { amount: 400 }, "t2");
        assert_eq!(
            p.plan_split_capture(&[1, 2], Some(700), None, true),
            Err(Rejection::AmountExceeds {
                requested: 700,
                available: 600
            })
        );
        assert_eq!(
            p.plan_split_capture(&[3], Some(100), None, true),
            Err(Rejection::ItemsCanceled(vec![3]))
        );
    }
}
