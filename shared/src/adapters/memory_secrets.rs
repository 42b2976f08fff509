//! The in-memory twin of the secret store: one secret per tenant, a new version per write, every version
//! readable; it can be told to fail and counts reads (to check the tenant cache).

use crate::domain::tenant::TenantSecrets;
use crate::ports::{SecretRef, SecretStore, SecretStoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::task::yield_now;

/// Tenants' secrets in memory.
#[derive(Default)]
pub struct MemorySecretStore {
    versions: Mutex<HashMap<SecretRef, TenantSecrets>>,
    next_version: AtomicUsize,
    reads: AtomicUsize,
    failing: AtomicBool,
}

impl MemorySecretStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times a secret was read.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// From now on every call fails (`true`) or works (`false`).
    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), SecretStoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(SecretStoreError("unavailable (injected)".into()));
        }
        Ok(())
    }
}

impl SecretStore for MemorySecretStore {
    async fn put_secrets(&self, tenant: &str, secrets: &TenantSecrets) -> Result<SecretRef, SecretStoreError> {
        yield_now().await;
        self.check()?;
        let reference = SecretRef {
            name: format!("memory/tenants/{tenant}/stripe"),
            version: format!("v{}", self.next_version.fetch_add(1, Ordering::SeqCst)),
        };
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(reference.clone(), secrets.clone());
        Ok(reference)
    }

    async fn get_secrets(&self, reference: &SecretRef) -> Result<TenantSecrets, SecretStoreError> {
        yield_now().await;
        self.check()?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(reference)
            .cloned()
            .ok_or_else(|| SecretStoreError(format!("no version {} of {}", reference.version, reference.name)))
    }
}
