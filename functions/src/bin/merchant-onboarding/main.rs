//! The merchant-onboarding Lambda: `POST /private/merchants/onboarding` (contract §5.7) creates or
//! continues a marketplace merchant's Stripe Connect onboarding and answers the onboarding link.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::wiring::run_onboarding_function().await
}
