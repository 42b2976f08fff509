//! The ACP event platform's wire (contract §1.3, decision §9.14): how a message travels between the app
//! and the platform, in both of Spryker's wirings.
//!
//! * Out: the payload is the body and every message attribute is a header, named as Spryker's
//!   `HttpHeaderFormatter` names it (`tenantIdentifier` → `Tenant-Identifier`). The `http` sender of the
//!   `http-sqs` wiring (`CustomHttpHeaderFormatter`) prefixes each with `X-`.
//! * In: the channel answers records `{"MessageId", "MessageBody", "MessageAttributes"}` with camelCase
//!   attribute keys; each is routed by its `transferName` to the command's own queue, or, when it names
//!   no command or its body is not a JSON object, to the dead-letter queue.
//! * SQS allows ten message attributes: what does not fit travels packed in one `X-Symfony-Messenger`
//!   JSON attribute, as Symfony's Amazon SQS transport (Spryker's `SqsReceiverClient`) packs it.

use super::event::MessageAttributes;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The audience of the platform's access tokens (contract §1.1, `authorization`).
pub const TOKEN_AUDIENCE: &str = "aop-event-platform";

/// The one SQS attribute Symfony's transport packs further headers into (a JSON object of strings).
pub const SYMFONY_HEADERS_ATTRIBUTE: &str = "X-Symfony-Messenger";

/// Most message attributes SQS takes on one message.
const MAX_SQS_ATTRIBUTES: usize = 10;

/// How message attributes become HTTP headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderStyle {
    /// The HTTP channel (`HttpChannelSenderClient`): `Transfer-Name`, `Tenant-Identifier`, ...
    HttpChannel,
    /// The `http` sender (`HttpSenderClient`): `X-Transfer-Name`, `X-Tenant-Identifier`, ...
    HttpSender,
}

/// The header name of a camelCase attribute: first letter upper-cased, `-` before each inner capital
/// (`correlationId` → `Correlation-Id`), with `X-` in front for the `http` sender.
pub fn header_name(attribute: &str, style: HeaderStyle) -> String {
    let mut name = String::with_capacity(attribute.len() + 6);
    if style == HeaderStyle::HttpSender {
        name.push_str("X-");
    }
    for (i, c) in attribute.chars().enumerate() {
        if i == 0 {
            name.extend(c.to_uppercase());
        } else if c.is_uppercase() {
            name.push('-');
            name.push(c);
        } else {
            name.push(c);
        }
    }
    name
}

/// The headers that carry `attributes`, in the attributes' declaration order.
pub fn attribute_headers(attributes: &MessageAttributes, style: HeaderStyle) -> Vec<(String, String)> {
    let MessageAttributes {
        transfer_name,
        name,
        event,
        tenant_identifier,
        store_reference,
        actor_id,
        publisher,
        timestamp,
        correlation_id,
        transaction_id,
    } = attributes;
    [
        ("transferName", transfer_name),
        ("name", name),
        ("event", event),
        ("tenantIdentifier", tenant_identifier),
        ("storeReference", store_reference),
        ("actorId", actor_id),
        ("publisher", publisher),
        ("timestamp", timestamp),
        ("correlationId", correlation_id),
        ("transactionId", transaction_id),
    ]
    .into_iter()
    .map(|(attribute, value)| (header_name(attribute, style), value.clone()))
    .collect()
}

/// One record as the platform's channel hands it out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRecord {
    /// The platform's id of the message: what acknowledges it.
    #[serde(rename = "MessageId")]
    pub message_id: String,
    /// The payload, as JSON text.
    #[serde(rename = "MessageBody", deserialize_with = "json_text")]
    pub message_body: String,
    /// The message attributes, camelCase keys. Values that are not strings keep their JSON text.
    #[serde(rename = "MessageAttributes", default, deserialize_with = "string_values")]
    pub message_attributes: BTreeMap<String, String>,
}

/// A body that is a JSON string is kept as is; any other JSON value as its text.
fn json_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    })
}

/// Attribute values as strings (arrays and numbers as their JSON text, null dropped).
fn string_values<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    let values = Option::<BTreeMap<String, serde_json::Value>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(values
        .into_iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(text) => Some((key, text)),
            other => Some((key, other.to_string())),
        })
        .collect())
}

/// The commands the app takes, each with its own queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Command {
    /// `CapturePayment`.
    CapturePayment,
    /// `CancelPayment`.
    CancelPayment,
    /// `RefundPayment`.
    RefundPayment,
}

impl Command {
    /// Every command.
    pub const ALL: [Command; 3] = [Command::CapturePayment, Command::CancelPayment, Command::RefundPayment];

    /// The command a message name names, if any.
    pub fn from_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Its message name (`transferName`).
    pub fn name(self) -> &'static str {
        match self {
            Command::CapturePayment => "CapturePayment",
            Command::CancelPayment => "CancelPayment",
            Command::RefundPayment => "RefundPayment",
        }
    }
}

/// Where an incoming message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// The command's queue.
    Command(Command),
    /// The dead-letter queue: the message names no command, or cannot be read. Kept with what was received.
    DeadLetter(String),
}

/// `transferName`, `TransferName`, `Transfer-Name`, `X-Transfer-Name` and `transfer_name` → `transfername`:
/// how attribute keys are compared, here and in the envelope parser.
pub(crate) fn normalize_key(key: &str) -> String {
    let key = key.trim().to_ascii_lowercase();
    let key = key.strip_prefix("x-").unwrap_or(&key);
    key.chars().filter(|c| *c != '-' && *c != '_').collect()
}

/// Whether two attribute keys are one key (see [`normalize_key`]).
fn same_key(key: &str, wanted: &str) -> bool {
    normalize_key(key) == normalize_key(wanted)
}

/// `attributes` with the ones packed in `X-Symfony-Messenger` unpacked beside them (an attribute of its
/// own wins over a packed one of the same name; packed values that are not strings are skipped).
pub fn unpacked(attributes: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = attributes
        .get(SYMFONY_HEADERS_ATTRIBUTE)
        .and_then(|packed| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(packed).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
        .collect();
    for (k, v) in attributes {
        if k != SYMFONY_HEADERS_ATTRIBUTE {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// The message name of a set of attributes: `transferName`, else `name` (contract §1.1), also inside a
/// packed `X-Symfony-Messenger` attribute.
pub fn message_name(attributes: &BTreeMap<String, String>) -> Option<String> {
    let all = unpacked(attributes);
    ["transferName", "name"].into_iter().find_map(|wanted| {
        all.iter()
            .find(|(k, v)| same_key(k, wanted) && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
    })
}

/// Where a message with `attributes` and `body` goes: its command's queue when it names a command and
/// its body is a JSON object; else the dead-letter queue, with the reason.
pub fn route(attributes: &BTreeMap<String, String>, body: &str) -> Destination {
    let Some(name) = message_name(attributes) else {
        return Destination::DeadLetter("the message has no transferName or name attribute".into());
    };
    let Some(command) = Command::from_name(&name) else {
        let shown: String = name.chars().take(80).collect();
        return Destination::DeadLetter(format!("{shown:?} is not a command of this app"));
    };
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(_)) => Destination::Command(command),
        _ => Destination::DeadLetter(format!("the {} body is not a JSON object", command.name())),
    }
}

/// The attributes that never travel further: the sender's bearer token is a secret.
fn forwardable(key: &str) -> bool {
    !same_key(key, "authorization")
}

/// The order in which attributes keep a place of their own on an SQS message: the ones the command
/// functions read first.
const SQS_PREFERENCE: [&str; 10] = [
    "transferName",
    "tenantIdentifier",
    "correlationId",
    "transactionId",
    "name",
    "event",
    "storeReference",
    "actorId",
    "publisher",
    "timestamp",
];

/// The SQS String message attributes that carry `attributes` (minus `authorization`): all of them when
/// they fit in ten; else the nine the command functions read first (the others sorted by name), and the
/// rest packed as a JSON object into `X-Symfony-Messenger`, which the envelope parser unpacks. Empty
/// values are always packed: SQS refuses a message attribute with an empty value.
pub fn sqs_attributes(attributes: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let (mut direct, empty): (Vec<_>, Vec<_>) = attributes
        .iter()
        .filter(|(k, _)| forwardable(k))
        .partition(|(_, v)| !v.is_empty());
    if direct.len() <= MAX_SQS_ATTRIBUTES && empty.is_empty() {
        return direct.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    let rank = |key: &str| {
        SQS_PREFERENCE
            .iter()
            .position(|p| same_key(key, p))
            .unwrap_or(usize::MAX)
    };
    direct.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.0.cmp(b.0)));
    let kept = direct.len().min(MAX_SQS_ATTRIBUTES - 1);
    let packed: BTreeMap<&String, &String> = direct.split_off(kept).into_iter().chain(empty).collect();
    let mut out: BTreeMap<String, String> = direct.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // A map of strings always serializes.
    out.insert(
        SYMFONY_HEADERS_ATTRIBUTE.to_string(),
        serde_json::to_string(&packed).unwrap_or_default(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::acp::event::sample_attributes as attributes;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn names_headers_as_spryker_formats_them() {
        assert_eq!(header_name("transferName", HeaderStyle::HttpChannel), "Transfer-Name");
        assert_eq!(
            header_name("tenantIdentifier", HeaderStyle::HttpChannel),
            "Tenant-Identifier"
        );
        assert_eq!(header_name("name", HeaderStyle::HttpChannel), "Name");
        assert_eq!(header_name("actorId", HeaderStyle::HttpSender), "X-Actor-Id");
        assert_eq!(
            header_name("correlationId", HeaderStyle::HttpSender),
            "X-Correlation-Id"
        );
    }

    #[test]
    fn every_attribute_is_a_header_in_both_styles() {
        let channel = attribute_headers(&attributes(), HeaderStyle::HttpChannel);
        assert_eq!(
            channel,
            vec![
                ("Transfer-Name".to_string(), "PaymentCaptured".to_string()),
                ("Name".into(), "PaymentCaptured".into()),
                ("Event".into(), "PaymentCaptured".into()),
                ("Tenant-Identifier".into(), "t-1".into()),
                ("Store-Reference".into(), "t-1".into()),
                ("Actor-Id".into(), "app".into()),
                ("Publisher".into(), "app".into()),
                ("Timestamp".into(), "2025-02-10T11:32:52.123456".into()),
                ("Correlation-Id".into(), "c-1".into()),
                ("Transaction-Id".into(), "x-1".into()),
            ]
        );
        let sender = attribute_headers(&attributes(), HeaderStyle::HttpSender);
        assert_eq!(sender.len(), 10);
        for ((plain, v1), (prefixed, v2)) in channel.iter().zip(&sender) {
            assert_eq!(prefixed, &format!("X-{plain}"));
            assert_eq!(v1, v2);
        }
    }

    #[test]
    fn reads_channel_records_with_string_or_object_bodies() {
        let record: ChannelRecord = serde_json::from_value(json!({
            "MessageId": "m-1",
            "MessageBody": "{\"orderReference\":\"DE--1\"}",
            "MessageAttributes": {"transferName": "CapturePayment", "orderItemIds": [1, 2], "gone": null}
        }))
        .unwrap();
        assert_eq!(record.message_body, r#"{"orderReference":"DE--1"}"#);
        assert_eq!(
            record.message_attributes,
            map(&[("transferName", "CapturePayment"), ("orderItemIds", "[1,2]")])
        );
        let object_body: ChannelRecord =
            serde_json::from_value(json!({"MessageId": "m-2", "MessageBody": {"a": 1}})).unwrap();
        assert_eq!(object_body.message_body, r#"{"a":1}"#);
        assert!(object_body.message_attributes.is_empty());
    }

    #[test]
    fn routes_by_transfer_name() {
        let body = r#"{"orderReference":"DE--1"}"#;
        for command in Command::ALL {
            assert_eq!(
                route(&map(&[("transferName", command.name())]), body),
                Destination::Command(command)
            );
        }
        assert_eq!(
            route(&map(&[("name", "RefundPayment")]), body),
            Destination::Command(Command::RefundPayment),
            "name when transferName is missing"
        );
        assert_eq!(
            route(&map(&[("Transfer-Name", "CancelPayment")]), body),
            Destination::Command(Command::CancelPayment),
            "header spelling"
        );
        let packed = map(&[(SYMFONY_HEADERS_ATTRIBUTE, r#"{"transferName":"CapturePayment"}"#)]);
        assert_eq!(route(&packed, body), Destination::Command(Command::CapturePayment));
        for (attributes, body) in [
            (map(&[("transferName", "PaymentCaptured")]), body),
            (map(&[("transferName", "  ")]), body),
            (map(&[("tenantIdentifier", "t")]), body),
            (map(&[("transferName", "CapturePayment")]), "not json"),
            (map(&[("transferName", "CapturePayment")]), "[1]"),
        ] {
            assert!(
                matches!(route(&attributes, body), Destination::DeadLetter(_)),
                "{attributes:?} {body}"
            );
        }
    }

    #[test]
    fn sqs_attributes_pack_empty_values_and_sort_the_others_by_name() {
        let mut many: BTreeMap<String, String> = (0..9).map(|i| (format!("zz{i}"), "v".to_string())).collect();
        many.insert("storeReference".into(), String::new());
        many.insert("transferName".into(), "CapturePayment".into());
        many.insert("aa".into(), "first".into());
        let out = sqs_attributes(&many);
        let direct: Vec<&str> = out
            .keys()
            .map(String::as_str)
            .filter(|k| *k != SYMFONY_HEADERS_ATTRIBUTE)
            .collect();
        assert_eq!(
            direct,
            ["aa", "transferName", "zz0", "zz1", "zz2", "zz3", "zz4", "zz5", "zz6"]
        );
        let packed: BTreeMap<String, String> = serde_json::from_str(&out[SYMFONY_HEADERS_ATTRIBUTE]).unwrap();
        assert_eq!(packed, map(&[("storeReference", ""), ("zz7", "v"), ("zz8", "v")]));
        // A few attributes with an empty one: the empty one alone is packed.
        let few = sqs_attributes(&map(&[("transferName", "CapturePayment"), ("storeReference", "")]));
        assert_eq!(few["transferName"], "CapturePayment");
        assert_eq!(few[SYMFONY_HEADERS_ATTRIBUTE], r#"{"storeReference":""}"#);
    }

    #[test]
    fn sqs_attributes_drop_the_token_and_pack_what_does_not_fit() {
        let few = map(&[("transferName", "CapturePayment"), ("authorization", "Bearer secret")]);
        assert_eq!(sqs_attributes(&few), map(&[("transferName", "CapturePayment")]));

        let mut many = map(&[
            ("transferName", "CapturePayment"),
            ("name", "CapturePayment"),
            ("event", "CapturePayment"),
            ("tenantIdentifier", "t-1"),
            ("storeReference", "t-1"),
            ("actorId", "t-1"),
            ("publisher", "t-1"),
            ("timestamp", "2025-02-10T11:32:52.123456"),
            ("correlationId", "c-1"),
            ("transactionId", "x-1"),
            ("authorization", "Bearer secret"),
        ]);
        many.insert("zeta".into(), "z".into());
        let out = sqs_attributes(&many);
        assert_eq!(out.len(), 10);
        assert!(!out.values().any(|v| v.contains("secret")));
        for kept in [
            "transferName",
            "tenantIdentifier",
            "correlationId",
            "transactionId",
            "name",
            "event",
            "storeReference",
            "actorId",
            "publisher",
        ] {
            assert!(out.contains_key(kept), "{kept}");
        }
        let packed: BTreeMap<String, String> = serde_json::from_str(&out[SYMFONY_HEADERS_ATTRIBUTE]).unwrap();
        assert_eq!(
            packed,
            map(&[("timestamp", "2025-02-10T11:32:52.123456"), ("zeta", "z")])
        );
    }
}
