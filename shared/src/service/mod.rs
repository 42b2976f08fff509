//! Use cases: what happens when a command (or, later, a webhook) arrives.

pub mod commands;
pub mod operation;

pub use commands::{CommandError, CommandReport, CommandService, Settings};
