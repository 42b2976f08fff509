//! The payment-transfers Lambda: `POST /private/payments/transfers` (contract §6) pays a marketplace's
//! merchants their share of an order through Stripe Connect, or reverses a payout.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_transfers_function().await
}
