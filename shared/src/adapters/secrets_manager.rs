//! [`SecretStore`] on AWS Secrets Manager: one secret per tenant, named `{prefix}{tenant}/stripe`, whose
//! `SecretString` is `{"stripeSecretKey": "...", "webhookSigningSecrets": ["..."]}`. Each configure
//! writes a new version; the tenant record keeps that version's id, so a reader always gets the secrets
//! of the configuration it read (never a newer, half-written one). Values are never logged and errors
//! never quote them.

use crate::domain::tenant::TenantSecrets;
use crate::ports::{SecretRef, SecretStore, SecretStoreError};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The JSON held in a tenant's secret.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretDocument {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stripe_secret_key: Option<String>,
    #[serde(default)]
    webhook_signing_secrets: Vec<String>,
}

/// Escapes a tenant id into the characters secret names allow (`A-Za-z0-9/_+=.@-`): every other
/// character, `/` (the separator) and `=` (the escape) become `=XX` per UTF-8 byte, so two tenants
/// never share a name.
fn escape(tenant: &str) -> String {
    let mut out = String::new();
    for byte in tenant.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'+' | b'.' | b'@' | b'-' => out.push(char::from(byte)),
            other => out.push_str(&format!("={other:02X}")),
        }
    }
    out
}

/// Tenants' secrets in Secrets Manager.
#[derive(Clone, Debug)]
pub struct SecretsManagerStore {
    client: Client,
    prefix: String,
}

impl SecretsManagerStore {
    /// A store of secrets named `{prefix}{tenant}/stripe` (the prefix ends with `/`, e.g. `app/tenants/`).
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        SecretsManagerStore {
            client,
            prefix: prefix.into(),
        }
    }

    /// The secret name of `tenant`.
    pub fn secret_name(&self, tenant: &str) -> String {
        format!("{}{}/stripe", self.prefix, escape(tenant))
    }

    async fn put_value(&self, name: &str, value: &SecretString) -> Result<Option<String>, SecretStoreError> {
        let put = self
            .client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value.expose_secret())
            .send()
            .await;
        match put {
            Ok(out) => Ok(out.version_id),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                let created = self
                    .client
                    .create_secret()
                    .name(name)
                    .secret_string(value.expose_secret())
                    .send()
                    .await;
                match created {
                    Ok(out) => Ok(out.version_id),
                    // Another configure created it meanwhile: add our version to it.
                    Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                        Box::pin(self.put_value(name, value)).await
                    }
                    Err(e) => Err(SecretStoreError(format!(
                        "CreateSecret {name}: {}",
                        DisplayErrorContext(&e)
                    ))),
                }
            }
            Err(e) => Err(SecretStoreError(format!(
                "PutSecretValue {name}: {}",
                DisplayErrorContext(&e)
            ))),
        }
    }
}

impl SecretStore for SecretsManagerStore {
    #[tracing::instrument(skip(self, secrets))]
    async fn put_secrets(&self, tenant: &str, secrets: &TenantSecrets) -> Result<SecretRef, SecretStoreError> {
        let document = SecretDocument {
            stripe_secret_key: secrets
                .stripe_secret_key
                .as_ref()
                .map(|s| s.expose_secret().to_string()),
            webhook_signing_secrets: secrets
                .webhook_signing_secrets
                .iter()
                .map(|s| s.expose_secret().to_string())
                .collect(),
        };
        let value = SecretString::from(
            serde_json::to_string(&document).map_err(|_| SecretStoreError("cannot encode the secrets".into()))?,
        );
        let name = self.secret_name(tenant);
        let version = self
            .put_value(&name, &value)
            .await?
            .ok_or_else(|| SecretStoreError(format!("{name}: no version id in the answer")))?;
        Ok(SecretRef { name, version })
    }

    #[tracing::instrument(skip(self))]
    async fn get_secrets(&self, reference: &SecretRef) -> Result<TenantSecrets, SecretStoreError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&reference.name)
            .version_id(&reference.version)
            .send()
            .await
            .map_err(|e| {
                SecretStoreError(format!(
                    "GetSecretValue {}: {}",
                    reference.name,
                    DisplayErrorContext(&e)
                ))
            })?;
        let text = SecretString::from(
            out.secret_string
                .ok_or_else(|| SecretStoreError(format!("{} has no SecretString", reference.name)))?,
        );
        // The error names the secret, never its content.
        let document: SecretDocument = serde_json::from_str(text.expose_secret())
            .map_err(|_| SecretStoreError(format!("{} does not hold the expected JSON", reference.name)))?;
        Ok(TenantSecrets {
            stripe_secret_key: document.stripe_secret_key.map(SecretString::from),
            webhook_signing_secrets: document
                .webhook_signing_secrets
                .into_iter()
                .map(SecretString::from)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_never_share_a_secret_name() {
        assert_eq!(escape("demo-shop"), "demo-shop");
        assert_eq!(escape("a/b"), "a=2Fb");
        assert_ne!(escape("a/b"), escape("a=2Fb"));
        assert_eq!(escape("a=2Fb"), "a=3D2Fb");
        assert_eq!(escape("ü"), "=C3=BC");
    }
}
