//! PSP webhooks seen from the domain: where a tenant's signing secrets come from, and what a verified
//! PSP event says about a payment or one of its refunds, in PSP-neutral terms. The PSP adapter turns its
//! own events into a [`WebhookEvent`]; the webhook service applies it.

use crate::domain::{DisputeStatus, PaymentStatus, RefundStatus, TenantId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// The webhook secrets of a tenant could not be read (the source is unavailable; retry later).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("webhook secrets unavailable: {0}")]
pub struct SecretsError(pub String);

/// Where a tenant's webhook signing secrets come from.
pub trait WebhookSecrets: Send + Sync {
    /// The secrets currently valid for `tenant`'s webhook endpoints (several while one is rotated).
    /// An empty list means the tenant has none: its webhooks are refused.
    fn secrets(&self, tenant: &str) -> impl Future<Output = Result<Vec<SecretString>, SecretsError>> + Send;
}

/// What a PSP event reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WebhookChange {
    /// The payment is in `status` at the PSP. `New` means progress without a decision yet.
    Payment {
        /// The PSP status mapped onto the domain's.
        status: PaymentStatus,
        /// Minor units captured so far (the capture amount when `status` is `captured`).
        amount_captured: i64,
        /// Why the last attempt was declined, while the shopper may still retry (status `new`).
        #[serde(default)]
        decline: Option<String>,
    },
    /// One of the payment's refunds is in `status` at the PSP.
    Refund {
        /// The app's refund id (the RefundPayment's operation key), from the refund's metadata.
        refund_id: String,
        /// The PSP's refund id (`re_…`).
        psp_refund_id: String,
        /// Why the PSP failed it, when it did (Stripe's `failure_reason`, e.g. `expired_or_canceled_card`).
        #[serde(default)]
        failure_reason: Option<String>,
        /// The PSP status mapped onto the domain's.
        status: RefundStatus,
    },
    /// One of the payment's disputes (chargebacks) is in `status` at the PSP.
    Dispute {
        /// The PSP's dispute id (`du_…`).
        dispute_id: String,
        /// Minor units disputed.
        amount: i64,
        /// The shopper's stated reason.
        reason: String,
        /// The PSP status mapped onto the domain's.
        status: DisputeStatus,
    },
    /// What the shopper sent for a payment paid by bank transfer differs from its amount.
    Funding {
        /// Minor units sent minus the amount: negative while money is missing, positive when more
        /// arrived than asked.
        balance: i64,
        /// Upper-case ISO 4217 code of the balance.
        currency: String,
    },
    /// The PSP's refunded total for the payment, by anyone: the app's refunds and refunds made outside
    /// the app (the Stripe Dashboard).
    Refunded {
        /// Minor units refunded at the PSP.
        amount_refunded: i64,
    },
}

impl WebhookChange {
    /// What the change is about (`payment`, `refund`, `dispute`, `funding`, `refunded`): the webhook
    /// metrics' type.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookChange::Payment { .. } => "payment",
            WebhookChange::Refund { .. } => "refund",
            WebhookChange::Dispute { .. } => "dispute",
            WebhookChange::Funding { .. } => "funding",
            WebhookChange::Refunded { .. } => "refunded",
        }
    }

    /// The key of the operation that applies this change to the payment at `psp_reference`. A payment
    /// change is keyed by the state it reports, so the PSP's webhook and the shopper's return that read
    /// the same state are one operation, whichever comes first; a refund change by the PSP's event.
    pub fn operation_key(&self, psp_reference: &str, event_id: &str) -> String {
        match self {
            WebhookChange::Payment {
                status,
                amount_captured,
                decline,
            } => format!(
                "psp-state-{psp_reference}-{}-{amount_captured}-{}",
                status.as_str(),
                decline.as_deref().unwrap_or_default()
            ),
            WebhookChange::Refund { .. }
            | WebhookChange::Dispute { .. }
            | WebhookChange::Funding { .. }
            | WebhookChange::Refunded { .. } => {
                format!("webhook-{event_id}")
            }
        }
    }
}

/// A verified PSP event, identified: which payment it concerns and what it reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// The PSP's event id (`evt_…`): the idempotency key of its processing.
    pub event_id: String,
    /// When the PSP created the event (Unix seconds): the inbox applies events in this order.
    pub created: i64,
    /// The payment's `transactionId`, from the PSP object's metadata. Empty when the object carries
    /// none (a dispute; a charge): [`crate::service::WebhookService`] then finds the payment by its
    /// `psp_reference` before anything else.
    pub transaction_id: String,
    /// The PSP's payment id (`pi_…`), checked against the stored payment.
    pub psp_reference: String,
    /// The tenant named in the PSP object's metadata, if any; checked against the route's tenant.
    pub tenant: Option<TenantId>,
    /// What the event reports.
    pub change: WebhookChange,
}

/// A verified event kept until its payment is known and has an order (the headless flow).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// The tenant whose route received the event.
    pub tenant: TenantId,
    /// The event (its `transaction_id` and `event_id` key the entry).
    pub event: WebhookEvent,
    /// How many times applying it failed.
    pub attempts: u32,
    /// Applying it failed for good: kept for an operator (an error log says so), skipped by later drains.
    #[serde(default)]
    pub given_up: bool,
    /// Unix seconds from which the reconciler tries it again (unless given up).
    #[serde(default)]
    pub retry_at: i64,
    /// Unix seconds after which the entry may be deleted (DynamoDB TTL).
    pub expires_at: i64,
}

impl InboxEntry {
    /// The order in which a payment's entries are applied: oldest PSP event first, then by event id.
    pub fn order(&self) -> (i64, &str) {
        (self.event.created, &self.event.event_id)
    }
}
