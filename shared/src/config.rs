//! Settings read from the environment (template.yaml's `Environment`, or the local stack's).

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
}
