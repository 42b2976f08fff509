//! A minimal Lambda Runtime API for the benchmarks (issue 15): a function process started with
//! `AWS_LAMBDA_RUNTIME_API` pointing here polls `GET /2018-06-01/runtime/invocation/next`, gets the events
//! [`FakeRuntime::invoke`] hands it, and posts its answer or error back. Every poll and answer is timed
//! where it arrives, so a start-up is measured from exec to the first poll and an invocation from the
//! event handed out to the answer.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// A function's answer to one invocation.
#[derive(Debug)]
pub struct Answer {
    /// The invocation's request id (`init` for an init error).
    pub request_id: String,
    /// `false` for an invocation or init error.
    pub ok: bool,
    /// The answer's JSON body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

struct Shared {
    /// The events waiting for the function's next poll: request id and body.
    events: Mutex<mpsc::UnboundedReceiver<(String, Bytes)>>,
    polls: mpsc::UnboundedSender<Instant>,
    answers: mpsc::UnboundedSender<Answer>,
}

/// A running fake Runtime API; it stops when dropped.
pub struct FakeRuntime {
    address: String,
    events: mpsc::UnboundedSender<(String, Bytes)>,
    polls: mpsc::UnboundedReceiver<Instant>,
    answers: mpsc::UnboundedReceiver<Answer>,
    server: JoinHandle<()>,
}

impl FakeRuntime {
    /// Starts one on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> FakeRuntime {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the fake Runtime API");
        let address = listener.local_addr().expect("local address").to_string();
        let (events, waiting) = mpsc::unbounded_channel();
        let (poll_sender, polls) = mpsc::unbounded_channel();
        let (answer_sender, answers) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(waiting),
            polls: poll_sender,
            answers: answer_sender,
        });
        let server = tokio::spawn(crate::loopback::serve(listener, shared, handle));
        FakeRuntime {
            address,
            events,
            polls,
            answers,
            server,
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Waits up to `within` for the function's next poll for an event; when it arrived.
    pub async fn next_poll(&mut self, within: Duration) -> Option<Instant> {
        tokio::time::timeout(within, self.polls.recv()).await.ok().flatten()
    }

    /// Hands `event` to the function and waits up to `within` for its answer. Returns the time from
    /// handing it out (the function already waits in its poll) to the answer, and the answer.
    pub async fn invoke(&mut self, event: &Value, within: Duration) -> Result<(Duration, Answer), String> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let sent = Instant::now();
        self.events
            .send((request_id.clone(), Bytes::from(event.to_string())))
            .map_err(|_| "the fake Runtime API stopped".to_string())?;
        let answer = tokio::time::timeout(within, self.answers.recv())
            .await
            .map_err(|_| format!("no answer within {within:?}"))?
            .ok_or("the fake Runtime API stopped")?;
        if answer.request_id != request_id && answer.request_id != "init" {
            return Err(format!("an answer for {}, not {request_id}", answer.request_id));
        }
        Ok((answer.at - sent, answer))
    }
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    if parts.method == Method::GET && path == NEXT {
        let _ = shared.polls.send(arrived);
        // One function polls at a time, as Lambda's runtime does.
        let Some((request_id, event)) = shared.events.lock().await.recv().await else {
            return Ok(status(StatusCode::GONE));
        };
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + 30_000;
        let response = Response::builder()
            .header("Lambda-Runtime-Aws-Request-Id", request_id)
            .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
            .header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:eu-central-1:000000000000:function:bench",
            )
            .header(
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000;Sampled=0",
            )
            .body(Full::new(event))
            .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR));
        return Ok(response);
    }
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let answer = |request_id: &str, ok: bool| Answer {
        request_id: request_id.to_string(),
        ok,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: arrived,
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let answered = match (parts.method.clone(), segments.as_slice()) {
        (Method::POST, ["2018-06-01", "runtime", "invocation", id, "response"]) => answer(id, true),
        (Method::POST, ["2018-06-01", "runtime", "invocation", id, "error"]) => answer(id, false),
        (Method::POST, ["2018-06-01", "runtime", "init", "error"]) => answer("init", false),
        _ => return Ok(status(StatusCode::NOT_FOUND)),
    };
    let _ = shared.answers.send(answered);
    Ok(status(StatusCode::ACCEPTED))
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
