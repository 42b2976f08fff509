//! A Spryker shop on the local ACP event platform (stack.json `acp`), speaking the HTTP channel as
//! Spryker's message broker does (contract §1.3): a client-credentials token (audience
//! `aop-event-platform`), commands published to `payment-commands` with their attributes as headers, and
//! the app's messages consumed (`Consumer-Id` = the tenant) and acknowledged. Also the platform's test
//! controls (scripted faults, what it holds).

use crate::acp::BusMessage;
use crate::local_stack::StackInfo;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A tenant talking to the platform.
#[derive(Clone, Debug)]
pub struct Shop {
    /// The tenant identifier (also its `Consumer-Id` and `Actor-Id`).
    pub tenant: String,
    url: String,
    token: String,
    http: reqwest::Client,
}

/// The platform's base URL in `stack`.
fn platform_url(stack: &StackInfo) -> String {
    stack
        .acp
        .as_ref()
        .expect("stack.json has acp (the local ACP event platform)")
        .url
        .clone()
}

impl Shop {
    /// `tenant` signed in to the stack's platform with stack.json's client.
    pub async fn connect(stack: &StackInfo, tenant: &str) -> Shop {
        let acp = stack.acp.as_ref().expect("stack.json has acp");
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(&acp.token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", acp.client_id.as_str()),
                ("client_secret", acp.client_secret.as_str()),
                ("audience", shared::acp::channel::TOKEN_AUDIENCE),
            ])
            .send()
            .await
            .expect("token endpoint answers")
            .json()
            .await
            .expect("token JSON");
        Shop {
            tenant: tenant.to_string(),
            url: acp.url.clone(),
            token: answer["access_token"].as_str().expect("access_token").to_string(),
            http,
        }
    }

    /// Publishes `name` with `payload` on `channel` as the shop's broker does (`transactionId` a new
    /// UUIDv4), trying again while the platform fails (its fault script is shared with the app). Returns
    /// the correlation id sent.
    pub async fn publish(&self, channel: &str, name: &str, payload: &Value) -> String {
        let correlation = uuid::Uuid::new_v4().to_string();
        let transaction = uuid::Uuid::new_v4().to_string();
        let response = retried(|| {
            self.http
                .post(format!("{}/{channel}", self.url))
                .bearer_auth(&self.token)
                .header("Transfer-Name", name)
                .header("Name", name)
                .header("Event", name)
                .header("Tenant-Identifier", &self.tenant)
                .header("Store-Reference", &self.tenant)
                .header("Actor-Id", &self.tenant)
                .header("Publisher", &self.tenant)
                .header(
                    "Timestamp",
                    shared::acp::event::acp_timestamp(time::OffsetDateTime::now_utc()),
                )
                .header("Correlation-Id", &correlation)
                .header("Transaction-Id", &transaction)
                .json(payload)
        })
        .await;
        assert!(response.status().is_success(), "publish {name}: {}", response.status());
        correlation
    }

    /// A command on `payment-commands`. Returns its correlation id.
    pub async fn command(&self, name: &str, payload: &Value) -> String {
        self.publish("payment-commands", name, payload).await
    }

    /// Consumes `channel` once and acknowledges what came: the messages as the shop received them.
    pub async fn receive(&self, channel: &str) -> Vec<BusMessage> {
        let url = format!("{}/{channel}", self.url);
        let records: Vec<Value> = retried(|| {
            self.http
                .get(format!("{url}?limit=100"))
                .bearer_auth(&self.token)
                .header("Consumer-Id", &self.tenant)
        })
        .await
        .json()
        .await
        .expect("a list of records");
        let ids: Vec<&str> = records.iter().filter_map(|r| r["MessageId"].as_str()).collect();
        if !ids.is_empty() {
            let acked = retried(|| {
                self.http
                    .delete(&url)
                    .bearer_auth(&self.token)
                    .header("Consumer-Id", &self.tenant)
                    .json(&json!({"messageIds": ids}))
            })
            .await;
            assert!(acked.status().is_success(), "ack: {}", acked.status());
        }
        records
            .iter()
            .map(|r| {
                BusMessage {
                    channel: channel.to_string(),
                    name: r["MessageAttributes"]["transferName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    attributes: r["MessageAttributes"].clone(),
                    payload: serde_json::from_str(r["MessageBody"].as_str().unwrap_or("null")).unwrap_or(Value::Null),
                }
                .conforming()
            })
            .collect()
    }

    /// Consumes `channels` until `wanted` of what arrived number at least `at_least` (or `within` passed:
    /// the caller's assertions say what is missing), then once more for latecomers (duplicates).
    /// Returns the wanted ones in the order received.
    pub async fn receive_until(
        &self,
        channels: &[&str],
        at_least: usize,
        within: Duration,
        wanted: impl Fn(&BusMessage) -> bool,
    ) -> Vec<BusMessage> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            for channel in channels {
                seen.extend(self.receive(channel).await.into_iter().filter(&wanted));
            }
            if seen.len() >= at_least || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for channel in channels {
            seen.extend(self.receive(channel).await.into_iter().filter(&wanted));
        }
        seen
    }
}

/// Sends the request `build` makes until the platform answers other than 5xx, 401 or 429 (a dropped
/// connection is tried again too), as Spryker's broker retries; panics after 20 tries.
async fn retried(build: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    for _ in 0..20 {
        match build().send().await {
            Ok(response)
                if !(response.status().is_server_error() || matches!(response.status().as_u16(), 401 | 429)) =>
            {
                return response;
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("the platform kept failing");
}

/// Scripts the next answers of the stack's platform (`POST /_faults`), e.g.
/// `{"publish": [500, 401, "drop"]}`.
pub async fn script_faults(stack: &StackInfo, faults: &Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_faults", platform_url(stack)))
        .json(faults)
        .send()
        .await
        .expect("the platform answers");
    assert!(response.status().is_success(), "faults: {}", response.status());
}

/// Every message the platform holds on `channel`, with who acknowledged it (`GET /_messages`).
pub async fn platform_messages(stack: &StackInfo, channel: &str) -> Vec<Value> {
    reqwest::Client::new()
        .get(format!("{}/_messages?channel={channel}", platform_url(stack)))
        .send()
        .await
        .expect("the platform answers")
        .json()
        .await
        .expect("a list")
}

/// How many calls of each kind the stack's platform took (`GET /_requests`).
pub async fn platform_requests(stack: &StackInfo) -> Value {
    reqwest::Client::new()
        .get(format!("{}/_requests", platform_url(stack)))
        .send()
        .await
        .expect("the platform answers")
        .json()
        .await
        .expect("counts")
}
