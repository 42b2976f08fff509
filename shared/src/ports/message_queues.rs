//! The app's own queues: those the ACP bridge fills (each command's queue and a dead-letter queue),
//! and the command queues' dead-letter queues the reconciler reads.

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

/// A command kept in a command queue's dead-letter queue (it failed every delivery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The dead-letter queue it is in.
    pub queue: String,
    /// The handle that deletes or hides it (SQS receipt handle).
    pub receipt: String,
    /// The body, as the command queue received it.
    pub body: String,
    /// Its string message attributes.
    pub attributes: BTreeMap<String, String>,
}

/// The command queues' dead-letter queues, read by the reconciler. A letter received is hidden from
/// other readers for the queue's visibility timeout, so two readers never take the same one.
pub trait DeadLetters: Send + Sync {
    /// Up to `limit` letters, across the queues.
    fn receive(&self, limit: usize) -> impl Future<Output = Result<Vec<DeadLetter>, String>> + Send;

    /// Deletes a letter that got its answer.
    fn delete(&self, letter: &DeadLetter) -> impl Future<Output = Result<(), String>> + Send;

    /// Hides a letter nobody can answer now for `seconds` (it stays for an operator's redrive).
    fn hide(&self, letter: &DeadLetter, seconds: i32) -> impl Future<Output = Result<(), String>> + Send;
}
