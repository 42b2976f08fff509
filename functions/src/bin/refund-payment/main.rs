//! The RefundPayment Lambda: its SQS queue in, PaymentRefunded or PaymentRefundFailed out on the bus.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_command_function("RefundPayment").await
}
