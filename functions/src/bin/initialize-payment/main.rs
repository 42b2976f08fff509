//! The initialize-payment Lambda: `POST /private/initialize-payment` (hosted payment page, contract §5.3).

use functions::sync_api::Endpoint;
use functions::wiring::run_sync_function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_sync_function(Endpoint::InitializePayment).await
}
