//! The tenant directory: each tenant's own status and PSP secrets, read from its record and its secret
//! version and cached for a short time. It is the one source of Stripe API keys ([`ApiKeys`]), webhook
//! signing secrets ([`WebhookSecrets`]) and tenant access ([`Tenants`]) in every function, so a PSP call
//! or a webhook check can only ever use the tenant's own secrets.
//!
//! * A configured, active tenant gets its own key and secrets.
//! * A disconnected or never configured tenant has none: its webhooks are refused (empty secrets), and a
//!   PSP call for it fails as an *unknown* outcome (retried, never a failure event) — callers check
//!   [`Tenants::access`] first, so this only happens in a race with a disconnect.
//! * Found tenants are cached for the TTL (a disconnect or a new key takes effect within it); absent
//!   tenants are not cached, so a tenant can be used as soon as its first configure answered.

use crate::adapters::stripe::ApiKeys;
use crate::domain::tenant::{self, TenantSecrets};
use crate::ports::{
    PspError, SecretStore, SecretsError, TenantAccess, TenantStore, TenantUnavailable, Tenants, WebhookSecrets,
};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a tenant's record and secrets are cached by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

/// A tenant as the directory knows it.
#[derive(Debug)]
struct Resolved {
    active: bool,
    secrets: TenantSecrets,
    publishable_key: Option<String>,
    marketplace: bool,
}

struct Inner<T, S> {
    records: T,
    secret_store: S,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Arc<Resolved>)>>,
}

/// Tenants' status and secrets from their records (`T`) and the secret store (`S`), cached for a TTL.
/// Cloning is cheap and clones share the cache.
pub struct TenantDirectory<T, S> {
    inner: Arc<Inner<T, S>>,
}

impl<T, S> Clone for TenantDirectory<T, S> {
    fn clone(&self) -> Self {
        TenantDirectory {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: TenantStore, S: SecretStore> TenantDirectory<T, S> {
    /// A directory reading `records` and `secret_store`, caching each found tenant for `ttl`.
    pub fn new(records: T, secret_store: S, ttl: Duration) -> Self {
        TenantDirectory {
            inner: Arc::new(Inner {
                records,
                secret_store,
                ttl,
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The tenant record store.
    pub fn records(&self) -> &T {
        &self.inner.records
    }

    /// The secret store.
    pub fn secret_store(&self) -> &S {
        &self.inner.secret_store
    }

    /// The tenant as it stands (from the cache when fresh); `None` when it was never configured.
    async fn resolve(&self, tenant: &str) -> Result<Option<Arc<Resolved>>, TenantUnavailable> {
        let cached = {
            let cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(tenant)
                .filter(|(at, _)| at.elapsed() < self.inner.ttl)
                .map(|(_, resolved)| Arc::clone(resolved))
        };
        if let Some(resolved) = cached {
            return Ok(Some(resolved));
        }
        let record = self
            .inner
            .records
            .get_tenant(tenant)
            .await
            .map_err(|e| TenantUnavailable(e.to_string()))?;
        let Some(record) = record else { return Ok(None) };
        // A disconnected tenant's secrets are not read: nothing may use them.
        let secrets = match (&record.secrets, record.is_active) {
            (Some(reference), true) => self
                .inner
                .secret_store
                .get_secrets(reference)
                .await
                .map_err(|e| TenantUnavailable(e.to_string()))?,
            (None, _) | (Some(_), false) => TenantSecrets::default(),
        };
        let resolved = Arc::new(Resolved {
            active: record.is_active,
            secrets,
            publishable_key: tenant::publishable_key(&record.settings).map(str::to_string),
            marketplace: tenant::is_marketplace(&record.settings),
        });
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.to_string(), (Instant::now(), Arc::clone(&resolved)));
        Ok(Some(resolved))
    }
}

impl<T: TenantStore, S: SecretStore> Tenants for TenantDirectory<T, S> {
    async fn access(&self, tenant: &str) -> Result<TenantAccess, TenantUnavailable> {
        Ok(match self.resolve(tenant).await? {
            None => TenantAccess::NotConfigured,
            Some(resolved) if resolved.active => TenantAccess::Active,
            Some(_) => TenantAccess::Disconnected,
        })
    }

    async fn publishable_key(&self, tenant: &str) -> Result<Option<String>, TenantUnavailable> {
        Ok(self
            .resolve(tenant)
            .await?
            .filter(|r| r.active)
            .and_then(|r| r.publishable_key.clone()))
    }
}

impl<T: TenantStore, S: SecretStore> ApiKeys for TenantDirectory<T, S> {
    async fn api_key(&self, tenant: &str) -> Result<SecretString, PspError> {
        let resolved = self
            .resolve(tenant)
            .await
            .map_err(|e| PspError::Unknown(e.to_string()))?;
        // Not a decline: nothing reached the PSP, and a retry finds the tenant's state settled.
        resolved
            .filter(|r| r.active)
            .and_then(|r| r.secrets.stripe_secret_key.clone())
            .ok_or_else(|| PspError::Unknown(format!("tenant {tenant} has no active configuration with a Stripe key")))
    }

    async fn is_marketplace(&self, tenant: &str) -> Result<bool, PspError> {
        let resolved = self
            .resolve(tenant)
            .await
            .map_err(|e| PspError::Unknown(e.to_string()))?;
        Ok(resolved.is_some_and(|r| r.marketplace))
    }
}

impl<T: TenantStore, S: SecretStore> WebhookSecrets for TenantDirectory<T, S> {
    async fn secrets(&self, tenant: &str) -> Result<Vec<SecretString>, SecretsError> {
        let resolved = self.resolve(tenant).await.map_err(|e| SecretsError(e.to_string()))?;
        Ok(resolved
            .filter(|r| r.active)
            .map(|r| r.secrets.webhook_signing_secrets.clone())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::memory_secrets::MemorySecretStore;
    use crate::service::testing::{MemoryDirectory, make_marketplace, seed_tenant};
    use secrecy::ExposeSecret;

    fn directory(ttl: Duration) -> MemoryDirectory {
        TenantDirectory::new(MemoryStore::new(), MemorySecretStore::new(), ttl)
    }

    #[tokio::test]
    async fn each_tenant_gets_only_its_own_secrets() {
        let directory = directory(DEFAULT_TTL);
        seed_tenant(&directory, "t1", "sk_test_one", true).await;
        seed_tenant(&directory, "t2", "sk_test_two", true).await;
        assert_eq!(directory.api_key("t1").await.unwrap().expose_secret(), "sk_test_one");
        assert_eq!(directory.api_key("t2").await.unwrap().expose_secret(), "sk_test_two");
        let hooks = directory.secrets("t2").await.unwrap();
        assert_eq!(
            hooks.iter().map(|s| s.expose_secret()).collect::<Vec<_>>(),
            vec!["whsec_t2"]
        );
        assert_eq!(directory.access("t1").await, Ok(TenantAccess::Active));

        assert_eq!(directory.access("t3").await, Ok(TenantAccess::NotConfigured));
        assert!(matches!(directory.api_key("t3").await, Err(PspError::Unknown(_))));
        assert!(directory.secrets("t3").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_tenant_runs_a_marketplace_when_its_configuration_says_so() {
        let directory = directory(Duration::ZERO);
        seed_tenant(&directory, "t1", "sk_test_one", true).await;
        assert_eq!(directory.is_marketplace("t1").await, Ok(false));
        make_marketplace(&directory, "t1").await;
        assert_eq!(directory.is_marketplace("t1").await, Ok(true));
        assert_eq!(directory.is_marketplace("unknown").await, Ok(false));
    }

    #[tokio::test]
    async fn a_disconnected_tenant_has_no_usable_secrets() {
        let directory = directory(Duration::ZERO);
        seed_tenant(&directory, "t1", "sk_test_one", false).await;
        assert_eq!(directory.access("t1").await, Ok(TenantAccess::Disconnected));
        assert!(matches!(directory.api_key("t1").await, Err(PspError::Unknown(_))));
        assert!(directory.secrets("t1").await.unwrap().is_empty());
        assert_eq!(
            directory.secret_store().reads(),
            0,
            "a disconnected tenant's secrets are not read"
        );
    }

    #[tokio::test]
    async fn found_tenants_are_cached_for_the_ttl_absent_ones_not_at_all() {
        let cached = directory(Duration::from_secs(3600));
        assert_eq!(cached.access("t1").await, Ok(TenantAccess::NotConfigured));
        seed_tenant(&cached, "t1", "sk_test_one", true).await;
        assert_eq!(
            cached.access("t1").await,
            Ok(TenantAccess::Active),
            "absence is not cached"
        );
        seed_tenant(&cached, "t1", "sk_test_new", true).await;
        assert_eq!(cached.api_key("t1").await.unwrap().expose_secret(), "sk_test_one");
        assert_eq!(cached.secret_store().reads(), 1);

        let fresh = directory(Duration::ZERO);
        seed_tenant(&fresh, "t1", "sk_test_one", true).await;
        fresh.api_key("t1").await.unwrap();
        seed_tenant(&fresh, "t1", "sk_test_new", true).await;
        assert_eq!(fresh.api_key("t1").await.unwrap().expose_secret(), "sk_test_new");
    }

    #[tokio::test]
    async fn an_unavailable_secret_store_is_a_retryable_failure() {
        let directory = directory(Duration::ZERO);
        seed_tenant(&directory, "t1", "sk_test_one", true).await;
        directory.secret_store().fail(true);
        assert!(directory.access("t1").await.is_err());
        assert!(matches!(directory.api_key("t1").await, Err(PspError::Unknown(_))));
        assert!(directory.secrets("t1").await.is_err());
        let text = format!("{:?}", directory.api_key("t1").await);
        assert!(!text.contains("sk_test_one"), "{text}");
    }
}
