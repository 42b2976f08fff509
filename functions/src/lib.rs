//! The Lambda functions. Each binary under `src/bin/<name>/main.rs` only wires things together; the
//! handlers live here with their tests.
//!
//! * [`command_handler`]: CapturePayment, CancelPayment and RefundPayment from their SQS queues.
//! * [`sync_api`]: the synchronous checkout endpoints behind the HttpApi.
//! * [`wiring`]: building the clients once per cold start from the environment.

pub mod command_handler;
pub mod sync_api;
pub mod wiring;
