//! Cold-start wiring, shared by every function binary: read the environment, build each client once,
//! then hand the handler to the Lambda runtime.

use crate::sync_api::{self, Endpoint};
use crate::{account_webhook, command_handler, onboarding, webhook_handler};
use lambda_runtime::{Error, service_fn};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::stripe::{StaticApiKey, StripeGateway, Timeouts};
use shared::adapters::webhook_secrets::EnvWebhookSecrets;
use shared::config::{AppConfig, ConfigError, WebhookConfig};
use shared::ports::WebhookKind;
use shared::ports::clock::SystemClock;
use shared::service::webhooks::InboxDrain;
use shared::service::{CheckoutService, CommandService, MerchantOnboarder, Settings, WebhookService};

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

/// Stripe as configured: its base URL, the key, the PSP timeout.
fn stripe(config: &AppConfig) -> Result<StripeGateway<StaticApiKey>, Error> {
    let timeouts = Timeouts {
        request: config.psp_timeout,
        ..Timeouts::default()
    };
    let keys = StaticApiKey::new(config.stripe_secret_key.clone());
    Ok(StripeGateway::new(&config.stripe_api_base, keys, timeouts)?)
}

/// Builds the command service from the environment (see [`AppConfig`]).
pub async fn command_service(config: &AppConfig) -> Result<LiveCommandService, Error> {
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(CommandService {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
        gateway: stripe(config)?,
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

/// What every Stripe webhook function holds: its signing secrets, the store, the bus and the settings,
/// read from the environment ([`WebhookConfig`], [`EnvWebhookSecrets`]).
struct WebhookParts {
    secrets: EnvWebhookSecrets,
    store: DynamoStore,
    publisher: EventBridgePublisher,
    settings: Settings,
}

impl WebhookParts {
    async fn from_env() -> Result<Self, Error> {
        let config = WebhookConfig::from_env()?;
        let secrets = EnvWebhookSecrets::from_env()?;
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(WebhookParts {
            secrets,
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
            publisher: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&aws), &config.event_bus_name),
            settings: Settings::new(&config.app_identifier),
        })
    }
}

/// Runs a Stripe payment webhook function for the endpoint of `kind`.
pub async fn run_webhook_function(kind: WebhookKind) -> Result<(), Error> {
    init_tracing();
    let parts = WebhookParts::from_env().await?;
    let service = WebhookService {
        store: &parts.store,
        publisher: &parts.publisher,
        clock: &SystemClock,
        settings: &parts.settings,
    };
    lambda_http::run(service_fn(|request| {
        webhook_handler::handle(&service, &parts.secrets, kind, request)
    }))
    .await
}

/// Runs the accounts webhook function (`POST /webhooks/stripe/{tenantIdentifier}/accounts`), with the
/// environment of the payment webhook functions. It needs no Stripe key: each event carries the account.
pub async fn run_accounts_webhook_function() -> Result<(), Error> {
    init_tracing();
    let parts = WebhookParts::from_env().await?;
    let service = WebhookService {
        store: &parts.store,
        publisher: &parts.publisher,
        clock: &SystemClock,
        settings: &parts.settings,
    };
    lambda_http::run(service_fn(|request| {
        account_webhook::handle(&service, &parts.secrets, request)
    }))
    .await
}

/// Runs the merchant onboarding function (`POST /private/merchants/onboarding`) with the command
/// functions' environment ([`AppConfig`]): the store and Stripe (Connect) with the tenant's key.
pub async fn run_onboarding_function() -> Result<(), Error> {
    init_tracing();
    let config = AppConfig::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name);
    let accounts = stripe(&config)?;
    let onboarder = MerchantOnboarder {
        store: &store,
        accounts: &accounts,
    };
    lambda_http::run(lambda_http::service_fn(|request| {
        onboarding::handle(&onboarder, request)
    }))
    .await
}

/// Runs a checkout function serving `endpoint` behind the HttpApi. Once a payment can be named by the
/// tenant, the webhooks kept for it in the inbox are applied. Requires `APP_BASE_URL` besides the command
/// functions' settings.
pub async fn run_sync_function(endpoint: Endpoint) -> Result<(), Error> {
    init_tracing();
    let config = AppConfig::from_env()?;
    let app_base_url = config
        .app_base_url
        .clone()
        .ok_or(ConfigError::Missing("APP_BASE_URL"))?;
    let commands = command_service(&config).await?;
    let listener = InboxDrain {
        store: commands.store.clone(),
        publisher: commands.publisher.clone(),
        clock: SystemClock,
        settings: commands.settings.clone(),
    };
    let service = CheckoutService { commands, listener };
    lambda_http::run(lambda_http::service_fn(|request| {
        sync_api::handle(&service, &app_base_url, endpoint, request)
    }))
    .await
}
