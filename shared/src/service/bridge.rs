//! The bridge between the app and the ACP event platform (decision §9.14).
//!
//! * Out ([`deliver`]): an event from the app's bus is published to the platform, retried with backoff
//!   while the platform is unavailable; a message the platform refuses is a poison message, for the
//!   dead-letter queue.
//! * In ([`Receiver`]): records of the `payment-commands` channel are routed by `transferName` to their
//!   command's queue, or to the dead-letter queue with what was received; only records that are safely
//!   enqueued are acknowledged, so a crash in between delivers a command twice, never zero times (the
//!   command functions are idempotent).
//! * In, `http-sqs` ([`dispatch`]): the SQS queue ACP fills is routed the same way.

use crate::acp::channel::{ChannelRecord, Destination, route, sqs_attributes};
use crate::acp::{Channel, EventDetail};
use crate::ports::event_platform::{DeliveryError, EventPlatform};
use crate::ports::message_queues::{MessageQueues, QueueTarget, QueuedMessage};
use backon::{BackoffBuilder, ExponentialBuilder};
use std::collections::BTreeMap;
use std::time::Duration;

/// The most a `Retry-After` makes one delivery wait: longer waits are the queue's visibility timeout's job.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why an event was not delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Undelivered {
    /// The platform refused this message: never retried, kept in the dead-letter queue.
    #[error("poison message: {0}")]
    Poison(String),
    /// The platform stayed unavailable: the record is retried later (and holds back its successors).
    #[error("to retry: {0}")]
    Retry(String),
}

/// Backoff between tries of one delivery: three more tries, 200 ms to 2 s apart, with jitter.
pub fn delivery_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(3)
        .with_jitter()
}

/// Reads an event of the app's bus as its queue delivers it (the EventBridge event JSON): its detail.
pub fn bus_event_detail(body: &str) -> Result<EventDetail, String> {
    #[derive(serde::Deserialize)]
    struct BusEnvelope {
        detail: EventDetail,
    }
    serde_json::from_str::<BusEnvelope>(body)
        .map(|e| e.detail)
        // serde's message could quote the payload: say what was expected only.
        .map_err(|_| "not an event of the app's bus (EventBridge JSON with a channel detail)".to_string())
}

/// Publishes `message`, trying again after a retryable failure as `backoff` allows (honouring a short
/// `Retry-After`).
pub async fn deliver<P: EventPlatform>(
    platform: &P,
    message: &EventDetail,
    backoff: ExponentialBuilder,
) -> Result<(), Undelivered> {
    let mut delays = backoff.build();
    loop {
        match platform.publish(message).await {
            Ok(()) => return Ok(()),
            Err(DeliveryError::Rejected { status, reason }) => {
                return Err(Undelivered::Poison(format!("HTTP {status}: {reason}")));
            }
            Err(DeliveryError::Retryable { reason, retry_after }) => {
                let Some(delay) = delays.next() else {
                    return Err(Undelivered::Retry(reason));
                };
                let delay = retry_after.map_or(delay, |asked| asked.min(MAX_RETRY_AFTER).max(delay));
                tracing::warn!(%reason, delay_ms = delay.as_millis() as u64, "event platform unavailable, trying again");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// A message that arrived for the app: from the platform's channel or from an SQS queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// Its id where it came from (the platform's `MessageId`, the SQS message id).
    pub id: String,
    /// The body as received.
    pub body: String,
    /// The message attributes as received.
    pub attributes: BTreeMap<String, String>,
}

impl From<ChannelRecord> for Incoming {
    fn from(record: ChannelRecord) -> Self {
        Incoming {
            id: record.message_id,
            body: record.message_body,
            attributes: record.message_attributes,
        }
    }
}

/// The dead-letter message for `message`: the record as received (its bearer token removed) and why,
/// in the `deadLetterReason` attribute.
fn dead_letter(message: &Incoming, reason: &str) -> QueuedMessage {
    let record = ChannelRecord {
        message_id: message.id.clone(),
        message_body: message.body.clone(),
        message_attributes: sqs_attributes(&message.attributes),
    };
    // A struct of strings always serializes.
    QueuedMessage::dead_letter(&message.id, serde_json::to_string(&record).unwrap_or_default(), reason)
}

/// Routes `messages` to their queues (see [`route`]); returns, per message in order, the queue it is
/// safely enqueued in (its command's queue or, with an error log, the dead-letter queue), or why not.
pub async fn dispatch<Q: MessageQueues>(queues: &Q, messages: &[Incoming]) -> Vec<Result<QueueTarget, String>> {
    let mut by_target: BTreeMap<QueueTarget, Vec<(usize, QueuedMessage)>> = BTreeMap::new();
    for (i, message) in messages.iter().enumerate() {
        let (target, queued) = match route(&message.attributes, &message.body) {
            Destination::Command(command) => (
                QueueTarget::Command(command),
                QueuedMessage {
                    id: message.id.clone(),
                    body: message.body.clone(),
                    attributes: sqs_attributes(&message.attributes),
                },
            ),
            Destination::DeadLetter(reason) => {
                tracing::error!(message_id = %message.id, %reason, "incoming message kept in the dead-letter queue");
                (QueueTarget::DeadLetter, dead_letter(message, &reason))
            }
        };
        by_target.entry(target).or_default().push((i, queued));
    }
    let mut results: Vec<Result<QueueTarget, String>> = messages.iter().map(|_| Err("not sent".into())).collect();
    for (target, entries) in by_target {
        let queued: Vec<QueuedMessage> = entries.iter().map(|(_, m)| m.clone()).collect();
        for ((i, _), outcome) in entries.iter().zip(queues.send(target, &queued).await) {
            results[*i] = outcome.map(|()| target);
        }
    }
    results
}

/// What one pass of the receiver did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiveReport {
    /// Records received from the channel.
    pub received: usize,
    /// Records enqueued for each command.
    pub enqueued: BTreeMap<&'static str, usize>,
    /// Records kept in the dead-letter queue.
    pub dead_lettered: usize,
    /// Records not enqueued (left unacknowledged: the platform hands them out again).
    pub failed: usize,
}

impl ReceiveReport {
    /// Adds another pass.
    pub fn add(&mut self, other: &ReceiveReport) {
        self.received += other.received;
        for (command, n) in &other.enqueued {
            *self.enqueued.entry(command).or_default() += n;
        }
        self.dead_lettered += other.dead_lettered;
        self.failed += other.failed;
    }
}

/// Consumes the `payment-commands` channel into the command queues.
pub struct Receiver<'a, P, Q> {
    /// The platform.
    pub platform: &'a P,
    /// The command queues and the dead-letter queue.
    pub queues: &'a Q,
}

impl<P: EventPlatform, Q: MessageQueues> Receiver<'_, P, Q> {
    /// Receives up to `limit` records, enqueues them and acknowledges exactly those enqueued.
    pub async fn receive_once(&self, limit: usize) -> Result<ReceiveReport, DeliveryError> {
        let records = self.platform.consume(Channel::PaymentCommands.as_str(), limit).await?;
        let messages: Vec<Incoming> = records.into_iter().map(Incoming::from).collect();
        let outcomes = dispatch(self.queues, &messages).await;
        let mut report = ReceiveReport {
            received: messages.len(),
            ..ReceiveReport::default()
        };
        let mut enqueued = Vec::new();
        for (message, outcome) in messages.iter().zip(outcomes) {
            match outcome {
                Ok(target) => {
                    enqueued.push(message.id.clone());
                    match target {
                        QueueTarget::Command(command) => *report.enqueued.entry(command.name()).or_default() += 1,
                        QueueTarget::DeadLetter => report.dead_lettered += 1,
                    }
                }
                Err(reason) => {
                    tracing::warn!(message_id = %message.id, %reason, "not enqueued: left for the platform to hand out again");
                    report.failed += 1;
                }
            }
        }
        self.platform
            .acknowledge(Channel::PaymentCommands.as_str(), &enqueued)
            .await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acp::channel::Command;
    use crate::acp::event::sample_attributes;
    use crate::adapters::memory_bridge::{MemoryPlatform, MemoryQueues};
    use serde_json::json;

    fn no_wait() -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::ZERO)
            .with_max_delay(Duration::ZERO)
            .with_max_times(3)
    }

    fn detail() -> EventDetail {
        EventDetail {
            channel: "payment-events".into(),
            message_attributes: sample_attributes(),
            payload: json!({"orderReference": "DE--1"}),
        }
    }

    fn retryable() -> DeliveryError {
        DeliveryError::Retryable {
            reason: "HTTP 503".into(),
            retry_after: None,
        }
    }

    fn record(id: &str, name: Option<&str>, body: &str) -> ChannelRecord {
        let mut attributes = BTreeMap::from([
            ("tenantIdentifier".to_string(), "t-1".to_string()),
            ("authorization".to_string(), "Bearer secret-token".to_string()),
        ]);
        if let Some(name) = name {
            attributes.insert("transferName".into(), name.into());
        }
        ChannelRecord {
            message_id: id.into(),
            message_body: body.into(),
            message_attributes: attributes,
        }
    }

    #[test]
    fn reads_the_detail_of_a_bus_event() {
        let event = json!({"version": "0", "id": "e-1", "detail-type": "PaymentCaptured", "source": "app",
                           "detail": detail()});
        assert_eq!(bus_event_detail(&event.to_string()).unwrap(), detail());
        let error = bus_event_detail(r#"{"detail": {"secret": "4242"}}"#).unwrap_err();
        assert!(!error.contains("4242"));
    }

    #[tokio::test]
    async fn retries_an_unavailable_platform_then_delivers() {
        let platform = MemoryPlatform::default();
        platform.faults.lock().unwrap().extend([retryable(), retryable()]);
        deliver(&platform, &detail(), no_wait()).await.unwrap();
        assert_eq!(*platform.published.lock().unwrap(), vec![detail()]);
    }

    #[tokio::test]
    async fn gives_up_for_now_after_the_last_try_and_poisons_a_refusal() {
        let platform = MemoryPlatform::default();
        platform
            .faults
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(retryable(), 4));
        assert_eq!(
            deliver(&platform, &detail(), no_wait()).await,
            Err(Undelivered::Retry("HTTP 503".into()))
        );
        platform.faults.lock().unwrap().push_back(DeliveryError::Rejected {
            status: 422,
            reason: "bad".into(),
        });
        assert_eq!(
            deliver(&platform, &detail(), no_wait()).await,
            Err(Undelivered::Poison("HTTP 422: bad".into()))
        );
        assert!(platform.published.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn routes_commands_and_acknowledges_exactly_what_was_enqueued() {
        let platform = MemoryPlatform::default();
        platform.channel.lock().unwrap().extend([
            record("m-1", Some("CapturePayment"), r#"{"orderReference":"DE--1"}"#),
            record("m-2", Some("RefundPayment"), r#"{"orderReference":"DE--2"}"#),
            record("m-3", Some("PaymentCaptured"), r#"{"orderReference":"DE--3"}"#),
            record("m-4", None, r#"{"orderReference":"DE--4"}"#),
            record("m-5", Some("CancelPayment"), "not json"),
            record("m-6", Some("CancelPayment"), r#"{"orderReference":"DE--6"}"#),
        ]);
        let queues = MemoryQueues::default();
        queues
            .failing
            .lock()
            .unwrap()
            .insert(QueueTarget::Command(Command::CancelPayment));
        let receiver = Receiver {
            platform: &platform,
            queues: &queues,
        };
        let report = receiver.receive_once(100).await.unwrap();
        assert_eq!(
            report,
            ReceiveReport {
                received: 6,
                enqueued: BTreeMap::from([("CapturePayment", 1), ("RefundPayment", 1)]),
                dead_lettered: 3,
                failed: 1,
            }
        );
        assert_eq!(
            *platform.acknowledged.lock().unwrap(),
            vec!["m-1", "m-2", "m-3", "m-4", "m-5"]
        );

        let captures = queues.sent_to(QueueTarget::Command(Command::CapturePayment));
        assert_eq!(captures.len(), 1);
        assert_eq!(captures[0].body, r#"{"orderReference":"DE--1"}"#);
        assert_eq!(
            captures[0].attributes,
            BTreeMap::from([
                ("tenantIdentifier".to_string(), "t-1".to_string()),
                ("transferName".to_string(), "CapturePayment".to_string()),
            ]),
            "the bearer token is not forwarded"
        );
        let dead = queues.sent_to(QueueTarget::DeadLetter);
        assert_eq!(dead.len(), 3);
        let kept: ChannelRecord = serde_json::from_str(&dead[0].body).unwrap();
        assert_eq!(kept.message_id, "m-3");
        assert_eq!(kept.message_body, r#"{"orderReference":"DE--3"}"#);
        assert!(!dead[0].body.contains("secret-token"));
        assert!(dead[0].attributes["deadLetterReason"].contains("PaymentCaptured"));

        // The cancel is handed out again (not acknowledged) and goes through once its queue is back.
        queues.failing.lock().unwrap().clear();
        let again = receiver.receive_once(100).await.unwrap();
        assert_eq!(again.received, 1);
        assert_eq!(again.enqueued, BTreeMap::from([("CancelPayment", 1)]));
        assert_eq!(platform.acknowledged.lock().unwrap().last().unwrap(), "m-6");
    }

    #[tokio::test]
    async fn an_unavailable_platform_acknowledges_nothing() {
        let platform = MemoryPlatform::default();
        platform.faults.lock().unwrap().push_back(retryable());
        let queues = MemoryQueues::default();
        let receiver = Receiver {
            platform: &platform,
            queues: &queues,
        };
        assert!(receiver.receive_once(100).await.is_err());
        assert!(queues.sent.lock().unwrap().is_empty());
    }
}
