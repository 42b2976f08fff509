//! The app's operational metrics, named in one place and recorded through the `metrics` facade. A
//! function installs a CloudWatch Embedded Metric Format recorder at start-up (namespace [`NAMESPACE`]);
//! without one (unit tests, tools) recording is a no-op. The template's alarms and dashboard read them.
//!
//! Dimensions stay few and bounded (a command's name, an outcome, a PSP operation, a Stripe event
//! type): never a tenant or an order, which go in the log lines and the metrics' properties. The
//! metrics the alarms watch have no dimension at all.

use metrics::Unit;
use std::time::Duration;

/// The metrics' namespace (the template's alarms name it).
pub const NAMESPACE: &str = "AcpPaymentApp";

/// Commands handled, by `command` and `outcome` (the message the command was answered with, or why not).
pub const COMMANDS_HANDLED: &str = "CommandsHandled";
/// Requests to the PSP, by `operation` and `outcome`.
pub const PSP_CALLS: &str = "PspCalls";
/// The PSP's answer time in milliseconds, by `operation`.
pub const PSP_LATENCY: &str = "PspLatency";
/// Stripe webhook events, by `type` and `outcome`.
pub const WEBHOOK_EVENTS: &str = "WebhookEvents";
/// A function process's first invocation.
pub const COLD_START: &str = "ColdStart";
/// The age of outbox entries the reconciler had to publish, in seconds.
pub const OUTBOX_UNPUBLISHED_AGE: &str = "OutboxUnpublishedAge";
/// Operations still unsettled after a reconciler pass (a gauge, written every pass).
pub const RECONCILER_UNSETTLED: &str = "ReconcilerUnsettled";
/// Dead-lettered commands the reconciler could not answer yet (a gauge, written every pass).
pub const DEAD_LETTERS_UNANSWERED: &str = "DeadLettersUnanswered";

/// Describes each metric's unit to the recorder (call once, after installing it).
pub fn describe() {
    metrics::describe_counter!(COMMANDS_HANDLED, Unit::Count, "commands handled");
    metrics::describe_counter!(PSP_CALLS, Unit::Count, "requests to the PSP");
    metrics::describe_histogram!(PSP_LATENCY, Unit::Milliseconds, "the PSP's answer time");
    metrics::describe_counter!(WEBHOOK_EVENTS, Unit::Count, "Stripe webhook events");
    metrics::describe_counter!(COLD_START, Unit::Count, "function cold starts");
    metrics::describe_histogram!(OUTBOX_UNPUBLISHED_AGE, Unit::Seconds, "age of late outbox entries");
    metrics::describe_gauge!(RECONCILER_UNSETTLED, Unit::Count, "unsettled operations");
    metrics::describe_gauge!(DEAD_LETTERS_UNANSWERED, Unit::Count, "unanswered dead letters");
}

/// Counts `value` occurrences of `name`, without dimensions (the alarms' counts: `InboxGivenUp`,
/// `AuthorizationExpiring`, `WebhookSignatureRejected`).
pub fn count(name: &'static str, value: u64) {
    metrics::counter!(name).increment(value);
}

/// Sets the gauge `name` (no dimensions) to `value`.
pub fn level(name: &'static str, value: u64) {
    metrics::gauge!(name).set(value as f64);
}

/// Records an outbox entry the reconciler published `seconds` after its commit.
pub fn outbox_unpublished_age(seconds: u64) {
    metrics::histogram!(OUTBOX_UNPUBLISHED_AGE).record(seconds as f64);
}

/// Counts a handled command: `command` is its name, `outcome` the message it was answered with, or
/// `duplicate`, `retry`, `ignored`.
pub fn command_handled(command: &str, outcome: &str) {
    metrics::counter!(COMMANDS_HANDLED, "command" => command.to_string(), "outcome" => outcome.to_string())
        .increment(1);
}

/// Records one PSP request: `operation` names the object and action (`payment_intents.capture`),
/// `outcome` is `ok`, `declined` or `unknown`.
pub fn psp_call(operation: &str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(PSP_CALLS, "operation" => operation.to_string(), "outcome" => outcome).increment(1);
    metrics::histogram!(PSP_LATENCY, "operation" => operation.to_string()).record(elapsed.as_secs_f64() * 1000.0);
}

/// Counts one Stripe webhook event of `event_type` (what it is about: `payment`, `refund`, `dispute`,
/// `funding`, `refunded`, `account`; or `unverified`, `unreadable`, `ignored` before it is read) and what became of it.
pub fn webhook_event(event_type: &'static str, outcome: &str) {
    metrics::counter!(WEBHOOK_EVENTS, "type" => event_type, "outcome" => outcome.to_string()).increment(1);
}

/// Counts this process's cold start.
pub fn cold_start() {
    metrics::counter!(COLD_START).increment(1);
}
