//! The Stripe PaymentIntent webhook Lambda: signed Stripe events in over the HTTP API, payment status
//! changes (PaymentAuthorized, PaymentCaptured, ...) out on the bus.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_webhook_function().await
}
