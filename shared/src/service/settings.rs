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

    /// These settings for PSP requests that time out after `psp_timeout`: a claim's lease covers its
    /// longest decide (every PSP attempt timing out, twice over, with ten seconds for the store and the
    /// bus), so a worker that died is taken over soon after. A live worker overtaken by a slow store
    /// loses nothing: its commit fails on the lease token, and the takeover reads the PSP first and asks
    /// it again under the same idempotency key.
    pub fn for_psp_timeout(self, psp_timeout: Duration) -> Self {
        let attempts = u32::try_from(self.psp_attempts).unwrap_or(u32::MAX);
        let decide = psp_timeout.saturating_mul(attempts).saturating_mul(2);
        Settings {
            lease_seconds: i64::try_from(decide.as_secs()).unwrap_or(i64::MAX).saturating_add(10),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_covers_every_psp_attempt_timing_out_twice() {
        let stripe = Settings::new("app").for_psp_timeout(Duration::from_secs(8));
        assert_eq!(stripe.lease_seconds, 58, "the default timeout: inside the 60 s of old");
        let quick = Settings::new("app").for_psp_timeout(Duration::from_millis(1_500));
        assert_eq!(quick.lease_seconds, 19);
    }
}
