//! Adapters: the real implementations of the ports and their in-memory twins.

pub mod dynamodb;
pub mod eventbridge;
pub mod memory;
#[cfg(any(test, feature = "test-support"))]
pub mod onboarding_contract;
#[cfg(any(test, feature = "test-support"))]
pub mod store_contract;
pub mod stripe;
pub mod webhook_secrets;
