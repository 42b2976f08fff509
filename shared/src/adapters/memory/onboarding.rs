//! The onboarding twins: [`OnboardingStore`] on [`MemoryStore`] (with the conditions of the DynamoDB
//! one) and [`MemoryAccounts`], the PSP's merchant accounts.

use super::{MemoryStore, lock};
use crate::domain::{AccountReview, MerchantOnboarding};
use crate::ports::onboarding::{CreateAccount, MerchantAccounts, OnboardingStore, OnboardingUrls, PspAccount};
use crate::ports::{PspError, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
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
            || s.accounts
                .get(&account)
                .is_some_and(|m| *m != onboarding.merchant_reference)
        {
            return Err(StoreError::Conflict("onboarding exists".into()));
        }
        s.accounts.insert(account, onboarding.merchant_reference.clone());
        s.merchants.insert(merchant, onboarding.clone());
        Ok(())
    }

    async fn get_onboarding(
        &self,
        tenant: &str,
        merchant_reference: &str,
    ) -> Result<Option<MerchantOnboarding>, StoreError> {
        yield_now().await;
        let s = lock(&self.onboardings);
        Ok(s.merchants
            .get(&(tenant.to_string(), merchant_reference.to_string()))
            .cloned())
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

    async fn replace_onboarding(
        &self,
        onboarding: &MerchantOnboarding,
        expected_version: u64,
    ) -> Result<(), StoreError> {
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

#[derive(Default)]
struct AccountsState {
    /// Accounts by id.
    accounts: HashMap<String, PspAccount>,
    /// Account ids by the idempotency key that created them (the PSP replays the answer).
    by_key: HashMap<String, String>,
    /// Links handed out, in order: (account id, urls).
    links: Vec<(String, OnboardingUrls)>,
    /// The error the next call answers with.
    fail_next: Option<PspError>,
}

/// The PSP's merchant accounts in memory. A new account has not submitted anything yet; tests move it
/// on with [`MemoryAccounts::set_review`].
#[derive(Default)]
pub struct MemoryAccounts {
    state: Mutex<AccountsState>,
}

impl MemoryAccounts {
    /// No accounts.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many accounts were created.
    pub fn created(&self) -> usize {
        lock(&self.state).accounts.len()
    }

    /// The links handed out so far, in order: (account id, urls).
    pub fn links(&self) -> Vec<(String, OnboardingUrls)> {
        lock(&self.state).links.clone()
    }

    /// The account `id` is now in `review` at the PSP.
    pub fn set_review(&self, id: &str, review: AccountReview) {
        if let Some(account) = lock(&self.state).accounts.get_mut(id) {
            account.review = review;
        }
    }

    /// The next call answers `error` (and does nothing).
    pub fn fail_next(&self, error: PspError) {
        lock(&self.state).fail_next = Some(error);
    }
}

/// A fresh account: nothing submitted, nothing enabled, the onboarding requirements due.
const NEW_ACCOUNT: AccountReview = AccountReview {
    details_submitted: false,
    charges_enabled: false,
    payouts_enabled: false,
    hold: None,
    past_due: false,
    due_soon: true,
};

impl MerchantAccounts for MemoryAccounts {
    async fn create_account(&self, _tenant: &str, request: &CreateAccount) -> Result<PspAccount, PspError> {
        yield_now().await;
        let mut s = lock(&self.state);
        if let Some(error) = s.fail_next.take() {
            return Err(error);
        }
        if let Some(account) = s.by_key.get(&request.idempotency_key).and_then(|id| s.accounts.get(id)) {
            return Ok(account.clone());
        }
        let account = PspAccount {
            id: format!("acct_{}", s.accounts.len() + 1),
            review: NEW_ACCOUNT,
        };
        s.by_key.insert(request.idempotency_key.clone(), account.id.clone());
        s.accounts.insert(account.id.clone(), account.clone());
        Ok(account)
    }

    async fn onboarding_link(
        &self,
        _tenant: &str,
        account_id: &str,
        urls: &OnboardingUrls,
    ) -> Result<String, PspError> {
        yield_now().await;
        let mut s = lock(&self.state);
        if let Some(error) = s.fail_next.take() {
            return Err(error);
        }
        if !s.accounts.contains_key(account_id) {
            return Err(PspError::Declined {
                code: "resource_missing".into(),
                message: format!("No such account: {account_id}"),
            });
        }
        s.links.push((account_id.to_string(), urls.clone()));
        Ok(format!("https://connect.example/setup/{account_id}/{}", s.links.len()))
    }
}

#[cfg(test)]
mod tests {
    use crate::adapters::{marketplace_contract, memory::MemoryStore};

    #[tokio::test]
    async fn memory_store_passes_the_marketplace_contract() {
        marketplace_contract::run_all(&MemoryStore::new()).await;
    }
}
