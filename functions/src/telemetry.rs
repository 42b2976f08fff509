//! What a function tells its operators, set up once per process by [`init`]:
//! * JSON log lines (one object a line) whose context is top-level keys: the fields of every span the
//!   line is in (`tenant`, `correlationId`, `messageId`, `orderReference`, and the Lambda runtime's
//!   `requestId` and `xrayTraceId`) next to `level` and the line's own `fields`;
//! * CloudWatch Embedded Metric Format documents (namespace [`shared::metrics::NAMESPACE`]) from the
//!   `metrics` facade, flushed to standard output after every invocation by [`observed`], which also
//!   counts the cold start.

use json_subscriber::JsonLayer;
use metrics_cloudwatch_embedded::Collector;
use std::future::Future;
use std::sync::{Once, OnceLock};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

/// The process's metrics collector, once [`init`] installed it.
static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// The EMF property naming the tenant of an invocation that serves one (never a dimension).
const TENANT_PROPERTY: &str = "tenant";

/// Installs the JSON log subscriber (level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, default info) and
/// the EMF metrics recorder. Call it first thing in a function's start-up.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    Registry::default()
        .with(EnvFilter::new(level.to_lowercase()))
        .with(json_layer(std::io::stdout))
        .init();
    // Metrics are not worth refusing to serve payments over: the line says what is missing.
    if let Err(error) = install_metrics() {
        tracing::error!(%error, "no metrics: the EMF recorder could not be installed");
    }
}

/// Installs the EMF collector as the process's `metrics` recorder (once), with the app's units.
fn install_metrics() -> Result<&'static Collector, metrics_cloudwatch_embedded::Error> {
    if let Some(collector) = COLLECTOR.get() {
        return Ok(collector);
    }
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(shared::metrics::NAMESPACE)
        .init()?;
    shared::metrics::describe();
    Ok(COLLECTOR.get_or_init(|| collector))
}

/// The JSON layer writing to `writer`: `level`, the line's own `fields` (message included), and every
/// field of the spans it is in as a top-level key (the innermost span wins a name two spans share).
/// The line's fields stay under `fields`, so they can't clash with a span's.
pub fn json_layer<S, W>(writer: W) -> JsonLayer<S, W>
where
    S: tracing::Subscriber + for<'lookup> tracing_subscriber::registry::LookupSpan<'lookup>,
    W: for<'writer> tracing_subscriber::fmt::MakeWriter<'writer> + 'static,
{
    let mut layer = JsonLayer::new(writer);
    layer
        .with_level("level")
        .with_event("fields")
        .with_top_level_flattened_span_list();
    layer
}

/// Runs one invocation's work: counts the process's cold start on its first invocation, forgets the
/// previous invocation's tenant, and flushes the invocation's metrics when the work is done.
pub async fn observed<T>(work: impl Future<Output = T>) -> T {
    static COLD_START: Once = Once::new();
    COLD_START.call_once(shared::metrics::cold_start);
    if let Some(collector) = COLLECTOR.get() {
        collector.remove_property(TENANT_PROPERTY);
    }
    let result = work.await;
    if let Some(collector) = COLLECTOR.get()
        && let Err(error) = collector.flush(std::io::stdout())
    {
        tracing::warn!(%error, "metrics could not be written");
    }
    result
}

/// Names the tenant the current invocation serves in its metrics' properties (not a dimension: the
/// alarms watch the app as a whole, and a tenant per dimension would multiply the metrics' cost).
pub fn tenant_property(tenant: &str) {
    if let Some(collector) = COLLECTOR.get() {
        collector.set_property(TENANT_PROPERTY, tenant.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::sync::{Arc, Mutex};

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
                .collect()
        }
    }

    #[test]
    fn metrics_are_emf_documents_with_bounded_dimensions_and_the_tenant_as_a_property() {
        let collector = install_metrics().unwrap();
        let stale = Captured::default();
        collector.flush(stale).unwrap();
        tenant_property("t-1");
        shared::metrics::command_handled("CapturePayment", "PaymentCaptured");
        shared::metrics::command_handled("CapturePayment", "PaymentCaptured");
        shared::metrics::psp_call("payment_intents.capture", "ok", std::time::Duration::from_millis(120));
        shared::metrics::webhook_event("payment", "PaymentCaptured");
        shared::metrics::count("WebhookSignatureRejected", 1);
        shared::metrics::level(shared::metrics::RECONCILER_UNSETTLED, 0);
        let captured = Captured::default();
        collector.flush(captured.clone()).unwrap();
        let documents = captured.lines();
        let find = |name: &str| {
            documents
                .iter()
                .find(|d| d.get(name).is_some())
                .unwrap_or_else(|| panic!("no {name} in {documents:?}"))
        };
        let directive = |d: &Value| d["_aws"]["CloudWatchMetrics"][0].clone();
        let commands = find("CommandsHandled");
        assert_eq!(commands["CommandsHandled"], 2);
        assert_eq!(commands["command"], "CapturePayment");
        assert_eq!(commands["outcome"], "PaymentCaptured");
        assert_eq!(directive(commands)["Namespace"], shared::metrics::NAMESPACE);
        assert_eq!(
            directive(commands)["Dimensions"],
            serde_json::json!([["command", "outcome"]])
        );
        let latency = find("PspLatency");
        assert_eq!(latency["PspLatency"], serde_json::json!([120.0]));
        assert_eq!(directive(latency)["Metrics"][0]["Unit"], "Milliseconds");
        assert_eq!(directive(latency)["Dimensions"], serde_json::json!([["operation"]]));
        assert_eq!(find("PspCalls")["outcome"], "ok");
        assert_eq!(find("WebhookEvents")["type"], "payment");
        // The alarms' metrics have no dimension, and a level of zero is still written.
        assert_eq!(
            directive(find("WebhookSignatureRejected"))["Dimensions"],
            serde_json::json!([[]])
        );
        assert_eq!(find("ReconcilerUnsettled")["ReconcilerUnsettled"], 0.0);
        for document in &documents {
            assert_eq!(document["tenant"], "t-1", "the tenant is each document's property");
            let dimensions = directive(document)["Dimensions"].to_string();
            assert!(!dimensions.contains("tenant"), "never a dimension: {dimensions}");
        }
    }

    #[test]
    fn span_fields_are_top_level_keys_and_the_line_keeps_its_own_fields() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = Registry::default().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let invocation = tracing::info_span!("Lambda runtime invoke", requestId = "r-1", xrayTraceId = "Root=1-a");
            let _invocation = invocation.enter();
            let record = tracing::info_span!("record", messageId = "m-1");
            let _record = record.enter();
            let command = tracing::info_span!(
                "handle",
                tenant = "t-1",
                correlationId = "c-1",
                orderReference = "DE--1"
            );
            let _command = command.enter();
            tracing::info!(outcome = "PaymentCaptured", "command handled");
        });
        let lines = captured.lines();
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        for (key, value) in [
            ("tenant", "t-1"),
            ("correlationId", "c-1"),
            ("messageId", "m-1"),
            ("orderReference", "DE--1"),
            ("requestId", "r-1"),
            ("xrayTraceId", "Root=1-a"),
            ("level", "INFO"),
        ] {
            assert_eq!(line[key], value, "{key} in {line}");
        }
        assert_eq!(line["fields"]["message"], "command handled");
        assert_eq!(line["fields"]["outcome"], "PaymentCaptured");
    }
}
