//! SQS batch handling with partial batch failures (`ReportBatchItemFailures`).
//!
//! Each record is parsed on its own: a record that cannot be read fails alone and, after the queue's
//! `maxReceiveCount`, lands in the DLQ. Records are grouped (by payment, or by `MessageGroupId` on a FIFO
//! queue); groups run concurrently, the records of one group in order. After a failure in a group its
//! later records are reported failed without being tried, so they never overtake it. A panic while
//! handling one record fails that record only.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::FutureExt;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tracing::Instrument;

/// The String message attributes of a record (binary ones are not used by ACP).
pub fn string_attributes(record: &SqsMessage) -> BTreeMap<String, String> {
    record
        .message_attributes
        .iter()
        .filter_map(|(k, v)| v.string_value.clone().map(|s| (k.clone(), s)))
        .collect()
}

/// Processes a batch. `parse` turns a record into its group key and item; `handle` processes one item.
/// Returns the ids of the records to retry.
pub async fn process<T, P, H, Fut>(event: &SqsEvent, parse: P, handle: H) -> SqsBatchResponse
where
    P: Fn(&SqsMessage) -> Result<(String, T), String>,
    H: Fn(T) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut failures = Vec::new();
    let mut groups: Vec<(String, Vec<(String, T)>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        match parse(record) {
            Ok((group, item)) => {
                // A FIFO queue's own group wins: it is the order the producer asked for.
                let group = record.attributes.get("MessageGroupId").cloned().unwrap_or(group);
                let slot = *index.entry(group.clone()).or_insert_with(|| {
                    groups.push((group, Vec::new()));
                    groups.len() - 1
                });
                groups[slot].1.push((id, item));
            }
            Err(reason) => {
                tracing::info_span!("record", messageId = %id)
                    .in_scope(|| tracing::error!(%reason, "unreadable record"));
                failures.push(id);
            }
        }
    }
    let handle = &handle;
    let runs = groups.into_iter().map(|(_, items)| async move {
        let mut failed = Vec::new();
        for (id, item) in items {
            if !failed.is_empty() {
                failed.push(id);
                continue;
            }
            let span = tracing::info_span!("record", messageId = %id);
            // Created inside the record's span, so that the spans the handler opens are its children.
            let result = AssertUnwindSafe(span.in_scope(|| handle(item)))
                .catch_unwind()
                .instrument(span.clone())
                .await;
            let error = match result {
                Ok(Ok(())) => continue,
                Ok(Err(reason)) => reason,
                Err(_) => "panic while handling the record".to_string(),
            };
            span.in_scope(|| tracing::warn!(reason = %error, "record will be retried"));
            failed.push(id);
        }
        failed
    });
    for failed in futures::future::join_all(runs).await {
        failures.extend(failed);
    }
    let mut response = SqsBatchResponse::default();
    response.set_failures(failures);
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    fn failures(r: &SqsBatchResponse) -> Vec<String> {
        let mut ids: Vec<String> = r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Bodies are `group:value`; values `bad` fail to parse, `fail` fail to handle, `panic` panic.
    fn parse(m: &SqsMessage) -> Result<(String, String), String> {
        let body = m.body.clone().unwrap_or_default();
        let (group, value) = body.split_once(':').ok_or("no colon")?;
        if value == "bad" {
            Err("bad".into())
        } else {
            Ok((group.to_string(), value.to_string()))
        }
    }

    #[tokio::test]
    async fn only_bad_records_fail_and_a_failure_holds_back_its_group() {
        let mut event = SqsEvent::default();
        event.records = vec![
            record("1", "a:ok"),
            record("2", "garbage"),
            record("3", "b:fail"),
            record("4", "b:ok"),
            record("5", "c:panic"),
            record("6", "a:bad"),
            record("7", "d:ok"),
        ];
        let seen = Mutex::new(Vec::new());
        let response = process(&event, parse, |v: String| {
            seen.lock().unwrap().push(v.clone());
            async move {
                match v.as_str() {
                    "fail" => Err("nope".to_string()),
                    "panic" => panic!("boom"),
                    _ => Ok(()),
                }
            }
        })
        .await;
        assert_eq!(failures(&response), vec!["2", "3", "4", "5", "6"]);
        let seen = seen.into_inner().unwrap();
        assert_eq!(
            seen.iter().filter(|v| *v == "ok").count(),
            2,
            "record 4 must not overtake record 3"
        );
    }

    #[tokio::test]
    async fn groups_run_concurrently() {
        let mut event = SqsEvent::default();
        event.records = (0..5).map(|i| record(&i.to_string(), &format!("g{i}:ok"))).collect();
        // Every handler waits until all five are running: one after another, they would never finish.
        let barrier = tokio::sync::Barrier::new(5);
        let run = process(&event, parse, |_| async {
            barrier.wait().await;
            Ok(())
        });
        let response = tokio::time::timeout(std::time::Duration::from_secs(30), run)
            .await
            .expect("groups ran serially");
        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn fifo_groups_come_from_the_queue() {
        let mut event = SqsEvent::default();
        let mut first = record("1", "x:fail");
        first.attributes.insert("MessageGroupId".into(), "g".into());
        let mut second = record("2", "y:ok");
        second.attributes.insert("MessageGroupId".into(), "g".into());
        event.records = vec![first, second];
        let response = process(&event, parse, |v: String| async move {
            if v == "fail" { Err("nope".to_string()) } else { Ok(()) }
        })
        .await;
        assert_eq!(failures(&response), vec!["1", "2"]);
    }
}
