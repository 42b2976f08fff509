//! The customer Lambda: `POST /private/customer` (contract §6) answers the customer and the addresses an
//! express checkout collected at Stripe for a pre-order payment.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_customer_function().await
}
