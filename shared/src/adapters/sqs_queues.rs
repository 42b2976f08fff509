//! [`MessageQueues`] on SQS: `SendMessageBatch` in chunks of ten, String message attributes. On a FIFO
//! queue (a name ending in `.fifo`) every message goes into one group, deduplicated by its id.
//! [`DeadLetters`] on SQS: the command queues' dead-letter queues, read with `ReceiveMessage`.

use crate::acp::channel::Command;
use crate::ports::message_queues::{DeadLetter, DeadLetters, MessageQueues, QueueTarget, QueuedMessage};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use std::collections::BTreeMap;

/// Most entries one `SendMessageBatch` takes.
const MAX_BATCH: usize = 10;

/// The group of the messages sent to a FIFO queue (a dead-letter queue keeps what failed in order).
const FIFO_GROUP: &str = "dead-letters";

/// The app's queues by target.
#[derive(Clone, Debug)]
pub struct SqsQueues {
    client: Client,
    urls: BTreeMap<QueueTarget, String>,
}

impl SqsQueues {
    /// Queues for each command that has a URL in `commands`, and `dead_letter`.
    pub fn new(client: Client, commands: BTreeMap<Command, String>, dead_letter: impl Into<String>) -> Self {
        let mut urls: BTreeMap<QueueTarget, String> = commands
            .into_iter()
            .map(|(command, url)| (QueueTarget::Command(command), url))
            .collect();
        urls.insert(QueueTarget::DeadLetter, dead_letter.into());
        SqsQueues { client, urls }
    }

    fn entry(index: usize, message: &QueuedMessage, fifo: bool) -> Result<SendMessageBatchRequestEntry, String> {
        let mut entry = SendMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .message_body(&message.body);
        for (name, value) in &message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| e.to_string())?;
            entry = entry.message_attributes(name, value);
        }
        if fifo {
            // SQS takes up to 128 characters: ids are UUIDs or SQS message ids.
            let dedup: String = message
                .id
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(128)
                .collect();
            entry = entry.message_group_id(FIFO_GROUP).message_deduplication_id(dedup);
        }
        entry.build().map_err(|e| e.to_string())
    }
}

impl MessageQueues for SqsQueues {
    async fn send(&self, target: QueueTarget, messages: &[QueuedMessage]) -> Vec<Result<(), String>> {
        let Some(url) = self.urls.get(&target) else {
            return messages
                .iter()
                .map(|_| Err(format!("no queue for {target:?}")))
                .collect();
        };
        let fifo = url.ends_with(".fifo");
        let mut results = Vec::with_capacity(messages.len());
        for chunk in messages.chunks(MAX_BATCH) {
            let entries: Result<Vec<_>, String> =
                chunk.iter().enumerate().map(|(i, m)| Self::entry(i, m, fifo)).collect();
            let mut outcome: Vec<Result<(), String>> = chunk.iter().map(|_| Ok(())).collect();
            match entries {
                Err(reason) => outcome.iter_mut().for_each(|o| *o = Err(reason.clone())),
                Ok(entries) => {
                    let sent = self
                        .client
                        .send_message_batch()
                        .queue_url(url)
                        .set_entries(Some(entries))
                        .send()
                        .await;
                    match sent {
                        Ok(out) => {
                            for failure in out.failed() {
                                if let Some(slot) = failure.id().parse::<usize>().ok().and_then(|i| outcome.get_mut(i))
                                {
                                    *slot =
                                        Err(format!("{}: {}", failure.code(), failure.message().unwrap_or_default()));
                                }
                            }
                        }
                        Err(e) => {
                            let reason = DisplayErrorContext(e).to_string();
                            outcome.iter_mut().for_each(|o| *o = Err(reason.clone()));
                        }
                    }
                }
            }
            results.extend(outcome);
        }
        results
    }
}

/// The command queues' dead-letter queues.
#[derive(Clone, Debug)]
pub struct SqsDeadLetters {
    client: Client,
    queues: Vec<String>,
}

impl SqsDeadLetters {
    /// The dead-letter queues at `queues` (URLs).
    pub fn new(client: Client, queues: Vec<String>) -> Self {
        SqsDeadLetters { client, queues }
    }
}

impl DeadLetters for SqsDeadLetters {
    async fn receive(&self, limit: usize) -> Result<Vec<DeadLetter>, String> {
        let mut letters = Vec::new();
        for queue in &self.queues {
            let wanted = limit.saturating_sub(letters.len()).min(MAX_BATCH);
            if wanted == 0 {
                break;
            }
            let out = self
                .client
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(i32::try_from(wanted).unwrap_or(10))
                .message_attribute_names("All")
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(|e| format!("ReceiveMessage {queue}: {}", DisplayErrorContext(&e)))?;
            for message in out.messages.unwrap_or_default() {
                let attributes = message
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(name, value)| value.string_value.map(|v| (name, v)))
                    .collect();
                letters.push(DeadLetter {
                    queue: queue.clone(),
                    receipt: message.receipt_handle.unwrap_or_default(),
                    body: message.body.unwrap_or_default(),
                    attributes,
                });
            }
        }
        Ok(letters)
    }

    async fn delete(&self, letter: &DeadLetter) -> Result<(), String> {
        self.client
            .delete_message()
            .queue_url(&letter.queue)
            .receipt_handle(&letter.receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("DeleteMessage: {}", DisplayErrorContext(&e)))
    }

    async fn hide(&self, letter: &DeadLetter, seconds: i32) -> Result<(), String> {
        self.client
            .change_message_visibility()
            .queue_url(&letter.queue)
            .receipt_handle(&letter.receipt)
            .visibility_timeout(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("ChangeMessageVisibility: {}", DisplayErrorContext(&e)))
    }
}
