//! An in-process HTTP proxy in front of a PSP stand-in (localstripe) that injects faults and emulates
//! Stripe's idempotency layer, which localstripe lacks (`/work/shared/spec/local-stack.md`).
//!
//! * Faults, matched by method and path substring, each for the next N matching requests:
//!   [`Fault::FailBeforeForwarding`] (the request never reaches upstream),
//!   [`Fault::FailAfterForwarding`] (upstream applies it, the answer is lost) and
//!   [`Fault::DelayAfterForwarding`] (upstream applies it, the answer comes too late for the client).
//! * Idempotency as Stripe does it (reliability §1.1): the first upstream answer (status and body, 5xx
//!   included) for an `Idempotency-Key` is saved and replayed, with `Idempotent-Replayed: true`, for every
//!   later request with that key, which then never reaches upstream. A key reused with another method,
//!   path or body gets 400 `idempotency_error`; a key whose first request is still upstream gets 409. A
//!   fault before forwarding saves nothing, so the retry goes through.
//! * Counters of the requests forwarded upstream per method and path, and per AWS operation.
//! * Random faults (the chaos run): a share of the requests no rule matches gets one of the three faults.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderMap, HeaderValue, TRANSFER_ENCODING};
use hyper::{Method, Request, Response, StatusCode};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A fault to inject into matching requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer `status` without forwarding: nothing happened upstream.
    FailBeforeForwarding {
        /// The HTTP status the client gets (e.g. 500).
        status: u16,
    },
    /// Forward, let upstream apply the request, then answer `status` instead of upstream's answer.
    FailAfterForwarding {
        /// The HTTP status the client gets (e.g. 500).
        status: u16,
    },
    /// Forward, then wait this long before passing upstream's answer on (to trip client timeouts).
    DelayAfterForwarding(Duration),
}

/// A running proxy. It stops when dropped.
pub struct FaultProxy {
    base_url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1` (a free port) forwarding to `upstream` (e.g. `http://127.0.0.1:8420`).
    ///
    /// # Panics
    /// When no loopback port can be bound: a test cannot run without its proxy.
    pub async fn start(upstream: &str) -> FaultProxy {
        FaultProxy::start_on(0, upstream).await
    }

    /// Like [`FaultProxy::start`], on `port` (0: a free one): for clients configured before it starts.
    ///
    /// # Panics
    /// When the port cannot be bound.
    pub async fn start_on(port: u16, upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("FaultProxy cannot bind 127.0.0.1:{port}: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("FaultProxy has no local address: {e}"));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            state: Mutex::default(),
        });
        let server = tokio::spawn(crate::loopback::serve(listener, Arc::clone(&shared), handle));
        FaultProxy {
            base_url: format!("http://{address}"),
            shared,
            server,
        }
    }

    /// The proxy's address, to use as the client's base URL (`http://127.0.0.1:<port>`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Applies `fault` to the next `times` requests with `method` whose path contains `path_contains`.
    /// Rules are tried in the order they were added; a request takes at most one fault.
    pub fn inject(&self, method: &str, path_contains: &str, fault: Fault, times: usize) {
        self.shared.state().rules.push(Rule {
            method: method.to_ascii_uppercase(),
            path_contains: path_contains.to_string(),
            fault,
            remaining: times,
        });
    }

    /// From now on a share `rate` (0 to 1) of the requests no rule matches gets a fault, drawn from
    /// `seed`: a 5xx before forwarding, an answer lost after forwarding (500), or an answer delayed by
    /// `delay` (past the client's timeout). A rate of 0 stops them.
    pub fn random_faults(&self, rate: f64, delay: Duration, seed: u64) {
        self.shared.state().random = Some(RandomFaults {
            rate,
            delay,
            rng: fastrand::Rng::with_seed(seed),
            injected: 0,
        });
    }

    /// How many random faults were injected.
    pub fn random_faults_injected(&self) -> usize {
        self.shared.state().random.as_ref().map_or(0, |r| r.injected)
    }

    /// How many `method` requests for exactly `path` (no query) were forwarded upstream.
    pub fn forwarded(&self, method: &str, path: &str) -> usize {
        let key = (method.to_ascii_uppercase(), path.to_string());
        self.shared.state().forwarded.get(&key).copied().unwrap_or(0)
    }

    /// How many requests were forwarded upstream in all.
    pub fn forwarded_total(&self) -> usize {
        self.shared.state().forwarded.values().sum()
    }

    /// How many requests of each AWS operation (`X-Amz-Target`) were forwarded so far: in front of the
    /// AWS endpoint, the proxy counts what a function asks of DynamoDB, EventBridge and Secrets Manager.
    pub fn operations(&self) -> BTreeMap<String, usize> {
        self.shared.state().operations.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Rule {
    method: String,
    path_contains: String,
    fault: Fault,
    remaining: usize,
}

/// An answer as the proxy passes it on or replays it.
#[derive(Clone)]
struct Answer {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

/// What a request is compared on when its idempotency key comes back.
#[derive(Clone, PartialEq, Eq)]
struct Fingerprint {
    method: Method,
    path_and_query: String,
    body: Bytes,
}

enum KeyState {
    InFlight(Fingerprint),
    Saved(Fingerprint, Answer),
}

enum Claim {
    Forward,
    Replay(Answer),
    InFlight,
    Mismatch,
}

/// The random faults' settings and draws.
struct RandomFaults {
    rate: f64,
    delay: Duration,
    rng: fastrand::Rng,
    injected: usize,
}

impl RandomFaults {
    fn draw(&mut self) -> Option<Fault> {
        if self.rng.f64() >= self.rate {
            return None;
        }
        self.injected += 1;
        Some(match self.rng.u8(0..3) {
            0 => Fault::FailBeforeForwarding { status: 503 },
            1 => Fault::FailAfterForwarding { status: 500 },
            _ => Fault::DelayAfterForwarding(self.delay),
        })
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    random: Option<RandomFaults>,
    keys: HashMap<String, KeyState>,
    forwarded: HashMap<(String, String), usize>,
    /// Forwarded requests by AWS operation (`X-Amz-Target`, e.g. `DynamoDB_20120810.GetItem`).
    operations: BTreeMap<String, usize>,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    state: Mutex<State>,
}

impl Shared {
    /// The state; a panic elsewhere while holding the lock leaves it usable (counters and maps only).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_fault(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut state = self.state();
        let rule = state
            .rules
            .iter_mut()
            .find(|r| r.remaining > 0 && r.method == method.as_str() && path.contains(&r.path_contains));
        match rule {
            Some(rule) => {
                rule.remaining -= 1;
                Some(rule.fault)
            }
            None => state.random.as_mut().and_then(RandomFaults::draw),
        }
    }

    fn claim(&self, key: &str, fingerprint: &Fingerprint) -> Claim {
        let mut state = self.state();
        match state.keys.get(key) {
            None => {
                state
                    .keys
                    .insert(key.to_string(), KeyState::InFlight(fingerprint.clone()));
                Claim::Forward
            }
            Some(KeyState::InFlight(first) | KeyState::Saved(first, _)) if first != fingerprint => Claim::Mismatch,
            Some(KeyState::InFlight(_)) => Claim::InFlight,
            Some(KeyState::Saved(_, answer)) => Claim::Replay(answer.clone()),
        }
    }

    /// Saves upstream's answer under `key`, or forgets the key when upstream never answered.
    fn settle(&self, key: &str, fingerprint: Fingerprint, answer: Option<&Answer>) {
        let mut state = self.state();
        match answer {
            Some(answer) => state
                .keys
                .insert(key.to_string(), KeyState::Saved(fingerprint, answer.clone())),
            None => state.keys.remove(key),
        };
    }

    /// Forwards the request upstream; `None` when upstream could not be reached or read.
    async fn forward(&self, headers: &HeaderMap, fingerprint: &Fingerprint) -> Option<Answer> {
        let path = fingerprint
            .path_and_query
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string();
        {
            let mut state = self.state();
            if let Some(target) = headers.get("x-amz-target").and_then(|t| t.to_str().ok()) {
                *state.operations.entry(target.to_string()).or_default() += 1;
            }
            *state
                .forwarded
                .entry((fingerprint.method.to_string(), path))
                .or_default() += 1;
        }
        let mut headers = headers.clone();
        for hop in [HOST, CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING] {
            headers.remove(hop);
        }
        let response = self
            .client
            .request(
                fingerprint.method.clone(),
                format!("{}{}", self.upstream, fingerprint.path_and_query),
            )
            .headers(headers)
            .body(fingerprint.body.clone())
            .send()
            .await
            .ok()?;
        let status = response.status();
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let body = response.bytes().await.ok()?;
        Some(Answer {
            status,
            content_type,
            body,
        })
    }
}

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unreadable request body",
        ));
    };
    let (fail_after, delay) = match shared.take_fault(&parts.method, parts.uri.path()) {
        Some(Fault::FailBeforeForwarding { status }) => return Ok(injected(status)),
        Some(Fault::FailAfterForwarding { status }) => (Some(status), None),
        Some(Fault::DelayAfterForwarding(delay)) => (None, Some(delay)),
        None => (None, None),
    };
    let fingerprint = Fingerprint {
        method: parts.method.clone(),
        path_and_query: parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
        body,
    };
    let key = parts
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let answer = match key {
        None => shared
            .forward(&parts.headers, &fingerprint)
            .await
            .map(|a| respond(a, false)),
        Some(key) => match shared.claim(&key, &fingerprint) {
            Claim::Replay(answer) => Some(respond(answer, true)),
            Claim::InFlight => Some(stripe_error(
                StatusCode::CONFLICT,
                "idempotency_error",
                "There is currently another in-progress request using this Idempotent Key.",
            )),
            Claim::Mismatch => Some(stripe_error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            )),
            Claim::Forward => {
                // Stripe finishes a request whose client hung up, and so does the proxy: dropped with the
                // connection, the key would stay in flight and answer 409 for ever.
                let shared = Arc::clone(&shared);
                let headers = parts.headers.clone();
                let forwarded = tokio::spawn(async move {
                    let answer = shared.forward(&headers, &fingerprint).await;
                    shared.settle(&key, fingerprint, answer.as_ref());
                    answer
                });
                forwarded.await.ok().flatten().map(|a| respond(a, false))
            }
        },
    };
    let response = answer.unwrap_or_else(|| stripe_error(StatusCode::BAD_GATEWAY, "api_error", "upstream unreachable"));
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    Ok(match fail_after {
        Some(status) => injected(status),
        None => response,
    })
}

fn respond(answer: Answer, replayed: bool) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body));
    *response.status_mut() = answer.status;
    if let Some(content_type) = answer.content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn injected(status: u16) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    stripe_error(status, "api_error", "fault injected by FaultProxy")
}

/// A Stripe-shaped error answer.
fn stripe_error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": { "type": kind, "message": message } }).to_string();
    respond(
        Answer {
            status,
            content_type: Some(HeaderValue::from_static("application/json")),
            body: Bytes::from(body),
        },
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const CAPTURE: &str = "/v1/payment_intents/pi_1/capture";

    async fn upstream(status: u16) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(CAPTURE))
            .respond_with(ResponseTemplate::new(status).set_body_json(serde_json::json!({"id": "pi_1", "n": status})))
            .mount(&server)
            .await;
        server
    }

    async fn post(proxy: &FaultProxy, key: Option<&str>, body: &str) -> (u16, bool, String) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{CAPTURE}", proxy.base_url()))
            .body(body.to_string());
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let replayed = response.headers().get("idempotent-replayed").is_some();
        (response.status().as_u16(), replayed, response.text().await.unwrap())
    }

    #[tokio::test]
    async fn forwards_everything_and_counts_per_method_and_path() {
        let server = upstream(200).await;
        let proxy = FaultProxy::start(&server.uri()).await;
        let (status, replayed, body) = post(&proxy, None, "amount_to_capture=1").await;
        assert_eq!((status, replayed), (200, false));
        assert!(body.contains("pi_1"));
        post(&proxy, None, "amount_to_capture=1").await;
        let query = reqwest::get(format!("{}/v1/payment_intents/pi_1?expand=x", proxy.base_url()))
            .await
            .unwrap();
        assert_eq!(query.status().as_u16(), 404);
        assert_eq!(proxy.forwarded("post", CAPTURE), 2);
        assert_eq!(proxy.forwarded("GET", "/v1/payment_intents/pi_1"), 1);
        assert_eq!(
            server.received_requests().await.unwrap()[2].url.query(),
            Some("expand=x")
        );
    }

    #[tokio::test]
    async fn failure_before_forwarding_saves_nothing_and_lasts_n_requests() {
        let server = upstream(200).await;
        let proxy = FaultProxy::start(&server.uri()).await;
        proxy.inject("POST", "/capture", Fault::FailBeforeForwarding { status: 500 }, 2);
        assert_eq!(post(&proxy, Some("k"), "a=1").await.0, 500);
        assert_eq!(post(&proxy, Some("k"), "a=1").await.0, 500);
        assert_eq!(proxy.forwarded("POST", CAPTURE), 0);
        assert_eq!(
            post(&proxy, Some("k"), "a=1").await,
            (200, false, r#"{"id":"pi_1","n":200}"#.into())
        );
        assert_eq!(proxy.forwarded("POST", CAPTURE), 1);
    }

    #[tokio::test]
    async fn failure_after_forwarding_applies_upstream_and_the_retry_gets_the_saved_answer() {
        let server = upstream(200).await;
        let proxy = FaultProxy::start(&server.uri()).await;
        proxy.inject("POST", "pi_1", Fault::FailAfterForwarding { status: 502 }, 1);
        assert_eq!(post(&proxy, Some("k"), "a=1").await.0, 502);
        assert_eq!(
            post(&proxy, Some("k"), "a=1").await,
            (200, true, r#"{"id":"pi_1","n":200}"#.into())
        );
        assert_eq!(proxy.forwarded("POST", CAPTURE), 1);
        // Without a key nothing is saved: each request reaches upstream.
        post(&proxy, None, "a=1").await;
        assert_eq!(proxy.forwarded("POST", CAPTURE), 2);
    }

    #[tokio::test]
    async fn a_request_whose_client_hung_up_still_completes_and_its_retry_gets_the_answer() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(CAPTURE))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"id": "pi_1"}))
                    .set_delay(Duration::from_millis(400)),
            )
            .mount(&server)
            .await;
        let proxy = FaultProxy::start(&server.uri()).await;
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_millis(50))
            .build()
            .unwrap();
        let gone = impatient
            .post(format!("{}{CAPTURE}", proxy.base_url()))
            .header("Idempotency-Key", "k")
            .body("a=1")
            .send()
            .await;
        assert!(gone.is_err(), "the client gave up first");
        tokio::time::sleep(Duration::from_millis(600)).await;
        // Not 409 "in progress" for ever: the first request finished and its answer is replayed.
        assert_eq!(
            post(&proxy, Some("k"), "a=1").await,
            (200, true, r#"{"id":"pi_1"}"#.into())
        );
        assert_eq!(proxy.forwarded("POST", CAPTURE), 1);
    }

    #[tokio::test]
    async fn upstream_errors_are_saved_and_replayed_like_stripe() {
        let server = upstream(500).await;
        let proxy = FaultProxy::start(&server.uri()).await;
        assert_eq!(post(&proxy, Some("k"), "a=1").await.0, 500);
        assert_eq!(
            post(&proxy, Some("k"), "a=1").await,
            (500, true, r#"{"id":"pi_1","n":500}"#.into())
        );
        assert_eq!(proxy.forwarded("POST", CAPTURE), 1);
    }

    #[tokio::test]
    async fn a_key_reused_with_other_parameters_is_refused() {
        let server = upstream(200).await;
        let proxy = FaultProxy::start(&server.uri()).await;
        post(&proxy, Some("k"), "a=1").await;
        let (status, _, body) = post(&proxy, Some("k"), "a=2").await;
        assert_eq!(status, 400);
        assert!(body.contains("idempotency_error"));
        assert_eq!(proxy.forwarded("POST", CAPTURE), 1);
    }

    #[tokio::test]
    async fn a_delay_after_forwarding_trips_the_client_timeout_but_the_effect_is_saved() {
        let server = upstream(200).await;
        let proxy = FaultProxy::start(&server.uri()).await;
        proxy.inject(
            "POST",
            "/capture",
            Fault::DelayAfterForwarding(Duration::from_secs(2)),
            1,
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let url = format!("{}{CAPTURE}", proxy.base_url());
        let error = client
            .post(&url)
            .header("Idempotency-Key", "k")
            .body("a=1")
            .send()
            .await
            .unwrap_err();
        assert!(error.is_timeout());
        assert_eq!(
            post(&proxy, Some("k"), "a=1").await,
            (200, true, r#"{"id":"pi_1","n":200}"#.into())
        );
        assert_eq!(proxy.forwarded("POST", CAPTURE), 1);
    }

    #[tokio::test]
    async fn a_key_in_flight_gets_409() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(500)))
            .mount(&server)
            .await;
        let proxy = FaultProxy::start(&server.uri()).await;
        let (first, second) = tokio::join!(post(&proxy, Some("k"), "a=1"), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            post(&proxy, Some("k"), "a=1").await
        });
        assert_eq!((first.0, second.0), (200, 409));
        assert_eq!(proxy.forwarded("POST", CAPTURE), 1);
    }
}
