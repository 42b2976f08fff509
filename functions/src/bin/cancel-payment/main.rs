//! The CancelPayment Lambda: its SQS queue in, PaymentCanceled or PaymentCancellationFailed out on the bus.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_command_function("CancelPayment").await
}
