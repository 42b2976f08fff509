//! The payment service provider (PSP), seen from the domain: create, read, capture, cancel and refund a
//! payment. Implementations map the PSP's statuses onto the domain's exhaustively.

use crate::domain::{Money, PaymentMethod, PaymentStatus, RefundStatus};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::future::Future;

/// What the PSP says about a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PspPaymentIntent {
    /// The PSP's id (`pi_…`).
    pub id: String,
    /// The PSP status mapped onto the domain's.
    pub status: PaymentStatus,
    /// The authorized amount in minor units.
    pub amount: i64,
    /// Minor units captured so far.
    pub amount_captured: i64,
    /// Upper-case ISO 4217 code.
    pub currency: String,
    /// The client secret for the shop's frontend, when the PSP returns one (never logged).
    pub client_secret: Option<String>,
    /// Undecided (`new`) and settling at the PSP: an asynchronous method the shopper completed.
    pub processing: bool,
    /// Why the last attempt was declined (the PSP's code, never card data), while undecided.
    pub decline: Option<String>,
    /// Whether the PSP can capture this payment in several parts (Stripe multicapture `available`).
    pub multicapture: bool,
    /// The PSP's customer created for this payment (a bank transfer's), if any.
    pub customer: Option<String>,
}

/// What the PSP says about a refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PspRefund {
    /// The PSP's id (`re_…`).
    pub id: String,
    /// The PSP status mapped onto the domain's.
    pub status: RefundStatus,
    /// Minor units.
    pub amount: i64,
}

/// A PSP call that did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PspError {
    /// The PSP refused: a card or business decline, nothing happened.
    #[error("declined by the PSP ({code}): {message}")]
    Declined {
        /// The PSP's error code, or the HTTP status when it gave none.
        code: String,
        /// The PSP's message (never contains card data).
        message: String,
    },
    /// Timeout, 5xx, 409 (request in flight), 429, a refused key (401/403), a missing object the app
    /// created (404), an idempotency error or a network error: the call may or may not have taken effect,
    /// or must be fixed by an operator. Settled by retrying with the same idempotency key or by
    /// re-reading; never a failure event.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// The key of the payment's order in its reconciliation data ([`CreatePayment::metadata`]).
pub const ORDER_REFERENCE: &str = "orderReference";

/// A payment to create at the PSP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatePayment {
    /// Amount and currency to authorize.
    pub amount: Money,
    /// The payment method the shopper pays with (its capture mode says when the money is taken).
    pub method: PaymentMethod,
    /// Reconciliation data stored on the PSP object (orderReference, tenantIdentifier, transactionId).
    pub metadata: BTreeMap<String, String>,
    /// The same key on every retry of the same creation.
    pub idempotency_key: String,
}

/// The PSP operations the app uses. `tenant` selects the tenant's own credentials.
pub trait PaymentGateway: Send + Sync {
    /// Creates a payment for `request.method`, captured as the method's capture mode says.
    fn create_payment(
        &self,
        tenant: &str,
        request: &CreatePayment,
    ) -> impl Future<Output = Result<PspPaymentIntent, PspError>> + Send;

    /// Reads a payment's current state (the authoritative answer after an unknown outcome).
    fn get_payment(
        &self,
        tenant: &str,
        psp_reference: &str,
    ) -> impl Future<Output = Result<PspPaymentIntent, PspError>> + Send;

    /// Adds `metadata` to a payment's reconciliation data (keys not given stay as they are) and returns the
    /// payment's current state. Naturally idempotent, so it takes no idempotency key.
    fn update_metadata(
        &self,
        tenant: &str,
        psp_reference: &str,
        metadata: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<PspPaymentIntent, PspError>> + Send;

    /// Changes the amount of a payment the shopper has not paid yet (a cart whose total changed) and
    /// returns its state. Naturally idempotent, so it takes no idempotency key.
    fn update_amount(
        &self,
        tenant: &str,
        psp_reference: &str,
        amount: Money,
    ) -> impl Future<Output = Result<PspPaymentIntent, PspError>> + Send;

    /// Captures `amount` of an authorized payment. With `final_capture` false (multicapture only) the
    /// rest stays authorized for later captures; a final capture releases what is left.
    fn capture(
        &self,
        tenant: &str,
        psp_reference: &str,
        amount: Money,
        final_capture: bool,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<PspPaymentIntent, PspError>> + Send;

    /// Cancels a payment that is not captured.
    fn cancel(
        &self,
        tenant: &str,
        psp_reference: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<PspPaymentIntent, PspError>> + Send;

    /// The payment's refund whose reconciliation data has `key` = `value` (the app's own id of it), if
    /// the PSP has one: how a refund whose outcome was unknown is found again, never created twice, even
    /// after the PSP forgot its idempotency key (24 h at Stripe).
    fn find_refund(
        &self,
        tenant: &str,
        psp_reference: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<Option<PspRefund>, PspError>> + Send;

    /// Refunds `amount` (positive) of a captured payment. Several partial refunds are allowed.
    /// Amounts are the app's minor units; each adapter converts to its PSP's wire amounts.
    fn refund(
        &self,
        tenant: &str,
        psp_reference: &str,
        amount: Money,
        idempotency_key: &str,
        metadata: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<PspRefund, PspError>> + Send;
}

/// Why a PSP key was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyCheckError {
    /// The PSP refused the key (revoked, rolled, mistyped): the configuration is invalid.
    #[error("{0}")]
    Refused(String),
    /// The PSP could not be asked (timeout, 5xx): try again later.
    #[error("the PSP could not check the key: {0}")]
    Unavailable(String),
}

/// Checks a tenant's PSP key before it is stored, with one read-only call.
pub trait KeyCheck: Send + Sync {
    /// `Ok` when the PSP accepts `key`.
    fn check_key(&self, key: &SecretString) -> impl Future<Output = Result<(), KeyCheckError>> + Send;
}
