//! Use cases: what happens when a command, a checkout call, a PSP webhook, a configure or a disconnect
//! arrives, and how messages cross to and from the ACP event platform.

pub mod access;
pub mod bridge;
pub mod checkout;
pub mod commands;
pub mod customer;
pub mod onboarding;
pub mod operation;
pub mod payment_page;
pub mod reconciler;
pub mod runner;
pub mod settings;
pub mod tenants;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod transfers;
pub mod webhooks;

pub use access::{AccessError, authorize};
pub use checkout::{CheckoutError, CheckoutService, PaymentKnownListener};
pub use commands::CommandService;
pub use onboarding::{AccountReport, MerchantOnboarder, OnboardingError, OnboardingLink, OnboardingRequest};
pub use reconciler::{DeadLetterReport, ReconcileReport, Reconciler};
pub use runner::{OperationError, OperationReport};
pub use settings::Settings;
pub use tenants::{TenantError, TenantService};
pub use transfers::{Payouts, TransmissionResult};
pub use webhooks::{DrainReport, WebhookError, WebhookReport, WebhookService};
