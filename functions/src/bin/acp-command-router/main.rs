//! The command router Lambda of the `http-sqs` wiring: the `payment-commands` queue ACP fills in, each
//! record moved to its command's queue.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_acp_command_router().await
}
