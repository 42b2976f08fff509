//! Typed ACP messages with their exact wire shape (contract §3, decisions §9.4): camelCase keys, `null`
//! keys omitted, integer minor-unit amounts, integer `orderItemIds` (numeric strings accepted on input),
//! unknown input keys ignored.

use serde::{Deserialize, Deserializer, Serialize};

/// The channel an outgoing message travels on (contract §1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    /// Payment status events, app → tenant.
    #[serde(rename = "payment-events")]
    PaymentEvents,
    /// Payment commands, tenant → app.
    #[serde(rename = "payment-commands")]
    PaymentCommands,
    /// Payment-method announcements, app → tenant.
    #[serde(rename = "payment-method-commands")]
    PaymentMethodCommands,
    /// App configuration events, app → tenant.
    #[serde(rename = "app-events")]
    AppEvents,
    /// Merchant onboarding events, app → tenant.
    #[serde(rename = "merchant-app-events")]
    MerchantAppEvents,
}

impl Channel {
    /// The channel name as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::PaymentEvents => "payment-events",
            Channel::PaymentCommands => "payment-commands",
            Channel::PaymentMethodCommands => "payment-method-commands",
            Channel::AppEvents => "app-events",
            Channel::MerchantAppEvents => "merchant-app-events",
        }
    }
}

/// Accepts an integer or a numeric string (Spryker's PHP side is not strict about either).
pub(crate) fn int_or_numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrString {
        Int(i64),
        Str(String),
    }
    match IntOrString::deserialize(d)? {
        IntOrString::Int(i) => Ok(i),
        IntOrString::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, got {s:?}"))),
    }
}

fn opt_int_or_numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "int_or_numeric_string")] i64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

fn item_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "int_or_numeric_string")] i64);
    Ok(Vec::<Wrap>::deserialize(d)?.into_iter().map(|w| w.0).collect())
}

fn opt_item_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<i64>>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "item_ids")] Vec<i64>);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

/// The payload shared by the payment events and by CapturePayment / CancelPayment (contract §3.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    /// The tenant's order reference, e.g. `DE--123`.
    pub order_reference: String,
    /// The sales-order-item ids the tenant moves in its OMS on this message.
    #[serde(deserialize_with = "item_ids", default)]
    pub order_item_ids: Vec<i64>,
    /// Amount concerned, in minor units.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_int_or_numeric_string"
    )]
    pub amount: Option<i64>,
    /// ISO 4217 code, e.g. `EUR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_iso_code: Option<String>,
}

/// CapturePayment (tenant → app, contract §3.3).
pub type CapturePayment = PaymentPayload;
/// CancelPayment (tenant → app, contract §3.3); `amount` is always 0.
pub type CancelPayment = PaymentPayload;

/// One item of a RefundPayment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundOrderItem {
    /// The sales-order-item id.
    #[serde(deserialize_with = "int_or_numeric_string")]
    pub order_item_id: i64,
    /// The item's SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

/// RefundPayment (tenant → app, contract §3.3). `amount` arrives negative (decision §9.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPayment {
    /// The order to refund.
    pub order_reference: String,
    /// The items to refund.
    #[serde(default)]
    pub order_items: Vec<RefundOrderItem>,
    /// Deprecated twin of `orderItems`, still sent by Spryker.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_item_ids")]
    pub order_item_ids: Option<Vec<i64>>,
    /// The refund amount in minor units, negative as Spryker sends it.
    #[serde(deserialize_with = "int_or_numeric_string")]
    pub amount: i64,
    /// ISO 4217 code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_iso_code: Option<String>,
}

impl RefundPayment {
    /// The item ids the refund concerns, as received: `orderItemIds` when sent, else those of `orderItems`.
    pub fn item_ids(&self) -> Vec<i64> {
        match &self.order_item_ids {
            Some(ids) => ids.clone(),
            None => self.order_items.iter().map(|i| i.order_item_id).collect(),
        }
    }
}

/// PaymentCreated / PaymentUpdated payload (contract §3.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentDetailsPayload {
    /// The tenant entity, normally the order reference; absent for pre-order payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_reference: Option<String>,
    /// The app's payment id (its `transactionId`).
    pub payment_reference: String,
    /// PSP data and status history, as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// A command Spryker sends the app (the 3 inbound messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundCommand {
    /// Capture an authorized payment.
    CapturePayment(CapturePayment),
    /// Cancel a payment that is not captured.
    CancelPayment(CancelPayment),
    /// Refund (part of) a captured payment.
    RefundPayment(RefundPayment),
}

impl InboundCommand {
    /// The message name (`transferName`).
    pub fn name(&self) -> &'static str {
        match self {
            InboundCommand::CapturePayment(_) => "CapturePayment",
            InboundCommand::CancelPayment(_) => "CancelPayment",
            InboundCommand::RefundPayment(_) => "RefundPayment",
        }
    }

    /// The order the command is about.
    pub fn order_reference(&self) -> &str {
        match self {
            InboundCommand::CapturePayment(p) | InboundCommand::CancelPayment(p) => &p.order_reference,
            InboundCommand::RefundPayment(r) => &r.order_reference,
        }
    }

    /// The order item ids as received.
    pub fn order_item_ids(&self) -> Vec<i64> {
        match self {
            InboundCommand::CapturePayment(p) | InboundCommand::CancelPayment(p) => p.order_item_ids.clone(),
            InboundCommand::RefundPayment(r) => r.item_ids(),
        }
    }
}

/// A message the app sends (the 16 outbound messages). Each variant knows its name and channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutgoingMessage {
    /// The payment is authorized at the PSP.
    PaymentAuthorized(PaymentPayload),
    /// The PSP refused the authorization.
    PaymentAuthorizationFailed(PaymentPayload),
    /// The payment is captured.
    PaymentCaptured(PaymentPayload),
    /// The capture failed.
    PaymentCaptureFailed(PaymentPayload),
    /// A refund succeeded.
    PaymentRefunded(PaymentPayload),
    /// A refund failed or was refused.
    PaymentRefundFailed(PaymentPayload),
    /// The payment is canceled.
    PaymentCanceled(PaymentPayload),
    /// The cancellation failed or was refused.
    PaymentCancellationFailed(PaymentPayload),
    /// A payment record was created.
    PaymentCreated(PaymentDetailsPayload),
    /// A payment record changed.
    PaymentUpdated(PaymentDetailsPayload),
}

impl OutgoingMessage {
    /// The message name (`transferName`, and the EventBridge `DetailType`).
    pub fn name(&self) -> &'static str {
        match self {
            OutgoingMessage::PaymentAuthorized(_) => "PaymentAuthorized",
            OutgoingMessage::PaymentAuthorizationFailed(_) => "PaymentAuthorizationFailed",
            OutgoingMessage::PaymentCaptured(_) => "PaymentCaptured",
            OutgoingMessage::PaymentCaptureFailed(_) => "PaymentCaptureFailed",
            OutgoingMessage::PaymentRefunded(_) => "PaymentRefunded",
            OutgoingMessage::PaymentRefundFailed(_) => "PaymentRefundFailed",
            OutgoingMessage::PaymentCanceled(_) => "PaymentCanceled",
            OutgoingMessage::PaymentCancellationFailed(_) => "PaymentCancellationFailed",
            OutgoingMessage::PaymentCreated(_) => "PaymentCreated",
            OutgoingMessage::PaymentUpdated(_) => "PaymentUpdated",
        }
    }

    /// The channel the message travels on.
    pub fn channel(&self) -> Channel {
        match self {
            OutgoingMessage::PaymentAuthorized(_)
            | OutgoingMessage::PaymentAuthorizationFailed(_)
            | OutgoingMessage::PaymentCaptured(_)
            | OutgoingMessage::PaymentCaptureFailed(_)
            | OutgoingMessage::PaymentRefunded(_)
            | OutgoingMessage::PaymentRefundFailed(_)
            | OutgoingMessage::PaymentCanceled(_)
            | OutgoingMessage::PaymentCancellationFailed(_)
            | OutgoingMessage::PaymentCreated(_)
            | OutgoingMessage::PaymentUpdated(_) => Channel::PaymentEvents,
        }
    }

    /// The payload as JSON, exactly as it goes on the wire.
    pub fn payload(&self) -> serde_json::Value {
        let value = match self {
            OutgoingMessage::PaymentAuthorized(p)
            | OutgoingMessage::PaymentAuthorizationFailed(p)
            | OutgoingMessage::PaymentCaptured(p)
            | OutgoingMessage::PaymentCaptureFailed(p)
            | OutgoingMessage::PaymentRefunded(p)
            | OutgoingMessage::PaymentRefundFailed(p)
            | OutgoingMessage::PaymentCanceled(p)
            | OutgoingMessage::PaymentCancellationFailed(p) => serde_json::to_value(p),
            OutgoingMessage::PaymentCreated(p) | OutgoingMessage::PaymentUpdated(p) => serde_json::to_value(p),
        };
        // Serializing plain structs of strings and integers cannot fail.
        value.unwrap_or(serde_json::Value::Null)
    }
}
