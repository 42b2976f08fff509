//! The app's AsyncAPI document (`docs/asyncapi.yml`), generated from the message types: the five ACP
//! channels, the 21 messages (the 19 of the contract, and PaymentOverpaid / PaymentUnderpaid) with
//! their headers (the message attributes) and payload schemas derived by `schemars` from the same
//! structs that read and write the wire. `shared/tests/asyncapi.rs` fails when the committed document
//! differs from [`document`], and validates the golden fixtures against it.

use super::event::MessageAttributes;
use super::messages::*;
use super::schema::{schema_generator, standalone};
use schemars::generate::SchemaGenerator;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};

/// The attributes of a command Spryker sends (contract §1.1): what the envelope parser reads
/// (`shared::acp::envelope`). Only the documents use this type.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct CommandAttributes {
    /// The command's name (`name` is read when it is missing).
    transfer_name: String,
    /// The tenant (`storeReference` is read when it is missing).
    tenant_identifier: Option<String>,
    /// The tenant's deprecated twin.
    store_reference: Option<String>,
    /// The process id; the answers carry it.
    correlation_id: Option<String>,
    /// The message's own id: the same id again is a redelivery.
    transaction_id: Option<String>,
}

/// Who sends a message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The tenant (Spryker) sends it to the app.
    ToApp,
    /// The app sends it to the tenant.
    ToTenant,
}

/// One message of the document.
struct Described {
    name: &'static str,
    channel: Channel,
    direction: Direction,
    summary: &'static str,
    payload: fn(&mut SchemaGenerator) -> Schema,
}

/// A message row of [`MESSAGES`].
macro_rules! message {
    ($name:literal, $channel:ident, $direction:ident, $payload:ty, $summary:literal) => {
        Described {
            name: $name,
            channel: Channel::$channel,
            direction: Direction::$direction,
            summary: $summary,
            payload: |generator| generator.subschema_for::<$payload>(),
        }
    };
}

/// Every message the app reads or sends, by channel.
const MESSAGES: [Described; 21] = [
    message!(
        "CapturePayment",
        PaymentCommands,
        ToApp,
        CapturePayment,
        "Capture an authorized payment (its items)."
    ),
    message!(
        "CancelPayment",
        PaymentCommands,
        ToApp,
        CancelPayment,
        "Cancel a payment's items that are not captured."
    ),
    message!(
        "RefundPayment",
        PaymentCommands,
        ToApp,
        RefundPayment,
        "Refund captured items; the amount is negative."
    ),
    message!(
        "PaymentAuthorized",
        PaymentEvents,
        ToTenant,
        PaymentPayload,
        "The payment is authorized at the PSP."
    ),
    message!(
        "PaymentAuthorizationFailed",
        PaymentEvents,
        ToTenant,
        PaymentPayload,
        "The payment ended without an authorization."
    ),
    message!(
        "PaymentCaptured",
        PaymentEvents,
        ToTenant,
        PaymentPayload,
        "The command's items are captured."
    ),
    message!(
        "PaymentCaptureFailed",
        PaymentEvents,
        ToTenant,
        PaymentPayload,
        "The capture failed or was refused."
    ),
    message!(
        "PaymentRefunded",
        PaymentEvents,
        ToTenant,
        PaymentPayload,
        "A refund succeeded."
    ),
    message!(
        "PaymentRefundFailed",
        PaymentEvents,
        ToTenant,
        PaymentPayload,
        "A refund failed or was refused."
    ),
    message!(
        "PaymentCanceled",
        PaymentEvents,
        ToTenant,
        PaymentPayload,
        "The command's items are canceled (the command's items, not the order's)."
    ),
    message!(
        "PaymentCancellationFailed",
        PaymentEvents,
        ToTenant,
        PaymentPayload,
        "The cancellation failed or was refused."
    ),
    message!(
        "PaymentOverpaid",
        PaymentEvents,
        ToTenant,
        FundingPayload,
        "More money arrived than asked (a bank transfer)."
    ),
    message!(
        "PaymentUnderpaid",
        PaymentEvents,
        ToTenant,
        FundingPayload,
        "Less money arrived than asked, so far (a bank transfer)."
    ),
    message!(
        "PaymentCreated",
        PaymentEvents,
        ToTenant,
        PaymentDetailsPayload,
        "A payment was created; details is a flat JSON object as a string."
    ),
    message!(
        "PaymentUpdated",
        PaymentEvents,
        ToTenant,
        PaymentDetailsPayload,
        "A payment changed; details is a flat JSON object as a string."
    ),
    message!(
        "AddPaymentMethod",
        PaymentMethodCommands,
        ToTenant,
        AddPaymentMethod,
        "A payment method the tenant configured."
    ),
    message!(
        "UpdatePaymentMethod",
        PaymentMethodCommands,
        ToTenant,
        UpdatePaymentMethod,
        "An announced payment method changed."
    ),
    message!(
        "DeletePaymentMethod",
        PaymentMethodCommands,
        ToTenant,
        DeletePaymentMethod,
        "A payment method withdrawn."
    ),
    message!(
        "AppConfigUpdated",
        AppEvents,
        ToTenant,
        AppConfigUpdated,
        "The tenant's configuration changed (secrets redacted)."
    ),
    message!(
        "ReadyForMerchantAppOnboarding",
        MerchantAppEvents,
        ToTenant,
        ReadyForMerchantAppOnboarding,
        "The tenant's merchants can onboard."
    ),
    message!(
        "MerchantAppOnboardingStatusChanged",
        MerchantAppEvents,
        ToTenant,
        MerchantAppOnboardingStatusChanged,
        "A merchant's onboarding status changed."
    ),
];

/// The channels in the document's order, with what each carries.
const CHANNELS: [(Channel, &str); 5] = [
    (Channel::PaymentCommands, "Payment commands, tenant to app."),
    (Channel::PaymentEvents, "Payment events, app to tenant."),
    (
        Channel::PaymentMethodCommands,
        "Payment method announcements, app to tenant.",
    ),
    (Channel::AppEvents, "App configuration events, app to tenant."),
    (Channel::MerchantAppEvents, "Merchant onboarding events, app to tenant."),
];

/// The AsyncAPI 2.6 document of the app's messages.
pub fn document() -> Value {
    let mut generator = schema_generator();
    let outgoing_headers = generator.subschema_for::<MessageAttributes>();
    let command_headers = generator.subschema_for::<CommandAttributes>();
    let mut messages = Map::new();
    for message in &MESSAGES {
        let headers = match message.direction {
            Direction::ToApp => command_headers.clone(),
            Direction::ToTenant => outgoing_headers.clone(),
        };
        messages.insert(
            message.name.into(),
            json!({
                "name": message.name,
                "summary": message.summary,
                "contentType": "application/json",
                "headers": headers,
                "payload": (message.payload)(&mut generator),
            }),
        );
    }
    let mut channels = Map::new();
    for (channel, description) in CHANNELS {
        // AsyncAPI 2: `publish` is what others send on the channel (the app receives), `subscribe`
        // what the app sends.
        let mut item = json!({"description": description});
        for (direction, operation) in [(Direction::ToApp, "publish"), (Direction::ToTenant, "subscribe")] {
            let refs: Vec<Value> = MESSAGES
                .iter()
                .filter(|m| m.channel == channel && m.direction == direction)
                .map(|m| json!({"$ref": format!("#/components/messages/{}", m.name)}))
                .collect();
            if !refs.is_empty() {
                item[operation] = json!({"message": {"oneOf": refs}});
            }
        }
        channels.insert(channel.as_str().into(), item);
    }
    json!({
        "asyncapi": "2.6.0",
        "info": {
            "title": "ACP payment app (Stripe)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The messages the payment app exchanges with Spryker shops through ACP's event platform. Generated from the Rust message types by `shared::acp::asyncapi`; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {
            "messages": messages,
            "schemas": generator.take_definitions(true),
        },
    })
}

/// The schema a message's payload must satisfy, standalone (its definitions included): for validating
/// payloads. `None` for a name the document does not have.
pub fn payload_schema(document: &Value, name: &str) -> Option<Value> {
    standalone(document, &document["components"]["messages"].get(name)?["payload"])
}

/// The schema a message's headers must satisfy, standalone.
pub fn headers_schema(document: &Value, name: &str) -> Option<Value> {
    standalone(document, &document["components"]["messages"].get(name)?["headers"])
}

/// The channel a message travels on, by the document.
pub fn channel_of(document: &Value, name: &str) -> Option<String> {
    let reference = json!(format!("#/components/messages/{name}"));
    document["channels"].as_object()?.iter().find_map(|(channel, item)| {
        ["publish", "subscribe"]
            .iter()
            .any(|op| {
                item[op]["message"]["oneOf"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["$ref"] == reference))
            })
            .then(|| channel.clone())
    })
}
