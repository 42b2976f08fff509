//! Handler CPU per record (issue 15): one SQS batch of 10 CapturePayment records for 10 different
//! payments, parsed, decided, committed and published by the real handler (`handle_batch`) on the
//! in-memory adapters, so the figure is the app's own work without a network. Beside it, in the same
//! run, the baseline of parsing the same 10 records only. `infra/bench/run` prints the figures per record.

use aws_lambda_events::event::sqs::SqsEvent;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use functions::command_handler::handle_batch;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::Value;
use shared::acp::parse_record;
use shared::batch::string_attributes;
use shared::service::testing::{
    MemoryCommandService, MemoryDirectory, authorized_order, memory_directory, memory_service,
};
use std::hint::black_box;

/// Records per batch.
const RECORDS: usize = 10;
const TENANT: &str = "demo-tenant";

/// The sample CapturePayment event (events/capture-payment.json), its record repeated for orders
/// `DE--B0` .. `DE--B9`, each with its own message id.
fn batch() -> SqsEvent {
    let mut event: Value = serde_json::from_str(include_str!("../../events/capture-payment.json")).expect("sample");
    let record = event["Records"][0].clone();
    let records: Vec<Value> = (0..RECORDS)
        .map(|i| {
            let mut record = record.clone();
            let mut body: Value = serde_json::from_str(record["body"].as_str().expect("body")).expect("payload");
            body["orderReference"] = format!("DE--B{i}").into();
            record["body"] = body.to_string().into();
            record["messageId"] = format!("00000000-0000-4000-8000-{i:012}").into();
            record
        })
        .collect();
    event["Records"] = records.into();
    serde_json::from_value(event).expect("an SQS event")
}

/// A service whose store holds the 10 orders, authorized (12,000 cents each, as the sample captures).
async fn authorized() -> (MemoryCommandService, MemoryDirectory) {
    let service = memory_service();
    for i in 0..RECORDS {
        authorized_order(&service, TENANT, &format!("DE--B{i}"), 12_000).await;
    }
    (service, memory_directory(&[TENANT]).await)
}

fn capture_batch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let event = batch();
    let mut group = c.benchmark_group("capture_batch");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            for record in &event.records {
                let body = record.body.as_deref().unwrap_or_default();
                black_box(parse_record(body, &string_attributes(record)).expect("a capture"));
            }
        })
    });
    group.bench_function("handle", |b| {
        b.iter_batched(
            || (runtime.block_on(authorized()), event.clone()),
            |((service, tenants), event)| {
                let answer = runtime
                    .block_on(handle_batch(
                        &service,
                        &tenants,
                        "CapturePayment",
                        LambdaEvent::new(event, Context::default()),
                    ))
                    .expect("an answer");
                assert!(answer.batch_item_failures.is_empty(), "every capture is answered");
                (service, tenants)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, capture_batch);
criterion_main!(benches);
