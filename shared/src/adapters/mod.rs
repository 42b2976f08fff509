//! Adapters: the real implementations of the ports and their in-memory twins.

pub mod memory;
pub mod stripe;
