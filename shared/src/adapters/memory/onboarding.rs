//! The [`OnboardingStore`] twin on [`MemoryStore`], with the conditions of the DynamoDB one.

use super::{MemoryStore, lock};
use crate::domain::MerchantOnboarding;
use crate::ports::StoreError;
use crate::ports::onboarding::OnboardingStore;
use std::collections::HashMap;
use tokio::task::yield_now;

/// Onboardings by (tenant, merchant reference), and the account aliases by (tenant, account id).
#[derive(Default)]
pub(super) struct Onboardings {
    merchants: HashMap<(String, String), MerchantOnboarding>,
    accounts: HashMap<(String, String), String>,
}

impl OnboardingStore for MemoryStore {
    async fn insert_onboarding(&self, onboarding: &MerchantOnboarding) -> Result<(), StoreError> {
        yield_now().await;
        let mut s = lock(&self.onboardings);
        let merchant = (onboarding.tenant.clone(), onboarding.merchant_reference.clone());
        let account = (onboarding.tenant.clone(), onboarding.account_id.clone());
        if s.merchants.contains_key(&merchant)
            || s.accounts.get(&account).is_some_and(|m| *m != onboarding.merchant_reference)
        {
            return Err(StoreError::Conflict("onboarding exists".into()));
        }
        s.accounts.insert(account, onboarding.merchant_reference.clone());
        s.merchants.insert(merchant, onboarding.clone());
        Ok(())
    }

    async fn get_onboarding(&self, tenant: &str, merchant_reference: &str) -> Result<Option<MerchantOnboarding>, StoreError> {
        yield_now().await;
        let s = lock(&self.onboardings);
        Ok(s.merchants.get(&(tenant.to_string(), merchant_reference.to_string())).cloned())
    }

    async fn find_onboarding_by_account(
        &self,
        tenant: &str,
        account_id: &str,
    ) -> Result<Option<MerchantOnboarding>, StoreError> {
        yield_now().await;
        let s = lock(&self.onboardings);
        let merchant = s.accounts.get(&(tenant.to_string(), account_id.to_string()));
        Ok(merchant.and_then(|m| s.merchants.get(&(tenant.to_string(), m.clone())).cloned()))
    }

    async fn replace_onboarding(&self, onboarding: &MerchantOnboarding, expected_version: u64) -> Result<(), StoreError> {
        yield_now().await;
        let mut s = lock(&self.onboardings);
        let merchant = (onboarding.tenant.clone(), onboarding.merchant_reference.clone());
        match s.merchants.get(&merchant) {
            Some(stored) if stored.version == expected_version && stored.account_id == onboarding.account_id => {
                s.merchants.insert(merchant, onboarding.clone());
                Ok(())
            }
            Some(_) | None => Err(StoreError::Conflict("onboarding moved or missing".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::adapters::{memory::MemoryStore, onboarding_contract};

    #[tokio::test]
    async fn memory_store_passes_the_onboarding_contract() {
        onboarding_contract::run_all(&MemoryStore::new()).await;
    }
}
