//! The payment page Lambda: the hosted payment page, the shopper's return from Stripe and the cancel link
//! (contract §5.3), public routes of the HttpApi.

use functions::wiring::run_payment_page_function;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    run_payment_page_function().await
}
