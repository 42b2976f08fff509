//! Test support shared by the integration tests: doubles and helpers that stand in for the outside world.
//!
//! * [`acp`]: the app seen from outside: send commands, read the bus, seed authorized orders.
//! * [`aws`]: SDK clients for the local AWS emulator (moto) and uniquely named resources per test.
//! * [`bench`]: the benchmark driver's measurements (cold start, invocations, RSS, AWS requests, latency).
//! * [`browser`]: the shopper's headless Chromium, paying on the app's payment page.
//! * [`fake_runtime`]: a minimal Lambda Runtime API that times a function's start-up and invocations.
//! * [`fault_proxy`]: an HTTP proxy that injects faults and emulates Stripe's idempotency layer.
//! * [`http_answer`]: the app's HTTP answers, checked against its OpenAPI document.
//! * [`local_stack`]: a running local stack, found through `.local/stack.json`: its queues and bus, its
//!   HTTP API with the stack's bearer token, and Stripe's side of its webhooks (signed events).
//! * [`shop`]: a Spryker shop on the local ACP event platform: publishes commands, consumes the app's
//!   messages; the platform's fault script.
//! * [`sqs_source`]: the Lambda SQS event source mapping, emulated (batches, partial failures, DLQ).
//! * [`tenant`]: a tenant configured and disconnected through the stack's HTTP API.
//! * [`stripe_customer`]: the shop's customer at localstripe (attaches a card and confirms), and where
//!   localstripe runs.

pub mod acp;
pub mod aws;
pub mod bench;
pub mod browser;
pub mod chaos;
pub mod fake_runtime;
pub mod fault_proxy;
pub mod http_answer;
pub mod local_stack;
mod loopback;
pub mod shop;
pub mod sqs_source;
pub mod stripe_customer;
pub mod tenant;
