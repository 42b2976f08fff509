//! The payment record and its status machine (contract §4), plus the checks each command makes before any
//! money moves. Every match on a status is exhaustive: adding a status forces a decision everywhere.

use super::TenantId;
use super::dispute::{Dispute, Funding, PspRefunded};
use super::money::{Currency, Money};
use super::payment_method::CaptureMode;
use super::refund::{RefundBucket, RefundStatus};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A payment's status (contract §4). Refunds are separate records; the payment stays `captured`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Created, not yet authorized by the PSP.
    New,
    /// Authorized; money is held.
    Authorized,
    /// The PSP refused the authorization. Terminal.
    AuthorizationFailed,
    /// Capture asked for, result not yet known.
    CaptureRequested,
    /// Captured. Terminal for status; refunds follow as their own records.
    Captured,
    /// The capture failed; it may be retried.
    CaptureFailed,
    /// Canceled; the hold is released. Terminal.
    Canceled,
    /// The cancellation failed; only `canceled` may follow.
    CancellationFailed,
}

impl PaymentStatus {
    /// Every status, for table tests and exhaustive iteration.
    pub const ALL: [PaymentStatus; 8] = [
        PaymentStatus::New,
        PaymentStatus::Authorized,
        PaymentStatus::AuthorizationFailed,
        PaymentStatus::CaptureRequested,
        PaymentStatus::Captured,
        PaymentStatus::CaptureFailed,
        PaymentStatus::Canceled,
        PaymentStatus::CancellationFailed,
    ];

    /// The statuses this one may move to (contract §4 `ALLOWED_TRANSITIONS`).
    pub fn allowed_next(self) -> &'static [PaymentStatus] {
        use PaymentStatus::*;
        match self {
            New => &[
                Authorized,
                AuthorizationFailed,
                Canceled,
                CancellationFailed,
                Captured,
                CaptureFailed,
            ],
            Authorized => &[Captured, CaptureFailed, CaptureRequested, Canceled, CancellationFailed],
            CaptureRequested => &[Captured, CaptureFailed, Canceled, CancellationFailed],
            // Beyond contract §4: a failed status accepts the PSP's later facts (the money was captured
            // or released after all, the shopper's authorization went through after all).
            CaptureFailed => &[Captured, CaptureRequested, Canceled],
            CancellationFailed => &[Canceled, Captured],
            AuthorizationFailed => &[Authorized],
            Captured | Canceled => &[],
        }
    }

    /// Whether a payment in this status still counts as open for the tenant: everything but `captured`
    /// and `canceled` (contract §5.2: a disconnect with open payments needs confirmation).
    pub fn is_open(self) -> bool {
        match self {
            PaymentStatus::Captured | PaymentStatus::Canceled => false,
            PaymentStatus::New
            | PaymentStatus::Authorized
            | PaymentStatus::AuthorizationFailed
            | PaymentStatus::CaptureRequested
            | PaymentStatus::CaptureFailed
            | PaymentStatus::CancellationFailed => true,
        }
    }

    /// Whether a move from `self` to `to` is allowed. Staying in the same status is not a move.
    pub fn can_move_to(self, to: PaymentStatus) -> bool {
        self.allowed_next().contains(&to)
    }

    /// The snake_case name used on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::New => "new",
            PaymentStatus::Authorized => "authorized",
            PaymentStatus::AuthorizationFailed => "authorization_failed",
            PaymentStatus::CaptureRequested => "capture_requested",
            PaymentStatus::Captured => "captured",
            PaymentStatus::CaptureFailed => "capture_failed",
            PaymentStatus::Canceled => "canceled",
            PaymentStatus::CancellationFailed => "cancellation_failed",
        }
    }
}

/// Why a command was refused without asking the PSP. Each becomes the command's `...Failed` event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No payment is known for the order.
    #[error("no payment is known for this order")]
    UnknownPayment,
    /// The payment's status does not allow the command.
    #[error("a payment in status {status} cannot be {action}")]
    NotAllowed {
        /// The payment's status.
        status: &'static str,
        /// What was asked, e.g. "captured".
        action: &'static str,
    },
    /// The amount asked for is more than is available.
    #[error("amount {requested} exceeds the available {available}")]
    AmountExceeds {
        /// Minor units asked for.
        requested: i64,
        /// Minor units available.
        available: i64,
    },
    /// The amount is zero or negative where a positive one is needed.
    #[error("amount must not be zero")]
    ZeroAmount,
    /// The command's currency is not the payment's.
    #[error("currency {given} does not match the payment's {expected}")]
    CurrencyMismatch {
        /// The command's currency.
        given: String,
        /// The payment's currency.
        expected: &'static str,
    },
    /// Some items already have a pending or succeeded refund.
    #[error("items {0:?} are already refunded or being refunded")]
    ItemsAlreadyRefunded(Vec<i64>),
    /// The same command identity arrived earlier with a different amount or currency.
    #[error("this command was already received with a different amount or currency")]
    PayloadMismatch,
    /// Some items were canceled already: they are no longer to capture.
    #[error("items {0:?} are canceled")]
    ItemsCanceled(Vec<i64>),
    /// Some items were captured for the shop: Spryker refunds them, they are not canceled.
    #[error("items {0:?} are captured; refund them instead")]
    ItemsCaptured(Vec<i64>),
    /// The PSP refused the operation (a 4xx decline).
    #[error("declined by the PSP: {0}")]
    Declined(String),
}

/// One entry of the status history shown to the tenant in PaymentUpdated `details`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The status entered.
    pub status: PaymentStatus,
    /// When, as `YYYY-MM-DD HH:MM:SS` UTC.
    pub at: String,
}

/// Where the shop wants the shopper sent after the hosted payment page (initialize-payment's
/// `redirectSuccessUrl`, `redirectCancelUrl`, `checkoutSummaryPageUrl`), checked when stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnUrls {
    /// After a successful (or settling) payment.
    pub success: Option<String>,
    /// After the shopper canceled, or the payment failed for good.
    pub cancel: Option<String>,
    /// The shop's checkout summary.
    pub checkout_summary: Option<String>,
}

/// A payment the app manages for a tenant's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The shop.
    pub tenant: TenantId,
    /// The app's payment id (`transactionId` / `paymentReference`).
    pub transaction_id: String,
    /// The tenant's order reference; absent for a headless payment until confirmed.
    pub order_reference: Option<String>,
    /// The order's sales-order-item ids, when known (replies to PSP webhooks move exactly these).
    #[serde(default)]
    pub order_item_ids: Vec<i64>,
    /// The PSP's id for the payment (a Stripe PaymentIntent `pi_…`).
    pub psp_reference: String,
    /// Current status.
    pub status: PaymentStatus,
    /// The authorized (ordered) amount.
    pub amount: Money,
    /// Minor units captured.
    pub captured: i64,
    /// Minor units refunded (refunds that succeeded).
    pub refunded: i64,
    /// Minor units in refunds still pending at the PSP.
    pub refunding: i64,
    /// Items with a pending, processing or succeeded refund.
    pub refunded_item_ids: BTreeSet<i64>,
    /// Status history, oldest first.
    pub history: Vec<StatusChange>,
    /// Where the hosted payment page sends the shopper afterwards.
    #[serde(default)]
    pub return_urls: ReturnUrls,
    /// Why the PSP declined the last attempt (a code, never card data), while the shopper may retry.
    #[serde(default)]
    pub decline: Option<String>,
    /// When the money is taken: at CapturePayment (manual), or when the shopper pays (automatic).
    #[serde(default)]
    pub capture: CaptureMode,
    /// Each order item's amount in minor units, when the shop sent them (orderData items).
    #[serde(default)]
    pub item_amounts: BTreeMap<i64, i64>,
    /// Items a CapturePayment named that were answered PaymentCaptured (see `domain::shipment`).
    #[serde(default)]
    pub captured_item_ids: BTreeSet<i64>,
    /// Items a CancelPayment named that were answered PaymentCanceled.
    #[serde(default)]
    pub canceled_item_ids: BTreeSet<i64>,
    /// Σ amounts answered PaymentCaptured: what the shop counts as captured.
    #[serde(default)]
    pub shop_captured: i64,
    /// Σ amounts of canceled items: no longer to capture.
    #[serde(default)]
    pub canceled: i64,
    /// Money given back for canceled items that a capture had taken along (counted in `refunded` too).
    #[serde(default)]
    pub cancel_refunded: i64,
    /// Whether the PSP can capture this payment in several parts (Stripe multicapture), once learned.
    #[serde(default)]
    pub multicapture: Option<bool>,
    /// The PSP takes no further capture: a final capture was made.
    #[serde(default)]
    pub capture_closed: bool,
    /// Why a refund the tenant was told had succeeded failed afterwards at the PSP, and which
    /// (`{psp refund id}: {reason}`): shown in PaymentUpdated `details` for the shop's staff.
    #[serde(default)]
    pub refund_failure: Option<String>,
    /// The payment's disputes (chargebacks), as the PSP reported them last.
    #[serde(default)]
    pub disputes: Vec<Dispute>,
    /// The refunded total the PSP reported, by anyone (see [`Payment::external_refunded`]).
    #[serde(default)]
    pub psp_refunded: PspRefunded,
    /// Operators were warned that the uncaptured authorization ends within a day.
    #[serde(default)]
    pub expiry_warned: bool,
    /// Why the PSP canceled the payment when no CancelPayment asked it to (shown in `details`).
    #[serde(default)]
    pub psp_canceled: Option<String>,
    /// The PSP's customer created for this payment alone (a bank transfer's: money the shopper sends
    /// lands in that customer's balance), by which the PSP names the payment in balance events.
    #[serde(default)]
    pub psp_customer: Option<String>,
    /// What a shopper paying by bank transfer sent against the amount, once the PSP reported a
    /// difference.
    #[serde(default)]
    pub funding: Option<Funding>,
    /// Optimistic-concurrency version, incremented on every change.
    pub version: u64,
}

impl Payment {
    /// A new payment in status `new`.
    pub fn new(
        tenant: TenantId,
        transaction_id: String,
        order_reference: Option<String>,
        psp_reference: String,
        amount: Money,
        at: &str,
    ) -> Self {
        Payment {
            tenant,
            transaction_id,
            order_reference,
            order_item_ids: Vec::new(),
            psp_reference,
            status: PaymentStatus::New,
            return_urls: ReturnUrls::default(),
            decline: None,
            capture: CaptureMode::Manual,
            item_amounts: BTreeMap::new(),
            captured_item_ids: BTreeSet::new(),
            canceled_item_ids: BTreeSet::new(),
            shop_captured: 0,
            canceled: 0,
            cancel_refunded: 0,
            multicapture: None,
            capture_closed: false,
            refund_failure: None,
            disputes: Vec::new(),
            psp_refunded: PspRefunded::default(),
            expiry_warned: false,
            psp_canceled: None,
            psp_customer: None,
            funding: None,
            amount,
            captured: 0,
            refunded: 0,
            refunding: 0,
            refunded_item_ids: BTreeSet::new(),
            history: vec![StatusChange {
                status: PaymentStatus::New,
                at: at.to_string(),
            }],
            version: 0,
        }
    }

    /// Moves to `to`. `Ok(None)` when already there (no change, no event); an error when not allowed.
    pub fn moved_to(&self, to: PaymentStatus, at: &str) -> Result<Option<Payment>, Rejection> {
        if self.status == to {
            return Ok(None);
        }
        if !self.status.can_move_to(to) {
            return Err(self.not_allowed(to.as_str()));
        }
        let mut next = self.clone();
        next.status = to;
        next.history.push(StatusChange {
            status: to,
            at: at.to_string(),
        });
        next.version += 1;
        Ok(Some(next))
    }

    /// Whether the payment is open business for the tenant: its status is open (contract §5.2), or a
    /// refund is still pending at the PSP.
    pub fn is_open(&self) -> bool {
        self.status.is_open() || self.refunding > 0
    }

    /// The status the payment takes when the PSP reports `reported`. A payment the shopper never paid
    /// ends as a failed authorization when its PaymentIntent is canceled (the shopper canceled, or it
    /// expired): the order failed, nothing was held. After an authorization, canceled means canceled.
    ///
    /// A method captured when the shopper pays (automatic capture) is reported authorized when its
    /// money arrives: Spryker's order moves on as for any authorization, and its CapturePayment follows.
    pub fn status_reported_by_psp(&self, reported: PaymentStatus) -> PaymentStatus {
        match (self.status, reported) {
            (PaymentStatus::New, PaymentStatus::Canceled) => PaymentStatus::AuthorizationFailed,
            (PaymentStatus::New, PaymentStatus::Captured) if self.capture == CaptureMode::Automatic => {
                PaymentStatus::Authorized
            }
            (_, reported) => reported,
        }
    }

    pub(super) fn not_allowed(&self, action: &'static str) -> Rejection {
        Rejection::NotAllowed {
            status: self.status.as_str(),
            action,
        }
    }

    pub(super) fn check_currency(&self, code: Option<&str>) -> Result<(), Rejection> {
        match code {
            None => Ok(()),
            Some(code) => match Currency::parse(code) {
                Ok(c) if c == self.amount.currency => Ok(()),
                _ => Err(Rejection::CurrencyMismatch {
                    given: code.to_string(),
                    expected: self.amount.currency.code(),
                }),
            },
        }
    }

    /// Checks a cancellation.
    pub fn plan_cancel(&self) -> Result<(), Rejection> {
        if self.status.can_move_to(PaymentStatus::Canceled) {
            Ok(())
        } else {
            Err(self.not_allowed("canceled"))
        }
    }

    /// Checks a refund of `amount` (sign ignored, decision §9.5) for `items`; returns the positive amount.
    pub fn plan_refund(&self, amount: i64, currency: Option<&str>, items: &[i64]) -> Result<i64, Rejection> {
        match self.status {
            PaymentStatus::Captured => {}
            PaymentStatus::New
            | PaymentStatus::Authorized
            | PaymentStatus::AuthorizationFailed
            | PaymentStatus::CaptureRequested
            | PaymentStatus::CaptureFailed
            | PaymentStatus::Canceled
            | PaymentStatus::CancellationFailed => return Err(self.not_allowed("refunded")),
        }
        self.check_currency(currency)?;
        let requested = amount.checked_abs().ok_or(Rejection::ZeroAmount)?;
        if requested == 0 {
            return Err(Rejection::ZeroAmount);
        }
        let taken: Vec<i64> = items
            .iter()
            .copied()
            .filter(|i| self.refunded_item_ids.contains(i))
            .collect();
        if !taken.is_empty() {
            return Err(Rejection::ItemsAlreadyRefunded(taken));
        }
        let available = self.refundable();
        if requested > available {
            return Err(Rejection::AmountExceeds { requested, available });
        }
        Ok(requested)
    }

    /// Minor units that may still be refunded: what the shop captured (never more than the PSP holds),
    /// less the refunds that succeeded or are pending and those made outside the app. Money given back
    /// for canceled items was never the shop's capture and counts on neither side.
    pub fn refundable(&self) -> i64 {
        let shop_refunded = self.refunded - self.cancel_refunded;
        let captured = self.shop_captured.min(self.money_taken() - self.cancel_refunded);
        (captured - shop_refunded - self.refunding - self.external_refunded()).max(0)
    }

    /// The payment after the PSP reported it captured, `amount` in all: its capture is final, and the
    /// shop is told every open item is captured.
    pub fn captured(&self, amount: i64, at: &str) -> Result<Option<Payment>, Rejection> {
        let mut next = self.moved_to(PaymentStatus::Captured, at)?;
        if let Some(p) = next.as_mut() {
            p.captured = amount;
            p.capture_closed = true;
            let open = self.open_items();
            p.captured_item_ids.extend(open);
            p.shop_captured = (amount - self.cancel_refunded).max(self.shop_captured);
        }
        Ok(next)
    }

    /// The payment after a refund of `amount` for `items` moved from `from` (None: new) to `to`.
    /// Pending refunds reserve their amount and items; failed or canceled ones give them back.
    pub fn refund_moved(&self, amount: i64, items: &[i64], from: Option<RefundStatus>, to: RefundStatus) -> Payment {
        let mut next = self.clone();
        let bucket = |s: Option<RefundStatus>| s.map(RefundStatus::bucket);
        match bucket(from) {
            Some(RefundBucket::Reserved) => next.refunding -= amount,
            Some(RefundBucket::Refunded) => next.refunded -= amount,
            Some(RefundBucket::Released) | None => {}
        }
        match to.bucket() {
            RefundBucket::Reserved => next.refunding += amount,
            RefundBucket::Refunded => next.refunded += amount,
            RefundBucket::Released => {}
        }
        match to.bucket() {
            RefundBucket::Reserved | RefundBucket::Refunded => next.refunded_item_ids.extend(items),
            RefundBucket::Released => {
                for i in items {
                    next.refunded_item_ids.remove(i);
                }
            }
        }
        next.version += 1;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentStatus::*;

    fn payment(status: PaymentStatus) -> Payment {
        let mut p = Payment::new(
            "tenant".into(),
            "tx-1".into(),
            Some("DE--1".into()),
            "pi_1".into(),
            Money::new(1000, Currency::parse("EUR").unwrap()),
            "2026-01-01 00:00:00",
        );
        p.status = status;
        if status == Captured {
            p.captured = 1000;
            p.shop_captured = 1000;
            p.capture_closed = true;
        }
        p
    }

    /// The whole transition table of contract §4, written out: every (from, to) pair.
    #[test]
    fn every_transition_pair_matches_the_contract() {
        let allowed: &[(PaymentStatus, &[PaymentStatus])] = &[
            (
                New,
                &[
                    Authorized,
                    AuthorizationFailed,
                    Canceled,
                    CancellationFailed,
                    Captured,
                    CaptureFailed,
                ],
            ),
            (
                Authorized,
                &[Captured, CaptureFailed, CaptureRequested, Canceled, CancellationFailed],
            ),
            (AuthorizationFailed, &[Authorized]),
            (
                CaptureRequested,
                &[Captured, CaptureFailed, Canceled, CancellationFailed],
            ),
            (Captured, &[]),
            (CaptureFailed, &[Captured, CaptureRequested, Canceled]),
            (Canceled, &[]),
            (CancellationFailed, &[Canceled, Captured]),
        ];
        for (from, tos) in allowed {
            for to in PaymentStatus::ALL {
                let p = payment(*from);
                let result = p.moved_to(to, "t");
                if *from == to {
                    assert_eq!(result, Ok(None), "{from:?} -> itself is no change");
                } else if tos.contains(&to) {
                    let next = result.unwrap().unwrap();
                    assert_eq!(next.status, to);
                    assert_eq!(next.version, p.version + 1);
                    assert_eq!(next.history.last().unwrap().status, to);
                } else {
                    assert!(result.is_err(), "{from:?} -> {to:?} must be refused");
                }
            }
        }
    }

    /// Each command checked in each status.
    #[test]
    fn commands_per_status() {
        for status in PaymentStatus::ALL {
            let p = payment(status);
            // A fully captured payment answers a capture again (the items are captured), moving nothing.
            let capture_ok = matches!(status, Authorized | CaptureRequested | CaptureFailed | Captured);
            assert_eq!(
                p.plan_split_capture(&[1], Some(500), Some("EUR"), false).is_ok(),
                capture_ok,
                "capture in {status:?}"
            );
            let cancel_ok = matches!(
                status,
                New | Authorized | CaptureRequested | CaptureFailed | CancellationFailed
            );
            assert_eq!(p.plan_cancel().is_ok(), cancel_ok, "cancel in {status:?}");
            assert_eq!(
                p.plan_refund(-100, Some("EUR"), &[1]).is_ok(),
                status == Captured,
                "refund in {status:?}"
            );
        }
    }

    #[test]
    fn capture_defaults_to_what_is_open_and_never_exceeds_it() {
        let p = payment(Authorized);
        let amount = |r: Result<crate::domain::Capture, Rejection>| r.map(|c| c.amount);
        assert_eq!(amount(p.plan_split_capture(&[1], None, None, false)), Ok(1000));
        assert_eq!(
            amount(p.plan_split_capture(&[1], Some(600), Some("eur"), false)),
            Ok(600)
        );
        assert_eq!(
            amount(p.plan_split_capture(&[1], Some(1001), None, false)),
            Err(Rejection::AmountExceeds {
                requested: 1001,
                available: 1000
            })
        );
        assert_eq!(
            amount(p.plan_split_capture(&[1], Some(0), None, false)),
            Err(Rejection::ZeroAmount)
        );
        assert!(matches!(
            p.plan_split_capture(&[1], Some(10), Some("USD"), false),
            Err(Rejection::CurrencyMismatch { .. })
        ));
        let whole = p.plan_split_capture(&[1], None, None, false).unwrap();
        let captured = p.capture_done(&whole, 1000, false, "t");
        assert_eq!((captured.status, captured.captured), (Captured, 1000));
        assert_eq!(
            captured
                .plan_split_capture(&[2], Some(400), None, false)
                .map(|c| c.plan),
            Ok(crate::domain::CapturePlan::AlreadyCaptured),
            "nothing left to capture: answered, nothing moves"
        );
    }

    #[test]
    fn refunds_never_exceed_what_was_captured() {
        let mut p = payment(Captured);
        p.captured = 600;
        assert_eq!(p.plan_refund(-300, None, &[1]), Ok(300));
        let p = p.refund_moved(300, &[1], None, RefundStatus::Succeeded);
        assert_eq!(
            p.plan_refund(-300, None, &[1]),
            Err(Rejection::ItemsAlreadyRefunded(vec![1]))
        );
        assert_eq!(p.plan_refund(-300, None, &[2]), Ok(300));
        let p = p.refund_moved(300, &[2], None, RefundStatus::Pending);
        assert_eq!((p.refunded, p.refunding, p.refundable()), (300, 300, 0));
        assert_eq!(
            p.plan_refund(-1, None, &[3]),
            Err(Rejection::AmountExceeds {
                requested: 1,
                available: 0
            })
        );
        // The pending refund fails later: its amount and items are free again.
        let p = p.refund_moved(300, &[2], Some(RefundStatus::Pending), RefundStatus::Failed);
        assert_eq!((p.refunded, p.refunding, p.refundable()), (300, 0, 300));
        assert_eq!(p.plan_refund(-300, None, &[2]), Ok(300));
        assert_eq!(p.plan_refund(0, None, &[4]), Err(Rejection::ZeroAmount));
    }
}
