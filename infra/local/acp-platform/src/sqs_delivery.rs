//! The `http-sqs` wiring: every command published on `payment-commands` is also sent to an SQS queue,
//! as Symfony's Amazon SQS transport (Spryker's `SqsReceiverClient` reads it) would send it: the payload
//! JSON as the body, the attributes as `String` message attributes, and, since SQS takes at most ten
//! message attributes, whatever does not fit packed as one JSON object in `X-Symfony-Messenger`.
//!
//! Commands go out in publish order. A failed send is tried again a few times; if it still fails it is
//! logged and kept (with every later command, so the order holds) for the next flush, which comes with
//! the next publish. Nothing is dropped.

use crate::channels::COMMANDS_CHANNEL;
use crate::headers::Attributes;
use crate::lock;
use crate::state::{PendingCommand, Store};
use aws_sdk_sqs::types::MessageAttributeValue;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Most message attributes SQS takes on one message.
pub const MAX_SQS_ATTRIBUTES: usize = 10;

/// The one attribute Symfony's transport packs the remaining headers into (a JSON object of strings).
pub const PACKED_ATTRIBUTE: &str = "X-Symfony-Messenger";

/// Which attributes get their own SQS attribute first: those a receiver filters or logs on. Any other
/// follows, sorted by name.
const PREFERENCE: [&str; 10] = [
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

/// Tries per command and flush.
const SEND_ATTEMPTS: u32 = 3;

/// The pause between two tries.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// A message's attributes as they travel on SQS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedAttributes {
    /// Own `String` message attributes (at most nine), in order of preference.
    pub direct: Vec<(String, String)>,
    /// The rest, for [`PACKED_ATTRIBUTE`] (empty: no such attribute).
    pub packed: Attributes,
}

/// Splits `attributes` into the first nine by preference (own SQS attributes) and the rest (packed).
/// Empty values always go to the packed rest: SQS refuses an attribute with an empty value.
pub fn pack_attributes(attributes: &Attributes) -> PackedAttributes {
    let preferred = PREFERENCE.iter().filter_map(|name| attributes.get_key_value(*name));
    let others = attributes
        .iter()
        .filter(|(name, _)| !PREFERENCE.contains(&name.as_str()));
    let mut result = PackedAttributes {
        direct: Vec::new(),
        packed: Attributes::new(),
    };
    for (name, value) in preferred.chain(others) {
        // One slot stays free for the packed attribute.
        if result.direct.len() < MAX_SQS_ATTRIBUTES - 1 && !value.is_empty() {
            result.direct.push((name.clone(), value.clone()));
        } else {
            result.packed.insert(name.clone(), value.clone());
        }
    }
    result
}

/// The SQS message attributes of `packed`.
fn sqs_attributes(packed: &PackedAttributes) -> Result<HashMap<String, MessageAttributeValue>, String> {
    let string = |value: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| e.to_string())
    };
    let mut attributes = HashMap::new();
    for (name, value) in &packed.direct {
        attributes.insert(name.clone(), string(value)?);
    }
    if !packed.packed.is_empty() {
        let json = serde_json::to_string(&packed.packed).map_err(|e| e.to_string())?;
        attributes.insert(PACKED_ATTRIBUTE.to_string(), string(&json)?);
    }
    Ok(attributes)
}

/// Where commands go.
struct Target {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

/// The SQS queue commands are delivered to, once one is given.
#[derive(Default)]
pub struct SqsDelivery {
    // An async mutex: held across the sends so that two flushes never send the same command twice.
    target: tokio::sync::Mutex<Option<Target>>,
}

impl SqsDelivery {
    /// Delivers commands to `queue_url` from now on, those already published first.
    pub async fn set_target(&self, client: aws_sdk_sqs::Client, queue_url: String, store: &Mutex<Store>) {
        let mut target = self.target.lock().await;
        let target = target.insert(Target { client, queue_url });
        flush(target, store).await;
    }

    /// Sends the commands not yet delivered, if a queue was given.
    pub async fn flush(&self, store: &Mutex<Store>) {
        if let Some(target) = self.target.lock().await.as_ref() {
            flush(target, store).await;
        }
    }
}

/// Sends the pending commands in order; stops at the first that cannot be sent (kept for next time).
async fn flush(target: &Target, store: &Mutex<Store>) {
    let pending = lock(store).pending_for_queue(COMMANDS_CHANNEL);
    for command in pending {
        if let Err(error) = send_with_retries(target, &command).await {
            eprintln!(
                "acp-platform: could not send message {} to {} ({SEND_ATTEMPTS} tries), kept for the next publish: {error}",
                command.id, target.queue_url
            );
            return;
        }
        lock(store).mark_delivered_to_queue(&command.id);
    }
}

async fn send_with_retries(target: &Target, command: &PendingCommand) -> Result<(), String> {
    let mut attempt = 1;
    loop {
        match send(target, command).await {
            Ok(()) => return Ok(()),
            Err(error) if attempt >= SEND_ATTEMPTS => return Err(error),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

async fn send(target: &Target, command: &PendingCommand) -> Result<(), String> {
    let attributes = sqs_attributes(&pack_attributes(&command.attributes))?;
    target
        .client
        .send_message()
        .queue_url(&target.queue_url)
        .message_body(&command.body)
        .set_message_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(&str, &str)]) -> Attributes {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn all_eleven_attributes_nine_direct_two_packed() {
        let all = attributes(&[
            ("transferName", "CapturePayment"),
            ("name", "CapturePayment"),
            ("event", "CapturePayment"),
            ("tenantIdentifier", "tenant-1"),
            ("storeReference", "DE"),
            ("actorId", "tenant-1"),
            ("publisher", "shop"),
            ("emitter", "zed"),
            ("timestamp", "2026-01-01T00:00:00Z"),
            ("correlationId", "c-1"),
            ("transactionId", "t-1"),
        ]);
        let packed = pack_attributes(&all);
        let names: Vec<&str> = packed.direct.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "transferName",
                "tenantIdentifier",
                "correlationId",
                "transactionId",
                "name",
                "event",
                "storeReference",
                "actorId",
                "publisher"
            ]
        );
        assert_eq!(
            packed.packed,
            attributes(&[("timestamp", "2026-01-01T00:00:00Z"), ("emitter", "zed")])
        );
        let sqs = sqs_attributes(&packed).expect("valid");
        assert_eq!(sqs.len(), MAX_SQS_ATTRIBUTES);
        let json = sqs[PACKED_ATTRIBUTE].string_value().expect("a string");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(json).expect("JSON"),
            serde_json::json!({"emitter": "zed", "timestamp": "2026-01-01T00:00:00Z"})
        );
        assert_eq!(sqs["transferName"].data_type(), "String");
        assert_eq!(sqs["transferName"].string_value(), Some("CapturePayment"));
    }

    #[test]
    fn few_attributes_need_no_packing() {
        let few = attributes(&[
            ("transferName", "CapturePayment"),
            ("tenantIdentifier", "tenant-1"),
            ("actorId", "tenant-1"),
        ]);
        let packed = pack_attributes(&few);
        assert_eq!(packed.direct.len(), 3);
        assert!(packed.packed.is_empty());
        assert!(!sqs_attributes(&packed).expect("valid").contains_key(PACKED_ATTRIBUTE));
    }

    #[test]
    fn others_follow_the_preferred_sorted_and_empty_values_are_packed() {
        let mut many: Attributes = (0..9).map(|i| (format!("zz{i}"), "v".to_string())).collect();
        many.insert("storeReference".into(), String::new());
        many.insert("transferName".into(), "CapturePayment".into());
        many.insert("aa".into(), "first".into());
        let packed = pack_attributes(&many);
        let names: Vec<&str> = packed.direct.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["transferName", "aa", "zz0", "zz1", "zz2", "zz3", "zz4", "zz5", "zz6"]
        );
        assert_eq!(
            packed.packed,
            attributes(&[("storeReference", ""), ("zz7", "v"), ("zz8", "v")])
        );
    }
}
