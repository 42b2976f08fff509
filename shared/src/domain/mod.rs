//! The domain: money, payments, refunds, tenant configuration and the decisions commands take on them. No AWS or HTTP types.

pub mod caller;
pub mod dispute;
pub mod money;
pub mod onboarding;
pub mod payment;
pub mod payment_method;
pub mod psp_facts;
pub mod refund;
pub mod shipment;
pub mod tenant;
pub mod transfer;

pub use caller::{Caller, Forbidden};
pub use dispute::{Dispute, DisputeStatus, Funding, PspRefunded};
pub use money::{Currency, Money, MoneyError};
pub use onboarding::{
    AccountHold, AccountReview, MerchantOnboarding, MerchantOnboardingStatus, StatusDecision, StatusSource,
};
pub use payment::{Payment, PaymentStatus, Rejection, ReturnUrls};
pub use payment_method::{CaptureMode, CheckoutStrategy, PaymentMethod};
pub use psp_facts::FundingState;
pub use refund::{Refund, RefundStatus};
pub use shipment::{CancelPlan, Capture, CapturePlan};
pub use transfer::{
    Direction, TransferLedger, TransferPlan, TransferRecord, TransferRefusal, TransferState, Transmission,
    TransmissionItem, TransmissionKind,
};

/// Identifies a shop (an ACP tenant). Every record and secret is scoped by it.
pub type TenantId = String;
