//! Integration tests against a local AWS emulator (moto); helpers shared by the test files.

pub mod aws;
