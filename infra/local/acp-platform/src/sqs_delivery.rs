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
use shared::acp::channel::sqs_attributes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Tries per command and flush.
const SEND_ATTEMPTS: u32 = 3;

/// The pause between two tries.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The SQS message attributes of a command's `attributes`, packed as the app's own receiver packs them
/// (`shared::acp::channel::sqs_attributes`: at most ten, the rest in `X-Symfony-Messenger`).
fn message_attributes(attributes: &Attributes) -> Result<HashMap<String, MessageAttributeValue>, String> {
    sqs_attributes(attributes)
        .into_iter()
        .map(|(name, value)| {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| e.to_string())?;
            Ok((name, value))
        })
        .collect()
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
    let attributes = message_attributes(&command.attributes)?;
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
    use shared::acp::channel::SYMFONY_HEADERS_ATTRIBUTE;

    #[test]
    fn eleven_attributes_are_ten_string_attributes_two_of_them_packed() {
        let all: Attributes = [
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
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sqs = message_attributes(&all).expect("valid");
        assert_eq!(sqs.len(), 10);
        let json = sqs[SYMFONY_HEADERS_ATTRIBUTE].string_value().expect("a string");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(json).expect("JSON"),
            serde_json::json!({"emitter": "zed", "timestamp": "2026-01-01T00:00:00Z"})
        );
        assert_eq!(sqs["transferName"].data_type(), "String");
        assert_eq!(sqs["transferName"].string_value(), Some("CapturePayment"));
    }
}
