//! The Stripe refund webhook Lambda: signed Stripe refund events in over the HTTP API, PaymentRefunded
//! or PaymentRefundFailed out on the bus.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_webhook_function().await
}
