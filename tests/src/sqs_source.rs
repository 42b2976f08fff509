//! The Lambda SQS event source mapping, emulated: receive a batch, hand it to the function as an
//! `SqsEvent`, delete the records that succeeded and leave the reported failures to become visible again
//! (and reach the DLQ after the queue's `maxReceiveCount`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use std::collections::HashSet;
use std::future::Future;

/// Converts a received SDK message into the record Lambda would deliver.
fn to_record(message: &aws_sdk_sqs::types::Message, queue_arn: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id().map(str::to_string);
    record.receipt_handle = message.receipt_handle().map(str::to_string);
    record.body = message.body().map(str::to_string);
    record.event_source = Some("aws:sqs".into());
    record.event_source_arn = Some(queue_arn.to_string());
    for (name, value) in message.attributes().into_iter().flatten() {
        record.attributes.insert(name.as_str().to_string(), value.clone());
    }
    for (name, value) in message.message_attributes().into_iter().flatten() {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = value.string_value().map(str::to_string);
        attribute.data_type = Some(value.data_type().to_string());
        record.message_attributes.insert(name.clone(), attribute);
    }
    record
}

/// The ARN of a queue.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("queue ARN")
}

/// Receives one batch of up to `batch_size` records and invokes `function` with it. Returns how many
/// records were delivered (0 when the queue had nothing visible).
pub async fn deliver_once<F, Fut>(sqs: &aws_sdk_sqs::Client, queue_url: &str, batch_size: i32, function: F) -> usize
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(batch_size)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive messages");
    let messages = received.messages();
    if messages.is_empty() {
        return 0;
    }
    let arn = queue_arn(sqs, queue_url).await;
    let mut event = SqsEvent::default();
    event.records = messages.iter().map(|m| to_record(m, &arn)).collect();
    let response = function(event).await;
    let failed: HashSet<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    for message in messages {
        if message.message_id().is_some_and(|id| failed.contains(id)) {
            continue;
        }
        if let Some(handle) = message.receipt_handle() {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("delete message");
        }
    }
    messages.len()
}
