//! What happens to a payment at the PSP that nobody at the shop asked for (issue 12 §1, §2):
//! - a shopper's dispute (chargeback), and refunds made outside the app (the Stripe Dashboard): both are
//!   recorded and shown to the shop in PaymentUpdated `details`; neither ever becomes a PaymentRefunded,
//!   which only answers items Spryker named;
//! - what a shopper paying by bank transfer sent, when it differs from the amount (decision §9.11):
//!   PaymentUnderpaid while money is missing, PaymentOverpaid when more arrived;
//! - the end of an uncaptured authorization: Stripe cancels a PaymentIntent 7 days after it was
//!   authorized. The app warns a day before, and answers the PSP's cancel with PaymentCanceled for the
//!   items still open.

use super::dispute::{Dispute, Funding, PspRefunded};
use super::payment::{Payment, PaymentStatus, Rejection};
use super::payment_method::CaptureMode;
use time::PrimitiveDateTime;
use time::macros::format_description;

/// A payment paid with another amount than asked (decision §9.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FundingState {
    /// Less arrived than asked, and the payment still waits for the rest.
    Underpaid {
        /// Minor units asked.
        requested: i64,
        /// Minor units sent so far.
        paid: i64,
    },
    /// More arrived than asked: the rest waits at the PSP to be given back.
    Overpaid {
        /// Minor units asked.
        requested: i64,
        /// Minor units sent.
        paid: i64,
    },
}

impl FundingState {
    /// The state's name in `details` (`underpaid`, `overpaid`).
    pub fn as_str(self) -> &'static str {
        match self {
            FundingState::Underpaid { .. } => "underpaid",
            FundingState::Overpaid { .. } => "overpaid",
        }
    }

    /// Minor units asked, and sent.
    pub fn amounts(self) -> (i64, i64) {
        match self {
            FundingState::Underpaid { requested, paid } | FundingState::Overpaid { requested, paid } => {
                (requested, paid)
            }
        }
    }
}

/// How long the PSP keeps an uncaptured authorization (Stripe: 7 days; cards may lose it earlier).
pub const AUTHORIZATION_LIFETIME_SECONDS: i64 = 7 * 24 * 3600;
/// How long before the end of an authorization operators are warned.
pub const EXPIRY_WARNING_SECONDS: i64 = 24 * 3600;

impl Payment {
    /// The payment with the PSP's latest word on one of its disputes; `None` when it says nothing new
    /// (the same state again, or a report older than the one recorded).
    pub fn disputed(&self, dispute: Dispute) -> Option<Payment> {
        let known = self.disputes.iter().find(|d| d.id == dispute.id);
        if known.is_some_and(|d| {
            d.reported_at > dispute.reported_at || (d.status, d.amount) == (dispute.status, dispute.amount)
        }) {
            return None;
        }
        let mut next = self.clone();
        next.disputes.retain(|d| d.id != dispute.id);
        next.disputes.push(dispute);
        next.version += 1;
        Some(next)
    }

    /// The payment with the PSP's refunded total as of `reported_at`; `None` when it says nothing new.
    pub fn psp_refunded_reported(&self, amount: i64, reported_at: i64) -> Option<Payment> {
        let known = self.psp_refunded;
        if known.reported_at > reported_at || known.amount == amount {
            return None;
        }
        let mut next = self.clone();
        next.psp_refunded = PspRefunded { amount, reported_at };
        next.version += 1;
        Some(next)
    }

    /// The payment with what the shopper sent as of `reported_at` (`balance`: sent minus the amount);
    /// `None` when the PSP says nothing new (the same balance, or a report older than the one recorded).
    pub fn funding_reported(&self, balance: i64, reported_at: i64) -> Option<Payment> {
        let known = self.funding.unwrap_or_default();
        if known.reported_at > reported_at || known.balance == balance {
            return None;
        }
        let mut next = self.clone();
        next.funding = Some(Funding { balance, reported_at });
        next.version += 1;
        Some(next)
    }

    /// Whether the payment was paid with another amount than asked. Missing money counts only while the
    /// payment waits for it (once the PSP reports it paid, the rest arrived); money beyond the amount
    /// only once the payment took its own (before, the PSP has not applied any of it).
    pub fn funding_state(&self) -> Option<FundingState> {
        let balance = self.funding?.balance;
        let requested = self.amount.minor;
        let paid = requested + balance;
        let waiting = match self.status {
            PaymentStatus::New | PaymentStatus::AuthorizationFailed => true,
            PaymentStatus::Authorized
            | PaymentStatus::CaptureRequested
            | PaymentStatus::Captured
            | PaymentStatus::CaptureFailed
            | PaymentStatus::Canceled
            | PaymentStatus::CancellationFailed => false,
        };
        match (balance.signum(), waiting) {
            (-1, true) => Some(FundingState::Underpaid { requested, paid }),
            (1, false) => Some(FundingState::Overpaid { requested, paid }),
            _ => None,
        }
    }

    /// When the payment was authorized (Unix seconds), from its status history.
    pub fn authorized_at(&self) -> Option<i64> {
        let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
        let entry = self
            .history
            .iter()
            .rev()
            .find(|h| h.status == PaymentStatus::Authorized)?;
        let at = PrimitiveDateTime::parse(&entry.at, &format).ok()?;
        Some(at.assume_utc().unix_timestamp())
    }

    /// When the PSP will cancel the uncaptured authorization, while it waits for a capture.
    pub fn authorization_expires_at(&self) -> Option<i64> {
        let waiting = self.status == PaymentStatus::Authorized && self.capture == CaptureMode::Manual;
        waiting
            .then(|| self.authorized_at())
            .flatten()
            .map(|at| at + AUTHORIZATION_LIFETIME_SECONDS)
    }

    /// When operators are to be warned of the authorization's end; `None` once they were.
    pub fn expiry_warning_due(&self) -> Option<i64> {
        if self.expiry_warned {
            return None;
        }
        self.authorization_expires_at().map(|end| end - EXPIRY_WARNING_SECONDS)
    }

    /// The payment after its authorization's end was announced.
    pub fn expiry_announced(&self) -> Payment {
        let mut next = self.clone();
        next.expiry_warned = true;
        next.version += 1;
        next
    }

    /// The payment after the PSP canceled it without a CancelPayment (its authorization expired, or an
    /// operator canceled it in the PSP's dashboard) at `now`: the items still open are canceled, and
    /// `psp_canceled` says why for the shop's staff. `Ok(None)` when it is canceled already.
    pub fn canceled_at_psp(&self, at: &str, now: i64) -> Result<Option<Payment>, Rejection> {
        let Some(mut next) = self.moved_to(PaymentStatus::Canceled, at)? else {
            return Ok(None);
        };
        next.canceled_item_ids.extend(self.open_items());
        next.canceled = self.amount.minor - self.shop_captured;
        let expired = self
            .authorization_expires_at()
            .is_some_and(|end| now >= end - EXPIRY_WARNING_SECONDS);
        next.psp_canceled = Some(
            if expired {
                "the authorization expired at the PSP before it was captured"
            } else {
                "canceled at the PSP, not by a CancelPayment"
            }
            .to_string(),
        );
        Ok(Some(next))
    }

    /// Minor units refunded at the PSP that none of the app's refunds explains: refunds made outside the
    /// app. They count against what the shop may still refund.
    pub fn external_refunded(&self) -> i64 {
        (self.psp_refunded.amount - self.refunded - self.refunding).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, DisputeStatus, Money};

    fn captured(amount: i64) -> Payment {
        let mut p = Payment::new(
            "t".into(),
            "tx".into(),
            Some("o".into()),
            "pi_1".into(),
            Money::new(amount, Currency::parse("EUR").unwrap()),
            "2026-12-04 10:00:00",
        );
        p.status = PaymentStatus::Captured;
        p.captured = amount;
        p.shop_captured = amount;
        p
    }

    fn dispute(status: DisputeStatus, reported_at: i64) -> Dispute {
        Dispute {
            id: "du_1".into(),
            amount: 4000,
            reason: "fraudulent".into(),
            status,
            reported_at,
        }
    }

    #[test]
    fn a_dispute_is_recorded_updated_and_never_goes_back() {
        let p = captured(10000);
        let opened = p.disputed(dispute(DisputeStatus::NeedsResponse, 10)).unwrap();
        assert_eq!(opened.disputes, vec![dispute(DisputeStatus::NeedsResponse, 10)]);
        assert_eq!(opened.version, p.version + 1);
        assert!(
            opened.disputed(dispute(DisputeStatus::NeedsResponse, 11)).is_none(),
            "same state"
        );
        let lost = opened.disputed(dispute(DisputeStatus::Lost, 20)).unwrap();
        assert_eq!(lost.disputes, vec![dispute(DisputeStatus::Lost, 20)]);
        assert!(
            lost.disputed(dispute(DisputeStatus::UnderReview, 15)).is_none(),
            "older report"
        );
        let second = Dispute {
            id: "du_2".into(),
            ..dispute(DisputeStatus::NeedsResponse, 30)
        };
        assert_eq!(lost.disputed(second).unwrap().disputes.len(), 2);
    }

    #[test]
    fn a_bank_transfer_is_underpaid_until_the_rest_arrives_and_overpaid_beyond_it() {
        let mut p = captured(10000);
        p.status = PaymentStatus::New;
        assert_eq!(p.funding_state(), None);
        let partly = p.funding_reported(-4000, 10).unwrap();
        assert_eq!(
            (partly.funding_state(), partly.version),
            (
                Some(FundingState::Underpaid {
                    requested: 10000,
                    paid: 6000
                }),
                p.version + 1
            )
        );
        assert!(partly.funding_reported(-4000, 11).is_none(), "the same balance");
        assert!(partly.funding_reported(-1000, 9).is_none(), "an older report");
        // The rest arrived: the PSP reports the payment paid, nothing is missing any more.
        let mut paid = partly.clone();
        paid.status = PaymentStatus::Authorized;
        assert_eq!(paid.funding_state(), None);
        let mut early = partly.funding_reported(2500, 15).unwrap();
        assert_eq!(early.funding_state(), None, "not applied to the payment yet");
        early.status = PaymentStatus::Authorized;
        assert!(matches!(early.funding_state(), Some(FundingState::Overpaid { .. })));
        let over = paid.funding_reported(2500, 20).unwrap();
        assert_eq!(
            over.funding_state(),
            Some(FundingState::Overpaid {
                requested: 10000,
                paid: 12500
            })
        );
    }

    #[test]
    fn an_authorization_is_announced_a_day_before_the_psp_cancels_it() {
        let mut p = captured(10000);
        p.status = PaymentStatus::Authorized;
        p.captured = 0;
        p.shop_captured = 0;
        p.history.push(crate::domain::payment::StatusChange {
            status: PaymentStatus::Authorized,
            at: "2026-12-04 10:00:05".into(),
        });
        let authorized = 1_796_378_405; // 2026-12-04 10:00:05 UTC
        assert_eq!(p.authorized_at(), Some(authorized));
        assert_eq!(p.authorization_expires_at(), Some(authorized + 7 * 86400));
        assert_eq!(p.expiry_warning_due(), Some(authorized + 6 * 86400));
        let warned = p.expiry_announced();
        assert_eq!((warned.expiry_warning_due(), warned.version), (None, p.version + 1));
        let mut automatic = p.clone();
        automatic.capture = CaptureMode::Automatic;
        assert_eq!(automatic.expiry_warning_due(), None, "nothing waits for a capture");

        // Items 2 and 3 are open (1 was canceled): the PSP's cancel cancels them.
        p.order_item_ids = vec![1, 2, 3];
        p.canceled_item_ids.insert(1);
        p.canceled = 2000;
        let expired = p
            .canceled_at_psp("2026-12-11 10:00:06", authorized + 7 * 86400)
            .unwrap()
            .unwrap();
        assert_eq!(expired.status, PaymentStatus::Canceled);
        assert_eq!(expired.canceled_item_ids.len(), 3);
        assert_eq!(expired.canceled, 10000);
        assert!(expired.psp_canceled.as_deref().unwrap().contains("expired"));
        let by_hand = p
            .canceled_at_psp("2026-12-05 10:00:00", authorized + 86400)
            .unwrap()
            .unwrap();
        assert!(
            by_hand
                .psp_canceled
                .as_deref()
                .unwrap()
                .contains("not by a CancelPayment")
        );
        assert_eq!(
            expired.canceled_at_psp("2026-12-11 10:00:07", authorized + 7 * 86400),
            Ok(None)
        );
    }

    #[test]
    fn refunds_outside_the_app_count_against_the_refundable_amount() {
        let mut p = captured(10000);
        p.refunded = 2000;
        p.refunding = 1000;
        assert_eq!(p.refundable(), 7000);
        // Stripe counts the app's refunds too: only what they do not explain is external.
        let ours_only = p.psp_refunded_reported(3000, 10).unwrap();
        assert_eq!((ours_only.external_refunded(), ours_only.refundable()), (0, 7000));
        let dashboard = ours_only.psp_refunded_reported(5500, 20).unwrap();
        assert_eq!((dashboard.external_refunded(), dashboard.refundable()), (2500, 4500));
        assert!(dashboard.psp_refunded_reported(3000, 15).is_none(), "older report");
        assert!(dashboard.psp_refunded_reported(5500, 25).is_none(), "same total");
        let mut all_back = dashboard.clone();
        all_back.psp_refunded = PspRefunded {
            amount: 10000,
            reported_at: 30,
        };
        assert_eq!(all_back.refundable(), 0);
    }
}
