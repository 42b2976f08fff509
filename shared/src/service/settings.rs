//! The tunables every use case runs with (leases, idempotency, PSP retries), below the runner and the
//! services that use it.

use std::time::Duration;

/// Tunables of the operations: commands, checkout calls, webhooks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The app identifier: the events' `Source`, `actorId` and `publisher`.
    pub app_identifier: String,
    /// How long a claim holds its leases; at least the function timeout.
    pub lease_seconds: i64,
    /// How long an operation record is kept (DynamoDB TTL): duplicates within it have no effect.
    pub record_ttl_seconds: i64,
    /// How long one worker may take to publish an outbox before another may.
    pub publish_lease_seconds: i64,
    /// PSP calls per delivery while the outcome is unknown (same idempotency key each time).
    pub psp_attempts: usize,
    /// First delay between those calls (doubling, with jitter).
    pub psp_retry_delay: Duration,
    /// Whether initialize-payment accepts `http` return URLs on a loopback host (a local stack only).
    pub loopback_return_urls: bool,
    /// How long an operation may stay in progress (a worker died, the PSP's outcome stayed unknown)
    /// before the reconciler runs it again: past the queue's redeliveries, which usually settle it.
    pub settle_after_seconds: i64,
}

impl Settings {
    /// Defaults for `app_identifier`: 60 s leases, 30 days of idempotency, 3 PSP attempts; the reconciler
    /// settles an operation after 15 minutes in progress, and publishes an outbox left unpublished once its
    /// publish lease (30 s) has passed.
    pub fn new(app_identifier: impl Into<String>) -> Self {
        Settings {
            app_identifier: app_identifier.into(),
            lease_seconds: 60,
            record_ttl_seconds: 30 * 24 * 3600,
            publish_lease_seconds: 30,
            psp_attempts: 3,
            psp_retry_delay: Duration::from_millis(200),
            loopback_return_urls: false,
            settle_after_seconds: 15 * 60,
        }
    }
}
