//! Stripe's wire format and its translation to and from the domain. Stripe types live only here; each
//! Stripe status maps onto the domain's in one exhaustive `match`, so a new status forces a decision.

use super::bank_transfer::{NextAction, StripeCashBalance};
use super::currency::from_wire;
use crate::domain::{CaptureMode, Currency, DisputeStatus, PaymentMethod, PaymentStatus, RefundStatus};
use crate::ports::gateway::{CreatePayment, PspError, PspPaymentIntent, PspRefund};
use crate::ports::webhook::{WebhookChange, WebhookEvent};
use reqwest::StatusCode;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A form body as Stripe expects it (`application/x-www-form-urlencoded`, nested keys as `a[b]`).
pub(super) type Form = Vec<(String, String)>;

/// `PaymentIntent.status` (https://docs.stripe.com/api/payment_intents/object#payment_intent_object-status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum StripePaymentIntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Succeeded,
    Canceled,
}

impl StripePaymentIntentStatus {
    /// The domain status. A declined attempt leaves the PaymentIntent in `requires_payment_method`: the
    /// shopper may try again, so the payment is still `new` (it fails for good only when canceled).
    pub(super) fn to_domain(self) -> PaymentStatus {
        match self {
            StripePaymentIntentStatus::RequiresCapture => PaymentStatus::Authorized,
            StripePaymentIntentStatus::Succeeded => PaymentStatus::Captured,
            StripePaymentIntentStatus::Canceled => PaymentStatus::Canceled,
            StripePaymentIntentStatus::RequiresPaymentMethod
            | StripePaymentIntentStatus::RequiresConfirmation
            | StripePaymentIntentStatus::RequiresAction
            | StripePaymentIntentStatus::Processing => PaymentStatus::New,
        }
    }
}

/// `PaymentIntent.latest_charge`: an id, or the charge itself when expanded (localstripe always expands).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LatestCharge {
    Expanded(ExpandedCharge),
    Id(serde::de::IgnoredAny),
}

/// The expanded charge's fields the app reads. Absent on localstripe 1.15, whose charges lack them.
#[derive(Debug, Deserialize)]
struct ExpandedCharge {
    #[serde(default)]
    amount_captured: Option<i64>,
    #[serde(default)]
    payment_method_details: Option<ChargeMethodDetails>,
}

/// `Charge.payment_method_details`: only the card's multicapture availability is read.
#[derive(Debug, Deserialize)]
struct ChargeMethodDetails {
    #[serde(default)]
    card: Option<CardDetails>,
}

/// `payment_method_details.card`.
#[derive(Debug, Deserialize)]
struct CardDetails {
    #[serde(default)]
    multicapture: Option<Multicapture>,
}

/// `payment_method_details.card.multicapture` (https://docs.stripe.com/payments/multicapture).
#[derive(Debug, Deserialize)]
struct Multicapture {
    status: MulticaptureStatus,
}

/// Whether the charge may be captured in several parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MulticaptureStatus {
    Available,
    Unavailable,
}

impl ExpandedCharge {
    fn multicapture(&self) -> bool {
        let status = self
            .payment_method_details
            .as_ref()
            .and_then(|d| d.card.as_ref())
            .and_then(|c| c.multicapture.as_ref())
            .map(|m| m.status);
        match status {
            Some(MulticaptureStatus::Available) => true,
            Some(MulticaptureStatus::Unavailable) | None => false,
        }
    }
}

/// The fields of a PaymentIntent the app reads.
#[derive(Debug, Deserialize)]
pub(super) struct StripePaymentIntent {
    id: String,
    status: StripePaymentIntentStatus,
    amount: i64,
    currency: String,
    /// Absent on localstripe.
    #[serde(default)]
    amount_received: Option<i64>,
    #[serde(default)]
    latest_charge: Option<LatestCharge>,
    /// Only its codes are read: its message and payment method may describe the card.
    #[serde(default)]
    last_payment_error: Option<PaymentError>,
    #[serde(default)]
    client_secret: Option<String>,
    /// The app's reconciliation data (`transactionId`, `tenantIdentifier`, `orderReference`).
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// The group of a marketplace's payment and its payouts (the order).
    #[serde(default)]
    transfer_group: Option<String>,
    /// The customer of a bank transfer (an id, or the customer when expanded).
    #[serde(default)]
    customer: Option<Expandable>,
    /// What the shopper is to do next (a bank transfer's instructions).
    #[serde(default)]
    next_action: Option<NextAction>,
}

/// An expandable field: the object's id, or the object itself (https://docs.stripe.com/expand).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    /// The object's id, whichever form Stripe sent.
    pub(super) fn id(self) -> String {
        match self {
            Expandable::Id(id) | Expandable::Object { id } => id,
        }
    }
}

/// An object the app keeps only the id of (a Customer, a Transfer, a Transfer Reversal).
#[derive(Debug, Deserialize)]
pub(super) struct StripeObjectId {
    pub(super) id: String,
}

impl StripePaymentIntent {
    /// The PaymentIntent's `transfer_group`, if it has one.
    pub(super) fn transfer_group(&self) -> Option<&str> {
        self.transfer_group.as_deref()
    }

    /// The funding balance of a bank transfer still missing money (`partially_funded`).
    fn missing_balance(&self) -> Option<i64> {
        self.next_action.as_ref()?.missing_balance(&self.currency)
    }
}

/// The codes of `PaymentIntent.last_payment_error` (`card_declined`, and the bank's `insufficient_funds`...).
#[derive(Debug, Deserialize)]
struct PaymentError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
}

impl PaymentError {
    /// `code` (`decline_code`), or whichever of them Stripe gave.
    fn reason(&self) -> String {
        match (&self.code, &self.decline_code) {
            (Some(code), Some(decline)) => format!("{code} ({decline})"),
            (Some(code), None) => code.clone(),
            (None, Some(decline)) => decline.clone(),
            (None, None) => "declined".to_string(),
        }
    }
}

impl From<StripePaymentIntent> for PspPaymentIntent {
    fn from(pi: StripePaymentIntent) -> Self {
        let status = pi.status.to_domain();
        let decline = match pi.status {
            StripePaymentIntentStatus::RequiresPaymentMethod => {
                pi.last_payment_error.as_ref().map(PaymentError::reason)
            }
            StripePaymentIntentStatus::RequiresConfirmation
            | StripePaymentIntentStatus::RequiresAction
            | StripePaymentIntentStatus::Processing
            | StripePaymentIntentStatus::RequiresCapture
            | StripePaymentIntentStatus::Succeeded
            | StripePaymentIntentStatus::Canceled => None,
        };
        let charge = match &pi.latest_charge {
            Some(LatestCharge::Expanded(charge)) => Some(charge),
            Some(LatestCharge::Id(_)) | None => None,
        };
        let multicapture = charge.is_some_and(ExpandedCharge::multicapture);
        let amount_captured = match (pi.amount_received, charge.and_then(|c| c.amount_captured)) {
            (Some(received), _) => received,
            (None, Some(captured)) => captured,
            (None, None) => match pi.status {
                StripePaymentIntentStatus::Succeeded => pi.amount,
                StripePaymentIntentStatus::RequiresPaymentMethod
                | StripePaymentIntentStatus::RequiresConfirmation
                | StripePaymentIntentStatus::RequiresAction
                | StripePaymentIntentStatus::Processing
                | StripePaymentIntentStatus::RequiresCapture
                | StripePaymentIntentStatus::Canceled => 0,
            },
        };
        // Stripe's wire amounts, back in the app's minor units.
        let (amount, amount_captured) = (
            minor_units(pi.amount, &pi.currency),
            minor_units(amount_captured, &pi.currency),
        );
        PspPaymentIntent {
            id: pi.id,
            status,
            amount,
            amount_captured,
            currency: pi.currency.to_ascii_uppercase(),
            client_secret: pi.client_secret,
            // Settling at the PSP, or waiting for the shopper's bank transfer: the shopper has done
            // their part either way.
            processing: pi.status == StripePaymentIntentStatus::Processing
                || pi.next_action.as_ref().is_some_and(NextAction::awaits_transfer),
            decline,
            multicapture,
            customer: pi.customer.map(Expandable::id),
        }
    }
}

/// `Refund.status` (https://docs.stripe.com/api/refunds/object#refund_object-status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum StripeRefundStatus {
    Pending,
    RequiresAction,
    Succeeded,
    Failed,
    Canceled,
}

impl From<StripeRefundStatus> for RefundStatus {
    fn from(status: StripeRefundStatus) -> Self {
        match status {
            StripeRefundStatus::Pending | StripeRefundStatus::RequiresAction => RefundStatus::Pending,
            StripeRefundStatus::Succeeded => RefundStatus::Succeeded,
            StripeRefundStatus::Failed => RefundStatus::Failed,
            StripeRefundStatus::Canceled => RefundStatus::Canceled,
        }
    }
}

/// The fields of a Refund the app reads.
#[derive(Debug, Deserialize)]
pub(super) struct StripeRefund {
    id: String,
    status: StripeRefundStatus,
    amount: i64,
    /// Lower-case ISO code of `amount`.
    #[serde(default)]
    currency: Option<String>,
    /// Why a failed refund failed.
    #[serde(default)]
    failure_reason: Option<String>,
    /// The refunded PaymentIntent's id (absent for refunds of bare charges).
    #[serde(default)]
    payment_intent: Option<String>,
    /// The app's reconciliation data (`transactionId`, `refundId`, `tenantIdentifier`, `orderReference`).
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

impl StripeRefund {
    /// The refund's id.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Whether the app's reconciliation data has `key` = `value`.
    pub(super) fn tagged(&self, key: &str, value: &str) -> bool {
        self.metadata.get(key).is_some_and(|v| v == value)
    }
}

/// `Dispute.status` (https://docs.stripe.com/api/disputes/object#dispute_object-status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum StripeDisputeStatus {
    WarningNeedsResponse,
    WarningUnderReview,
    WarningClosed,
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
    Prevented,
}

impl From<StripeDisputeStatus> for DisputeStatus {
    fn from(status: StripeDisputeStatus) -> Self {
        match status {
            // An inquiry (`warning_*`) is answered like a chargeback; it only closes differently.
            StripeDisputeStatus::WarningNeedsResponse | StripeDisputeStatus::NeedsResponse => {
                DisputeStatus::NeedsResponse
            }
            StripeDisputeStatus::WarningUnderReview | StripeDisputeStatus::UnderReview => DisputeStatus::UnderReview,
            StripeDisputeStatus::Won => DisputeStatus::Won,
            StripeDisputeStatus::Lost => DisputeStatus::Lost,
            // Stripe prevented it (the issuer withdrew it): no money moved.
            StripeDisputeStatus::WarningClosed | StripeDisputeStatus::Prevented => DisputeStatus::Closed,
        }
    }
}

/// The fields of a Dispute the app reads. Its metadata is never the app's: the payment is found by
/// its PaymentIntent.
#[derive(Debug, Deserialize)]
struct StripeDispute {
    id: String,
    amount: i64,
    currency: String,
    reason: String,
    status: StripeDisputeStatus,
    /// Absent for disputes of bare charges (never the app's).
    #[serde(default)]
    payment_intent: Option<String>,
}

/// The fields of a Charge the app reads (`charge.refunded`).
#[derive(Debug, Deserialize)]
struct StripeCharge {
    amount_refunded: i64,
    currency: String,
    #[serde(default)]
    payment_intent: Option<String>,
    /// Stripe copies the PaymentIntent's metadata; when it does not, the payment is found by its
    /// PaymentIntent.
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// `amount` in `currency` (Stripe's lower-case code) back in the app's minor units.
pub(super) fn minor_units(amount: i64, currency: &str) -> i64 {
    match Currency::parse(currency) {
        Ok(c) => from_wire(amount, c),
        Err(_) => amount,
    }
}

/// A page of a Stripe list (`GET /v1/refunds`).
#[derive(Debug, Deserialize)]
pub(super) struct StripeList<T> {
    pub(super) data: Vec<T>,
    #[serde(default)]
    pub(super) has_more: bool,
}

impl From<StripeRefund> for PspRefund {
    fn from(refund: StripeRefund) -> Self {
        let amount = match refund.currency.as_deref() {
            Some(currency) => minor_units(refund.amount, currency),
            None => refund.amount,
        };
        PspRefund {
            id: refund.id,
            status: refund.status.into(),
            amount,
        }
    }
}

/// `Event.type` (https://docs.stripe.com/api/events/types): the types the app subscribes to; any
/// other is acknowledged and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub(super) enum StripeEventType {
    #[serde(rename = "payment_intent.amount_capturable_updated")]
    PaymentIntentAmountCapturableUpdated,
    #[serde(rename = "payment_intent.payment_failed")]
    PaymentIntentPaymentFailed,
    #[serde(rename = "payment_intent.succeeded")]
    PaymentIntentSucceeded,
    #[serde(rename = "payment_intent.canceled")]
    PaymentIntentCanceled,
    #[serde(rename = "payment_intent.processing")]
    PaymentIntentProcessing,
    #[serde(rename = "payment_intent.requires_action")]
    PaymentIntentRequiresAction,
    #[serde(rename = "payment_intent.partially_funded")]
    PaymentIntentPartiallyFunded,
    #[serde(rename = "cash_balance.funds_available")]
    CashBalanceFundsAvailable,
    #[serde(rename = "charge.refund.updated")]
    ChargeRefundUpdated,
    #[serde(rename = "refund.created")]
    RefundCreated,
    #[serde(rename = "refund.updated")]
    RefundUpdated,
    #[serde(rename = "refund.failed")]
    RefundFailed,
    #[serde(rename = "charge.refunded")]
    ChargeRefunded,
    #[serde(rename = "charge.dispute.created")]
    ChargeDisputeCreated,
    #[serde(rename = "charge.dispute.updated")]
    ChargeDisputeUpdated,
    #[serde(rename = "charge.dispute.closed")]
    ChargeDisputeClosed,
    #[serde(other)]
    Other,
}

/// The kind of object an event carries in `data.object`.
enum EventObject {
    PaymentIntent,
    Refund,
    Charge,
    Dispute,
    CashBalance,
    Ignored,
}

impl StripeEventType {
    /// The object the event carries; its status (mapped by the one status mapping per object) is what
    /// the event reports.
    fn object(self) -> EventObject {
        match self {
            StripeEventType::PaymentIntentAmountCapturableUpdated
            | StripeEventType::PaymentIntentPaymentFailed
            | StripeEventType::PaymentIntentSucceeded
            | StripeEventType::PaymentIntentCanceled
            | StripeEventType::PaymentIntentProcessing
            | StripeEventType::PaymentIntentRequiresAction
            | StripeEventType::PaymentIntentPartiallyFunded => EventObject::PaymentIntent,
            StripeEventType::ChargeRefundUpdated
            | StripeEventType::RefundCreated
            | StripeEventType::RefundUpdated
            | StripeEventType::RefundFailed => EventObject::Refund,
            StripeEventType::ChargeRefunded => EventObject::Charge,
            StripeEventType::ChargeDisputeCreated
            | StripeEventType::ChargeDisputeUpdated
            | StripeEventType::ChargeDisputeClosed => EventObject::Dispute,
            StripeEventType::CashBalanceFundsAvailable => EventObject::CashBalance,
            StripeEventType::Other => EventObject::Ignored,
        }
    }
}

/// A Stripe event (https://docs.stripe.com/api/events/object), the fields the app reads.
#[derive(Debug, Deserialize)]
pub(super) struct StripeEvent {
    pub(super) id: String,
    pub(super) created: i64,
    #[serde(rename = "type")]
    pub(super) event_type: String,
    pub(super) data: StripeEventData,
}

/// `Event.data`.
#[derive(Debug, Deserialize)]
pub(super) struct StripeEventData {
    /// The object the event is about, as it is after the event.
    pub(super) object: serde_json::Value,
}

/// What a Stripe event means to the app: `E` is the domain's reading of a relevant one (a payment or
/// refund event on the payment endpoints, an account event on the accounts endpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParsedEvent<E = WebhookEvent> {
    /// An event about one of the app's objects.
    Relevant(E),
    /// An event the app does not act on (unknown type, or an object the app did not create).
    Ignored {
        /// The event id.
        event_id: String,
        /// The event type, as Stripe sent it.
        event_type: String,
        /// Why it is ignored.
        reason: &'static str,
    },
}

/// The body of a verified event is not a Stripe event the app can read.
#[derive(Debug, thiserror::Error)]
#[error("unreadable Stripe event: {0}")]
pub struct EventParseError(pub(super) String);

/// Reads a verified event body and maps it onto the domain: payment-intent events report the intent's
/// status, refund events the refund's, each through the one status mapping of its object.
pub fn parse_event(body: &[u8]) -> Result<ParsedEvent, EventParseError> {
    // Errors name the field and the kind of problem, never the content (`crate::json`).
    let event: StripeEvent = crate::json::from_slice(body).map_err(|e| EventParseError(e.to_string()))?;
    let kind: StripeEventType = serde_json::from_value(serde_json::Value::String(event.event_type.clone()))
        .map_err(|e| EventParseError(e.to_string()))?;
    let ignored = |reason| ParsedEvent::Ignored {
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        reason,
    };
    let object = event.data.object;
    let (mut metadata, psp_reference, change) = match kind.object() {
        EventObject::Ignored => return Ok(ignored("event type not handled")),
        EventObject::PaymentIntent => {
            let mut pi: StripePaymentIntent =
                crate::json::from_value(object).map_err(|e| EventParseError(e.to_string()))?;
            let metadata = std::mem::take(&mut pi.metadata);
            // A bank transfer that arrived short reports what is missing; any other event the status.
            let missing = if kind == StripeEventType::PaymentIntentPartiallyFunded {
                pi.missing_balance()
            } else {
                None
            };
            let intent = PspPaymentIntent::from(pi);
            let change = match missing {
                Some(balance) => WebhookChange::Funding {
                    balance,
                    currency: intent.currency,
                },
                None => WebhookChange::Payment {
                    status: intent.status,
                    amount_captured: intent.amount_captured,
                    decline: intent.decline,
                },
            };
            (metadata, intent.id, change)
        }
        EventObject::Refund => {
            let refund: StripeRefund = crate::json::from_value(object).map_err(|e| EventParseError(e.to_string()))?;
            let mut metadata = refund.metadata;
            let Some(refund_id) = metadata.remove("refundId") else {
                return Ok(ignored("refund not created by the app (no metadata.refundId)"));
            };
            let Some(payment_intent) = refund.payment_intent else {
                return Ok(ignored("refund without a payment_intent"));
            };
            let change = WebhookChange::Refund {
                refund_id,
                failure_reason: refund.failure_reason.clone(),
                psp_refund_id: refund.id,
                status: refund.status.into(),
            };
            (metadata, payment_intent, change)
        }
        EventObject::Charge => {
            let charge: StripeCharge = crate::json::from_value(object).map_err(|e| EventParseError(e.to_string()))?;
            let Some(payment_intent) = charge.payment_intent else {
                return Ok(ignored("charge without a payment_intent"));
            };
            let change = WebhookChange::Refunded {
                amount_refunded: minor_units(charge.amount_refunded, &charge.currency),
            };
            (charge.metadata, payment_intent, change)
        }
        EventObject::Dispute => {
            let dispute: StripeDispute = crate::json::from_value(object).map_err(|e| EventParseError(e.to_string()))?;
            let Some(payment_intent) = dispute.payment_intent else {
                return Ok(ignored("dispute without a payment_intent"));
            };
            let change = WebhookChange::Dispute {
                dispute_id: dispute.id,
                amount: minor_units(dispute.amount, &dispute.currency),
                reason: dispute.reason,
                status: dispute.status.into(),
            };
            (BTreeMap::new(), payment_intent, change)
        }
        EventObject::CashBalance => {
            let balance: StripeCashBalance =
                crate::json::from_value(object).map_err(|e| EventParseError(e.to_string()))?;
            let Some((excess, currency)) = balance.excess() else {
                return Ok(ignored("the cash balance holds nothing"));
            };
            // Named by its customer: the webhook service finds the payment the customer was made for.
            let change = WebhookChange::Funding {
                balance: excess,
                currency,
            };
            (BTreeMap::new(), balance.customer, change)
        }
    };
    let transaction_id = match (metadata.remove("transactionId"), kind.object()) {
        (Some(transaction_id), _) => transaction_id,
        // Named by its PaymentIntent (or customer) only: the webhook service finds the payment, if it is
        // the app's.
        (None, EventObject::Charge | EventObject::Dispute | EventObject::CashBalance) => String::new(),
        (None, EventObject::PaymentIntent | EventObject::Refund | EventObject::Ignored) => {
            return Ok(ignored("object not created by the app (no metadata.transactionId)"));
        }
    };
    Ok(ParsedEvent::Relevant(WebhookEvent {
        event_id: event.id,
        created: event.created,
        transaction_id,
        psp_reference,
        tenant: metadata.remove("tenantIdentifier"),
        change,
    }))
}

/// Stripe's error body (https://docs.stripe.com/api/errors).
#[derive(Debug, Deserialize)]
struct StripeErrorBody {
    error: StripeErrorDetail,
}

#[derive(Debug, Deserialize)]
struct StripeErrorDetail {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Classifies a non-2xx answer, in one place (reliability P6). A failure answer goes to the tenant only
/// for a card or business decline (400 or 402, e.g. `card_declined`, `payment_intent_unexpected_state`,
/// `amount_too_large`). Everything else leaves the outcome unknown, to be retried and alarmed:
/// - `Stripe-Should-Retry: true` (`should_retry`), which Stripe sends when a retry may succeed;
/// - 401 and 403 (a revoked or rolled key: the operator must fix it, the order must not fail);
/// - 404 on an object (`named_object`: the path names one, or Stripe says `resource_missing`): every
///   object the app names is one it created, so a missing one is a misconfiguration. A 404 of a whole
///   endpoint (an account without Connect, a stand-in without it) is a refusal;
/// - 409 (the same idempotency key in flight), 429 (rate or lock limits), an `idempotency_error`;
/// - 5xx.
///
/// The code is Stripe's `code`, else `decline_code`, else `type`, else the HTTP status. Stripe's messages
/// carry no card data.
pub(super) fn classify_error(
    status: StatusCode,
    should_retry: Option<bool>,
    named_object: bool,
    body: &[u8],
) -> PspError {
    let detail = serde_json::from_slice::<StripeErrorBody>(body).ok().map(|b| b.error);
    let kind = detail.as_ref().and_then(|d| d.kind.clone());
    let missing_object = status == StatusCode::NOT_FOUND
        && (named_object || detail.as_ref().and_then(|d| d.code.as_deref()) == Some("resource_missing"));
    let (code, message) = match detail {
        Some(d) => (
            d.code
                .or(d.decline_code)
                .or(d.kind)
                .unwrap_or_else(|| status.as_u16().to_string()),
            d.message.unwrap_or_else(|| format!("HTTP {status}")),
        ),
        None => (
            status.as_u16().to_string(),
            format!("HTTP {status} without a Stripe error body"),
        ),
    };
    let business = matches!(status, StatusCode::BAD_REQUEST | StatusCode::PAYMENT_REQUIRED)
        || (status == StatusCode::NOT_FOUND && !missing_object);
    let declined = business && should_retry != Some(true) && kind.as_deref() != Some("idempotency_error");
    if declined {
        return PspError::Declined { code, message };
    }
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) || missing_object {
        tracing::error!(status = status.as_u16(), %code, "Stripe refused the app's credentials or lost an object: an operator must look");
    }
    PspError::Unknown(format!("Stripe answered HTTP {status} ({code}): {message}"))
}

/// Stripe's `payment_method_types` value of each method. A wallet pays with a card from the shopper's
/// wallet: Stripe's Express Checkout Element offers Apple Pay and Google Pay on a `card` PaymentIntent.
fn stripe_method_type(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::Card | PaymentMethod::ApplePay | PaymentMethod::GooglePay => "card",
        PaymentMethod::Klarna => "klarna",
        PaymentMethod::PayPal => "paypal",
        PaymentMethod::Ideal => "ideal",
        PaymentMethod::Bancontact => "bancontact",
        PaymentMethod::SepaDebit => "sepa_debit",
        PaymentMethod::BankTransfer => "customer_balance",
    }
}

/// Form for `POST /v1/payment_intents`: the method, its capture, lower-case currency, metadata.
/// `wire_amount` is the amount as [`super::currency::to_wire`] made it.
pub(super) fn create_payment_form(request: &CreatePayment, wire_amount: i64) -> Form {
    let capture = match request.method.capture() {
        CaptureMode::Manual => "manual",
        CaptureMode::Automatic => "automatic",
    };
    let mut form = vec![
        ("amount".to_string(), wire_amount.to_string()),
        (
            "currency".to_string(),
            request.amount.currency.code().to_ascii_lowercase(),
        ),
        (
            "payment_method_types[0]".to_string(),
            stripe_method_type(request.method).to_string(),
        ),
        ("capture_method".to_string(), capture.to_string()),
    ];
    if (stripe_method_type(request.method), request.method.capture()) == ("card", CaptureMode::Manual) {
        // Split shipments are captured one by one where the card network allows it (decision §9.16).
        form.push((
            "payment_method_options[card][request_multicapture]".to_string(),
            "if_available".to_string(),
        ));
    }
    form.extend(metadata_fields(&request.metadata));
    form
}

/// Form for `POST /v1/payment_intents/{id}/capture`: the amount, `final_capture=false` when more
/// captures follow (Stripe's default is final, and localstripe knows no other), and the charge expanded
/// so the answer says whether multicapture is available.
pub(super) fn capture_form(amount: i64, final_capture: bool) -> Form {
    let mut form = vec![
        ("amount_to_capture".to_string(), amount.to_string()),
        ("expand[]".to_string(), "latest_charge".to_string()),
    ];
    if !final_capture {
        form.push(("final_capture".to_string(), "false".to_string()));
    }
    form
}

/// Form for `POST /v1/refunds`. No `reason`: localstripe rejects it and the app has none to give.
pub(super) fn refund_form(payment_intent: &str, amount: i64, metadata: &BTreeMap<String, String>) -> Form {
    let mut form = vec![
        ("payment_intent".to_string(), payment_intent.to_string()),
        ("amount".to_string(), amount.to_string()),
    ];
    form.extend(metadata_fields(metadata));
    form
}

/// Form for `POST /v1/payment_intents/{id}`: only the metadata keys to set.
pub(super) fn metadata_form(metadata: &BTreeMap<String, String>) -> Form {
    metadata_fields(metadata).collect()
}

pub(super) fn metadata_fields(metadata: &BTreeMap<String, String>) -> impl Iterator<Item = (String, String)> {
    metadata.iter().map(|(k, v)| (format!("metadata[{k}]"), v.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_payment_intent_status_maps_exhaustively() {
        use StripePaymentIntentStatus as S;
        let table = [
            ("requires_payment_method", PaymentStatus::New),
            ("requires_confirmation", PaymentStatus::New),
            ("requires_action", PaymentStatus::New),
            ("processing", PaymentStatus::New),
            ("requires_capture", PaymentStatus::Authorized),
            ("succeeded", PaymentStatus::Captured),
            ("canceled", PaymentStatus::Canceled),
        ];
        for (wire, expected) in table {
            let status: S = serde_json::from_value(json!(wire)).unwrap();
            assert_eq!(status.to_domain(), expected, "{wire}");
        }
        assert!(serde_json::from_value::<S>(json!("requires_source")).is_err());
    }

    #[test]
    fn every_refund_status_maps() {
        let table = [
            ("pending", RefundStatus::Pending),
            ("requires_action", RefundStatus::Pending),
            ("succeeded", RefundStatus::Succeeded),
            ("failed", RefundStatus::Failed),
            ("canceled", RefundStatus::Canceled),
        ];
        for (wire, expected) in table {
            let status: StripeRefundStatus = serde_json::from_value(json!(wire)).unwrap();
            assert_eq!(RefundStatus::from(status), expected, "{wire}");
        }
    }

    fn intent(extra: serde_json::Value) -> PspPaymentIntent {
        let mut body = json!({"id": "pi_1", "status": "requires_capture", "amount": 1000, "currency": "eur"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value::<StripePaymentIntent>(body).unwrap().into()
    }

    #[test]
    fn amount_captured_prefers_amount_received_then_the_expanded_charge() {
        assert_eq!(
            intent(json!({"amount_received": 400, "latest_charge": {"amount_captured": 999}})).amount_captured,
            400
        );
        assert_eq!(
            intent(json!({"latest_charge": {"id": "ch_1", "amount_captured": 600}})).amount_captured,
            600
        );
        assert_eq!(intent(json!({"latest_charge": "ch_1"})).amount_captured, 0);
        assert_eq!(
            intent(json!({"status": "succeeded", "latest_charge": "ch_1"})).amount_captured,
            1000
        );
        assert_eq!(intent(json!({"status": "succeeded"})).amount_captured, 1000);
        // localstripe's expanded charge has no `amount_captured`.
        assert_eq!(
            intent(json!({"status": "succeeded", "latest_charge": {"id": "ch_1", "amount": 1000}})).amount_captured,
            1000
        );
        assert_eq!(
            intent(json!({"latest_charge": null, "last_payment_error": null})).status,
            PaymentStatus::Authorized
        );
        assert_eq!(intent(json!({})).currency, "EUR");
        // A decline leaves the payment open for another attempt, with the reason's codes only.
        let declined = intent(json!({"status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds",
                                   "message": "Your card has insufficient funds.", "payment_method": {"card": {"last4": "9995"}}}}));
        assert_eq!(declined.status, PaymentStatus::New);
        assert_eq!(declined.decline.as_deref(), Some("card_declined (insufficient_funds)"));
        assert!(!declined.processing);
        assert!(intent(json!({"status": "processing"})).processing);
        assert_eq!(intent(json!({"status": "requires_action"})).decline, None);
    }

    #[test]
    fn each_method_creates_its_payment_method_type_and_capture() {
        let table = [
            (PaymentMethod::Card, "card", "manual"),
            (PaymentMethod::Klarna, "klarna", "manual"),
            (PaymentMethod::PayPal, "paypal", "manual"),
            (PaymentMethod::Ideal, "ideal", "automatic"),
            (PaymentMethod::Bancontact, "bancontact", "automatic"),
            (PaymentMethod::SepaDebit, "sepa_debit", "automatic"),
            (PaymentMethod::BankTransfer, "customer_balance", "automatic"),
            (PaymentMethod::ApplePay, "card", "manual"),
            (PaymentMethod::GooglePay, "card", "manual"),
        ];
        for (method, wire, capture) in table {
            let request = CreatePayment {
                amount: crate::domain::Money::new(500, crate::domain::Currency::parse("EUR").unwrap()),
                method,
                metadata: BTreeMap::new(),
                idempotency_key: "k".into(),
            };
            let form = create_payment_form(&request, 1000);
            let value = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            assert_eq!(value("payment_method_types[0]"), Some(wire), "{method:?}");
            assert_eq!(value("capture_method"), Some(capture), "{method:?}");
        }
    }

    #[test]
    fn only_card_and_business_declines_are_failures() {
        let body = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
        let declined = classify_error(
            StatusCode::PAYMENT_REQUIRED,
            None,
            false,
            &body(json!({"error": {"type": "card_error", "decline_code": "insufficient_funds", "message": "no"}})),
        );
        assert_eq!(
            declined,
            PspError::Declined {
                code: "insufficient_funds".into(),
                message: "no".into()
            }
        );
        let unexpected_state =
            body(json!({"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}}));
        let typed = classify_error(StatusCode::BAD_REQUEST, None, false, &unexpected_state);
        assert!(matches!(typed, PspError::Declined { code, .. } if code == "payment_intent_unexpected_state"));
        // Stripe says a retry may succeed: not a failure.
        assert!(matches!(
            classify_error(StatusCode::BAD_REQUEST, Some(true), false, &unexpected_state),
            PspError::Unknown(_)
        ));
        let idempotency = body(
            json!({"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used with the same parameters"}}),
        );
        assert!(matches!(
            classify_error(StatusCode::BAD_REQUEST, None, false, &idempotency),
            PspError::Unknown(_)
        ));
        for status in [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::CONFLICT,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
        ] {
            assert!(
                matches!(classify_error(status, None, true, b""), PspError::Unknown(_)),
                "{status}"
            );
            assert!(
                matches!(
                    classify_error(status, Some(false), true, b"<html>"),
                    PspError::Unknown(_)
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn a_missing_endpoint_is_a_refusal_a_missing_object_is_not() {
        let missing =
            serde_json::to_vec(&json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}}))
                .unwrap();
        assert!(matches!(
            classify_error(StatusCode::NOT_FOUND, None, false, b""),
            PspError::Declined { .. }
        ));
        assert!(matches!(
            classify_error(StatusCode::NOT_FOUND, None, false, &missing),
            PspError::Unknown(_)
        ));
    }

    #[test]
    fn multicapture_is_read_from_the_expanded_charge() {
        let intent = |charge: serde_json::Value| -> PspPaymentIntent {
            serde_json::from_value::<StripePaymentIntent>(json!({
                "id": "pi_1", "status": "requires_capture", "amount": 1000, "currency": "eur",
                "amount_received": 300, "latest_charge": charge
            }))
            .unwrap()
            .into()
        };
        let available = intent(json!({"id": "ch_1", "amount_captured": 300,
            "payment_method_details": {"type": "card", "card": {"multicapture": {"status": "available"}}}}));
        assert!(available.multicapture);
        assert_eq!(
            (available.status, available.amount_captured),
            (PaymentStatus::Authorized, 300)
        );
        let unavailable = intent(json!({"id": "ch_1",
            "payment_method_details": {"card": {"multicapture": {"status": "unavailable"}}}}));
        assert!(!unavailable.multicapture);
        assert!(
            !intent(json!("ch_1")).multicapture,
            "a charge not expanded says nothing"
        );
    }

    #[test]
    fn card_payments_ask_for_multicapture_and_captures_say_when_more_follow() {
        let value = |form: &Form, key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let request = |method| CreatePayment {
            amount: crate::domain::Money::new(1000, crate::domain::Currency::parse("EUR").unwrap()),
            method,
            metadata: BTreeMap::new(),
            idempotency_key: "k".into(),
        };
        let key = "payment_method_options[card][request_multicapture]";
        assert_eq!(
            value(&create_payment_form(&request(PaymentMethod::Card), 1000), key).as_deref(),
            Some("if_available")
        );
        assert_eq!(
            value(&create_payment_form(&request(PaymentMethod::Ideal), 1000), key),
            None
        );
        assert_eq!(
            value(&capture_form(300, false), "final_capture").as_deref(),
            Some("false")
        );
        assert_eq!(
            value(&capture_form(300, true), "final_capture"),
            None,
            "final is Stripe's default"
        );
    }
}
