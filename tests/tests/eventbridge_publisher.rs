//! `EventBridgePublisher` against a moto bus whose rule routes the app's source to an SQS queue.

use integration_tests::aws::{create_bus_to_queue, receive_bodies, sdk_config};
use shared::acp::BusEvent;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::ports::EventPublisher;
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test]
async fn published_events_reach_the_queue() {
    let config = sdk_config().await;
    let eb = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let route = create_bus_to_queue(&eb, &sqs).await;
    let publisher = EventBridgePublisher::new(eb, &route.bus_name);

    // 12 events: two PutEvents calls.
    let events: Vec<BusEvent> = (0..12)
        .map(|i| BusEvent {
            event_id: format!("event-{i}"),
            source: route.source.clone(),
            detail_type: if i % 2 == 0 {
                "PaymentCaptured"
            } else {
                "PaymentCanceled"
            }
            .into(),
            tenant: "tenant-1".into(),
            detail: serde_json::json!({ "messageAttributes": { "transactionId": format!("event-{i}") }, "n": i })
                .to_string(),
        })
        .collect();
    publisher.publish(&events).await.expect("publish");

    let bodies = receive_bodies(&sqs, &route.queue_url, events.len(), Duration::from_secs(20)).await;
    let received: BTreeMap<String, (String, serde_json::Value)> = bodies
        .iter()
        .map(|body| {
            let envelope: serde_json::Value = serde_json::from_str(body).expect("EventBridge envelope");
            assert_eq!(envelope["source"], route.source.as_str());
            let detail = envelope["detail"].clone();
            let id = detail["messageAttributes"]["transactionId"]
                .as_str()
                .expect("event id")
                .to_string();
            let detail_type = envelope["detail-type"].as_str().expect("detail-type").to_string();
            (id, (detail_type, detail))
        })
        .collect();
    let expected: BTreeMap<String, (String, serde_json::Value)> = events
        .iter()
        .map(|e| {
            let detail = serde_json::from_str(&e.detail).expect("detail");
            (e.event_id.clone(), (e.detail_type.clone(), detail))
        })
        .collect();
    assert_eq!(received, expected);
}

#[tokio::test]
async fn events_of_other_sources_are_not_routed() {
    let config = sdk_config().await;
    let eb = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let route = create_bus_to_queue(&eb, &sqs).await;
    let publisher = EventBridgePublisher::new(eb, &route.bus_name);

    let event = |source: &str, id: &str| BusEvent {
        event_id: id.into(),
        source: source.into(),
        detail_type: "PaymentCaptured".into(),
        tenant: "tenant-1".into(),
        detail: serde_json::json!({ "id": id }).to_string(),
    };
    publisher
        .publish(&[event("someone-else", "foreign"), event(&route.source, "ours")])
        .await
        .expect("publish");

    let bodies = receive_bodies(&sqs, &route.queue_url, 1, Duration::from_secs(20)).await;
    let envelope: serde_json::Value = serde_json::from_str(&bodies[0]).expect("EventBridge envelope");
    assert_eq!(envelope["detail"]["id"], "ours");
}
