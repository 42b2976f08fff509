//! Adapters: the real implementations of the ports and their in-memory twins.

pub mod acp_platform;
pub mod dynamodb;
pub mod eventbridge;
#[cfg(any(test, feature = "test-support"))]
pub mod marketplace_contract;
pub mod memory;
pub mod memory_bridge;
pub mod memory_secrets;
pub mod secrets_manager;
pub mod sqs_queues;
#[cfg(any(test, feature = "test-support"))]
pub mod store_contract;
pub mod stripe;
pub mod tenant_directory;
pub mod tls;
