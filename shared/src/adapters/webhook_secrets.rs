//! Webhook signing secrets from the environment: the stopgap until per-tenant configuration (a later
//! issue reads them from Secrets Manager per tenant; only where they come from changes).
//!
//! `DEFAULT_TENANT_IDENTIFIER` names the one tenant that has secrets; `STRIPE_WEBHOOK_SECRETS` lists
//! them, comma-separated (`whsec_new,whsec_old` while a secret is rotated). Every other tenant has none,
//! so its webhooks are refused. The secrets are never logged (`SecretString` redacts `Debug`).

use crate::config::{ConfigError, required};
use crate::ports::webhook::{SecretsError, WebhookSecrets};
use secrecy::SecretString;

/// The secrets of one tenant, read once at cold start.
#[derive(Debug)]
pub struct EnvWebhookSecrets {
    tenant: String,
    secrets: Vec<SecretString>,
}

impl EnvWebhookSecrets {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `DEFAULT_TENANT_IDENTIFIER` and `STRIPE_WEBHOOK_SECRETS` through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        const SECRETS: &str = "STRIPE_WEBHOOK_SECRETS";
        let tenant = required(&lookup, "DEFAULT_TENANT_IDENTIFIER")?;
        let list = required(&lookup, SECRETS)?;
        let mut secrets = Vec::new();
        for (i, secret) in list.split(',').map(str::trim).enumerate() {
            if !secret.starts_with("whsec_") {
                // The message says where, never what.
                return Err(ConfigError::Malformed(
                    SECRETS,
                    format!("entry {} is not a whsec_ secret", i + 1),
                ));
            }
            secrets.push(SecretString::from(secret));
        }
        Ok(EnvWebhookSecrets { tenant, secrets })
    }
}

impl WebhookSecrets for EnvWebhookSecrets {
    async fn secrets(&self, tenant: &str) -> Result<Vec<SecretString>, SecretsError> {
        Ok(if tenant == self.tenant {
            self.secrets.clone()
        } else {
            Vec::new()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[tokio::test]
    async fn only_the_default_tenant_has_secrets() {
        let secrets = EnvWebhookSecrets::from_lookup(lookup(&[
            ("DEFAULT_TENANT_IDENTIFIER", "t1"),
            ("STRIPE_WEBHOOK_SECRETS", "whsec_new, whsec_old"),
        ]))
        .unwrap();
        let own: Vec<String> = secrets
            .secrets("t1")
            .await
            .unwrap()
            .iter()
            .map(|s| s.expose_secret().to_string())
            .collect();
        assert_eq!(own, vec!["whsec_new", "whsec_old"]);
        assert!(secrets.secrets("t2").await.unwrap().is_empty());
        assert!(
            !format!("{secrets:?}").contains("whsec_new"),
            "Debug never shows a secret"
        );
    }

    #[test]
    fn refuses_missing_or_malformed_secrets_without_quoting_them() {
        let err = EnvWebhookSecrets::from_lookup(lookup(&[
            ("DEFAULT_TENANT_IDENTIFIER", "t1"),
            ("STRIPE_WEBHOOK_SECRETS", "whsec_a,sk_live_oops"),
        ]))
        .unwrap_err();
        assert!(matches!(&err, ConfigError::Malformed("STRIPE_WEBHOOK_SECRETS", _)));
        assert!(!err.to_string().contains("sk_live_oops"));
        assert_eq!(
            EnvWebhookSecrets::from_lookup(lookup(&[("STRIPE_WEBHOOK_SECRETS", "whsec_a")])).unwrap_err(),
            ConfigError::Missing("DEFAULT_TENANT_IDENTIFIER")
        );
        assert_eq!(
            EnvWebhookSecrets::from_lookup(lookup(&[("DEFAULT_TENANT_IDENTIFIER", "t1")])).unwrap_err(),
            ConfigError::Missing("STRIPE_WEBHOOK_SECRETS")
        );
    }
}
