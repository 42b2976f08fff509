//! Use cases: what happens when a command (or, later, a webhook) arrives.

pub mod commands;
pub mod operation;
pub mod runner;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use commands::{CommandService, Settings};
pub use runner::{OperationError, OperationReport};
