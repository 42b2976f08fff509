//! The Stripe accounts webhook Lambda: signed `account.updated` events in over the HTTP API,
//! MerchantAppOnboardingStatusChanged out on the bus when a merchant's onboarding status changes.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_accounts_webhook_function().await
}
