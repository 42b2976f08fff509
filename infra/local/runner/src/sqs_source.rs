//! The Lambda SQS event source mapping, emulated: poll the queue, deliver batches of up to `BatchSize`
//! records, delete what succeeded. With `ReportBatchItemFailures` the reported items stay on the queue
//! (visible again after the visibility timeout; moto's redrive moves them to the DLQ after
//! `maxReceiveCount` receives); an invocation error leaves the whole batch.

use crate::functions::SqsSource;
use crate::lambda::{InvokeError, Target, invoke};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Map, Value as Json, json};
use std::collections::HashSet;
use std::time::Duration;

/// The Lambda record for a received message.
pub fn to_record(message: &Message, queue_arn: &str, region: &str) -> Json {
    let mut attributes = Map::new();
    for (name, value) in message.attributes().into_iter().flatten() {
        attributes.insert(name.as_str().to_string(), json!(value));
    }
    let mut message_attributes = Map::new();
    for (name, value) in message.message_attributes().into_iter().flatten() {
        message_attributes.insert(
            name.clone(),
            json!({
                "stringValue": value.string_value(),
                "binaryValue": value.binary_value().map(|b| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b.as_ref())),
                "stringListValues": value.string_list_values(),
                "binaryListValues": [],
                "dataType": value.data_type(),
            }),
        );
    }
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    })
}

/// Which received messages to delete after an invocation: all on success without
/// `ReportBatchItemFailures`; all but the reported ones with it (a malformed response, or an
/// identifier that is not in the batch, fails the whole batch, as Lambda does); none on an error.
pub fn to_delete<'a>(
    message_ids: &[&'a str],
    outcome: &Result<Vec<u8>, InvokeError>,
    report_batch_item_failures: bool,
) -> Vec<&'a str> {
    let Ok(payload) = outcome else {
        return Vec::new();
    };
    if !report_batch_item_failures {
        return message_ids.to_vec();
    }
    let response: Json = if payload.is_empty() {
        Json::Null
    } else {
        match serde_json::from_slice(payload) {
            Ok(v) => v,
            Err(_) => return Vec::new(),
        }
    };
    let failures = match response.get("batchItemFailures") {
        None | Some(Json::Null) => return message_ids.to_vec(),
        Some(Json::Array(items)) => items,
        Some(_) => return Vec::new(),
    };
    let mut failed = HashSet::new();
    for item in failures {
        match item.get("itemIdentifier").and_then(Json::as_str) {
            Some(id) if message_ids.contains(&id) => {
                failed.insert(id);
            }
            _ => return Vec::new(),
        }
    }
    message_ids.iter().copied().filter(|id| !failed.contains(id)).collect()
}

/// Polls `source` for ever, invoking `target` with each batch.
pub async fn poll(
    sqs: aws_sdk_sqs::Client,
    http: reqwest::Client,
    source: SqsSource,
    target: Target,
    function_id: String,
    region: String,
    timeout: Duration,
) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&source.queue_url)
            .max_number_of_messages(source.batch_size.clamp(1, 10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                eprintln!(
                    "[local-stack] {function_id}: receive from {}: {}",
                    source.queue_id,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<Json> = messages
            .iter()
            .map(|m| to_record(m, &source.queue_arn, &region))
            .collect();
        let outcome = invoke(&http, &target, &json!({ "Records": records }), timeout).await;
        let ids: Vec<&str> = messages.iter().filter_map(Message::message_id).collect();
        let delete: Vec<&str> = to_delete(&ids, &outcome, source.report_batch_item_failures);
        match &outcome {
            Ok(_) => eprintln!(
                "[local-stack] {function_id}: batch of {} from {}: {} done, {} left for retry",
                ids.len(),
                source.queue_id,
                delete.len(),
                ids.len() - delete.len()
            ),
            Err(e) => eprintln!(
                "[local-stack] {function_id}: batch of {} from {} left on the queue: {e}",
                ids.len(),
                source.queue_id
            ),
        }
        for message in &messages {
            if !message.message_id().is_some_and(|id| delete.contains(&id)) {
                continue;
            }
            if let Some(handle) = message.receipt_handle()
                && let Err(e) = sqs
                    .delete_message()
                    .queue_url(&source.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
            {
                eprintln!(
                    "[local-stack] {function_id}: delete: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[&str] = &["a", "b", "c"];

    #[test]
    fn deletes_what_succeeded() {
        let ok = |s: &str| Ok(s.as_bytes().to_vec());
        assert_eq!(to_delete(IDS, &ok(r#"{"batchItemFailures":[]}"#), true), IDS);
        assert_eq!(
            to_delete(IDS, &ok(r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#), true),
            vec!["a", "c"]
        );
        assert_eq!(to_delete(IDS, &ok("null"), true), IDS);
        assert_eq!(
            to_delete(IDS, &ok(r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#), false),
            IDS
        );
    }

    #[test]
    fn an_error_or_a_bad_report_leaves_the_whole_batch() {
        let err = Err(InvokeError::Function("boom".into()));
        assert!(to_delete(IDS, &err, true).is_empty());
        assert!(to_delete(IDS, &Ok(b"{".to_vec()), true).is_empty());
        let unknown = Ok(br#"{"batchItemFailures":[{"itemIdentifier":"zz"}]}"#.to_vec());
        assert!(to_delete(IDS, &unknown, true).is_empty());
    }

    #[test]
    fn builds_lambda_records() {
        let message = Message::builder()
            .message_id("m1")
            .receipt_handle("h1")
            .body("{}")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .message_attributes(
                "transferName",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("CapturePayment")
                    .build()
                    .unwrap(),
            )
            .build();
        let record = to_record(&message, "arn:q", "eu-central-1");
        assert_eq!(record["messageId"], "m1");
        assert_eq!(record["eventSourceARN"], "arn:q");
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "1");
        assert_eq!(
            record["messageAttributes"]["transferName"]["stringValue"],
            "CapturePayment"
        );
        assert_eq!(record["messageAttributes"]["transferName"]["dataType"], "String");
    }
}
