//! The ACP event platform (contract §1.3): where the app's messages go out and Spryker's commands come in.

use crate::acp::EventDetail;
use crate::acp::channel::ChannelRecord;
use std::future::Future;
use std::time::Duration;

/// Why the platform did not take a call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The platform refused the message itself (a 4xx other than 401, 408 and 429): sending it again
    /// cannot help, so it is a poison message.
    #[error("refused by the event platform with HTTP {status}: {reason}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// What the platform said, cut short.
        reason: String,
    },
    /// Worth another try later: a 5xx, 408, 429, a 401 that a fresh token did not cure, a timeout or a
    /// dropped connection.
    #[error("event platform unavailable: {reason}")]
    Retryable {
        /// What went wrong.
        reason: String,
        /// How long the platform asked to wait (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
}

/// The platform's HTTP channel, seen from the app.
pub trait EventPlatform: Send + Sync {
    /// Publishes one message: its payload as the body, its attributes as headers.
    fn publish(&self, message: &EventDetail) -> impl Future<Output = Result<(), DeliveryError>> + Send;

    /// Receives up to `limit` messages of `channel` that the app has not acknowledged yet.
    fn consume(
        &self,
        channel: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ChannelRecord>, DeliveryError>> + Send;

    /// Acknowledges messages of `channel` by their `MessageId`: the platform hands them out no more.
    fn acknowledge(
        &self,
        channel: &str,
        message_ids: &[String],
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}
