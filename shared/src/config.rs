//! Settings read from the environment (template.yaml's `Environment`, or the local stack's).

use crate::acp::channel::Command;
use crate::adapters::acp_platform::Transport;
use std::collections::BTreeMap;
use std::time::Duration;

/// A setting is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    /// A variable does not parse.
    #[error("environment variable {0} is malformed: {1}")]
    Malformed(&'static str, String),
}

/// A variable that must be set and not empty.
pub fn required(lookup: impl Fn(&str) -> Option<String>, name: &'static str) -> Result<String, ConfigError> {
    lookup(name).filter(|v| !v.is_empty()).ok_or(ConfigError::Missing(name))
}

/// What the webhook functions need to know about their deployment. They never call the PSP; they read
/// the tenants' webhook signing secrets through the tenant directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `APP_IDENTIFIER`: the events' `Source` and `publisher`.
    pub app_identifier: String,
    /// `TABLE_NAME`: the DynamoDB table.
    pub table_name: String,
    /// `EVENT_BUS_NAME`: the EventBridge bus.
    pub event_bus_name: String,
    /// `TENANT_SECRET_PREFIX`: tenants' secrets are named `{prefix}{tenant}/stripe` in Secrets Manager.
    pub tenant_secret_prefix: String,
}

impl WebhookConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(WebhookConfig {
            app_identifier: required(&lookup, "APP_IDENTIFIER")?,
            table_name: required(&lookup, "TABLE_NAME")?,
            event_bus_name: required(&lookup, "EVENT_BUS_NAME")?,
            tenant_secret_prefix: required(&lookup, "TENANT_SECRET_PREFIX")?,
        })
    }
}

/// What the command functions need to know about their deployment.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// `APP_IDENTIFIER`: the events' `Source` and `publisher`.
    pub app_identifier: String,
    /// `TABLE_NAME`: the DynamoDB table.
    pub table_name: String,
    /// `EVENT_BUS_NAME`: the EventBridge bus.
    pub event_bus_name: String,
    /// `STRIPE_API_BASE` (default `https://api.stripe.com`).
    pub stripe_api_base: String,
    /// `TENANT_SECRET_PREFIX`: tenants' secrets are named `{prefix}{tenant}/stripe` in Secrets Manager.
    pub tenant_secret_prefix: String,
    /// `PSP_TIMEOUT_MS` (default 8000): per PSP request; three attempts stay inside a 30 s function.
    pub psp_timeout: Duration,
    /// `APP_BASE_URL`: where the app's pages and endpoints live (the hosted payment page, §5.3, and the
    /// payment methods' endpoints, §3.4); the checkout and tenant functions require it, the command
    /// functions do not read it.
    pub app_base_url: Option<String>,
    /// `STRIPE_JS_URL` (default `https://js.stripe.com/v3/`): where the payment page loads Stripe.js.
    pub stripe_js_url: String,
}

impl AppConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name| required(&lookup, name);
        let timeout_ms = match lookup("PSP_TIMEOUT_MS") {
            None => 8000,
            Some(v) => v
                .parse::<u64>()
                .map_err(|e| ConfigError::Malformed("PSP_TIMEOUT_MS", e.to_string()))?,
        };
        Ok(AppConfig {
            app_identifier: required("APP_IDENTIFIER")?,
            table_name: required("TABLE_NAME")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
            stripe_api_base: lookup("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".to_string()),
            tenant_secret_prefix: required("TENANT_SECRET_PREFIX")?,
            psp_timeout: Duration::from_millis(timeout_ms),
            app_base_url: lookup("APP_BASE_URL").filter(|v| !v.is_empty()),
            stripe_js_url: lookup("STRIPE_JS_URL")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "https://js.stripe.com/v3/".to_string()),
        })
    }
}

/// What the ACP bridge functions (publisher, receiver, command router) need to know (decision §9.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// `APP_IDENTIFIER`: the app's `Consumer-Id` on the platform.
    pub app_identifier: String,
    /// `ACP_TRANSPORT` (`http-channel`, the default, or `http-sqs`) with its URL: `ACP_EVENT_PLATFORM_URL`
    /// (the channel base) or `ACP_EVENT_ENDPOINT` (the `http` sender's endpoint).
    pub transport: Transport,
    /// `ACP_TOKEN_URL`: the platform's OAuth2 client-credentials endpoint.
    pub token_url: String,
    /// `ACP_CLIENT_SECRET_NAME`: the Secrets Manager secret `{"clientId", "clientSecret"}`.
    pub client_secret_name: String,
    /// `DEAD_LETTER_QUEUE_URL`: where the function keeps what it cannot route or deliver.
    pub dead_letter_queue_url: String,
    /// `CAPTURE_PAYMENT_QUEUE_URL`, `CANCEL_PAYMENT_QUEUE_URL`, `REFUND_PAYMENT_QUEUE_URL`: the command
    /// queues (the receiver and the router need them, the publisher does not).
    pub command_queue_urls: BTreeMap<Command, String>,
    /// `ACP_POLL_SECONDS` (default 50): how long one receiver run polls the channel.
    pub poll_for: Duration,
}

impl BridgeConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name| required(&lookup, name);
        let transport = match lookup("ACP_TRANSPORT").filter(|v| !v.is_empty()).as_deref() {
            None | Some("http-channel") => Transport::HttpChannel {
                base_url: required("ACP_EVENT_PLATFORM_URL")?,
            },
            Some("http-sqs") => Transport::HttpSender {
                endpoint: required("ACP_EVENT_ENDPOINT")?,
            },
            Some(other) => return Err(ConfigError::Malformed("ACP_TRANSPORT", format!("{other:?}"))),
        };
        let command_queue_urls = [
            (Command::CapturePayment, "CAPTURE_PAYMENT_QUEUE_URL"),
            (Command::CancelPayment, "CANCEL_PAYMENT_QUEUE_URL"),
            (Command::RefundPayment, "REFUND_PAYMENT_QUEUE_URL"),
        ]
        .into_iter()
        .filter_map(|(command, name)| lookup(name).filter(|v| !v.is_empty()).map(|url| (command, url)))
        .collect();
        let poll_seconds = match lookup("ACP_POLL_SECONDS") {
            None => 50,
            Some(v) => v
                .parse::<u64>()
                .map_err(|e| ConfigError::Malformed("ACP_POLL_SECONDS", e.to_string()))?,
        };
        Ok(BridgeConfig {
            app_identifier: required("APP_IDENTIFIER")?,
            transport,
            token_url: required("ACP_TOKEN_URL")?,
            client_secret_name: required("ACP_CLIENT_SECRET_NAME")?,
            dead_letter_queue_url: required("DEAD_LETTER_QUEUE_URL")?,
            command_queue_urls,
            poll_for: Duration::from_secs(poll_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const BASE: &[(&str, &str)] = &[
        ("APP_IDENTIFIER", "app"),
        ("TABLE_NAME", "t"),
        ("EVENT_BUS_NAME", "b"),
        ("TENANT_SECRET_PREFIX", "app/tenants/"),
    ];

    #[test]
    fn reads_required_settings_and_defaults() {
        let c = AppConfig::from_lookup(lookup(BASE)).unwrap();
        assert_eq!(c.stripe_api_base, "https://api.stripe.com");
        assert_eq!(c.psp_timeout, Duration::from_secs(8));
        assert_eq!(c.tenant_secret_prefix, "app/tenants/");
        assert_eq!(c.app_base_url, None);
        let mut vars = BASE.to_vec();
        vars.push(("APP_BASE_URL", "https://app.example.com"));
        let c = AppConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(c.app_base_url.as_deref(), Some("https://app.example.com"));
    }

    #[test]
    fn webhook_functions_need_no_psp_settings() {
        let c = WebhookConfig::from_lookup(lookup(BASE)).unwrap();
        assert_eq!((c.app_identifier.as_str(), c.table_name.as_str()), ("app", "t"));
        assert_eq!(
            WebhookConfig::from_lookup(lookup(&BASE[..3])),
            Err(ConfigError::Missing("TENANT_SECRET_PREFIX"))
        );
    }

    #[test]
    fn names_what_is_missing_or_malformed() {
        assert_eq!(
            AppConfig::from_lookup(lookup(&BASE[1..])).unwrap_err(),
            ConfigError::Missing("APP_IDENTIFIER")
        );
        let mut vars = BASE.to_vec();
        vars.push(("PSP_TIMEOUT_MS", "soon"));
        assert!(matches!(
            AppConfig::from_lookup(lookup(&vars)),
            Err(ConfigError::Malformed("PSP_TIMEOUT_MS", _))
        ));
    }

    #[test]
    fn bridge_settings_by_transport() {
        let vars = [
            ("APP_IDENTIFIER", "app"),
            ("ACP_EVENT_PLATFORM_URL", "https://events.example.com"),
            ("ACP_TOKEN_URL", "https://auth.example.com/oauth/token"),
            ("ACP_CLIENT_SECRET_NAME", "app/acp-client"),
            ("DEAD_LETTER_QUEUE_URL", "https://sqs/dlq"),
            ("CAPTURE_PAYMENT_QUEUE_URL", "https://sqs/capture"),
        ];
        let c = BridgeConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(
            c.transport,
            Transport::HttpChannel {
                base_url: "https://events.example.com".into()
            }
        );
        assert_eq!(c.poll_for, Duration::from_secs(50));
        assert_eq!(
            c.command_queue_urls,
            BTreeMap::from([(Command::CapturePayment, "https://sqs/capture".to_string())])
        );
        let mut sqs = vars.to_vec();
        sqs.push(("ACP_TRANSPORT", "http-sqs"));
        assert_eq!(
            BridgeConfig::from_lookup(lookup(&sqs)),
            Err(ConfigError::Missing("ACP_EVENT_ENDPOINT"))
        );
        sqs.push(("ACP_EVENT_ENDPOINT", "https://events.example.com/http"));
        assert_eq!(
            BridgeConfig::from_lookup(lookup(&sqs)).unwrap().transport,
            Transport::HttpSender {
                endpoint: "https://events.example.com/http".into()
            }
        );
        let mut wrong = vars.to_vec();
        wrong.push(("ACP_TRANSPORT", "carrier-pigeon"));
        assert!(matches!(
            BridgeConfig::from_lookup(lookup(&wrong)),
            Err(ConfigError::Malformed("ACP_TRANSPORT", _))
        ));
    }
}
