//! The app's own queues that the ACP bridge fills: each command's queue and a dead-letter queue.

use crate::acp::channel::Command;
use std::collections::BTreeMap;
use std::future::Future;

/// Which queue a message goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QueueTarget {
    /// The command's queue (its function takes it from there).
    Command(Command),
    /// The bridge's dead-letter queue: what could not be routed or delivered, kept as received.
    DeadLetter,
}

/// One message to enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    /// The id it arrived with (the platform's `MessageId`, the SQS message id): for logs and, on a FIFO
    /// queue, deduplication.
    pub id: String,
    /// The body.
    pub body: String,
    /// String message attributes (at most ten: see `acp::channel::sqs_attributes`).
    pub attributes: BTreeMap<String, String>,
}

impl QueuedMessage {
    /// A message for the dead-letter queue: `body` as received and why, in `deadLetterReason`.
    pub fn dead_letter(id: &str, body: String, reason: &str) -> Self {
        QueuedMessage {
            id: id.to_string(),
            body,
            attributes: BTreeMap::from([("deadLetterReason".to_string(), reason.to_string())]),
        }
    }
}

/// Sends messages to the app's queues.
pub trait MessageQueues: Send + Sync {
    /// Sends `messages` to `target`; one result per message, in order (`Err` with the reason).
    fn send(
        &self,
        target: QueueTarget,
        messages: &[QueuedMessage],
    ) -> impl Future<Output = Vec<Result<(), String>>> + Send;
}
