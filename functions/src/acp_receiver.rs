//! The ACP receiver: a scheduled run (every minute) that consumes the platform's `payment-commands`
//! channel for most of its time budget and routes each record by `transferName` onto its command's
//! queue (`shared::service::bridge::Receiver`), so a command waits seconds, not minutes. Only enqueued
//! records are acknowledged; records naming no command go to the receiver's dead-letter queue and are
//! acknowledged too. Concurrent runs are harmless: the platform hides a handed-out record from the app
//! for its visibility timeout, and a command enqueued twice is a redelivery the command functions absorb.

use lambda_runtime::{Error, LambdaEvent};
use shared::ports::{EventPlatform, MessageQueues};
use shared::service::bridge::{ReceiveReport, Receiver};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Records asked for per call (the platform's maximum).
pub const PAGE: usize = 100;

/// The pause after a call that brought less than a full page, or failed.
const IDLE: Duration = Duration::from_secs(1);

/// What is kept free before the invocation's deadline for the last pass to finish.
const DEADLINE_MARGIN: Duration = Duration::from_secs(8);

/// How long this run may poll: `poll_for`, but no closer than [`DEADLINE_MARGIN`] to the invocation's
/// deadline (`deadline_ms`, Unix milliseconds). A deadline that is not in the future is no deadline
/// Lambda gives (cargo lambda's emulator sends the timeout itself): then `poll_for` alone counts.
pub fn budget(poll_for: Duration, deadline_ms: u64, now: SystemTime) -> Duration {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    if deadline_ms <= now_ms {
        return poll_for;
    }
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    poll_for.min(left.saturating_sub(DEADLINE_MARGIN))
}

/// One scheduled run: polls until its budget is spent (at least one pass), and reports what it moved.
pub async fn handle<P: EventPlatform, Q: MessageQueues>(
    receiver: &Receiver<'_, P, Q>,
    poll_for: Duration,
    event: LambdaEvent<serde_json::Value>,
) -> Result<ReceiveReport, Error> {
    let budget = budget(poll_for, event.context.deadline, SystemTime::now());
    tracing::info!(
        budget_ms = budget.as_millis() as u64,
        deadline_ms = event.context.deadline,
        "receiver run"
    );
    let until = Instant::now() + budget;
    let mut total = ReceiveReport::default();
    loop {
        let full_page = match receiver.receive_once(PAGE).await {
            Ok(report) => {
                if report.received > 0 {
                    tracing::info!(?report, "commands received");
                }
                let full = report.received >= PAGE;
                total.add(&report);
                full
            }
            Err(error) => {
                tracing::warn!(%error, "the command channel is unavailable; polling again");
                false
            }
        };
        if Instant::now() >= until {
            break;
        }
        if !full_page {
            tokio::time::sleep(IDLE.min(until.saturating_duration_since(Instant::now()))).await;
        }
        if Instant::now() >= until {
            break;
        }
    }
    tracing::info!(?total, "receiver run done");
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::acp::channel::{ChannelRecord, Command};
    use shared::adapters::memory_bridge::{MemoryPlatform, MemoryQueues};
    use shared::ports::QueueTarget;
    use std::collections::BTreeMap;

    #[test]
    fn the_budget_keeps_clear_of_the_deadline() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let poll = Duration::from_secs(50);
        assert_eq!(budget(poll, 0, now), poll, "no deadline known");
        assert_eq!(budget(poll, 600_000, now), poll, "a timeout, not a deadline");
        assert_eq!(budget(poll, 1_000_000 + 60_000, now), poll);
        assert_eq!(budget(poll, 1_000_000 + 30_000, now), Duration::from_secs(22));
        assert_eq!(budget(poll, 1_000_000 + 5_000, now), Duration::ZERO);
    }

    #[tokio::test]
    async fn one_run_moves_every_waiting_command() {
        let platform = MemoryPlatform::default();
        let records = (0..150).map(|i| ChannelRecord {
            message_id: format!("m-{i}"),
            message_body: format!("{{\"orderReference\":\"DE--{i}\"}}"),
            message_attributes: BTreeMap::from([
                ("transferName".to_string(), "CapturePayment".to_string()),
                ("tenantIdentifier".to_string(), "t-1".to_string()),
            ]),
        });
        platform.channel.lock().unwrap().extend(records);
        let queues = MemoryQueues::default();
        let receiver = Receiver {
            platform: &platform,
            queues: &queues,
        };
        let event = LambdaEvent::new(serde_json::json!({}), Context::default());
        let report = handle(&receiver, Duration::ZERO, event).await.unwrap();
        assert_eq!(report.received, 100, "one pass with no time to spare");
        let event = LambdaEvent::new(serde_json::json!({}), Context::default());
        let report = handle(&receiver, Duration::from_millis(1500), event).await.unwrap();
        assert_eq!(report.enqueued, BTreeMap::from([("CapturePayment", 50)]));
        assert_eq!(queues.sent_to(QueueTarget::Command(Command::CapturePayment)).len(), 150);
        assert_eq!(platform.acknowledged.lock().unwrap().len(), 150);
    }
}
