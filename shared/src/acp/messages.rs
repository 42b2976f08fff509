//! Typed ACP messages with their exact wire shape (contract §3, decisions §9.4): camelCase keys, `null`
//! keys omitted, integer minor-unit amounts, integer `orderItemIds` (numeric strings accepted on input),
//! unknown input keys ignored.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The channel an outgoing message travels on (contract §1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::PaymentEvents => "payment-events",
            Channel::PaymentCommands => "payment-commands",
            Channel::PaymentMethodCommands => "payment-method-commands",
            Channel::AppEvents => "app-events",
            Channel::MerchantAppEvents => "merchant-app-events",
        }
    }
}

/// An integer that may arrive as a JSON number or as a numeric string (Spryker's PHP side is not strict
/// about either). Every lenient field below goes through this one type.
pub(crate) struct LenientInt(i64);

impl<'de> Deserialize<'de> for LenientInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = LenientInt;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer or a numeric string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<LenientInt, E> {
                Ok(LenientInt(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<LenientInt, E> {
                i64::try_from(v)
                    .map(LenientInt)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LenientInt, E> {
                v.trim()
                    .parse()
                    .map(LenientInt)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Described as what it accepts: an integer, or a string of digits.
impl JsonSchema for LenientInt {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "LenientInt".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An integer; a numeric string is accepted on input.",
            "anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^\\s*-?[0-9]+\\s*$"}]
        })
    }
}

/// Accepts an integer or a numeric string.
pub(crate) fn int_or_numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(LenientInt::deserialize(d)?.0)
}

/// Accepts an absent/`null` value, an integer or a numeric string.
pub(crate) fn opt_int_or_numeric_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<LenientInt>::deserialize(d)?.map(|i| i.0))
}

/// Accepts a list of integers or numeric strings.
fn item_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    Ok(Vec::<LenientInt>::deserialize(d)?.into_iter().map(|i| i.0).collect())
}

/// Accepts an absent/`null` value or a list of integers or numeric strings.
fn opt_item_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<i64>>, D::Error> {
    Ok(Option::<Vec<LenientInt>>::deserialize(d)?.map(|ids| ids.into_iter().map(|i| i.0).collect()))
}

/// The payload shared by the payment events and by CapturePayment / CancelPayment (contract §3.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    /// The tenant's order reference, e.g. `DE--123`.
    pub order_reference: String,
    /// The sales-order-item ids the tenant moves in its OMS on this message.
    #[serde(deserialize_with = "item_ids", default)]
    #[schemars(with = "Vec<LenientInt>")]
    pub order_item_ids: Vec<i64>,
    /// Amount concerned, in minor units.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_int_or_numeric_string"
    )]
    #[schemars(with = "Option<LenientInt>")]
    pub amount: Option<i64>,
    /// ISO 4217 code, e.g. `EUR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_iso_code: Option<String>,
}

/// The payload of PaymentOverpaid and PaymentUnderpaid (contract §3.2, decision §9.11): the payment
/// payload (§3.1) and the `context` Spryker's payment-app keeps with the status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FundingPayload {
    /// The order, its items, the payment's amount and currency.
    #[serde(flatten)]
    pub payment: PaymentPayload,
    /// JSON text `{"requestedAmount": …, "paidAmount": …}` (minor units): what was asked and what arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// CapturePayment (tenant → app, contract §3.3).
pub type CapturePayment = PaymentPayload;
/// CancelPayment (tenant → app, contract §3.3); `amount` is always 0.
pub type CancelPayment = PaymentPayload;

/// One item of a RefundPayment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundOrderItem {
    /// The sales-order-item id.
    #[serde(deserialize_with = "int_or_numeric_string")]
    #[schemars(with = "LenientInt")]
    pub order_item_id: i64,
    /// The item's SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

/// RefundPayment (tenant → app, contract §3.3). `amount` arrives negative (decision §9.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundPayment {
    /// The order to refund.
    pub order_reference: String,
    /// The items to refund.
    #[serde(default)]
    pub order_items: Vec<RefundOrderItem>,
    /// Deprecated twin of `orderItems`, still sent by Spryker.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_item_ids")]
    #[schemars(with = "Option<Vec<LenientInt>>")]
    pub order_item_ids: Option<Vec<i64>>,
    /// The refund amount in minor units, negative as Spryker sends it.
    #[serde(deserialize_with = "int_or_numeric_string")]
    #[schemars(with = "LenientInt")]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

/// AddPaymentMethod / UpdatePaymentMethod payload (app → tenant, contract §3.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodPayload {
    /// The method name, e.g. `Credit Card`; identity key together with `providerName`.
    pub name: String,
    /// The provider, e.g. `Stripe`.
    pub provider_name: String,
    /// Deprecated absolute authorization URL, used by the tenant only without `paymentMethodAppConfiguration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_authorization_endpoint: Option<String>,
    /// Where and how the tenant reaches the app for this method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_app_configuration: Option<PaymentMethodAppConfiguration>,
}

/// AddPaymentMethod (app → tenant, `payment-method-commands`).
pub type AddPaymentMethod = PaymentMethodPayload;
/// UpdatePaymentMethod (app → tenant, `payment-method-commands`).
pub type UpdatePaymentMethod = PaymentMethodPayload;

/// `paymentMethodAppConfiguration` of a payment method (contract §3.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodAppConfiguration {
    /// The app base URL, without trailing slash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The endpoints; the tenant builds `baseUrl + path` by endpoint name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<PaymentMethodEndpoint>>,
    /// How the checkout page uses the method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_configuration: Option<CheckoutConfiguration>,
}

/// One named endpoint of a payment method, e.g. `authorization` → `/private/initialize-payment`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMethodEndpoint {
    /// The endpoint name the tenant looks up.
    pub name: String,
    /// The path below `baseUrl`.
    pub path: String,
}

/// `checkoutConfiguration` of a payment method (contract §3.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutConfiguration {
    /// The checkout strategy, e.g. `express-checkout`, `embedded`, `checkout-session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Scripts to include on the checkout page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scripts: Option<Vec<CheckoutScript>>,
    /// Free PSP data for the frontend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_service_provider_data: Option<serde_json::Map<String, serde_json::Value>>,
    /// The app's own key of the method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_payment_method_key: Option<String>,
}

/// A script the checkout page includes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutScript {
    /// The script URL.
    pub url: String,
    /// Query parameters the page appends to `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_params: Option<BTreeMap<String, String>>,
}

/// DeletePaymentMethod (app → tenant, `payment-method-commands`, contract §3.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletePaymentMethod {
    /// The method name.
    pub name: String,
    /// The provider name.
    pub provider_name: String,
}

/// How the tenant starts merchant onboarding (contract §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnboardingStrategy {
    /// The tenant shows `onboarding.url` in an iframe.
    Iframe,
    /// The tenant redirects the merchant to `onboarding.url`.
    Redirect,
    /// The tenant calls `onboarding.url` and follows its answer.
    Api,
}

/// `onboarding` of ReadyForMerchantAppOnboarding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Onboarding {
    /// The onboarding URL or endpoint.
    pub url: String,
    /// How the tenant uses `url`.
    pub strategy: OnboardingStrategy,
}

/// A link the Merchant Portal shows next to the onboarding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalLink {
    /// The link text.
    pub label: String,
    /// The link target.
    pub url: String,
    /// Extra HTML attributes, e.g. `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// The UI texts the Merchant Portal shows for one onboarding status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MerchantOnboardingState {
    /// The status the texts are for.
    pub name: MerchantOnboardingStatus,
    /// The texts: `displayText`, `buttonText`, `buttonInfo`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// ReadyForMerchantAppOnboarding (app → tenant, `merchant-app-events`, contract §3.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadyForMerchantAppOnboarding {
    /// Where and how the merchant onboards.
    pub onboarding: Onboarding,
    /// The app category, e.g. `payment`.
    #[serde(rename = "type")]
    pub app_type: String,
    /// The app name, e.g. `Stripe`.
    pub app_name: String,
    /// The app identifier.
    pub app_identifier: String,
    /// Links for the Merchant Portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_links: Option<Vec<AdditionalLink>>,
    /// UI texts per onboarding status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_onboarding_states: Option<Vec<MerchantOnboardingState>>,
}

/// A merchant's onboarding status (decision §9.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum MerchantOnboardingStatus {
    /// Onboarding started but not finished (the tenant creates this one).
    #[serde(rename = "incomplete")]
    Incomplete,
    /// The PSP is reviewing the merchant.
    #[serde(rename = "pending")]
    Pending,
    /// The merchant can take payments.
    #[serde(rename = "enabled")]
    Enabled,
    /// Onboarding is complete.
    #[serde(rename = "completed")]
    Completed,
    /// The PSP restricted the account.
    #[serde(rename = "restricted")]
    Restricted,
    /// The PSP will restrict the account unless the merchant acts.
    #[serde(rename = "restricted soon")]
    RestrictedSoon,
    /// The PSP rejected the merchant.
    #[serde(rename = "rejected")]
    Rejected,
}

impl MerchantOnboardingStatus {
    /// The status as the tenant stores it (the wire name).
    pub fn as_str(self) -> &'static str {
        match self {
            MerchantOnboardingStatus::Incomplete => "incomplete",
            MerchantOnboardingStatus::Pending => "pending",
            MerchantOnboardingStatus::Enabled => "enabled",
            MerchantOnboardingStatus::Completed => "completed",
            MerchantOnboardingStatus::Restricted => "restricted",
            MerchantOnboardingStatus::RestrictedSoon => "restricted soon",
            MerchantOnboardingStatus::Rejected => "rejected",
        }
    }
}

/// MerchantAppOnboardingStatusChanged (app → tenant, `merchant-app-events`, contract §3.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MerchantAppOnboardingStatusChanged {
    /// The merchant, e.g. `MER000001`.
    pub merchant_reference: String,
    /// The app identifier.
    pub app_identifier: String,
    /// The app category, as in ReadyForMerchantAppOnboarding.
    #[serde(rename = "type")]
    pub app_type: String,
    /// The new status.
    pub status: MerchantOnboardingStatus,
    /// Extra information, as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_info: Option<String>,
}

/// The app's connection status for a tenant (decision §9.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AppConfigStatus {
    /// Configured for the first time.
    New,
    /// Configured again after a disconnect.
    Connected,
    /// Disconnected.
    Disconnected,
}

/// AppConfigUpdated (app → tenant, `app-events`, contract §3.6, decision §9.9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppConfigUpdated {
    /// The app identifier.
    pub app_identifier: String,
    /// `false` after a disconnect.
    pub is_active: bool,
    /// The connection status.
    pub status: AppConfigStatus,
    /// The tenant's app configuration, secrets redacted.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// The channels the app uses; the tenant only consumes channels some app lists (contract §1.4).
    pub message_channels: Vec<Channel>,
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

    /// The order item ids the command concerns, as received; replies echo them (decision §9.6).
    pub fn order_item_ids(&self) -> Vec<i64> {
        match self {
            InboundCommand::CapturePayment(p) | InboundCommand::CancelPayment(p) => p.order_item_ids.clone(),
            InboundCommand::RefundPayment(r) => r.item_ids(),
        }
    }
}

/// A message the app sends (the 16 outbound messages, and PaymentOverpaid / PaymentUnderpaid where the
/// PSP reports them, decision §9.11). Each variant knows its name and channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutgoingMessage {
    /// Announces a new payment method.
    AddPaymentMethod(AddPaymentMethod),
    /// Changes an announced payment method.
    UpdatePaymentMethod(UpdatePaymentMethod),
    /// Withdraws a payment method.
    DeletePaymentMethod(DeletePaymentMethod),
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
    /// More money arrived than the payment asked for (a bank transfer).
    PaymentOverpaid(FundingPayload),
    /// Less money arrived than the payment asked for, so far (a bank transfer).
    PaymentUnderpaid(FundingPayload),
    /// A payment record was created.
    PaymentCreated(PaymentDetailsPayload),
    /// A payment record changed.
    PaymentUpdated(PaymentDetailsPayload),
    /// Merchants of the tenant can start onboarding.
    ReadyForMerchantAppOnboarding(ReadyForMerchantAppOnboarding),
    /// A merchant's onboarding status changed.
    MerchantAppOnboardingStatusChanged(MerchantAppOnboardingStatusChanged),
    /// The app's configuration for the tenant changed (configure or disconnect).
    AppConfigUpdated(AppConfigUpdated),
}

impl OutgoingMessage {
    /// The message name (`transferName`, and the EventBridge `DetailType`).
    pub fn name(&self) -> &'static str {
        match self {
            OutgoingMessage::AddPaymentMethod(_) => "AddPaymentMethod",
            OutgoingMessage::UpdatePaymentMethod(_) => "UpdatePaymentMethod",
            OutgoingMessage::DeletePaymentMethod(_) => "DeletePaymentMethod",
            OutgoingMessage::PaymentAuthorized(_) => "PaymentAuthorized",
            OutgoingMessage::PaymentAuthorizationFailed(_) => "PaymentAuthorizationFailed",
            OutgoingMessage::PaymentCaptured(_) => "PaymentCaptured",
            OutgoingMessage::PaymentCaptureFailed(_) => "PaymentCaptureFailed",
            OutgoingMessage::PaymentRefunded(_) => "PaymentRefunded",
            OutgoingMessage::PaymentRefundFailed(_) => "PaymentRefundFailed",
            OutgoingMessage::PaymentCanceled(_) => "PaymentCanceled",
            OutgoingMessage::PaymentCancellationFailed(_) => "PaymentCancellationFailed",
            OutgoingMessage::PaymentOverpaid(_) => "PaymentOverpaid",
            OutgoingMessage::PaymentUnderpaid(_) => "PaymentUnderpaid",
            OutgoingMessage::PaymentCreated(_) => "PaymentCreated",
            OutgoingMessage::PaymentUpdated(_) => "PaymentUpdated",
            OutgoingMessage::ReadyForMerchantAppOnboarding(_) => "ReadyForMerchantAppOnboarding",
            OutgoingMessage::MerchantAppOnboardingStatusChanged(_) => "MerchantAppOnboardingStatusChanged",
            OutgoingMessage::AppConfigUpdated(_) => "AppConfigUpdated",
        }
    }

    /// The channel the message travels on (contract §1.4).
    pub fn channel(&self) -> Channel {
        match self {
            OutgoingMessage::AddPaymentMethod(_)
            | OutgoingMessage::UpdatePaymentMethod(_)
            | OutgoingMessage::DeletePaymentMethod(_) => Channel::PaymentMethodCommands,
            OutgoingMessage::PaymentAuthorized(_)
            | OutgoingMessage::PaymentAuthorizationFailed(_)
            | OutgoingMessage::PaymentCaptured(_)
            | OutgoingMessage::PaymentCaptureFailed(_)
            | OutgoingMessage::PaymentRefunded(_)
            | OutgoingMessage::PaymentRefundFailed(_)
            | OutgoingMessage::PaymentCanceled(_)
            | OutgoingMessage::PaymentCancellationFailed(_)
            | OutgoingMessage::PaymentOverpaid(_)
            | OutgoingMessage::PaymentUnderpaid(_)
            | OutgoingMessage::PaymentCreated(_)
            | OutgoingMessage::PaymentUpdated(_) => Channel::PaymentEvents,
            OutgoingMessage::ReadyForMerchantAppOnboarding(_)
            | OutgoingMessage::MerchantAppOnboardingStatusChanged(_) => Channel::MerchantAppEvents,
            OutgoingMessage::AppConfigUpdated(_) => Channel::AppEvents,
        }
    }

    /// The payload as a JSON value, exactly as it goes on the wire.
    pub fn payload(&self) -> serde_json::Value {
        // The payloads are structs with string keys only; serializing them to a JSON value cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A message serializes as its payload, exactly as it goes on the wire.
impl serde::Serialize for OutgoingMessage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OutgoingMessage::AddPaymentMethod(p) | OutgoingMessage::UpdatePaymentMethod(p) => p.serialize(serializer),
            OutgoingMessage::DeletePaymentMethod(p) => p.serialize(serializer),
            OutgoingMessage::PaymentAuthorized(p)
            | OutgoingMessage::PaymentAuthorizationFailed(p)
            | OutgoingMessage::PaymentCaptured(p)
            | OutgoingMessage::PaymentCaptureFailed(p)
            | OutgoingMessage::PaymentRefunded(p)
            | OutgoingMessage::PaymentRefundFailed(p)
            | OutgoingMessage::PaymentCanceled(p)
            | OutgoingMessage::PaymentCancellationFailed(p) => p.serialize(serializer),
            OutgoingMessage::PaymentOverpaid(p) | OutgoingMessage::PaymentUnderpaid(p) => p.serialize(serializer),
            OutgoingMessage::PaymentCreated(p) | OutgoingMessage::PaymentUpdated(p) => p.serialize(serializer),
            OutgoingMessage::ReadyForMerchantAppOnboarding(p) => p.serialize(serializer),
            OutgoingMessage::MerchantAppOnboardingStatusChanged(p) => p.serialize(serializer),
            OutgoingMessage::AppConfigUpdated(p) => p.serialize(serializer),
        }
    }
}
