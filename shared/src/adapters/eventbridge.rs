//! [`EventPublisher`] on an EventBridge bus: `PutEvents` in chunks of at most 10 entries.
//!
//! A `PutEvents` answer may report failed entries without being an error: `FailedEntryCount` is
//! checked every time and only the failed entries (`Entries[i]` lines up with request entry `i`) are
//! sent again, with exponential backoff and jitter. A failed call counts as all its entries failed.
//! Logs carry event ids and failure codes, never the details.

use crate::acp::BusEvent;
use crate::ports::publisher::{EventPublisher, PublishError};
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;

/// Most entries one `PutEvents` call accepts.
const MAX_ENTRIES: usize = 10;

/// Publishes events to one EventBridge bus.
#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
    backoff: ExponentialBuilder,
}

/// The entries of one chunk still unpublished after all attempts, with the last reason.
struct ChunkFailure {
    failed: usize,
    reason: String,
}

impl EventBridgePublisher {
    /// A publisher to the bus `bus_name`, retrying failed entries up to 3 times (4 attempts in all).
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        EventBridgePublisher {
            client,
            bus_name: bus_name.into(),
            backoff: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(50))
                .with_max_delay(Duration::from_secs(1))
                .with_max_times(3)
                .with_jitter(),
        }
    }

    fn entry(&self, event: &BusEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(&event.source)
            .detail_type(&event.detail_type)
            .detail(&event.detail)
            .event_bus_name(&self.bus_name)
            .build()
    }

    /// One `PutEvents` call; returns the events that failed and the first reason reported.
    async fn put<'a>(&self, events: Vec<&'a BusEvent>) -> (Vec<&'a BusEvent>, Option<String>) {
        let entries = events.iter().map(|e| self.entry(e)).collect();
        let out = match self.client.put_events().set_entries(Some(entries)).send().await {
            Ok(out) => out,
            Err(err) => {
                let reason = format!("PutEvents: {}", DisplayErrorContext(&err));
                tracing::warn!(events = events.len(), error = %reason, "PutEvents call failed");
                return (events, Some(reason));
            }
        };
        if out.failed_entry_count() == 0 {
            return (Vec::new(), None);
        }
        let results = out.entries();
        let mut reason = None;
        let failed = events
            .into_iter()
            .enumerate()
            .filter(|(i, event)| {
                let result = results.get(*i);
                let code = result.and_then(|r| r.error_code());
                let failed = result.is_none_or(|r| code.is_some() || r.event_id().is_none());
                if failed {
                    tracing::warn!(event_id = %event.event_id, code = code.unwrap_or("missing"), "PutEvents entry failed");
                    reason.get_or_insert_with(|| {
                        let message = result.and_then(|r| r.error_message()).unwrap_or("no result for the entry");
                        format!("{}: {message}", code.unwrap_or("missing"))
                    });
                }
                failed
            })
            .map(|(_, event)| event)
            .collect();
        (failed, reason)
    }

    /// Publishes one chunk, re-sending failed entries with backoff.
    async fn publish_chunk(&self, chunk: &[BusEvent]) -> Result<(), ChunkFailure> {
        let mut delays = self.backoff.build();
        let mut pending: Vec<&BusEvent> = chunk.iter().collect();
        loop {
            let (failed, reason) = self.put(pending).await;
            if failed.is_empty() {
                return Ok(());
            }
            match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    return Err(ChunkFailure {
                        failed: failed.len(),
                        reason: reason.unwrap_or_default(),
                    });
                }
            }
            pending = failed;
        }
    }
}

impl EventPublisher for EventBridgePublisher {
    #[tracing::instrument(skip_all, fields(bus = %self.bus_name, events = events.len()))]
    async fn publish(&self, events: &[BusEvent]) -> Result<(), PublishError> {
        let mut failed = 0;
        let mut first_reason = None;
        for chunk in events.chunks(MAX_ENTRIES) {
            if let Err(e) = self.publish_chunk(chunk).await {
                failed += e.failed;
                first_reason.get_or_insert(e.reason);
            }
        }
        match first_reason {
            None => Ok(()),
            Some(reason) => Err(PublishError {
                failed,
                total: events.len(),
                reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::operation::put_events::{PutEventsInput, PutEventsOutput};
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn event(n: usize) -> BusEvent {
        BusEvent {
            event_id: format!("ev-{n}"),
            source: "app-test".into(),
            detail_type: format!("Type{n}"),
            tenant: "tenant".into(),
            detail: format!("{{\"n\":{n}}}"),
        }
    }

    fn detail_types(input: &PutEventsInput) -> Vec<&str> {
        input.entries().iter().filter_map(|e| e.detail_type()).collect()
    }

    fn ok_entry(id: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder().event_id(id).build()
    }

    #[tokio::test]
    async fn resends_only_the_failed_entry() {
        let first = mock!(Client::put_events)
            .match_requests(|r| detail_types(r) == ["Type0", "Type1"] && r.entries()[0].event_bus_name() == Some("bus"))
            .then_output(|| {
                PutEventsOutput::builder()
                    .failed_entry_count(1)
                    .entries(ok_entry("aws-0"))
                    .entries(
                        PutEventsResultEntry::builder()
                            .error_code("InternalFailure")
                            .error_message("try again")
                            .build(),
                    )
                    .build()
            });
        let retry = mock!(Client::put_events)
            .match_requests(|r| detail_types(r) == ["Type1"] && r.entries()[0].detail() == Some("{\"n\":1}"))
            .then_output(|| {
                PutEventsOutput::builder()
                    .failed_entry_count(0)
                    .entries(ok_entry("aws-1"))
                    .build()
            });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&first, &retry]);
        let publisher = EventBridgePublisher::new(client, "bus");

        publisher.publish(&[event(0), event(1)]).await.unwrap();

        assert_eq!(first.num_calls(), 1);
        assert_eq!(retry.num_calls(), 1);
    }

    #[tokio::test]
    async fn reports_entries_still_failing_after_the_retries() {
        let always_failing = mock!(Client::put_events)
            .match_requests(|r| detail_types(r) == ["Type0"])
            .then_output(|| {
                PutEventsOutput::builder()
                    .failed_entry_count(1)
                    .entries(
                        PutEventsResultEntry::builder()
                            .error_code("ThrottlingException")
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&always_failing]);
        let publisher = EventBridgePublisher::new(client, "bus");

        let err = publisher.publish(&[event(0)]).await.unwrap_err();

        assert_eq!((err.failed, err.total), (1, 1));
        assert!(err.reason.starts_with("ThrottlingException"), "{}", err.reason);
        assert_eq!(always_failing.num_calls(), 4);
    }

    #[tokio::test]
    async fn sends_at_most_ten_entries_per_call() {
        let batch = mock!(Client::put_events)
            .match_requests(|r| r.entries().len() <= MAX_ENTRIES)
            .then_compute_output(|r| {
                let mut out = PutEventsOutput::builder().failed_entry_count(0);
                for i in 0..r.entries().len() {
                    out = out.entries(ok_entry(&format!("aws-{i}")));
                }
                out.build()
            });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, [&batch]);
        let publisher = EventBridgePublisher::new(client, "bus");

        let events: Vec<BusEvent> = (0..23).map(event).collect();
        publisher.publish(&events).await.unwrap();

        assert_eq!(batch.num_calls(), 3);
    }
}
