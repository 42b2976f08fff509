//! Commands sent on to SQS (the `http-sqs` wiring), against a fake SQS endpoint that records each
//! `SendMessage` (AWS JSON protocol) and fails when told to.

use acp_platform::{Platform, PlatformConfig, TOKEN_AUDIENCE};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the fake SQS saw and how many requests it still fails.
#[derive(Default)]
struct FakeSqs {
    sent: Mutex<Vec<Value>>,
    fail_next: AtomicUsize,
}

impl FakeSqs {
    fn sent(&self) -> Vec<Value> {
        self.sent.lock().expect("not poisoned").clone()
    }
}

/// Serves a fake SQS endpoint; answers its URL.
async fn start_fake_sqs(fake: Arc<FakeSqs>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let fake = fake.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let fake = fake.clone();
                    async move {
                        let target = request
                            .headers()
                            .get("x-amz-target")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let failing = fake
                            .fail_next
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        let (status, answer) = if failing {
                            (500, json!({"__type": "InternalError", "message": "scripted"}))
                        } else {
                            assert_eq!(target, "AmazonSQS.SendMessage");
                            let request: Value = serde_json::from_slice(&body).expect("JSON request");
                            fake.sent.lock().expect("not poisoned").push(request);
                            (
                                200,
                                json!({"MessageId": uuid::Uuid::new_v4().to_string(), "MD5OfMessageBody": "x"}),
                            )
                        };
                        let response = hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/x-amz-json-1.0")
                            .body(Full::new(Bytes::from(answer.to_string())))
                            .expect("response");
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        // The platform's own retries are under test, not the SDK's.
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

async fn publish(
    platform: &Platform,
    http: &reqwest::Client,
    token: &str,
    channel: &str,
    headers: &[(&str, &str)],
    body: &str,
) {
    let mut request = http
        .post(format!("{}/{channel}", platform.url()))
        .bearer_auth(token)
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("publish");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
}

/// `(MessageBody, transferName attribute)` of each message the fake took.
fn bodies(sent: &[Value]) -> Vec<(String, String)> {
    sent.iter()
        .map(|m| {
            (
                m["MessageBody"].as_str().unwrap_or_default().to_string(),
                m["MessageAttributes"]["transferName"]["StringValue"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn commands_go_to_the_queue_in_order_and_failed_sends_are_kept() {
    let fake = Arc::new(FakeSqs::default());
    let endpoint = start_fake_sqs(fake.clone()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let platform =
        Platform::start(PlatformConfig::new("client", "secret", vec!["app".into()]), listener).expect("start");
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(platform.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "client"),
            ("client_secret", "secret"),
            ("audience", TOKEN_AUDIENCE),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("JSON");
    let token = answer["access_token"].as_str().expect("a token").to_string();
    let command = [
        ("Transfer-Name", "CapturePayment"),
        ("Tenant-Identifier", "tenant-1"),
        ("Actor-Id", "tenant-1"),
    ];

    // Published before a queue is given: sent when it is.
    publish(&platform, &http, &token, "payment-commands", &command, r#"{"n":1}"#).await;
    let event = [
        ("Transfer-Name", "PaymentCaptured"),
        ("Tenant-Identifier", "tenant-1"),
        ("Actor-Id", "app"),
    ];
    publish(&platform, &http, &token, "payment-events", &event, r#"{"e":1}"#).await;
    assert!(fake.sent().is_empty());
    let queue_url = format!("{endpoint}/000000000000/payment-commands");
    platform
        .deliver_commands_to(sqs_client(&endpoint), queue_url.clone())
        .await;
    let sent = fake.sent();
    assert_eq!(
        bodies(&sent),
        [(r#"{"n":1}"#.to_string(), "CapturePayment".to_string())]
    );
    assert_eq!(sent[0]["QueueUrl"], queue_url);
    assert_eq!(
        sent[0]["MessageAttributes"]["tenantIdentifier"],
        json!({"DataType": "String", "StringValue": "tenant-1"})
    );

    // Every try of this flush fails: the command stays, undelivered, for the next publish.
    fake.fail_next.store(3, Ordering::SeqCst);
    publish(&platform, &http, &token, "payment-commands", &command, r#"{"n":2}"#).await;
    assert_eq!(fake.sent().len(), 1);
    let stored: Value = http
        .get(format!("{}/_messages?channel=payment-commands", platform.url()))
        .send()
        .await
        .expect("messages")
        .json()
        .await
        .expect("JSON");
    assert_eq!(stored[1]["deliveredToQueue"], false);

    // The next publish sends both, in order; eleven attributes travel as nine plus one packed.
    let full = [
        ("Transfer-Name", "RefundPayment"),
        ("Name", "RefundPayment"),
        ("Event", "RefundPayment"),
        ("Tenant-Identifier", "tenant-2"),
        ("Store-Reference", "DE"),
        ("Actor-Id", "tenant-2"),
        ("Publisher", "shop"),
        ("Emitter", "zed"),
        ("Timestamp", "2026-01-01T00:00:00Z"),
        ("Correlation-Id", "c-1"),
        ("Transaction-Id", "t-1"),
    ];
    publish(&platform, &http, &token, "payment-commands", &full, r#"{"n":3}"#).await;
    let sent = fake.sent();
    assert_eq!(
        bodies(&sent),
        [
            (r#"{"n":1}"#.to_string(), "CapturePayment".to_string()),
            (r#"{"n":2}"#.to_string(), "CapturePayment".to_string()),
            (r#"{"n":3}"#.to_string(), "RefundPayment".to_string()),
        ]
    );
    let attributes = sent[2]["MessageAttributes"].as_object().expect("attributes");
    assert_eq!(attributes.len(), 10);
    let packed: Value = serde_json::from_str(
        attributes["X-Symfony-Messenger"]["StringValue"]
            .as_str()
            .expect("packed"),
    )
    .expect("JSON");
    assert_eq!(packed, json!({"emitter": "zed", "timestamp": "2026-01-01T00:00:00Z"}));

    let stored: Value = http
        .get(format!("{}/_messages", platform.url()))
        .send()
        .await
        .expect("messages")
        .json()
        .await
        .expect("JSON");
    let delivered: Vec<(&str, bool)> = stored
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| (m["channel"].as_str().unwrap_or_default(), m["deliveredToQueue"] == true))
        .collect();
    assert_eq!(
        delivered,
        [
            ("payment-commands", true),
            ("payment-events", false),
            ("payment-commands", true),
            ("payment-commands", true)
        ]
    );
}
