//! Cold-start wiring, shared by every function binary: read the environment, build each client once,
//! then hand the handler to the Lambda runtime.

use crate::command_handler;
use crate::sync_api::{self, Endpoint};
use lambda_runtime::{Error, service_fn};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::stripe::{StaticApiKey, StripeGateway, Timeouts};
use shared::config::{AppConfig, ConfigError};
use shared::ports::clock::SystemClock;
use shared::service::checkout::ListenerError;
use shared::service::{CheckoutService, CommandService, PaymentKnownListener, Settings};

/// The command service on the real adapters.
pub type LiveCommandService =
    CommandService<DynamoStore, StripeGateway<StaticApiKey>, EventBridgePublisher, SystemClock>;

/// JSON logs (CloudWatch reads them as structured records), level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`.
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level.to_lowercase()))
        .with_target(false)
        .with_current_span(false)
        .without_time()
        .init();
}

/// Builds the command service from the environment (see [`AppConfig`]).
pub async fn command_service(config: &AppConfig) -> Result<LiveCommandService, Error> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let timeouts = Timeouts {
        request: config.psp_timeout,
        ..Timeouts::default()
    };
    let keys = StaticApiKey::new(config.stripe_secret_key.clone());
    Ok(CommandService {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
        gateway: StripeGateway::new(&config.stripe_api_base, keys, timeouts)?,
        publisher: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&aws), &config.event_bus_name),
        clock: SystemClock,
        settings: Settings::new(&config.app_identifier),
    })
}

/// Runs a command function: `accepts` is the one command its queue carries.
pub async fn run_command_function(accepts: &'static str) -> Result<(), Error> {
    init_tracing();
    let config = AppConfig::from_env()?;
    let service = command_service(&config).await?;
    lambda_runtime::run(service_fn(|event| {
        command_handler::handle_batch(&service, accepts, event)
    }))
    .await
}

/// Stands in for the webhook service's inbox (built in parallel, `WebhookService::drain_inbox`) until it
/// is merged: there is no inbox yet, so no webhook waits for a payment; it records that one became known.
/// Replace it by the webhook service in the checkout binaries.
pub struct WebhookInboxNotMerged;

impl PaymentKnownListener for WebhookInboxNotMerged {
    async fn after_payment_known(&self, tenant: &str, transaction_id: &str) -> Result<(), ListenerError> {
        tracing::info!(tenant, transaction_id, "payment known; no webhook inbox to drain yet");
        Ok(())
    }
}

/// Runs a checkout function serving `endpoint` behind the HttpApi; `listener` hears about payments the
/// tenant can now name. Requires `APP_BASE_URL` besides the command functions' settings.
pub async fn run_sync_function<L: PaymentKnownListener>(endpoint: Endpoint, listener: L) -> Result<(), Error> {
    init_tracing();
    let config = AppConfig::from_env()?;
    let app_base_url = config
        .app_base_url
        .clone()
        .ok_or(ConfigError::Missing("APP_BASE_URL"))?;
    let service = CheckoutService {
        commands: command_service(&config).await?,
        listener,
    };
    lambda_http::run(lambda_http::service_fn(|request| {
        sync_api::handle(&service, &app_base_url, endpoint, request)
    }))
    .await
}
