//! The confirm-pre-order-payment Lambda: `POST /private/confirm-pre-order-payment` (contract §5.4).

use functions::sync_api::Endpoint;
use functions::wiring::run_sync_function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_sync_function(Endpoint::ConfirmPreOrderPayment).await
}
