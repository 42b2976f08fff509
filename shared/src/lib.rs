//! The payment app's common crate.
//!
//! * [`domain`]: money, the payment and refund state machines and what each command decides. Pure, no I/O.
//! * [`acp`]: the Spryker ACP wire format: every message, the inbound envelope, the outbound event.
//! * [`ports`]: one small trait per capability the domain needs (payment store, event publisher, PSP).
//! * [`adapters`]: the real implementations (DynamoDB, EventBridge, Stripe) and their in-memory twins.
//! * [`service`]: the use cases that tie them together (command processing with idempotency and outbox).
//! * [`batch`]: SQS batch handling with partial batch failures.
//! * [`metrics`]: the operational metrics, through the `metrics` facade.
//! * [`json`]: reading outside JSON with errors that never quote its values.

pub mod acp;
pub mod adapters;
pub mod batch;
pub mod config;
pub mod domain;
pub mod json;
pub mod metrics;
pub mod ports;
pub mod service;
