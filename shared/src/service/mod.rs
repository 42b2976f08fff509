//! Use cases: what happens when a command (or, later, a webhook) arrives.

pub mod commands;
pub mod operation;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use commands::{CommandError, CommandReport, CommandService, Settings};
