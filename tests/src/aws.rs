//! AWS fixtures for integration tests: SDK configuration from the environment and uniquely named
//! resources (a payment table; a bus whose rule routes one source to an SQS queue), so tests run in
//! parallel against one emulator.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use std::time::{Duration, Instant};

/// The SDK configuration of the emulator named by `AWS_ENDPOINT_URL` (region and dummy credentials
/// from the environment as well). Panics when the variable is unset: the integration tests need the
/// emulator the project's test script starts, and must never pass by skipping.
pub async fn sdk_config() -> SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: the integration tests need a running moto server. Run them through \
         the project's test script, or start `moto_server -H 127.0.0.1 -p 5055` and set \
         AWS_ENDPOINT_URL=http://127.0.0.1:5055 AWS_REGION=eu-central-1 AWS_ACCESS_KEY_ID=test \
         AWS_SECRET_ACCESS_KEY=test"
    );
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// A name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a payment table (`pk` S HASH, `sk` S RANGE, TTL on `expires_at`) and returns its name.
pub async fn create_payment_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = unique_name("payments");
    let attribute = |n: &str, t: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(t)
            .build()
            .expect("attribute definition")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key schema element")
    };
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::S))
        .attribute_definitions(attribute("attention", ScalarAttributeType::S))
        .attribute_definitions(attribute("attention_due", ScalarAttributeType::N))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        // As template.yaml's: the reconciler's "needs attention" index.
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(shared::adapters::dynamodb::ATTENTION_INDEX)
                .key_schema(key("attention", KeyType::Hash))
                .key_schema(key("attention_due", KeyType::Range))
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .expect("index"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .expect("TTL specification"),
        )
        .send()
        .await
        .expect("enable TTL");
    name
}

/// A custom bus whose rule sends every event of `source` to an SQS queue.
#[derive(Clone, Debug)]
pub struct BusToQueue {
    /// The bus name.
    pub bus_name: String,
    /// The event source the rule matches exactly.
    pub source: String,
    /// The target queue.
    pub queue_url: String,
}

/// Creates a standard queue named `prefix` plus a unique suffix; returns its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    sqs.create_queue()
        .queue_name(unique_name(prefix))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

/// Creates a bus, a queue and a rule (exact match on `source`) targeting the queue.
pub async fn create_bus_to_queue(eb: &aws_sdk_eventbridge::Client, sqs: &aws_sdk_sqs::Client) -> BusToQueue {
    let bus_name = unique_name("bus");
    let source = unique_name("app");
    eb.create_event_bus().name(&bus_name).send().await.expect("create bus");
    let queue_url = create_queue(sqs, "events").await;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("queue ARN");
    let rule = unique_name("rule");
    eb.put_rule()
        .name(&rule)
        .event_bus_name(&bus_name)
        .event_pattern(serde_json::json!({ "source": [source] }).to_string())
        .send()
        .await
        .expect("create rule");
    eb.put_targets()
        .rule(&rule)
        .event_bus_name(&bus_name)
        .targets(Target::builder().id("queue").arn(queue_arn).build().expect("target"))
        .send()
        .await
        .expect("add queue target");
    BusToQueue {
        bus_name,
        source,
        queue_url,
    }
}

/// Receives what `queue_url` has (waiting up to a second), deletes it, and returns the bodies.
pub async fn take_bodies(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("receive messages");
    let mut bodies = Vec::new();
    let mut received = Vec::new();
    for (i, message) in out.messages().iter().enumerate() {
        bodies.extend(message.body().map(str::to_string));
        if let Some(handle) = message.receipt_handle() {
            let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(handle)
                .build()
                .expect("delete entry");
            received.push(entry);
        }
    }
    if !received.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(received))
            .send()
            .await
            .expect("delete messages");
    }
    bodies
}

/// Receives (and deletes) message bodies from `queue_url` until `count` arrived; panics after `within`.
pub async fn receive_bodies(sqs: &aws_sdk_sqs::Client, queue_url: &str, count: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut bodies = Vec::new();
    while bodies.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} messages arrived in {within:?}",
            bodies.len()
        );
        bodies.extend(take_bodies(sqs, queue_url).await);
    }
    bodies
}
