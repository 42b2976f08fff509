//! Publishing rendered ACP messages to the app's event bus.

use crate::acp::BusEvent;
use std::future::Future;

/// Some events could not be published; they must be published again later (they keep their ids).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{failed} of {total} events were not published: {reason}")]
pub struct PublishError {
    /// How many events failed.
    pub failed: usize,
    /// How many were sent.
    pub total: usize,
    /// The first error reported.
    pub reason: String,
}

/// Puts events on the bus. Implementations retry failed entries a few times with backoff and report
/// an error only if some are still unpublished; events carry stable ids so a republish is harmless.
pub trait EventPublisher: Send + Sync {
    /// Publishes every event, or fails.
    fn publish(&self, events: &[BusEvent]) -> impl Future<Output = Result<(), PublishError>> + Send;
}
