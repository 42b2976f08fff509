//! Tenants, seen from the use cases: the stored tenant record (status, non-secret configuration, the
//! announced payment methods, a reference to the secrets and the configure/disconnect outbox), where the
//! tenant's PSP secrets are kept, and whether a tenant may be served at all.

use super::store::StoreError;
use crate::acp::{AppConfigStatus, BusEvent, PaymentMethodPayload};
use crate::domain::TenantId;
use crate::domain::tenant::{SecretCounts, TenantSecrets};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::future::Future;

/// Where one version of a tenant's secrets is kept. Versions never change once written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SecretRef {
    /// The secret's name.
    pub name: String,
    /// The version holding this configuration's secrets.
    pub version: String,
}

/// A tenant's record. It never holds a secret value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// The tenant.
    pub tenant: TenantId,
    /// The connection status (decision §9.9).
    pub status: AppConfigStatus,
    /// False after a disconnect.
    pub is_active: bool,
    /// The non-secret configuration, as merged from every configure (stored as JSON text, so every
    /// value comes back exactly as sent).
    #[serde(with = "json_text")]
    pub settings: Map<String, Value>,
    /// The payment methods the tenant was told about (and not told to delete since).
    pub announced_methods: Vec<PaymentMethodPayload>,
    /// The secrets of the current configuration.
    pub secrets: Option<SecretRef>,
    /// How many secrets of each kind the configuration has (for the redacted view without reading them).
    pub secret_counts: SecretCounts,
    /// Bumped by every write; writes are conditional on it, so concurrent configures never lose one.
    pub version: u64,
    /// Events of the last configure or disconnect that may not be published yet (the outbox).
    pub outbox: Vec<BusEvent>,
    /// The token subject the tenant's first configure bound it to: no other subject may act for it
    /// (see [`crate::domain::caller`]). `None` until then, or when tenant claims prove the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_subject: Option<String>,
}

/// A JSON object stored as its text.
mod json_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use serde_json::{Map, Value};

    pub fn serialize<S: Serializer>(map: &Map<String, Value>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Value::Object(map.clone()).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(D::Error::custom)
    }
}

/// Tenant records, in the payment store's table.
pub trait TenantStore: Send + Sync {
    /// Reads a tenant's record (strongly consistent).
    fn get_tenant(&self, tenant: &str) -> impl Future<Output = Result<Option<TenantRecord>, StoreError>> + Send;

    /// Writes `record` if the stored record is still at `expected_version` (`None`: there is none yet);
    /// `Conflict` otherwise.
    fn put_tenant(
        &self,
        record: &TenantRecord,
        expected_version: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Empties the outbox of the record at `version` once its events are published; a record that moved
    /// on since is left alone (its writer publishes its own outbox).
    fn clear_tenant_outbox(&self, tenant: &str, version: u64) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The secret store failed (unavailable, or a secret is missing or unreadable). The message never
/// quotes a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("secret store: {0}")]
pub struct SecretStoreError(pub String);

/// Where tenants' PSP secrets are kept (one secret per tenant, one version per configuration).
pub trait SecretStore: Send + Sync {
    /// Stores `secrets` as a new version of `tenant`'s secret and returns where it is.
    fn put_secrets(
        &self,
        tenant: &str,
        secrets: &TenantSecrets,
    ) -> impl Future<Output = Result<SecretRef, SecretStoreError>> + Send;

    /// Reads one version of a tenant's secrets.
    fn get_secrets(
        &self,
        reference: &SecretRef,
    ) -> impl Future<Output = Result<TenantSecrets, SecretStoreError>> + Send;
}

/// Whether a tenant may be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantAccess {
    /// Configured and active (`NEW` or `CONNECTED`).
    Active,
    /// Disconnected: commands are acknowledged without effect, webhooks and checkouts refused (§5.2).
    Disconnected,
    /// Never configured: nothing is done for it, and never with another tenant's keys.
    NotConfigured,
}

/// The tenant's configuration could not be read (store or secret store unavailable): retry later.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tenant configuration unavailable: {0}")]
pub struct TenantUnavailable(pub String);

/// Tells whether a tenant may be served.
pub trait Tenants: Send + Sync {
    /// The tenant's access.
    fn access(&self, tenant: &str) -> impl Future<Output = Result<TenantAccess, TenantUnavailable>> + Send;

    /// The Stripe publishable key of an active tenant (for the payment page), if configured.
    fn publishable_key(&self, tenant: &str) -> impl Future<Output = Result<Option<String>, TenantUnavailable>> + Send;
}
