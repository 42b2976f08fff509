//! The inbound envelope parser for the three SQS record shapes of decision §9.1:
//!
//! * (a) the raw JSON payload in the body, the ACP attributes as SQS String message attributes;
//! * (b) an SNS notification wrapper `{"Type":"Notification","Message":"<json>","MessageAttributes":{"k":{"Type","Value"}}}`;
//! * (c) the ACP HTTP-channel record `{"MessageId","MessageBody":"<json>","MessageAttributes":{"k":"v"}}`.
//!
//! Attributes (contract §1.1/§1.2): the name is `transferName`, else `name`; the tenant is `tenantIdentifier`,
//! else `storeReference`; `correlationId` is optional. Attribute keys are matched case-insensitively and
//! ignoring `-`/`_` and an `X-` prefix, so `transferName`, `TransferName`, `Transfer-Name` and
//! `X-Transfer-Name` are the same key. Attributes inside a wrapper win over the SQS attributes of the record.
//! An `X-Symfony-Messenger` SQS attribute (a JSON object of strings: the headers Symfony's Amazon SQS
//! transport could not fit in SQS's ten attributes) counts as attributes of the record.

use super::channel::normalize_key;
use super::messages::InboundCommand;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Display;

/// A command as it arrived: the tenant, the chain's correlation id and the typed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundMessage {
    /// `tenantIdentifier`, falling back to `storeReference`.
    pub tenant_identifier: String,
    /// `correlationId`, when the sender set one.
    pub correlation_id: Option<String>,
    /// `transactionId`: the message's own id (a UUIDv4 per message, §1.1; unrelated to the payment's
    /// transaction id), when the sender set one. The same id is a redelivery, a new one a new attempt.
    pub message_id: Option<String>,
    /// The typed command.
    pub command: InboundCommand,
}

impl InboundMessage {
    /// The span of this command's handling: its fields are the top-level keys of every log line
    /// written while handling it (`tenant`, `correlationId`, `orderReference`, `command`).
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "command",
            tenant = %self.tenant_identifier,
            correlationId = self.correlation_id.as_deref(),
            orderReference = self.command.order_reference(),
            command = self.command.name(),
        )
    }

    /// The message as one text (its payload and its attributes, as an SQS record carries them): what an
    /// operation record keeps so the reconciler can run the command again. [`InboundMessage::from_stored`]
    /// reads it back.
    pub fn to_stored(&self) -> String {
        let payload = match &self.command {
            InboundCommand::CapturePayment(p) | InboundCommand::CancelPayment(p) => serde_json::to_string(p),
            InboundCommand::RefundPayment(r) => serde_json::to_string(r),
        }
        .unwrap_or_default();
        let mut attributes = BTreeMap::from([
            ("transferName".to_string(), self.command.name().to_string()),
            ("tenantIdentifier".to_string(), self.tenant_identifier.clone()),
        ]);
        if let Some(c) = &self.correlation_id {
            attributes.insert("correlationId".into(), c.clone());
        }
        if let Some(m) = &self.message_id {
            attributes.insert("transactionId".into(), m.clone());
        }
        serde_json::json!({"body": payload, "attributes": attributes}).to_string()
    }

    /// Reads back what [`InboundMessage::to_stored`] wrote.
    pub fn from_stored(text: &str) -> Result<InboundMessage, EnvelopeError> {
        #[derive(serde::Deserialize)]
        struct Stored {
            body: String,
            attributes: BTreeMap<String, String>,
        }
        let stored: Stored = crate::json::from_str(text).map_err(|e| malformed(format_args!("stored command: {e}")))?;
        parse_record(&stored.body, &stored.attributes)
    }
}

/// Why a record could not be read. The record becomes a batch item failure and ends in the DLQ.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The body, or the message wrapped in it, is empty.
    #[error("empty message body")]
    EmptyBody,
    /// The body, or the wrapped message, is not valid JSON of the expected shape. The reason is short and
    /// never repeats the body.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Neither `transferName` nor `name` is present.
    #[error("message has no transferName or name attribute")]
    MissingName,
    /// The message name is not one of the three commands.
    #[error("unknown message {0:?}")]
    UnknownMessage(String),
    /// Neither `tenantIdentifier` nor `storeReference` is present.
    #[error("message has no tenantIdentifier")]
    MissingTenant,
}

/// The longest reason or name an error carries; longer ones are cut.
const MAX_REASON_LEN: usize = 160;

/// Parses one SQS record: its `body` and its String message attributes.
pub fn parse_record(body: &str, sqs_attributes: &BTreeMap<String, String>) -> Result<InboundMessage, EnvelopeError> {
    let (payload, wrapper_attributes) = unwrap_record(parse_json(body, "body")?)?;

    let mut attributes = Attributes::default();
    // Symfony's SQS transport packs what does not fit in SQS's ten attributes into one JSON attribute.
    let sqs_attributes = super::channel::unpacked(sqs_attributes);
    attributes.extend(sqs_attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    attributes.extend(wrapper_attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())));

    let name = attributes
        .first(&["transferName", "name"])
        .ok_or(EnvelopeError::MissingName)?;
    let parse = command_parser(name).ok_or_else(|| EnvelopeError::UnknownMessage(shorten(name)))?;
    let tenant_identifier = attributes
        .first(&["tenantIdentifier", "storeReference"])
        .ok_or(EnvelopeError::MissingTenant)?;
    let correlation_id = attributes.first(&["correlationId"]);
    let message_id = attributes.first(&["transactionId"]).filter(|id| !id.trim().is_empty());

    if !payload.is_object() {
        return Err(malformed("payload is not a JSON object"));
    }
    let command = parse(payload).map_err(|e| malformed(format_args!("{name} payload: {e}")))?;

    Ok(InboundMessage {
        tenant_identifier: tenant_identifier.to_string(),
        correlation_id: correlation_id.map(str::to_string),
        message_id: message_id.map(str::to_string),
        command,
    })
}

/// Deserializes a payload into one command.
type CommandParser = fn(Value) -> Result<InboundCommand, crate::json::JsonError>;

/// The payload parser for a message name, `None` for a name that is not an inbound command.
fn command_parser(name: &str) -> Option<CommandParser> {
    match name {
        "CapturePayment" => Some(|v| crate::json::from_value(v).map(InboundCommand::CapturePayment)),
        "CancelPayment" => Some(|v| crate::json::from_value(v).map(InboundCommand::CancelPayment)),
        "RefundPayment" => Some(|v| crate::json::from_value(v).map(InboundCommand::RefundPayment)),
        _ => None,
    }
}

/// Parses `text` (the record body or a wrapped message) as JSON; `what` names it in the error.
fn parse_json(text: &str, what: &str) -> Result<Value, EnvelopeError> {
    if text.trim().is_empty() {
        return Err(EnvelopeError::EmptyBody);
    }
    crate::json::from_str(text).map_err(|e| malformed(format_args!("{what} is not JSON: {e}")))
}

/// Splits a record body into the payload and the attributes carried inside the body (shapes b and c);
/// a raw payload (shape a) carries none.
fn unwrap_record(record: Value) -> Result<(Value, BTreeMap<String, String>), EnvelopeError> {
    let Value::Object(mut fields) = record else {
        return Err(malformed("body is not a JSON object"));
    };
    if fields.get("Type").and_then(Value::as_str) == Some("Notification") {
        let message = match fields.remove("Message") {
            Some(Value::String(message)) => parse_json(&message, "SNS Message")?,
            _ => return Err(malformed("SNS notification without a Message string")),
        };
        return Ok((message, attribute_values(fields.remove("MessageAttributes"))));
    }
    if let Some(body) = fields.remove("MessageBody") {
        let message = match body {
            Value::String(body) => parse_json(&body, "MessageBody")?,
            Value::Object(_) => body,
            _ => return Err(malformed("MessageBody is neither a JSON string nor an object")),
        };
        return Ok((message, attribute_values(fields.remove("MessageAttributes"))));
    }
    Ok((Value::Object(fields), BTreeMap::new()))
}

/// The string attributes of a wrapper's `MessageAttributes`: plain strings (HTTP channel) or
/// `{"Type": "String", "Value": "..."}` objects (SNS). Other values are skipped.
fn attribute_values(attributes: Option<Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(attributes)) = attributes else {
        return BTreeMap::new();
    };
    attributes
        .into_iter()
        .filter_map(|(key, value)| {
            let value = match value {
                Value::String(s) => s,
                Value::Object(mut o) => match o.remove("Value") {
                    Some(Value::String(s)) => s,
                    _ => return None,
                },
                _ => return None,
            };
            Some((key, value))
        })
        .collect()
}

/// Message attributes by normalized key; empty values count as absent.
#[derive(Default)]
struct Attributes(BTreeMap<String, String>);

impl Attributes {
    /// Adds attributes, replacing earlier ones with the same normalized key.
    fn extend<'a>(&mut self, attributes: impl Iterator<Item = (&'a str, &'a str)>) {
        for (key, value) in attributes {
            let value = value.trim();
            if !value.is_empty() {
                self.0.insert(normalize_key(key), value.to_string());
            }
        }
    }

    /// The value of the first of `keys` that is present.
    fn first(&self, keys: &[&str]) -> Option<&str> {
        keys.iter()
            .find_map(|key| self.0.get(&normalize_key(key)).map(String::as_str))
    }
}

/// A `Malformed` error with a reason cut to [`MAX_REASON_LEN`].
fn malformed(reason: impl Display) -> EnvelopeError {
    EnvelopeError::Malformed(shorten(&reason.to_string()))
}

/// `text`, cut to [`MAX_REASON_LEN`] bytes on a character boundary.
fn shorten(text: &str) -> String {
    if text.len() <= MAX_REASON_LEN {
        return text.to_string();
    }
    format!("{}…", &text[..text.floor_char_boundary(MAX_REASON_LEN)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acp::{PaymentPayload, RefundOrderItem, RefundPayment};
    use proptest::prelude::*;
    use serde_json::json;

    const CAPTURE: &str = r#"{"orderReference":"DE--1","orderItemIds":[1,2],"amount":1000,"currencyIsoCode":"EUR"}"#;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn capture() -> InboundCommand {
        InboundCommand::CapturePayment(PaymentPayload {
            order_reference: "DE--1".into(),
            order_item_ids: vec![1, 2],
            amount: Some(1000),
            currency_iso_code: Some("EUR".into()),
        })
    }

    fn sns(message: &str, attributes: Value) -> String {
        json!({
            "Type": "Notification",
            "MessageId": "5b5c1f6e-0000-4000-8000-000000000001",
            "TopicArn": "arn:aws:sns:eu-central-1:123456789012:payment-commands",
            "Message": message,
            "Timestamp": "2025-02-10T11:32:52.123Z",
            "MessageAttributes": attributes,
        })
        .to_string()
    }

    fn http_channel(body: &str, attributes: Value) -> String {
        json!({"MessageId": "msg-1", "MessageBody": body, "MessageAttributes": attributes}).to_string()
    }

    #[test]
    fn symfony_packed_attributes() {
        let a = attrs(&[
            ("transferName", "CapturePayment"),
            (
                "X-Symfony-Messenger",
                r#"{"tenantIdentifier":"t-1","correlationId":"c-1","transferName":"CancelPayment"}"#,
            ),
        ]);
        let m = parse_record(CAPTURE, &a).unwrap();
        assert_eq!(m.tenant_identifier, "t-1");
        assert_eq!(m.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(m.command, capture(), "an attribute of its own wins over a packed one");
    }

    #[test]
    fn raw_body_with_sqs_attributes() {
        let a = attrs(&[
            ("transferName", "CapturePayment"),
            ("tenantIdentifier", "t-1"),
            ("correlationId", "c-1"),
            ("transactionId", "6f1c2c1e-5b0a-4d8e-9d7e-0c8f3a1b2c3d"),
        ]);
        let m = parse_record(CAPTURE, &a).unwrap();
        assert_eq!(
            m,
            InboundMessage {
                tenant_identifier: "t-1".into(),
                correlation_id: Some("c-1".into()),
                message_id: Some("6f1c2c1e-5b0a-4d8e-9d7e-0c8f3a1b2c3d".into()),
                command: capture()
            }
        );
    }

    #[test]
    fn a_stored_message_reads_back_as_it_was() {
        let a = attrs(&[
            ("transferName", "CapturePayment"),
            ("tenantIdentifier", "t-1"),
            ("correlationId", "c-1"),
            ("transactionId", "m-1"),
        ]);
        let m = parse_record(CAPTURE, &a).unwrap();
        assert_eq!(InboundMessage::from_stored(&m.to_stored()), Ok(m.clone()));
        let bare = InboundMessage {
            correlation_id: None,
            message_id: None,
            ..m
        };
        assert_eq!(InboundMessage::from_stored(&bare.to_stored()), Ok(bare));
        assert!(InboundMessage::from_stored("{}").is_err());
    }

    #[test]
    fn sns_notification_wrapper() {
        let body = sns(
            CAPTURE,
            json!({
                "transferName": {"Type": "String", "Value": "CapturePayment"},
                "tenantIdentifier": {"Type": "String", "Value": "t-1"},
                "correlationId": {"Type": "String", "Value": "c-1"},
                "orderItemIds": {"Type": "String.Array", "Value": "[1,2]"},
                "weird": {"Type": "Binary"}
            }),
        );
        let m = parse_record(&body, &BTreeMap::new()).unwrap();
        assert_eq!(m.tenant_identifier, "t-1");
        assert_eq!(m.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(m.command, capture());
    }

    #[test]
    fn http_channel_record() {
        let body = http_channel(
            CAPTURE,
            json!({"transferName": "CapturePayment", "tenantIdentifier": "t-1", "publisher": "spryker", "timestamp": "2025-02-10T11:32:52.123456"}),
        );
        let m = parse_record(&body, &BTreeMap::new()).unwrap();
        assert_eq!(m.tenant_identifier, "t-1");
        assert_eq!((m.correlation_id, m.message_id), (None, None));
        assert_eq!(m.command, capture());
    }

    #[test]
    fn http_channel_record_with_an_already_decoded_body() {
        let body = json!({
            "MessageId": "msg-1",
            "MessageBody": {"orderReference": "DE--1", "orderItemIds": [1, 2], "amount": 1000, "currencyIsoCode": "EUR"},
            "MessageAttributes": {"name": "CapturePayment", "storeReference": "t-1"}
        })
        .to_string();
        assert_eq!(parse_record(&body, &BTreeMap::new()).unwrap().command, capture());
    }

    #[test]
    fn wrapper_attributes_win_over_sqs_attributes_and_fill_gaps_from_them() {
        let body = http_channel(
            CAPTURE,
            json!({"transferName": "CapturePayment", "tenantIdentifier": "from-body"}),
        );
        let a = attrs(&[("tenantIdentifier", "from-sqs"), ("correlationId", "c-sqs")]);
        let m = parse_record(&body, &a).unwrap();
        assert_eq!(m.tenant_identifier, "from-body");
        assert_eq!(m.correlation_id.as_deref(), Some("c-sqs"));
    }

    #[test]
    fn falls_back_to_name_and_store_reference() {
        let a = attrs(&[
            ("transferName", " "),
            ("name", "CancelPayment"),
            ("storeReference", "t-2"),
        ]);
        let m = parse_record(r#"{"orderReference":"DE--2","orderItemIds":["7"],"amount":0}"#, &a).unwrap();
        assert_eq!(m.tenant_identifier, "t-2");
        assert_eq!(m.command.name(), "CancelPayment");
        assert_eq!(m.command.order_item_ids(), vec![7]);
    }

    #[test]
    fn transfer_name_is_read_before_name() {
        let a = attrs(&[
            ("transferName", "CapturePayment"),
            ("name", "CancelPayment"),
            ("tenantIdentifier", "t"),
        ]);
        assert_eq!(parse_record(CAPTURE, &a).unwrap().command.name(), "CapturePayment");
    }

    #[test]
    fn tenant_identifier_is_read_before_store_reference() {
        let a = attrs(&[
            ("name", "CapturePayment"),
            ("storeReference", "old"),
            ("tenantIdentifier", "new"),
        ]);
        assert_eq!(parse_record(CAPTURE, &a).unwrap().tenant_identifier, "new");
    }

    #[test]
    fn header_style_attribute_keys_are_accepted() {
        for (name_key, tenant_key, corr_key) in [
            ("Transfer-Name", "Tenant-Identifier", "Correlation-Id"),
            ("TransferName", "TenantIdentifier", "CorrelationId"),
            ("transfer-name", "tenant-identifier", "correlation-id"),
            ("X-Transfer-Name", "X-Tenant-Identifier", "X-Correlation-Id"),
            ("TRANSFERNAME", "Store-Reference", "correlationid"),
        ] {
            let a = attrs(&[(name_key, "CapturePayment"), (tenant_key, "t-1"), (corr_key, "c-1")]);
            let m = parse_record(CAPTURE, &a).unwrap_or_else(|e| panic!("{name_key}: {e}"));
            assert_eq!(
                (m.tenant_identifier.as_str(), m.correlation_id.as_deref()),
                ("t-1", Some("c-1"))
            );
        }
    }

    #[test]
    fn refund_payment_keeps_its_negative_amount() {
        let a = attrs(&[("transferName", "RefundPayment"), ("tenantIdentifier", "t-1")]);
        let body = r#"{"orderReference":"DE--3","orderItems":[{"orderItemId":"5","sku":"A"}],"amount":"-1500","extra":{"x":1}}"#;
        let m = parse_record(body, &a).unwrap();
        assert_eq!(
            m.command,
            InboundCommand::RefundPayment(RefundPayment {
                order_reference: "DE--3".into(),
                order_items: vec![RefundOrderItem {
                    order_item_id: 5,
                    sku: Some("A".into())
                }],
                order_item_ids: None,
                amount: -1500,
                currency_iso_code: None,
            })
        );
        assert_eq!(m.command.order_item_ids(), vec![5]);
    }

    #[test]
    fn unknown_keys_are_ignored_everywhere() {
        let payload = r#"{"orderReference":"DE--1","orderItemIds":[1,2],"amount":1000,"currencyIsoCode":"EUR","idSalesOrder":9,"context":"{}"}"#;
        let body = http_channel(
            payload,
            json!({"transferName": "CapturePayment", "tenantIdentifier": "t-1", "somethingNew": "x", "publisher": {"appIdentifier": "a"}}),
        );
        let mut record: Value = serde_json::from_str(&body).unwrap();
        record["Unexpected"] = json!(true);
        assert_eq!(
            parse_record(&record.to_string(), &BTreeMap::new()).unwrap().command,
            capture()
        );
    }

    #[test]
    fn empty_bodies() {
        let a = attrs(&[("transferName", "CapturePayment"), ("tenantIdentifier", "t-1")]);
        assert_eq!(parse_record("", &a), Err(EnvelopeError::EmptyBody));
        assert_eq!(parse_record(" \n\t", &a), Err(EnvelopeError::EmptyBody));
        assert_eq!(parse_record(&sns("", json!({})), &a), Err(EnvelopeError::EmptyBody));
        assert_eq!(
            parse_record(&http_channel(" ", json!({})), &a),
            Err(EnvelopeError::EmptyBody)
        );
    }

    #[test]
    fn missing_name() {
        let a = attrs(&[("tenantIdentifier", "t-1"), ("event", "CapturePayment")]);
        assert_eq!(parse_record(CAPTURE, &a), Err(EnvelopeError::MissingName));
        let body = sns(CAPTURE, json!({"tenantIdentifier": {"Type": "String", "Value": "t-1"}}));
        assert_eq!(parse_record(&body, &BTreeMap::new()), Err(EnvelopeError::MissingName));
    }

    #[test]
    fn unknown_message() {
        let a = attrs(&[("transferName", "PaymentCaptured"), ("tenantIdentifier", "t-1")]);
        assert_eq!(
            parse_record(CAPTURE, &a),
            Err(EnvelopeError::UnknownMessage("PaymentCaptured".into()))
        );
        let a = attrs(&[("transferName", "capturepayment"), ("tenantIdentifier", "t-1")]);
        assert!(matches!(
            parse_record(CAPTURE, &a),
            Err(EnvelopeError::UnknownMessage(_))
        ));
    }

    #[test]
    fn missing_tenant() {
        let a = attrs(&[("transferName", "CapturePayment")]);
        assert_eq!(parse_record(CAPTURE, &a), Err(EnvelopeError::MissingTenant));
        let a = attrs(&[
            ("transferName", "CapturePayment"),
            ("tenantIdentifier", ""),
            ("storeReference", " "),
        ]);
        assert_eq!(parse_record(CAPTURE, &a), Err(EnvelopeError::MissingTenant));
    }

    #[test]
    fn malformed_records() {
        let a = attrs(&[("transferName", "CapturePayment"), ("tenantIdentifier", "t-1")]);
        for body in [
            "not json",
            "{\"orderReference\":",
            "[1,2]",
            "\"a string\"",
            "42",
            r#"{"orderItemIds":[1]}"#,
            r#"{"orderReference":"DE--1","orderItemIds":["one"]}"#,
            r#"{"orderReference":"DE--1","orderItemIds":[1],"amount":1.5}"#,
            r#"{"orderReference":7,"orderItemIds":[1]}"#,
            r#"{"Type":"Notification","Message":{"orderReference":"DE--1"}}"#,
            r#"{"Type":"Notification","Message":"not json"}"#,
            r#"{"Type":"Notification","Message":"[1]"}"#,
            r#"{"MessageId":"m","MessageBody":17}"#,
            r#"{"MessageId":"m","MessageBody":"{\"orderReference\":"}"#,
        ] {
            assert!(
                matches!(parse_record(body, &a), Err(EnvelopeError::Malformed(_))),
                "{body}: {:?}",
                parse_record(body, &a)
            );
        }
    }

    #[test]
    fn malformed_reasons_are_short_and_do_not_repeat_the_body() {
        let a = attrs(&[("transferName", "CapturePayment"), ("tenantIdentifier", "t-1")]);
        let secret = "card-4242-".repeat(100);
        for body in [
            format!(r#"{{"orderReference":"DE--1","orderItemIds":["{secret}"]}}"#),
            format!(r#"{{"orderReference":"{secret}""#),
            format!(r#""{secret}""#),
        ] {
            let Err(EnvelopeError::Malformed(reason)) = parse_record(&body, &a) else {
                panic!("expected Malformed for {body}");
            };
            assert!(reason.chars().count() <= MAX_REASON_LEN + 1, "{reason}");
            assert!(!reason.contains(&secret), "{reason}");
        }
        let long_name = "X".repeat(1000);
        let a = attrs(&[("transferName", &long_name), ("tenantIdentifier", "t-1")]);
        let Err(EnvelopeError::UnknownMessage(name)) = parse_record(CAPTURE, &a) else {
            panic!("expected UnknownMessage");
        };
        assert!(name.len() <= MAX_REASON_LEN + '…'.len_utf8());
    }

    #[test]
    fn shorten_cuts_on_a_character_boundary() {
        let text = "é".repeat(MAX_REASON_LEN);
        let short = shorten(&text);
        assert!(short.ends_with('…'));
        assert!(short.len() <= MAX_REASON_LEN + '…'.len_utf8());
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in any::<String>(), key in "[A-Za-z_-]{0,20}", value in any::<String>()) {
            let a = attrs(&[("transferName", "RefundPayment"), ("tenantIdentifier", "t"), (key.as_str(), value.as_str())]);
            let _ = parse_record(&body, &a);
            let _ = parse_record(&body, &BTreeMap::new());
            let _ = parse_record(&sns(&body, json!({"transferName": {"Type": "String", "Value": value}})), &a);
            let _ = parse_record(&http_channel(&body, json!({"name": value, "storeReference": body})), &a);
        }

        #[test]
        fn json_shaped_bodies_never_panic(body in r#"\{("[a-zA-Z]{1,12}":(-?[0-9]{1,20}|"[^"\\]{0,8}"|\[[0-9",]{0,10}\]|null|true|\{\}),?){0,6}\}"#) {
            let a = attrs(&[("name", "CapturePayment"), ("storeReference", "t")]);
            let _ = parse_record(&body, &a);
            let a = attrs(&[("name", "RefundPayment"), ("storeReference", "t")]);
            let _ = parse_record(&body, &a);
        }
    }
}
