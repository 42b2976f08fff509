//! The ACP publisher Lambda: the app's outbound FIFO queue in, each message POSTed to the ACP event
//! platform (HTTP channel, or the `http` sender in the `http-sqs` wiring).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_acp_publisher().await
}
