//! The Lambda functions. Their one binary (`src/main.rs`, `app`) only wires things together; the
//! handlers live here with their tests.
//!
//! * [`acp_publisher`], [`acp_receiver`], [`acp_router`]: the bridge to the ACP event platform (messages out,
//!   commands in; decision §9.14).
//! * [`command_handler`]: CapturePayment, CancelPayment and RefundPayment from their SQS queues.
//! * [`sync_api`]: the synchronous checkout endpoints behind the HttpApi.
//! * [`tenant_api`]: configure and disconnect a tenant (`/private/configure`, `/private/disconnect`).
//! * [`webhook_handler`]: Stripe webhooks (payment intents, refunds) from the HTTP API.
//! * [`onboarding`]: `POST /private/merchants/onboarding`, merchant onboarding at the PSP.
//! * [`payment_page`]: the hosted payment page, the shopper's return from Stripe and the cancel link.
//! * [`customer`]: `POST /private/customer`, the express-checkout customer lookup.
//! * [`transfers`]: `POST /private/payments/transfers`, marketplace payouts and their reversals.
//! * [`account_webhook`]: Stripe account webhooks (merchant onboarding status).
//! * [`reconciler`]: the scheduled pass that publishes forgotten outboxes and settles unsettled commands.
//! * [`openapi`]: the HTTP API's OpenAPI document (`docs/openapi.yml`), generated from the bodies' types.
//! * `http`: what the HTTP functions share (tenant header, JSON and error answers).
//! * [`telemetry`]: JSON log lines with the request's context as top-level keys, and EMF metrics.
//! * [`wiring`]: building the clients once per cold start from the environment.

// The runtime's futures nest deep (lambda_runtime's layers, the telemetry wrapper, the SDK's calls):
// clippy's layout queries need more than the default depth of 128.
#![recursion_limit = "256"]

/// The allocator of every program that links the functions: the app, its benchmark and the tests.
/// mimalloc instead of glibc's malloc, which took about half of the handler's CPU per record (issue 15:
/// many small strings and JSON values per command).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod account_webhook;
pub mod acp_publisher;
pub mod acp_receiver;
pub mod acp_router;
pub mod command_handler;
pub mod customer;
mod http;
pub mod onboarding;
pub mod openapi;
pub mod payment_page;
pub mod reconciler;
pub mod sync_api;
pub mod telemetry;
pub mod tenant_api;
pub mod transfers;
pub mod webhook_handler;
pub mod wiring;
