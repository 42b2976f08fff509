//! Cold-start wiring, shared by every function binary: read the environment, build each client once,
//! then hand the handler to the Lambda runtime.

use crate::http::serve;
use crate::payment_page::{self, PageConfig};
use crate::sync_api::{self, Endpoint};
use crate::telemetry::{self, observed};
use crate::tenant_api::{self, TenantEndpoint};
use crate::{
    account_webhook, acp_publisher, acp_receiver, acp_router, command_handler, customer, onboarding, reconciler,
    transfers, webhook_handler,
};
use lambda_runtime::{Error, service_fn};
use shared::adapters::acp_platform::{HttpEventPlatform, SecretsManagerCredentials};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::eventbridge::EventBridgePublisher;
use shared::adapters::secrets_manager::SecretsManagerStore;
use shared::adapters::sqs_queues::{SqsDeadLetters, SqsQueues};
use shared::adapters::stripe::{StripeGateway, Timeouts};
use shared::adapters::tenant_directory::{DEFAULT_TTL, TenantDirectory};
use shared::config::{AppConfig, BridgeConfig, ConfigError, WebhookConfig, required};
use shared::ports::clock::SystemClock;
use shared::service::bridge::{Receiver, delivery_backoff};
use shared::service::checkout::is_loopback;
use shared::service::customer::CustomerLookup;
use shared::service::payment_page::PaymentPageService;
use shared::service::webhooks::InboxDrain;
use shared::service::{
    CheckoutService, CommandService, MerchantOnboarder, Payouts, Reconciler, Settings, TenantService, WebhookService,
};

/// The tenant directory on the real adapters: each tenant's record in DynamoDB, its secrets in Secrets
/// Manager. The one source of Stripe keys, webhook secrets and tenant access in every function.
pub type LiveTenantDirectory = TenantDirectory<DynamoStore, SecretsManagerStore>;

/// The command service on the real adapters.
pub type LiveCommandService =
    CommandService<DynamoStore, StripeGateway<LiveTenantDirectory>, EventBridgePublisher, SystemClock>;

/// The AWS clients' shared configuration (`AWS_ENDPOINT_URL` points them at moto locally), on an HTTPS
/// client that trusts the compiled-in roots (no scan of the system's certificate store at init).
async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(shared::adapters::tls::sdk_http_client())
        .load()
        .await
}

/// The tenant directory on `table_name` and the secrets under `secret_prefix`.
fn tenant_directory(aws: &aws_config::SdkConfig, table_name: &str, secret_prefix: &str) -> LiveTenantDirectory {
    TenantDirectory::new(
        DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), table_name),
        SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(aws), secret_prefix),
        DEFAULT_TTL,
    )
}

/// Stripe as configured (its base URL, the PSP timeout), with each tenant's key from `tenants`.
fn stripe(config: &AppConfig, tenants: &LiveTenantDirectory) -> Result<StripeGateway<LiveTenantDirectory>, Error> {
    let timeouts = Timeouts {
        request: config.psp_timeout,
        ..Timeouts::default()
    };
    Ok(StripeGateway::new(&config.stripe_api_base, tenants.clone(), timeouts)?)
}

/// Builds the command service and its tenant directory from the environment (see [`AppConfig`]) on the
/// function's one AWS configuration.
pub fn command_service(
    config: &AppConfig,
    aws: &aws_config::SdkConfig,
) -> Result<(LiveCommandService, LiveTenantDirectory), Error> {
    let tenants = tenant_directory(aws, &config.table_name, &config.tenant_secret_prefix);
    let service = CommandService {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), &config.table_name),
        gateway: stripe(config, &tenants)?,
        publisher: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(aws), &config.event_bus_name),
        clock: SystemClock,
        settings: Settings::new(&config.app_identifier).for_psp_timeout(config.psp_timeout),
    };
    Ok((service, tenants))
}

/// Runs a command function: `accepts` is the one command its queue carries.
pub async fn run_command_function(accepts: &'static str) -> Result<(), Error> {
    telemetry::init();
    let config = AppConfig::from_env()?;
    let (service, tenants) = command_service(&config, &aws().await)?;
    lambda_runtime::run(service_fn(|event| {
        observed(command_handler::handle_batch(&service, &tenants, accepts, event))
    }))
    .await
}

/// Runs the reconciler function (scheduled every minute), on the command service's adapters and the
/// command queues' dead-letter queues (`DEAD_LETTER_QUEUE_URLS`, comma-separated).
pub async fn run_reconciler_function() -> Result<(), Error> {
    telemetry::init();
    let config = AppConfig::from_env()?;
    let aws = aws().await;
    let (service, tenants) = command_service(&config, &aws)?;
    let queues = std::env::var("DEAD_LETTER_QUEUE_URLS").unwrap_or_default();
    let queues = queues
        .split(',')
        .filter(|q| !q.is_empty())
        .map(str::to_string)
        .collect();
    let dead_letters = SqsDeadLetters::new(aws_sdk_sqs::Client::new(&aws), queues);
    // A bounded batch per kind and pass keeps a pass well inside the function's timeout.
    let reconciler = Reconciler {
        commands: &service,
        batch: 50,
    };
    lambda_runtime::run(service_fn(|event| {
        observed(reconciler::handle(&reconciler, &dead_letters, &tenants, event))
    }))
    .await
}

/// What every Stripe webhook function holds: the tenants' signing secrets (the tenant directory), the
/// store, the bus and the settings, read from the environment ([`WebhookConfig`]).
struct WebhookParts {
    secrets: LiveTenantDirectory,
    store: DynamoStore,
    publisher: EventBridgePublisher,
    settings: Settings,
}

impl WebhookParts {
    async fn from_env() -> Result<Self, Error> {
        let config = WebhookConfig::from_env()?;
        let aws = aws().await;
        Ok(WebhookParts {
            secrets: tenant_directory(&aws, &config.table_name, &config.tenant_secret_prefix),
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
            publisher: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&aws), &config.event_bus_name),
            settings: Settings::new(&config.app_identifier),
        })
    }

    /// The webhook service on these parts.
    fn service(&self) -> WebhookService<'_, DynamoStore, EventBridgePublisher, SystemClock> {
        WebhookService {
            store: &self.store,
            publisher: &self.publisher,
            clock: &SystemClock,
            settings: &self.settings,
        }
    }
}

/// Runs a Stripe payment webhook function. Both routes apply every payment and refund event: a tenant
/// may point one Stripe endpoint at the app.
pub async fn run_webhook_function() -> Result<(), Error> {
    telemetry::init();
    let parts = WebhookParts::from_env().await?;
    let service = parts.service();
    lambda_http::run(service_fn(|request| {
        serve(request, |request| {
            webhook_handler::handle(&service, &parts.secrets, request)
        })
    }))
    .await
}

/// Runs the accounts webhook function (`POST /webhooks/stripe/{tenantIdentifier}/accounts`), with the
/// environment of the payment webhook functions. It needs no Stripe key: each event carries the account.
pub async fn run_accounts_webhook_function() -> Result<(), Error> {
    telemetry::init();
    let parts = WebhookParts::from_env().await?;
    let service = parts.service();
    lambda_http::run(service_fn(|request| {
        serve(request, |request| {
            account_webhook::handle(&service, &parts.secrets, request)
        })
    }))
    .await
}

/// What the marketplace and express-checkout functions hold: tracing, then from the command functions'
/// environment ([`AppConfig`]) the store and Stripe with each tenant's own key.
async fn store_and_stripe() -> Result<(DynamoStore, StripeGateway<LiveTenantDirectory>), Error> {
    telemetry::init();
    let config = AppConfig::from_env()?;
    let aws = aws().await;
    let tenants = tenant_directory(&aws, &config.table_name, &config.tenant_secret_prefix);
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name);
    Ok((store, stripe(&config, &tenants)?))
}

/// Runs the merchant onboarding function (`POST /private/merchants/onboarding`) with the command
/// functions' environment ([`AppConfig`]): the store and Stripe (Connect) with the tenant's own key.
pub async fn run_onboarding_function() -> Result<(), Error> {
    let (store, accounts) = store_and_stripe().await?;
    let onboarder = MerchantOnboarder {
        store: &store,
        accounts: &accounts,
    };
    lambda_http::run(lambda_http::service_fn(|request| {
        serve(request, |request| onboarding::handle(&onboarder, request))
    }))
    .await
}

/// Runs the customer function: `POST /private/customer` answers what Stripe collected about a pre-order
/// payment's shopper (express checkout), with the tenant's key.
pub async fn run_customer_function() -> Result<(), Error> {
    let (store, psp) = store_and_stripe().await?;
    let lookup = CustomerLookup {
        store: &store,
        psp: &psp,
    };
    lambda_http::run(lambda_http::service_fn(|request| {
        serve(request, |request| customer::handle(&lookup, request))
    }))
    .await
}

/// Runs the payment-transfers function: `POST /private/payments/transfers` pays marketplace merchants
/// through Stripe Connect transfers (with the tenant's key) and keeps each order's ledger in the table.
pub async fn run_transfers_function() -> Result<(), Error> {
    let (store, transfers) = store_and_stripe().await?;
    let payouts = Payouts {
        store: &store,
        transfers: &transfers,
    };
    lambda_http::run(lambda_http::service_fn(|request| {
        serve(request, |request| transfers::handle(&payouts, request))
    }))
    .await
}

/// `APP_BASE_URL`, required by the checkout and tenant functions.
fn app_base_url(config: &AppConfig) -> Result<String, ConfigError> {
    config.app_base_url.clone().ok_or(ConfigError::Missing("APP_BASE_URL"))
}

/// Runs a checkout function serving `endpoint` behind the HttpApi. Once a payment can be named by the
/// tenant, the webhooks kept for it in the inbox are applied. Requires `APP_BASE_URL` besides the command
/// functions' settings.
pub async fn run_sync_function(endpoint: Endpoint) -> Result<(), Error> {
    telemetry::init();
    let config = AppConfig::from_env()?;
    let app_base_url = app_base_url(&config)?;
    let (mut commands, tenants) = command_service(&config, &aws().await)?;
    // A local stack (the app itself on a loopback host) takes the shop's `http` loopback return URLs.
    commands.settings.loopback_return_urls = url::Url::parse(&app_base_url).is_ok_and(|u| is_loopback(&u));
    let listener = InboxDrain {
        store: commands.store.clone(),
        publisher: commands.publisher.clone(),
        clock: SystemClock,
        settings: commands.settings.clone(),
    };
    let service = CheckoutService { commands, listener };
    lambda_http::run(lambda_http::service_fn(|request| {
        serve(request, |request| {
            sync_api::handle(&service, &tenants, &app_base_url, endpoint, request)
        })
    }))
    .await
}

/// Runs the payment page function (`GET /app-payment`, `/app-payment/redirect`, `/app-payment/cancel`):
/// the command functions' settings, `APP_BASE_URL` and `STRIPE_JS_URL`.
pub async fn run_payment_page_function() -> Result<(), Error> {
    telemetry::init();
    let config = AppConfig::from_env()?;
    let app_base_url = app_base_url(&config)?;
    let page = PageConfig::new(&app_base_url, &config.stripe_js_url, &config.stripe_api_base);
    let (commands, tenants) = command_service(&config, &aws().await)?;
    let service = PaymentPageService { commands, tenants };
    lambda_http::run(lambda_http::service_fn(|request| {
        serve(request, |request| payment_page::handle(&service, &page, request))
    }))
    .await
}

/// Runs a tenant function (`/private/configure` or `/private/disconnect`). Requires `APP_BASE_URL`: the
/// payment methods and the merchant onboarding point below it.
pub async fn run_tenant_function(endpoint: TenantEndpoint) -> Result<(), Error> {
    telemetry::init();
    let config = AppConfig::from_env()?;
    let aws = aws().await;
    let tenants = tenant_directory(&aws, &config.table_name, &config.tenant_secret_prefix);
    let service = TenantService {
        psp: stripe(&config, &tenants)?,
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name),
        secrets: SecretsManagerStore::new(aws_sdk_secretsmanager::Client::new(&aws), &config.tenant_secret_prefix),
        publisher: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&aws), &config.event_bus_name),
        clock: SystemClock,
        app_identifier: config.app_identifier.clone(),
        app_base_url: app_base_url(&config)?,
    };
    lambda_http::run(lambda_http::service_fn(|request| {
        serve(request, |request| tenant_api::handle(&service, endpoint, request))
    }))
    .await
}

/// The ACP event platform over HTTP as configured ([`BridgeConfig`]): the client credentials are read
/// from Secrets Manager at the first token request, never at start-up.
fn event_platform(
    config: &BridgeConfig,
    aws: &aws_config::SdkConfig,
) -> Result<HttpEventPlatform<SecretsManagerCredentials>, Error> {
    let credentials =
        SecretsManagerCredentials::new(aws_sdk_secretsmanager::Client::new(aws), &config.client_secret_name);
    Ok(HttpEventPlatform::new(
        config.transport.clone(),
        &config.token_url,
        credentials,
        &config.app_identifier,
    )?)
}

/// The command queues and the function's dead-letter queue.
fn bridge_queues(config: &BridgeConfig, aws: &aws_config::SdkConfig) -> SqsQueues {
    SqsQueues::new(
        aws_sdk_sqs::Client::new(aws),
        config.command_queue_urls.clone(),
        &config.dead_letter_queue_url,
    )
}

/// Runs the ACP publisher (the outbound queue → the event platform).
pub async fn run_acp_publisher() -> Result<(), Error> {
    telemetry::init();
    let config = BridgeConfig::from_env()?;
    let aws = aws().await;
    let platform = event_platform(&config, &aws)?;
    let dead_letters = bridge_queues(&config, &aws);
    lambda_runtime::run(service_fn(|event| {
        observed(acp_publisher::handle_batch(
            &platform,
            &dead_letters,
            delivery_backoff(),
            event,
        ))
    }))
    .await
}

/// Runs the ACP receiver (the `payment-commands` channel → the command queues), on its schedule.
pub async fn run_acp_receiver() -> Result<(), Error> {
    telemetry::init();
    let config = BridgeConfig::from_env()?;
    let aws = aws().await;
    let platform = event_platform(&config, &aws)?;
    let queues = bridge_queues(&config, &aws);
    let receiver = Receiver {
        platform: &platform,
        queues: &queues,
    };
    lambda_runtime::run(service_fn(|event| {
        observed(acp_receiver::handle(&receiver, config.poll_for, event))
    }))
    .await
}

/// Runs the command router of the `http-sqs` wiring (the `payment-commands` queue → the command queues).
pub async fn run_acp_command_router() -> Result<(), Error> {
    telemetry::init();
    let config = BridgeConfig::from_env()?;
    let queues = bridge_queues(&config, &aws().await);
    lambda_runtime::run(service_fn(|event| observed(acp_router::handle_batch(&queues, event)))).await
}

/// The app's functions. They all deploy one binary (`app`, linked once instead of twenty times); the
/// `APP_FUNCTION` variable that template.yaml sets on each picks the handler at init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// CapturePayment commands (SQS).
    CapturePayment,
    /// CancelPayment commands (SQS).
    CancelPayment,
    /// RefundPayment commands (SQS).
    RefundPayment,
    /// The scheduled reconciler.
    Reconciler,
    /// `POST /private/initialize-payment`.
    InitializePayment,
    /// `POST /private/pre-order-payment`.
    PreOrderPayment,
    /// `POST /private/confirm-pre-order-payment`.
    ConfirmPreOrderPayment,
    /// `POST /private/cancel-pre-order-payment`.
    CancelPreOrderPayment,
    /// The hosted payment page.
    PaymentPage,
    /// `POST /private/configure`.
    Configure,
    /// `POST /private/disconnect`.
    Disconnect,
    /// `POST /private/merchants/onboarding`.
    MerchantOnboarding,
    /// `POST /private/customer`.
    Customer,
    /// `POST /private/payments/transfers`.
    PaymentTransfers,
    /// Stripe's payment intent webhooks.
    StripePaymentIntentsWebhook,
    /// Stripe's refund webhooks (the same handler: every route applies every event type).
    StripeRefundsWebhook,
    /// Stripe's account webhooks.
    StripeAccountsWebhook,
    /// The outbound queue → the ACP event platform.
    AcpPublisher,
    /// The `payment-commands` channel → the command queues, on a schedule.
    AcpReceiver,
    /// The `payment-commands` queue → the command queues (`http-sqs` wiring).
    AcpCommandRouter,
}

impl Function {
    /// Every function, in template order.
    pub const ALL: [Function; 20] = [
        Function::CapturePayment,
        Function::CancelPayment,
        Function::RefundPayment,
        Function::Reconciler,
        Function::InitializePayment,
        Function::PaymentPage,
        Function::PreOrderPayment,
        Function::ConfirmPreOrderPayment,
        Function::CancelPreOrderPayment,
        Function::Configure,
        Function::Disconnect,
        Function::MerchantOnboarding,
        Function::Customer,
        Function::PaymentTransfers,
        Function::StripePaymentIntentsWebhook,
        Function::StripeRefundsWebhook,
        Function::StripeAccountsWebhook,
        Function::AcpPublisher,
        Function::AcpReceiver,
        Function::AcpCommandRouter,
    ];

    /// The name `APP_FUNCTION` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Function::CapturePayment => "capture-payment",
            Function::CancelPayment => "cancel-payment",
            Function::RefundPayment => "refund-payment",
            Function::Reconciler => "reconciler",
            Function::InitializePayment => "initialize-payment",
            Function::PreOrderPayment => "pre-order-payment",
            Function::ConfirmPreOrderPayment => "confirm-pre-order-payment",
            Function::CancelPreOrderPayment => "cancel-pre-order-payment",
            Function::PaymentPage => "payment-page",
            Function::Configure => "configure",
            Function::Disconnect => "disconnect",
            Function::MerchantOnboarding => "merchant-onboarding",
            Function::Customer => "customer",
            Function::PaymentTransfers => "payment-transfers",
            Function::StripePaymentIntentsWebhook => "stripe-payment-intents-webhook",
            Function::StripeRefundsWebhook => "stripe-refunds-webhook",
            Function::StripeAccountsWebhook => "stripe-accounts-webhook",
            Function::AcpPublisher => "acp-publisher",
            Function::AcpReceiver => "acp-receiver",
            Function::AcpCommandRouter => "acp-command-router",
        }
    }

    /// The function of that name, if there is one.
    pub fn named(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The function `APP_FUNCTION` names.
    pub fn from_env() -> Result<Function, ConfigError> {
        let name = required(|n| std::env::var(n).ok(), "APP_FUNCTION")?;
        Function::named(&name)
            .ok_or_else(|| ConfigError::Malformed("APP_FUNCTION", format!("no function named {name}")))
    }

    /// Builds its clients and serves its invocations until the runtime stops. Each handler's future is
    /// boxed: one state machine holding all twenty would nest too deep for the compiler's layout queries.
    pub async fn run(self) -> Result<(), Error> {
        match self {
            Function::CapturePayment => Box::pin(run_command_function("CapturePayment")).await,
            Function::CancelPayment => Box::pin(run_command_function("CancelPayment")).await,
            Function::RefundPayment => Box::pin(run_command_function("RefundPayment")).await,
            Function::Reconciler => Box::pin(run_reconciler_function()).await,
            Function::InitializePayment => Box::pin(run_sync_function(Endpoint::InitializePayment)).await,
            Function::PreOrderPayment => Box::pin(run_sync_function(Endpoint::PreOrderPayment)).await,
            Function::ConfirmPreOrderPayment => Box::pin(run_sync_function(Endpoint::ConfirmPreOrderPayment)).await,
            Function::CancelPreOrderPayment => Box::pin(run_sync_function(Endpoint::CancelPreOrderPayment)).await,
            Function::PaymentPage => Box::pin(run_payment_page_function()).await,
            Function::Configure => Box::pin(run_tenant_function(TenantEndpoint::Configure)).await,
            Function::Disconnect => Box::pin(run_tenant_function(TenantEndpoint::Disconnect)).await,
            Function::MerchantOnboarding => Box::pin(run_onboarding_function()).await,
            Function::Customer => Box::pin(run_customer_function()).await,
            Function::PaymentTransfers => Box::pin(run_transfers_function()).await,
            Function::StripePaymentIntentsWebhook | Function::StripeRefundsWebhook => {
                Box::pin(run_webhook_function()).await
            }
            Function::StripeAccountsWebhook => Box::pin(run_accounts_webhook_function()).await,
            Function::AcpPublisher => Box::pin(run_acp_publisher()).await,
            Function::AcpReceiver => Box::pin(run_acp_receiver()).await,
            Function::AcpCommandRouter => Box::pin(run_acp_command_router()).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Function;

    #[test]
    fn each_name_finds_its_function_and_no_other() {
        for f in Function::ALL {
            assert_eq!(Function::named(f.name()), Some(f));
        }
        assert_eq!(Function::named("capture"), None);
    }

    #[test]
    fn every_function_of_the_template_runs_the_one_binary_with_a_function_of_its_own() {
        let template = include_str!("../../template.yaml");
        let value = |key: &str| -> Vec<&str> {
            template
                .lines()
                .filter_map(|l| l.trim().strip_prefix(key))
                .map(str::trim)
                .collect()
        };
        assert_eq!(value("Binary:"), vec!["app"; Function::ALL.len()]);
        let mut named: Vec<_> = value("APP_FUNCTION:").into_iter().map(Function::named).collect();
        let mut all: Vec<_> = Function::ALL.into_iter().map(Some).collect();
        named.sort_by_key(|f| f.map(Function::name));
        all.sort_by_key(|f| f.map(Function::name));
        assert_eq!(named, all);
    }
}
