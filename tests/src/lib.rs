//! Test support shared by the integration tests: doubles and helpers that stand in for the outside world.
//!
//! * [`fault_proxy`]: an HTTP proxy that injects faults and emulates Stripe's idempotency layer.

pub mod fault_proxy;
