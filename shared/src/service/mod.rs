//! Use cases: what happens when a command, a checkout call or a PSP webhook arrives.

pub mod checkout;
pub mod commands;
pub mod onboarding;
pub mod operation;
pub mod runner;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod webhooks;

pub use checkout::{CheckoutError, CheckoutService, PaymentKnownListener};
pub use commands::{CommandService, Settings};
pub use onboarding::{AccountReport, MerchantOnboarder, OnboardingError, OnboardingLink, OnboardingRequest};
pub use runner::{OperationError, OperationReport};
pub use webhooks::{DrainReport, WebhookError, WebhookReport, WebhookService};
