//! The ACP publisher: the app's bus → its outbound FIFO queue (an EventBridge rule) → this handler → the
//! ACP event platform (decision §9.14). A record's path: the bus event is read
//! (`shared::service::bridge::bus_event_detail`), published with its attributes as headers
//! (`shared::adapters::acp_platform`), retried while the platform is unavailable; a record the platform
//! refuses, or that is no event of the bus, goes to the dead-letter queue with an error log naming it.
//!
//! The queue is FIFO: records arrive in the order the app emitted them, and a record that must be
//! retried holds back every later one of the batch (`shared::batch`), so no message overtakes another.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use backon::ExponentialBuilder;
use lambda_runtime::{Error, LambdaEvent};
use shared::acp::EventDetail;
use shared::batch;
use shared::ports::{EventPlatform, MessageQueues, QueueTarget, QueuedMessage};
use shared::service::bridge::{Undelivered, bus_event_detail, deliver};

/// One record as received: its id, its body and the bus event read from it.
struct Record {
    id: String,
    body: String,
    detail: Result<EventDetail, String>,
}

/// Reads a record once. The outbound queue is FIFO with one message group, whose id groups the batch:
/// every record is delivered in queue order.
fn read(record: &SqsMessage) -> Result<(String, Record), String> {
    let body = record.body.clone().unwrap_or_default();
    let detail = bus_event_detail(&body);
    let id = record.message_id.clone().unwrap_or_default();
    Ok((String::new(), Record { id, body, detail }))
}

/// Keeps `record` in the dead-letter queue, with why.
async fn dead_letter<Q: MessageQueues>(queues: &Q, record: &Record, reason: &str) -> Result<(), String> {
    let message = QueuedMessage::dead_letter(&record.id, record.body.clone(), reason);
    queues
        .send(QueueTarget::DeadLetter, &[message])
        .await
        .pop()
        .unwrap_or_else(|| Err("nothing sent".into()))
}

/// Publishes one batch of the outbound queue; records to retry are batch item failures.
pub async fn handle_batch<P: EventPlatform, Q: MessageQueues>(
    platform: &P,
    dead_letters: &Q,
    backoff: ExponentialBuilder,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let response = batch::process(&event.payload, read, |record| async move {
        let detail = match &record.detail {
            Ok(detail) => detail,
            Err(reason) => {
                tracing::error!(message_id = %record.id, %reason, "unreadable outbound record kept in the dead-letter queue");
                return dead_letter(dead_letters, &record, reason).await;
            }
        };
        let attributes = &detail.message_attributes;
        match deliver(platform, detail, backoff).await {
            Ok(()) => {
                tracing::info!(
                    message = %attributes.transfer_name,
                    tenant = %attributes.tenant_identifier,
                    transaction_id = %attributes.transaction_id,
                    channel = %detail.channel,
                    "delivered to the event platform"
                );
                Ok(())
            }
            Err(Undelivered::Poison(reason)) => {
                tracing::error!(
                    message = %attributes.transfer_name,
                    tenant = %attributes.tenant_identifier,
                    transaction_id = %attributes.transaction_id,
                    channel = %detail.channel,
                    %reason,
                    "the event platform refused the message: kept in the dead-letter queue"
                );
                dead_letter(dead_letters, &record, &reason).await
            }
            Err(Undelivered::Retry(reason)) => Err(reason),
        }
    })
    .await;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::sqs::SqsMessage;
    use lambda_runtime::Context;
    use shared::adapters::memory_bridge::{MemoryPlatform, MemoryQueues};
    use shared::ports::DeliveryError;
    use std::time::Duration;

    /// The sample outbound record (events/acp-publisher.json): a PaymentCaptured as the bus delivers it.
    const SAMPLE: &str = include_str!("../../events/acp-publisher.json");

    fn no_wait() -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::ZERO)
            .with_max_delay(Duration::ZERO)
            .with_max_times(1)
    }

    fn sample_records() -> Vec<SqsMessage> {
        let event: SqsEvent = serde_json::from_str(SAMPLE).unwrap();
        event.records
    }

    async fn run(platform: &MemoryPlatform, queues: &MemoryQueues, records: Vec<SqsMessage>) -> Vec<String> {
        let mut event = SqsEvent::default();
        event.records = records;
        let response = handle_batch(platform, queues, no_wait(), LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
        response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }

    fn with_id(mut record: SqsMessage, id: &str, body: Option<&str>) -> SqsMessage {
        record.message_id = Some(id.into());
        if let Some(body) = body {
            record.body = Some(body.into());
        }
        record
    }

    #[tokio::test]
    async fn delivers_the_bus_event_to_the_platform() {
        let (platform, queues) = (MemoryPlatform::default(), MemoryQueues::default());
        assert!(run(&platform, &queues, sample_records()).await.is_empty());
        let published = platform.published.lock().unwrap().clone();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].channel, "payment-events");
        assert_eq!(published[0].message_attributes.transfer_name, "PaymentCaptured");
        assert!(queues.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_refused_or_unreadable_record_goes_to_the_dead_letter_queue() {
        let (platform, queues) = (MemoryPlatform::default(), MemoryQueues::default());
        platform.faults.lock().unwrap().push_back(DeliveryError::Rejected {
            status: 400,
            reason: "unknown channel".into(),
        });
        let sample = sample_records().remove(0);
        let records = vec![
            with_id(sample.clone(), "refused", None),
            with_id(sample.clone(), "garbage", Some("{\"not\": \"a bus event\"}")),
            with_id(sample, "fine", None),
        ];
        assert!(run(&platform, &queues, records).await.is_empty(), "nothing to retry");
        let dead = queues.sent_to(QueueTarget::DeadLetter);
        assert_eq!(
            dead.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            vec!["refused", "garbage"]
        );
        assert!(dead[0].attributes["deadLetterReason"].contains("HTTP 400"));
        assert_eq!(platform.published.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unavailable_platform_holds_back_the_rest_of_the_payment() {
        let (platform, queues) = (MemoryPlatform::default(), MemoryQueues::default());
        let retry = || DeliveryError::Retryable {
            reason: "HTTP 503".into(),
            retry_after: None,
        };
        platform.faults.lock().unwrap().extend([retry(), retry()]);
        let sample = sample_records().remove(0);
        let records = vec![with_id(sample.clone(), "first", None), with_id(sample, "second", None)];
        assert_eq!(run(&platform, &queues, records).await, vec!["first", "second"]);
        assert!(platform.published.lock().unwrap().is_empty());
        // A dead-letter queue that is down leaves a refused record for a retry: nothing is dropped.
        platform.faults.lock().unwrap().push_back(DeliveryError::Rejected {
            status: 400,
            reason: "no".into(),
        });
        queues.failing.lock().unwrap().insert(QueueTarget::DeadLetter);
        assert_eq!(run(&platform, &queues, sample_records()).await.len(), 1);
    }
}
