//! The CapturePayment Lambda: its SQS queue in, PaymentCaptured or PaymentCaptureFailed out on the bus.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_command_function("CapturePayment").await
}
