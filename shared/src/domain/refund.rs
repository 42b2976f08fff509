//! A refund is its own record (decision §9.7): one per RefundPayment, with its own status.

use serde::{Deserialize, Serialize};

/// Where a refund's amount counts on its payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundBucket {
    /// Pending at the PSP: reserved against the captured amount.
    Reserved,
    /// Succeeded.
    Refunded,
    /// Failed or canceled: counts nowhere.
    Released,
}

/// A refund's status at the PSP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Accepted by the PSP, not final yet.
    Pending,
    /// Being processed (e.g. needs an action).
    Processing,
    /// Money returned.
    Succeeded,
    /// The PSP could not refund.
    Failed,
    /// Canceled before it completed.
    Canceled,
}

impl RefundStatus {
    /// Where the refund's amount counts on the payment.
    pub fn bucket(self) -> RefundBucket {
        match self {
            RefundStatus::Pending | RefundStatus::Processing => RefundBucket::Reserved,
            RefundStatus::Succeeded => RefundBucket::Refunded,
            RefundStatus::Failed | RefundStatus::Canceled => RefundBucket::Released,
        }
    }

    /// Whether a refund in this status may move to `to`: a refund that is not final moves, and staying
    /// in the same status is not a move. Of the final ones only a success moves: the card issuer or bank
    /// can still fail it at Stripe (up to 30 days later), and the PSP's fact wins.
    pub fn can_move_to(self, to: RefundStatus) -> bool {
        match self {
            RefundStatus::Pending | RefundStatus::Processing => to != self,
            RefundStatus::Succeeded => to == RefundStatus::Failed,
            RefundStatus::Failed | RefundStatus::Canceled => false,
        }
    }

    /// Whether the refund can still change.
    pub fn is_final(self) -> bool {
        match self {
            RefundStatus::Pending | RefundStatus::Processing => false,
            RefundStatus::Succeeded | RefundStatus::Failed | RefundStatus::Canceled => true,
        }
    }
}

/// A refund of (part of) a captured payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The refund's id: the idempotency key of the RefundPayment that asked for it.
    pub refund_id: String,
    /// The payment's `transactionId`.
    pub transaction_id: String,
    /// The PSP's id (`re_…`), once known.
    pub psp_reference: Option<String>,
    /// Status at the PSP.
    pub status: RefundStatus,
    /// Positive minor units refunded.
    pub amount: i64,
    /// The command's `amount` exactly as received (negative), echoed in the reply.
    pub requested_amount: i64,
    /// The command's `orderItemIds`, echoed in the reply.
    pub order_item_ids: Vec<i64>,
    /// The command's currency, echoed in the reply.
    pub currency_iso_code: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use RefundStatus::*;

    #[test]
    fn only_unfinished_refunds_move_and_a_success_may_still_fail() {
        let all = [Pending, Processing, Succeeded, Failed, Canceled];
        for from in all {
            for to in all {
                let late_failure = (from, to) == (Succeeded, Failed);
                assert_eq!(
                    from.can_move_to(to),
                    (!from.is_final() && from != to) || late_failure,
                    "{from:?} -> {to:?}"
                );
            }
        }
    }
}
