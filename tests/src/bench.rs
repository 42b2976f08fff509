//! The benchmark driver's measurements (issue 15; `infra/bench/run` runs it and prints the table). Each
//! runs the release binary `app` as Lambda would, under a [`FakeRuntime`], against a running local stack
//! (moto and localstripe), beside its baseline from the same run:
//!
//! * cold start: exec to the first poll for an event, per function, against a bare `lambda_runtime`
//!   binary of the same profile (median of `starts`);
//! * capture-payment's first invocation (one record), a warm one, and a 10-record batch for 10 payments,
//!   with the AWS requests each made (counted by a [`FaultProxy`] in front of moto) and the peak RSS;
//! * the same one record and 10-record batch while Stripe answers 100 ms late;
//! * end-to-end latency through the stack: a CapturePayment sent to its queue until PaymentCaptured is
//!   on the bus, over `commands` commands at a steady rate.

use crate::acp::{BusMessage, seed_order, send_command};
use crate::aws::{create_queue, take_bodies, unique_name};
use crate::fake_runtime::FakeRuntime;
use crate::fault_proxy::{Fault, FaultProxy};
use crate::local_stack::StackInfo;
use crate::sqs_source::deliver_once;
use aws_lambda_events::event::sqs::SqsBatchResponse;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use shared::domain::{Payment, PaymentStatus};
use shared::ports::PaymentStore;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Where the binaries under test are.
pub struct Binaries {
    /// The release `app` (every function).
    pub app: PathBuf,
    /// A bare `lambda_runtime` binary of the same profile: the baseline.
    pub bare: PathBuf,
}

/// The figures, as the table script reads them (times in milliseconds, sizes in MiB).
#[derive(Debug, Default, Serialize)]
pub struct Figures {
    /// Median exec → first poll, per function (`APP_FUNCTION`), and `bare` for the baseline.
    pub cold_start_ms: BTreeMap<String, f64>,
    /// capture-payment: the first invocation (one record) after start-up.
    pub first_invocation_ms: f64,
    /// capture-payment: a warm invocation of one record.
    pub warm_invocation_ms: f64,
    /// capture-payment: a warm 10-record batch for 10 payments.
    pub batch_of_10_ms: f64,
    /// Peak RSS of capture-payment after those invocations.
    pub peak_rss_mib: f64,
    /// Peak RSS of the bare binary after one invocation.
    pub bare_peak_rss_mib: f64,
    /// AWS requests of the first capture (cold caches), by operation.
    pub requests_first_capture: BTreeMap<String, usize>,
    /// AWS requests of a warm capture, by operation.
    pub requests_warm_capture: BTreeMap<String, usize>,
    /// AWS requests of the 10-record batch, by operation.
    pub requests_batch_of_10: BTreeMap<String, usize>,
    /// Stripe requests of the 10-record batch.
    pub stripe_requests_batch_of_10: usize,
    /// With Stripe answering 100 ms late: one record, warm.
    pub slow_psp_one_ms: f64,
    /// With Stripe answering 100 ms late: 10 records for 10 payments, warm.
    pub slow_psp_batch_of_10_ms: f64,
    /// End-to-end latency through the stack, its median.
    pub latency_p50_ms: f64,
    /// End-to-end latency through the stack, its 99th percentile.
    pub latency_p99_ms: f64,
    /// The commands the latency was measured over.
    pub latency_commands: usize,
    /// The rate they were sent at, per second.
    pub latency_rate_per_s: f64,
}

/// A function's environment as the stack runs it (`.local/env/<Function>.env` beside stack.json).
pub fn function_environment(stack_json: &Path, function_id: &str) -> BTreeMap<String, String> {
    let file = stack_json
        .parent()
        .unwrap_or(Path::new("."))
        .join("env")
        .join(format!("{function_id}.env"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Starts `binary` as Lambda does: a clean environment of `env`, the Runtime API at `runtime`.
fn spawn(binary: &Path, env: &BTreeMap<String, String>, runtime: &FakeRuntime) -> Child {
    Command::new(binary)
        .env_clear()
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The `p`-th percentile (0-100) of `values`, nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median exec → first poll of `binary` with `env`, over `starts` starts.
pub async fn cold_start(binary: &Path, env: &BTreeMap<String, String>, starts: usize) -> f64 {
    let mut times = Vec::with_capacity(starts);
    for _ in 0..starts {
        let mut runtime = FakeRuntime::start().await;
        let started = Instant::now();
        let mut child = spawn(binary, env, &runtime);
        let polled = runtime
            .next_poll(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("{} never polled for an event", binary.display()));
        times.push(millis(polled - started));
        let _ = child.kill().await;
    }
    percentile(&times, 50.0)
}

/// The peak resident set of a running process (`VmHWM`), in MiB.
fn peak_rss_mib(child: &Child) -> f64 {
    let pid = child.id().expect("a running process");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib / 1024.0
}

/// The bare binary's peak RSS after one invocation.
pub async fn bare_peak_rss(bare: &Path) -> f64 {
    let mut runtime = FakeRuntime::start().await;
    let child = spawn(bare, &BTreeMap::new(), &runtime);
    runtime
        .next_poll(Duration::from_secs(30))
        .await
        .expect("the bare binary polls");
    let (_, answer) = runtime
        .invoke(&json!({"hello": "world"}), Duration::from_secs(30))
        .await
        .expect("the bare binary answers");
    assert!(answer.ok, "the bare binary failed: {}", answer.body);
    peak_rss_mib(&child)
}

/// What every capture measurement needs: the stack, its clients, a configured tenant.
pub struct Bench {
    stack: StackInfo,
    stack_json: PathBuf,
    sqs: aws_sdk_sqs::Client,
    store: shared::adapters::dynamodb::DynamoStore,
    tenant: String,
    /// A queue of the bench's own: commands are sent to it and received back as real SQS records.
    queue: String,
}

impl Bench {
    /// Configures a tenant of its own on the stack of `stack_json`.
    pub async fn new(stack_json: &Path) -> Bench {
        let stack = StackInfo::read(stack_json).unwrap_or_else(|e| panic!("{e}"));
        let aws = stack.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let store = stack.store(&aws);
        let tenant = unique_name("bench");
        crate::tenant::configure_tenant(&stack, &tenant).await;
        let queue = create_queue(&sqs, "bench-commands").await;
        Bench {
            stack,
            stack_json: stack_json.to_path_buf(),
            sqs,
            store,
            tenant,
            queue,
        }
    }

    /// `count` authorized payments of the bench's tenant.
    async fn payments(&self, count: usize) -> Vec<Payment> {
        let (gateway, customer) = self.stack.stripe();
        futures::stream::iter(0..count)
            .map(|_| seed_order(&self.store, &gateway, &customer, &self.tenant, 1_000, "pm_card_visa"))
            .buffer_unordered(8)
            .collect()
            .await
    }

    fn capture(payment: &Payment) -> Value {
        json!({"orderReference": payment.order_reference, "orderItemIds": [1], "amount": 1_000, "currencyIsoCode": "EUR"})
    }

    /// Invokes the function behind `runtime` with CapturePayment records for `payments`, delivered as the
    /// event source mapping does; returns how long it took. Every record must succeed.
    async fn capture_batch(&self, runtime: &mut FakeRuntime, payments: &[Payment]) -> f64 {
        for payment in payments {
            send_command(
                &self.sqs,
                &self.queue,
                "CapturePayment",
                &self.tenant,
                &Self::capture(payment),
            )
            .await;
        }
        let mut took = None;
        let took_it = &mut took;
        let delivered = deliver_once(&self.sqs, &self.queue, 10, |event| {
            let event = serde_json::to_value(&event).expect("an SQS event");
            async move {
                let (elapsed, answer) = runtime
                    .invoke(&event, Duration::from_secs(60))
                    .await
                    .expect("an answer");
                assert!(answer.ok, "the invocation failed: {}", answer.body);
                *took_it = Some(elapsed);
                serde_json::from_value::<SqsBatchResponse>(answer.body).expect("a batch response")
            }
        })
        .await;
        assert_eq!(delivered, payments.len(), "one batch carries every record");
        for payment in payments {
            let stored = self
                .store
                .get_payment(&payment.tenant, &payment.transaction_id)
                .await
                .expect("read the payment")
                .expect("the payment");
            assert_eq!(stored.status, PaymentStatus::Captured, "{:?}", payment.order_reference);
        }
        millis(took.expect("invoked"))
    }

    /// capture-payment through proxies in front of moto and localstripe: first, warm and batch
    /// invocations with their AWS requests and peak RSS, then one record and a batch with Stripe 100 ms
    /// late.
    pub async fn captures(&self, app: &Path, figures: &mut Figures) {
        let aws_proxy = FaultProxy::start(&self.stack.aws_endpoint_url).await;
        let mut env = function_environment(&self.stack_json, "CapturePaymentFunction");
        let stripe_proxy = FaultProxy::start(&env["STRIPE_API_BASE"]).await;
        env.insert("AWS_ENDPOINT_URL".into(), aws_proxy.base_url().to_string());
        env.insert("STRIPE_API_BASE".into(), stripe_proxy.base_url().to_string());
        let payments = self.payments(1 + 1 + 10 + 1 + 10).await;
        let mut runtime = FakeRuntime::start().await;
        let child = spawn(app, &env, &runtime);
        runtime
            .next_poll(Duration::from_secs(30))
            .await
            .expect("capture-payment polls");
        let delta = |before: &BTreeMap<String, usize>, after: BTreeMap<String, usize>| -> BTreeMap<String, usize> {
            after
                .into_iter()
                .map(|(k, v)| {
                    let old = before.get(&k).copied().unwrap_or(0);
                    (k, v - old)
                })
                .filter(|(_, v)| *v > 0)
                .collect()
        };
        let counted = aws_proxy.operations();
        figures.first_invocation_ms = self.capture_batch(&mut runtime, &payments[0..1]).await;
        figures.requests_first_capture = delta(&counted, aws_proxy.operations());
        let counted = aws_proxy.operations();
        figures.warm_invocation_ms = self.capture_batch(&mut runtime, &payments[1..2]).await;
        figures.requests_warm_capture = delta(&counted, aws_proxy.operations());
        let counted = aws_proxy.operations();
        let stripe_before = stripe_proxy.forwarded_total();
        figures.batch_of_10_ms = self.capture_batch(&mut runtime, &payments[2..12]).await;
        figures.requests_batch_of_10 = delta(&counted, aws_proxy.operations());
        figures.stripe_requests_batch_of_10 = stripe_proxy.forwarded_total() - stripe_before;
        figures.peak_rss_mib = peak_rss_mib(&child);
        // Stripe 100 ms late on every request from now on.
        stripe_proxy.inject(
            "POST",
            "/v1/",
            Fault::DelayAfterForwarding(Duration::from_millis(100)),
            usize::MAX,
        );
        stripe_proxy.inject(
            "GET",
            "/v1/",
            Fault::DelayAfterForwarding(Duration::from_millis(100)),
            usize::MAX,
        );
        figures.slow_psp_one_ms = self.capture_batch(&mut runtime, &payments[12..13]).await;
        figures.slow_psp_batch_of_10_ms = self.capture_batch(&mut runtime, &payments[13..23]).await;
    }

    /// End-to-end latency through the stack: `commands` CapturePayments sent to the stack's queue at
    /// `rate` per second, each until its PaymentCaptured is on the bus. The bus is watched while the
    /// commands go out, so an answer is timed when it arrives, not when the last command has been sent.
    pub async fn latency(&self, commands: usize, rate: f64, figures: &mut Figures) {
        let aws = self.stack.sdk_config().await;
        let (rule, watch) = self.stack.watch_bus(&aws).await;
        let payments = self.payments(commands).await;
        let queue = self.stack.queue("CapturePayment").to_string();
        let started = Instant::now();
        let sending = futures::stream::iter(payments.iter().enumerate())
            .map(|(i, payment)| {
                let queue = queue.clone();
                async move {
                    tokio::time::sleep_until((started + Duration::from_secs_f64(i as f64 / rate)).into()).await;
                    let at = Instant::now();
                    send_command(
                        &self.sqs,
                        &queue,
                        "CapturePayment",
                        &self.tenant,
                        &Self::capture(payment),
                    )
                    .await;
                    (payment.order_reference.clone().expect("order"), at)
                }
            })
            .buffer_unordered(16)
            .collect::<HashMap<String, Instant>>();
        let deadline = started + Duration::from_secs_f64(commands as f64 / rate) + Duration::from_secs(300);
        let receiving = async {
            let mut arrivals: HashMap<String, Instant> = HashMap::with_capacity(commands);
            while arrivals.len() < commands && Instant::now() < deadline {
                let bodies = take_bodies(&self.sqs, &watch).await;
                let arrived = Instant::now();
                for message in bodies.iter().map(|b| BusMessage::parse(b)) {
                    if message.name == "PaymentCaptured"
                        && let Some(order) = message.order()
                    {
                        arrivals.entry(order.to_string()).or_insert(arrived);
                    }
                }
            }
            arrivals
        };
        let (sent, arrivals) = tokio::join!(sending, receiving);
        self.stack.unwatch_bus(&aws, &rule).await;
        let latencies: Vec<f64> = sent
            .iter()
            .filter_map(|(order, at)| arrivals.get(order).map(|arrived| millis(*arrived - *at)))
            .collect();
        assert_eq!(
            latencies.len(),
            commands,
            "{} of {commands} captures never answered",
            commands - latencies.len()
        );
        figures.latency_p50_ms = percentile(&latencies, 50.0);
        figures.latency_p99_ms = percentile(&latencies, 99.0);
        figures.latency_commands = commands;
        figures.latency_rate_per_s = rate;
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).rev().collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }
}
