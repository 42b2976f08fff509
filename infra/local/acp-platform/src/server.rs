//! The HTTP side: hyper connection handling, routing, bearer-token checks, scripted faults, and the
//! JSON answers of each route.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /oauth/token` | client-credentials token |
//! | `POST /{channel}` | publish (attributes as headers) |
//! | `GET /{channel}?limit=N` | consume (`Consumer-Id` header) |
//! | `DELETE /{channel}` | acknowledge `{"messageIds": [...]}` (`Consumer-Id` header) |
//! | `POST /http-endpoint` | publish with `X-` headers, channel from the transfer name |
//! | `POST`/`DELETE /_faults`, `GET /_messages`, `GET /_requests` | test control, no token |

use crate::auth::{TokenRequest, Tokens, bearer_token};
use crate::channels::{channel_for_transfer, is_channel_name};
use crate::faults::{Fault, Faults, parse_script};
use crate::headers::{SENDER_PREFIX, attributes_from_headers, header_name};
use crate::requests::{RequestCounts, RequestKind};
use crate::sqs_delivery::SqsDelivery;
use crate::state::{MissingAttribute, Store, check_required};
use crate::{PlatformConfig, TOKEN_AUDIENCE, lock};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Largest request body taken (SQS itself stops at 256 KiB).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `limit` of a consume request when none is given, and the most it may be.
const MAX_CONSUME_LIMIT: usize = 100;

/// Everything the routes share.
pub struct Shared {
    /// The messages.
    pub store: Mutex<Store>,
    /// Issued tokens.
    pub tokens: Mutex<Tokens>,
    /// Scripted faults still to come.
    pub faults: Mutex<Faults>,
    /// Requests seen.
    pub counts: Mutex<RequestCounts>,
    /// The SQS queue of commands, once given.
    pub delivery: SqsDelivery,
}

impl Shared {
    /// Empty state for `config`.
    pub fn new(config: PlatformConfig) -> Self {
        Shared {
            store: Mutex::new(Store::new(config.app_identifiers, config.visibility_timeout)),
            tokens: Mutex::new(Tokens::new(
                config.client_id,
                config.client_secret,
                TOKEN_AUDIENCE,
                config.token_lifetime,
            )),
            faults: Mutex::new(Faults::default()),
            counts: Mutex::new(RequestCounts::default()),
            delivery: SqsDelivery::default(),
        }
    }
}

/// The service's error for a scripted `"drop"`: hyper closes the connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by a scripted fault")]
pub struct ScriptedDrop;

type Answer = Response<Full<Bytes>>;

/// Accepts connections on `listener` for ever, each served in its own task.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // E.g. out of file descriptors: wait a little rather than spin.
                eprintln!("acp-platform: accepting a connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { handle(&shared, request).await }
            });
            // A connection ends with an error when the client goes away or a drop is scripted: both
            // are expected, neither is worth a log line.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What a request asks for.
enum Route {
    Token,
    Publish(String),
    Consume(String),
    Ack(String),
    HttpEndpoint,
    AddFaults,
    ClearFaults,
    Messages,
    Requests,
}

impl Route {
    /// The request kind, for the platform routes (faults, counts and the token check apply to them).
    fn kind(&self) -> Option<RequestKind> {
        match self {
            Route::Token => Some(RequestKind::Token),
            Route::Publish(_) => Some(RequestKind::Publish),
            Route::Consume(_) => Some(RequestKind::Consume),
            Route::Ack(_) => Some(RequestKind::Ack),
            Route::HttpEndpoint => Some(RequestKind::Http),
            Route::AddFaults | Route::ClearFaults | Route::Messages | Route::Requests => None,
        }
    }
}

/// Why a request has no route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoRoute {
    /// 404.
    NotFound,
    /// 405; the methods the path takes.
    MethodNotAllowed(&'static str),
}

impl NoRoute {
    fn answer(self) -> Answer {
        match self {
            NoRoute::NotFound => message(StatusCode::NOT_FOUND, "Not Found"),
            NoRoute::MethodNotAllowed(allowed) => {
                let mut answer = message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                answer
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allowed));
                answer
            }
        }
    }
}

/// The route of `method` `path`.
fn route(method: &Method, path: &str) -> Result<Route, NoRoute> {
    let only = |allowed: Method, name: &'static str, route: Route| {
        if *method == allowed {
            Ok(route)
        } else {
            Err(NoRoute::MethodNotAllowed(name))
        }
    };
    match path {
        "/oauth/token" => only(Method::POST, "POST", Route::Token),
        "/http-endpoint" => only(Method::POST, "POST", Route::HttpEndpoint),
        "/_messages" => only(Method::GET, "GET", Route::Messages),
        "/_requests" => only(Method::GET, "GET", Route::Requests),
        "/_faults" => match *method {
            Method::POST => Ok(Route::AddFaults),
            Method::DELETE => Ok(Route::ClearFaults),
            _ => Err(NoRoute::MethodNotAllowed("POST, DELETE")),
        },
        _ => {
            let Some(channel) = path.strip_prefix('/').filter(|c| is_channel_name(c)) else {
                return Err(NoRoute::NotFound);
            };
            let channel = channel.to_string();
            match *method {
                Method::POST => Ok(Route::Publish(channel)),
                Method::GET => Ok(Route::Consume(channel)),
                Method::DELETE => Ok(Route::Ack(channel)),
                _ => Err(NoRoute::MethodNotAllowed("GET, POST, DELETE")),
            }
        }
    }
}

/// Answers one request. `Err` only for a scripted drop.
async fn handle(shared: &Shared, request: Request<Incoming>) -> Result<Answer, ScriptedDrop> {
    let route = match route(request.method(), request.uri().path()) {
        Ok(route) => route,
        Err(no_route) => return Ok(no_route.answer()),
    };
    if let Some(kind) = route.kind() {
        lock(&shared.counts).record(kind);
        // Faults come before the token check: a scripted 401 is a 401 even with a valid token.
        let fault = lock(&shared.faults).take(kind);
        if let Some(fault) = fault {
            lock(&shared.counts).record_faulted();
            return match fault {
                Fault::Drop => Err(ScriptedDrop),
                Fault::Status(status) => Ok(fault_answer(kind, status)),
            };
        }
        if kind != RequestKind::Token && !authorized(shared, request.headers()) {
            lock(&shared.counts).record_unauthorized();
            return Ok(message(StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
    }
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(answer) => return Ok(answer),
    };
    let query = parts.uri.query().unwrap_or_default();
    Ok(match route {
        Route::Token => token(shared, &parts.headers, &body),
        Route::Publish(channel) => publish(shared, Some(channel), &parts.headers, &body, "").await,
        Route::HttpEndpoint => publish(shared, None, &parts.headers, &body, SENDER_PREFIX).await,
        Route::Consume(channel) => consume(shared, &channel, &parts.headers, query),
        Route::Ack(channel) => acknowledge(shared, &channel, &parts.headers, &body),
        Route::AddFaults => match parse_script(&body) {
            Ok(faults) => {
                let mut scripted = lock(&shared.faults);
                scripted.append(faults);
                json(StatusCode::OK, &json!({"pending": scripted.pending_json()}))
            }
            Err(problem) => message(StatusCode::BAD_REQUEST, &problem),
        },
        Route::ClearFaults => {
            let mut scripted = lock(&shared.faults);
            scripted.clear();
            json(StatusCode::OK, &json!({"pending": scripted.pending_json()}))
        }
        Route::Messages => {
            let channel = query_param(query, "channel").filter(|c| !c.is_empty());
            json(StatusCode::OK, &lock(&shared.store).snapshot(channel.as_deref()))
        }
        Route::Requests => json(StatusCode::OK, &lock(&shared.counts).to_json()),
    })
}

/// Whether the request carries a bearer token issued here and still valid.
fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    token.is_some_and(|token| lock(&shared.tokens).is_valid(token, Instant::now()))
}

/// The whole body, or the 413/400 answer.
async fn read_body(body: Incoming) -> Result<Bytes, Answer> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(message(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )),
        Err(error) => Err(message(
            StatusCode::BAD_REQUEST,
            &format!("reading the body failed: {error}"),
        )),
    }
}

/// `POST /oauth/token`.
fn token(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Answer {
    let Some(request) = token_request(headers, body) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not a JSON object",
        );
    };
    let mut tokens = lock(&shared.tokens);
    match tokens.issue(&request, Instant::now()) {
        Ok(token) => {
            let mut answer = json(
                StatusCode::OK,
                &json!({
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": tokens.lifetime().as_secs(),
                }),
            );
            answer
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            answer
        }
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
            oauth_error(status, refusal.code, &refusal.description)
        }
    }
}

/// The token request's parameters: a form body (RFC 6749), or a JSON object of strings as Auth0 also
/// takes. `None` for a JSON body that is not an object.
fn token_request(headers: &HeaderMap, body: &[u8]) -> Option<TokenRequest> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Some(form_urlencoded::parse(body).into_owned().collect());
    }
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let strings = object
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            _ => None,
        })
        .collect();
    Some(strings)
}

/// `POST /{channel}` (`channel` given) and `POST /http-endpoint` (channel from the transfer name).
/// `prefix` is the route's header prefix, for the error messages.
async fn publish(shared: &Shared, channel: Option<String>, headers: &HeaderMap, body: &[u8], prefix: &str) -> Answer {
    let payload = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(_)) => match std::str::from_utf8(body) {
            // The body is kept as sent: consumers get the publisher's bytes, not a re-encoding.
            Ok(text) => text.to_string(),
            Err(_) => return message(StatusCode::BAD_REQUEST, "the body is not UTF-8"),
        },
        _ => return message(StatusCode::BAD_REQUEST, "the body must be a JSON object"),
    };
    let attributes = attributes_from_headers(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
    if let Err(missing) = check_required(&attributes) {
        return missing_header(missing, prefix);
    }
    let channel = match channel {
        Some(channel) => channel,
        None => {
            let transfer = attributes
                .get("transferName")
                .filter(|v| !v.is_empty())
                .or_else(|| attributes.get("name"))
                .map(String::as_str)
                .unwrap_or_default();
            match channel_for_transfer(transfer) {
                Some(channel) => channel.to_string(),
                None => {
                    return message(
                        StatusCode::BAD_REQUEST,
                        &format!("no channel is known for the transfer {transfer:?}"),
                    );
                }
            }
        }
    };
    let published = lock(&shared.store).publish(&channel, payload, attributes);
    match published {
        Ok(id) => {
            // Commands go on to SQS (when asked) before the publisher hears back, so a test that has its
            // answer finds the command in the queue; earlier failed sends are retried here too.
            shared.delivery.flush(&shared.store).await;
            json(StatusCode::OK, &json!({"MessageId": id}))
        }
        Err(missing) => missing_header(missing, prefix),
    }
}

/// `GET /{channel}?limit=N`.
fn consume(shared: &Shared, channel: &str, headers: &HeaderMap, query: &str) -> Answer {
    let Some(consumer) = consumer_id(headers) else {
        return message(StatusCode::BAD_REQUEST, "missing header Consumer-Id");
    };
    let limit = match query_param(query, "limit") {
        None => MAX_CONSUME_LIMIT,
        Some(limit) => match limit.trim().parse::<usize>() {
            Ok(limit) if limit > 0 => limit.min(MAX_CONSUME_LIMIT),
            _ => return message(StatusCode::BAD_REQUEST, "limit must be a whole number from 1 to 100"),
        },
    };
    let received = lock(&shared.store).receive(channel, &consumer, limit, Instant::now());
    json(StatusCode::OK, &received)
}

/// The body of `DELETE /{channel}`.
#[derive(Deserialize)]
struct AckBody {
    #[serde(rename = "messageIds")]
    message_ids: Vec<String>,
}

/// `DELETE /{channel}`.
fn acknowledge(shared: &Shared, channel: &str, headers: &HeaderMap, body: &[u8]) -> Answer {
    let Some(consumer) = consumer_id(headers) else {
        return message(StatusCode::BAD_REQUEST, "missing header Consumer-Id");
    };
    let Ok(AckBody { message_ids }) = serde_json::from_slice(body) else {
        return message(StatusCode::BAD_REQUEST, "the body must be {\"messageIds\": [\"...\"]}");
    };
    lock(&shared.store).acknowledge(channel, &consumer, &message_ids);
    json(StatusCode::OK, &json!({}))
}

/// The non-empty `Consumer-Id` header.
fn consumer_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("consumer-id")?;
    let value = String::from_utf8_lossy(value.as_bytes()).trim().to_string();
    (!value.is_empty()).then_some(value)
}

/// The first value of `name` in a query string.
fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// 400 naming the header(s) that would carry the missing attribute.
fn missing_header(missing: MissingAttribute, prefix: &str) -> Answer {
    let names: Vec<String> = missing.0.iter().map(|a| header_name(a, prefix)).collect();
    message(
        StatusCode::BAD_REQUEST,
        &format!("missing header {}", names.join(" or ")),
    )
}

/// The answer of a scripted `status`: OAuth2's error shape on the token route, `{"message"}` elsewhere.
fn fault_answer(kind: RequestKind, status: u16) -> Answer {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if kind == RequestKind::Token {
        let code = match status {
            StatusCode::BAD_REQUEST => "invalid_request",
            StatusCode::UNAUTHORIZED => "invalid_client",
            _ => "server_error",
        };
        return oauth_error(status, code, "scripted fault");
    }
    if status == StatusCode::UNAUTHORIZED {
        return message(status, "Unauthorized");
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    message(status, &format!("{reason} (scripted fault)"))
}

/// `{"error": code, "error_description": description}` (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, code: &str, description: &str) -> Answer {
    json(status, &json!({"error": code, "error_description": description}))
}

/// `{"message": text}`.
fn message(status: StatusCode, text: &str) -> Answer {
    json(status, &json!({"message": text}))
}

/// A JSON answer.
fn json(status: StatusCode, value: &impl Serialize) -> Answer {
    // Our values (maps of strings and numbers) always serialize; an empty body is the safe fallback.
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing() {
        assert!(matches!(route(&Method::POST, "/oauth/token"), Ok(Route::Token)));
        assert!(matches!(
            route(&Method::POST, "/http-endpoint"),
            Ok(Route::HttpEndpoint)
        ));
        assert!(matches!(route(&Method::POST, "/payment-events"), Ok(Route::Publish(c)) if c == "payment-events"));
        assert!(matches!(route(&Method::GET, "/payment-events"), Ok(Route::Consume(_))));
        assert!(matches!(route(&Method::DELETE, "/payment-events"), Ok(Route::Ack(_))));
        assert!(matches!(route(&Method::DELETE, "/_faults"), Ok(Route::ClearFaults)));
        // `oauth` alone is a valid channel name.
        assert!(matches!(route(&Method::GET, "/oauth"), Ok(Route::Consume(_))));
        let refused = |method: Method, path: &str| route(&method, path).err();
        assert_eq!(
            refused(Method::GET, "/oauth/token"),
            Some(NoRoute::MethodNotAllowed("POST"))
        );
        assert_eq!(
            refused(Method::PUT, "/payment-events"),
            Some(NoRoute::MethodNotAllowed("GET, POST, DELETE"))
        );
        assert_eq!(
            refused(Method::GET, "/_faults"),
            Some(NoRoute::MethodNotAllowed("POST, DELETE"))
        );
        for path in ["/", "/Payment-Events", "/payment-events/", "/a/b", "/_other"] {
            assert_eq!(refused(Method::GET, path), Some(NoRoute::NotFound), "{path}");
        }
        let answer = NoRoute::MethodNotAllowed("POST").answer();
        assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(answer.headers()[header::ALLOW], "POST");
    }

    #[test]
    fn token_request_from_form_or_json() {
        let mut headers = HeaderMap::new();
        let form = token_request(&headers, b"grant_type=client_credentials&client_id=a%20b").expect("form");
        assert_eq!(form["client_id"], "a b");
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        let object = token_request(&headers, br#"{"client_id": "a", "n": 1}"#).expect("object");
        assert_eq!(object.get("client_id").map(String::as_str), Some("a"));
        assert!(!object.contains_key("n"));
        assert!(token_request(&headers, b"[]").is_none());
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("limit=5&channel=a%2Db", "channel").as_deref(), Some("a-b"));
        assert_eq!(query_param("", "limit"), None);
    }
}
