//! The ACP receiver Lambda: scheduled, it consumes the platform's `payment-commands` channel onto the
//! command queues.

// The run's future nests the platform client's, the queues' and the SDK's futures deeper than the default.
#![recursion_limit = "256"]

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_acp_receiver().await
}
