//! The records of what happens to a payment at the PSP that no command asked for: a shopper's dispute
//! (chargeback), the refunded total the PSP reports (which shows refunds made outside the app), and what
//! a shopper paying by bank transfer sent against what was asked.
//! `domain::psp_facts` applies them to a payment.

use serde::{Deserialize, Serialize};

/// Where a dispute stands, in PSP-neutral terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// The merchant should answer with evidence (or accept it) before the deadline.
    NeedsResponse,
    /// Evidence is with the bank.
    UnderReview,
    /// Decided for the merchant: the money stays (or comes back).
    Won,
    /// Decided for the shopper: the money is gone.
    Lost,
    /// An inquiry (early warning) closed without becoming a chargeback.
    Closed,
}

impl DisputeStatus {
    /// The status's name in `details`.
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::NeedsResponse => "needs_response",
            DisputeStatus::UnderReview => "under_review",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
            DisputeStatus::Closed => "closed",
        }
    }
}

/// A dispute of the payment, as the PSP reported it last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// The PSP's dispute id (`du_…`).
    pub id: String,
    /// Minor units disputed.
    pub amount: i64,
    /// The shopper's stated reason (`fraudulent`, `product_not_received`, ...).
    pub reason: String,
    /// Where it stands.
    pub status: DisputeStatus,
    /// When the PSP reported this (Unix seconds): an older report never overwrites a newer one.
    pub reported_at: i64,
}

/// The refunded total the PSP reported for the payment, and when.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PspRefunded {
    /// Minor units refunded at the PSP, by anyone.
    pub amount: i64,
    /// When the PSP reported it (Unix seconds).
    pub reported_at: i64,
}

/// What a shopper paying by bank transfer sent against the payment's amount, as the PSP reported it last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funding {
    /// Minor units sent minus the payment's amount: negative while money is missing (underpaid),
    /// positive when more arrived than asked (overpaid).
    pub balance: i64,
    /// When the PSP reported it (Unix seconds).
    pub reported_at: i64,
}
