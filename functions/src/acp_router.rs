//! The command router of the `http-sqs` wiring: ACP fills one `payment-commands` SQS queue (Symfony's
//! SQS transport, attributes possibly packed into `X-Symfony-Messenger`); this handler moves each record
//! by `transferName` to its command's queue, keeping body and attributes, or to the router's dead-letter
//! queue with what was received (`shared::service::bridge::dispatch`). A record that could not be
//! enqueued is a batch item failure and comes back.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shared::batch;
use shared::ports::MessageQueues;
use shared::service::bridge::{Incoming, dispatch};

/// Routes one batch of the `payment-commands` queue.
pub async fn handle_batch<Q: MessageQueues>(
    queues: &Q,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let messages: Vec<Incoming> = event
        .payload
        .records
        .iter()
        .map(|record| Incoming {
            id: record.message_id.clone().unwrap_or_default(),
            body: record.body.clone().unwrap_or_default(),
            attributes: batch::string_attributes(record),
        })
        .collect();
    let failed: Vec<String> = dispatch(queues, &messages)
        .await
        .into_iter()
        .zip(&messages)
        .filter_map(|(outcome, message)| {
            let reason = outcome.err()?;
            tracing::warn!(message_id = %message.id, %reason, "not routed: retried");
            Some(message.id.clone())
        })
        .collect();
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::acp::channel::Command;
    use shared::adapters::memory_bridge::MemoryQueues;
    use shared::ports::QueueTarget;

    /// A `payment-commands` record as Symfony's SQS transport sends it (events/acp-command-router.json).
    const SAMPLE: &str = include_str!("../../events/acp-command-router.json");

    #[tokio::test]
    async fn routes_by_transfer_name_and_keeps_what_names_no_command() {
        let mut event: SqsEvent = serde_json::from_str(SAMPLE).unwrap();
        let mut unknown = event.records[0].clone();
        unknown.message_id = Some("unknown".into());
        unknown.message_attributes.clear();
        event.records.push(unknown);
        let queues = MemoryQueues::default();
        let response = handle_batch(&queues, LambdaEvent::new(event.clone(), Context::default()))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
        let captures = queues.sent_to(QueueTarget::Command(Command::CapturePayment));
        assert_eq!(captures.len(), 1);
        assert_eq!(captures[0].body, event.records[0].body.clone().unwrap());
        assert!(
            captures[0].attributes.contains_key("X-Symfony-Messenger"),
            "kept as received"
        );
        let dead = queues.sent_to(QueueTarget::DeadLetter);
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].id, "unknown");

        // A command queue that is down: the record comes back.
        queues
            .failing
            .lock()
            .unwrap()
            .insert(QueueTarget::Command(Command::CapturePayment));
        let mut again: SqsEvent = serde_json::from_str(SAMPLE).unwrap();
        again.records.truncate(1);
        let response = handle_batch(&queues, LambdaEvent::new(again, Context::default()))
            .await
            .unwrap();
        assert_eq!(response.batch_item_failures.len(), 1);
    }
}
