//! The reconciler Lambda: EventBridge Scheduler runs it every minute; it publishes outboxes nobody
//! published and settles commands whose outcome stayed unknown.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_reconciler_function().await
}
