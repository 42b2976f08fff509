//! [`EventPlatform`] over HTTP: the ACP event platform's channel (contract §1.3) as Spryker's
//! `HttpChannelSenderClient` / `HttpChannelReceiverClient` speak it, or the `http` sender of the
//! `http-sqs` wiring (`HttpSenderClient`: one endpoint, `X-` headers).
//!
//! Every call carries `Authorization: Bearer <token>`, a token of the platform's OAuth2 client-credentials
//! endpoint (audience `aop-event-platform`), cached until shortly before it expires. A 401 drops the
//! token and the call is made once more with a fresh one. Answers are classified in one place
//! ([`classify`]): 2xx taken; 401 (after the refresh), 408, 429, 5xx, timeouts and dropped connections
//! retryable; every other 4xx a refusal of the message itself. Secrets and bodies are never logged.

use crate::acp::EventDetail;
use crate::acp::channel::{ChannelRecord, HeaderStyle, TOKEN_AUDIENCE, attribute_headers};
use crate::ports::event_platform::{DeliveryError, EventPlatform};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::future::Future;
use std::time::{Duration, Instant};

/// The app's OAuth2 client at the platform.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: SecretString,
}

/// Where the client credentials come from (Secrets Manager deployed, a fixed pair in tests).
pub trait CredentialSource: Send + Sync {
    /// The current credentials; `Err` with a reason that never quotes the secret.
    fn credentials(&self) -> impl Future<Output = Result<ClientCredentials, String>> + Send;
}

impl CredentialSource for ClientCredentials {
    async fn credentials(&self) -> Result<ClientCredentials, String> {
        Ok(self.clone())
    }
}

/// The credentials in a Secrets Manager secret whose `SecretString` is `{"clientId", "clientSecret"}`.
/// Read at the first token request (never at start-up), again whenever a token is fetched.
#[derive(Clone, Debug)]
pub struct SecretsManagerCredentials {
    client: aws_sdk_secretsmanager::Client,
    secret_name: String,
}

impl SecretsManagerCredentials {
    /// Credentials from the secret `secret_name`.
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_name: impl Into<String>) -> Self {
        SecretsManagerCredentials {
            client,
            secret_name: secret_name.into(),
        }
    }
}

impl CredentialSource for SecretsManagerCredentials {
    async fn credentials(&self) -> Result<ClientCredentials, String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Document {
            client_id: String,
            client_secret: String,
        }
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_name)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading the secret {}: {}",
                    self.secret_name,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        let text = out.secret_string().unwrap_or_default();
        // serde's message could quote the value: say only what is wrong.
        let document: Document = serde_json::from_str(text).map_err(|_| {
            format!(
                "the secret {} is not {{\"clientId\", \"clientSecret\"}}",
                self.secret_name
            )
        })?;
        Ok(ClientCredentials {
            client_id: document.client_id,
            client_secret: document.client_secret.into(),
        })
    }
}

/// How the app reaches the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The HTTP channel: publish `POST {base_url}/{channel}`, consume `GET`, acknowledge `DELETE`.
    HttpChannel {
        /// The channel base URL (`AcpEventPlatformUrl`), without trailing slash.
        base_url: String,
    },
    /// The `http` sender: every message `POST {endpoint}` with `X-` headers. Commands come by SQS.
    HttpSender {
        /// The endpoint (`AcpEventEndpoint`).
        endpoint: String,
    },
}

/// A token and when to stop using it.
struct CachedToken {
    value: SecretString,
    refresh_at: Instant,
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Tokens of the platform's OAuth2 client-credentials endpoint, cached.
struct Tokens<C> {
    token_url: String,
    credentials: C,
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

/// A token is refreshed this long before it expires (half its life when that is shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

impl<C: CredentialSource> Tokens<C> {
    /// The cached token, or a new one. Concurrent callers wait for one fetch.
    async fn get(&self, http: &reqwest::Client) -> Result<SecretString, DeliveryError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(token.value.clone());
        }
        let credentials = self.credentials.credentials().await.map_err(retryable)?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", credentials.client_id.as_str()),
            ("client_secret", credentials.client_secret.expose_secret()),
            ("audience", TOKEN_AUDIENCE),
        ];
        let response = http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_error("token request", &e))?;
        let status = response.status();
        if !status.is_success() {
            // A refused client is an operator's problem, not the message's: retried, never poison.
            return Err(retryable(format!(
                "the token endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|_| retryable("the token endpoint's answer has no access_token"))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300));
        let token = CachedToken {
            value: answer.access_token.into(),
            refresh_at: Instant::now() + lifetime - REFRESH_MARGIN.min(lifetime / 2),
        };
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    /// Forgets the token (the platform refused it).
    async fn forget(&self) {
        *self.cached.lock().await = None;
    }
}

/// The platform over HTTP.
pub struct HttpEventPlatform<C> {
    http: reqwest::Client,
    transport: Transport,
    consumer_id: String,
    tokens: Tokens<C>,
}

/// 3 s to connect, 10 s per call: a slow platform is retried, not waited for.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest piece of a refusal's body kept in the error.
const MAX_REASON_LEN: usize = 200;

impl<C: CredentialSource> HttpEventPlatform<C> {
    /// The platform at `transport`, with tokens from `token_url` for `credentials`; `consumer_id` (the
    /// app identifier) names the app when it consumes a channel.
    pub fn new(
        transport: Transport,
        token_url: impl Into<String>,
        credentials: C,
        consumer_id: impl Into<String>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::adapters::tls::rustls_client_config())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(HttpEventPlatform {
            http,
            transport,
            consumer_id: consumer_id.into(),
            tokens: Tokens {
                token_url: token_url.into(),
                credentials,
                cached: tokio::sync::Mutex::new(None),
            },
        })
    }

    /// The channel URL, or a refusal in the `http-sqs` wiring (which has no channel to consume).
    fn channel_url(&self, channel: &str) -> Result<String, DeliveryError> {
        match &self.transport {
            Transport::HttpChannel { base_url } => Ok(format!("{}/{channel}", base_url.trim_end_matches('/'))),
            Transport::HttpSender { .. } => Err(DeliveryError::Rejected {
                status: 0,
                reason: "the http-sqs wiring has no channel to consume: commands arrive by SQS".into(),
            }),
        }
    }

    /// Sends the request `build` makes with a token; on a 401 once more with a fresh token.
    async fn call(&self, build: impl Fn(&reqwest::Client) -> RequestBuilder) -> Result<Response, DeliveryError> {
        let mut refreshed = false;
        loop {
            let token = self.tokens.get(&self.http).await?;
            let response = build(&self.http)
                .bearer_auth(token.expose_secret())
                .send()
                .await
                .map_err(|e| transport_error("call", &e))?;
            if response.status() == StatusCode::UNAUTHORIZED && !refreshed {
                self.tokens.forget().await;
                refreshed = true;
                continue;
            }
            return classify(response).await;
        }
    }
}

impl<C: CredentialSource> EventPlatform for HttpEventPlatform<C> {
    async fn publish(&self, message: &EventDetail) -> Result<(), DeliveryError> {
        let (url, style) = match &self.transport {
            Transport::HttpChannel { .. } => (self.channel_url(&message.channel)?, HeaderStyle::HttpChannel),
            Transport::HttpSender { endpoint } => (endpoint.clone(), HeaderStyle::HttpSender),
        };
        let headers = attribute_headers(&message.message_attributes, style);
        let body = message.payload.to_string();
        self.call(|http| {
            headers
                .iter()
                .fold(http.post(&url), |request, (name, value)| request.header(name, value))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
        .await
        .map(drop)
    }

    async fn consume(&self, channel: &str, limit: usize) -> Result<Vec<ChannelRecord>, DeliveryError> {
        let url = format!("{}?limit={limit}", self.channel_url(channel)?);
        let response = self
            .call(|http| {
                http.request(Method::GET, &url)
                    .header("Consumer-Id", &self.consumer_id)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
            })
            .await?;
        response.json().await.map_err(|_| DeliveryError::Retryable {
            reason: "the channel's answer is not a list of records".into(),
            retry_after: None,
        })
    }

    async fn acknowledge(&self, channel: &str, message_ids: &[String]) -> Result<(), DeliveryError> {
        if message_ids.is_empty() {
            return Ok(());
        }
        let url = self.channel_url(channel)?;
        let body = serde_json::json!({ "messageIds": message_ids });
        self.call(|http| {
            http.request(Method::DELETE, &url)
                .header("Consumer-Id", &self.consumer_id)
                .json(&body)
        })
        .await
        .map(drop)
    }
}

/// The one place the platform's answers are classified.
async fn classify(response: Response) -> Result<Response, DeliveryError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_secs);
    let code = status.as_u16();
    if matches!(code, 401 | 408 | 429) || status.is_server_error() {
        return Err(DeliveryError::Retryable {
            reason: format!("HTTP {code}"),
            retry_after,
        });
    }
    let text = response.text().await.unwrap_or_default();
    let reason: String = text.chars().take(MAX_REASON_LEN).collect();
    Err(DeliveryError::Rejected { status: code, reason })
}

fn retryable(reason: impl Into<String>) -> DeliveryError {
    DeliveryError::Retryable {
        reason: reason.into(),
        retry_after: None,
    }
}

/// A timeout or a dropped connection: the platform may or may not have the message (a duplicate is
/// harmless, a loss is not).
fn transport_error(what: &str, error: &reqwest::Error) -> DeliveryError {
    let kind = if error.is_timeout() { "timed out" } else { "failed" };
    retryable(format!("{what} {kind}: connection error"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acp::event::sample_attributes;
    use serde_json::json;
    use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn credentials() -> ClientCredentials {
        ClientCredentials {
            client_id: "app-client".into(),
            client_secret: "s3cret".to_string().into(),
        }
    }

    fn platform(server: &MockServer) -> HttpEventPlatform<ClientCredentials> {
        let transport = Transport::HttpChannel {
            base_url: format!("{}/", server.uri()),
        };
        HttpEventPlatform::new(
            transport,
            format!("{}/oauth/token", server.uri()),
            credentials(),
            "app-1",
        )
        .unwrap()
    }

    fn message() -> EventDetail {
        EventDetail {
            channel: "payment-events".into(),
            message_attributes: sample_attributes(),
            payload: json!({"orderReference": "DE--1", "amount": 100}),
        }
    }

    async fn token_endpoint(
        server: &MockServer,
        token: &str,
        expires_in: u64,
        expected_calls: impl Into<wiremock::Times>,
    ) {
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(body_string_contains("grant_type=client_credentials"))
            .and(body_string_contains("client_id=app-client"))
            .and(body_string_contains("client_secret=s3cret"))
            .and(body_string_contains("audience=aop-event-platform"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})),
            )
            .expect(expected_calls)
            .mount(server)
            .await;
    }

    #[tokio::test]
    async fn publishes_with_every_attribute_header_and_caches_the_token() {
        let server = MockServer::start().await;
        token_endpoint(&server, "tok-1", 3600, 1).await;
        Mock::given(method("POST"))
            .and(path("/payment-events"))
            .and(header("authorization", "Bearer tok-1"))
            .and(header("transfer-name", "PaymentCaptured"))
            .and(header("name", "PaymentCaptured"))
            .and(header("event", "PaymentCaptured"))
            .and(header("tenant-identifier", "t-1"))
            .and(header("store-reference", "t-1"))
            .and(header("actor-id", "app"))
            .and(header("publisher", "app"))
            .and(header("timestamp", "2025-02-10T11:32:52.123456"))
            .and(header("correlation-id", "c-1"))
            .and(header("transaction-id", "x-1"))
            .and(header("content-type", "application/json"))
            .and(body_json(json!({"orderReference": "DE--1", "amount": 100})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"MessageId": "m-1"})))
            .expect(2)
            .mount(&server)
            .await;
        let p = platform(&server);
        p.publish(&message()).await.unwrap();
        p.publish(&message()).await.unwrap();
    }

    #[tokio::test]
    async fn the_http_sender_prefixes_headers_with_x() {
        let server = MockServer::start().await;
        token_endpoint(&server, "tok-1", 3600, 1).await;
        Mock::given(method("POST"))
            .and(path("/events"))
            .and(header("authorization", "Bearer tok-1"))
            .and(header("x-transfer-name", "PaymentCaptured"))
            .and(header("x-tenant-identifier", "t-1"))
            .and(header("x-actor-id", "app"))
            .and(header("x-transaction-id", "x-1"))
            .respond_with(ResponseTemplate::new(201))
            .expect(1)
            .mount(&server)
            .await;
        let transport = Transport::HttpSender {
            endpoint: format!("{}/events", server.uri()),
        };
        let p = HttpEventPlatform::new(
            transport,
            format!("{}/oauth/token", server.uri()),
            credentials(),
            "app-1",
        )
        .unwrap();
        p.publish(&message()).await.unwrap();
        assert!(matches!(
            p.consume("payment-commands", 10).await,
            Err(DeliveryError::Rejected { .. })
        ));
    }

    #[tokio::test]
    async fn an_expiring_token_is_fetched_again() {
        let server = MockServer::start().await;
        // Two seconds of life: refreshed after one.
        token_endpoint(&server, "tok-1", 2, 2).await;
        Mock::given(method("POST"))
            .and(path("/payment-events"))
            .respond_with(ResponseTemplate::new(200))
            .expect(2)
            .mount(&server)
            .await;
        let p = platform(&server);
        p.publish(&message()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        p.publish(&message()).await.unwrap();
    }

    #[tokio::test]
    async fn a_401_refreshes_the_token_once() {
        let server = MockServer::start().await;
        token_endpoint(&server, "tok-1", 3600, 2).await;
        Mock::given(method("POST"))
            .and(path("/payment-events"))
            .respond_with(ResponseTemplate::new(401))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/payment-events"))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        platform(&server).publish(&message()).await.unwrap();
    }

    #[tokio::test]
    async fn answers_are_classified() {
        for (status, retryable) in [
            (401, true),
            (408, true),
            (429, true),
            (500, true),
            (503, true),
            (400, false),
            (404, false),
            (422, false),
        ] {
            let server = MockServer::start().await;
            token_endpoint(&server, "tok-1", 3600, 1..=2).await;
            Mock::given(method("POST"))
                .and(path("/payment-events"))
                .respond_with(
                    ResponseTemplate::new(status)
                        .insert_header("retry-after", "7")
                        .set_body_string("no such channel"),
                )
                .mount(&server)
                .await;
            let error = platform(&server).publish(&message()).await.unwrap_err();
            match error {
                DeliveryError::Retryable { retry_after, .. } => {
                    assert!(retryable, "{status} is retried");
                    assert_eq!(retry_after, Some(Duration::from_secs(7)));
                }
                DeliveryError::Rejected { status: s, reason } => {
                    assert!(!retryable, "{status} is a refusal");
                    assert_eq!((s, reason.as_str()), (status, "no such channel"));
                }
            }
        }
    }

    #[tokio::test]
    async fn a_refused_client_or_an_unreachable_platform_is_retryable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})))
            .mount(&server)
            .await;
        let error = platform(&server).publish(&message()).await.unwrap_err();
        assert!(matches!(error, DeliveryError::Retryable { .. }), "{error:?}");
        assert!(!error.to_string().contains("s3cret"));

        let transport = Transport::HttpChannel {
            base_url: "http://127.0.0.1:1".into(),
        };
        let unreachable =
            HttpEventPlatform::new(transport, "http://127.0.0.1:1/oauth/token", credentials(), "app-1").unwrap();
        assert!(matches!(
            unreachable.publish(&message()).await,
            Err(DeliveryError::Retryable { .. })
        ));
    }

    #[tokio::test]
    async fn consumes_and_acknowledges_as_the_app() {
        let server = MockServer::start().await;
        token_endpoint(&server, "tok-1", 3600, 1).await;
        Mock::given(method("GET"))
            .and(path("/payment-commands"))
            .and(query_param("limit", "100"))
            .and(header("consumer-id", "app-1"))
            .and(header("authorization", "Bearer tok-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"MessageId": "m-1", "MessageBody": "{\"orderReference\":\"DE--1\"}",
                 "MessageAttributes": {"transferName": "CapturePayment", "tenantIdentifier": "t-1"}}
            ])))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/payment-commands"))
            .and(header("consumer-id", "app-1"))
            .and(body_json(json!({"messageIds": ["m-1"]})))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        let p = platform(&server);
        let records = p.consume("payment-commands", 100).await.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].message_id, "m-1");
        assert_eq!(records[0].message_attributes["transferName"], "CapturePayment");
        p.acknowledge("payment-commands", &["m-1".into()]).await.unwrap();
        p.acknowledge("payment-commands", &[]).await.unwrap();
    }
}
