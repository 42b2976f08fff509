//! Merchant onboarding seen from the domain: the merchants' accounts at the PSP
//! ([`MerchantAccounts`]), where the app keeps each merchant's onboarding ([`OnboardingStore`]), and what
//! a verified PSP account event says ([`AccountEvent`]).

use super::gateway::PspError;
use super::store::StoreError;
use crate::domain::{AccountReview, MerchantOnboarding};
use std::future::Future;

/// A merchant account to create at the PSP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateAccount {
    /// The tenant's merchant reference (kept on the PSP account as metadata, with the tenant).
    pub merchant_reference: String,
    /// The merchant's business name.
    pub name: String,
    /// The same key on every retry of the same creation: the PSP answers with the same account.
    pub idempotency_key: String,
}

/// A merchant account at the PSP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PspAccount {
    /// The PSP's id (`acct_…`).
    pub id: String,
    /// What the PSP says about it.
    pub review: AccountReview,
}

/// Where the PSP's onboarding pages send the merchant back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnboardingUrls {
    /// After the merchant left the flow (finished or not); the PSP's `return_url`.
    pub return_url: String,
    /// When the link expired or was used already: the tenant asks for a new link from there.
    pub refresh_url: String,
}

/// The merchants' accounts at the PSP.
pub trait MerchantAccounts: Send + Sync {
    /// Creates a merchant account in `tenant`'s PSP platform.
    fn create_account(
        &self,
        tenant: &str,
        request: &CreateAccount,
    ) -> impl Future<Output = Result<PspAccount, PspError>> + Send;

    /// A one-time URL of the PSP's onboarding pages for `account_id`.
    fn onboarding_link(
        &self,
        tenant: &str,
        account_id: &str,
        urls: &OnboardingUrls,
    ) -> impl Future<Output = Result<String, PspError>> + Send;
}

/// A verified PSP event about a merchant account (Stripe `account.updated`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountEvent {
    /// The PSP's event id (`evt_…`): the idempotency key of its processing.
    pub event_id: String,
    /// When the PSP created the event (Unix seconds).
    pub created: i64,
    /// The account the event is about, as it is now.
    pub account: PspAccount,
}

/// The merchants' onboardings, per tenant.
pub trait OnboardingStore: Send + Sync {
    /// Stores a new onboarding and the alias from its PSP account. `Conflict` if the merchant has one
    /// already, or the account belongs to another merchant.
    fn insert_onboarding(&self, onboarding: &MerchantOnboarding)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads a merchant's onboarding (strongly consistent).
    fn get_onboarding(
        &self,
        tenant: &str,
        merchant_reference: &str,
    ) -> impl Future<Output = Result<Option<MerchantOnboarding>, StoreError>> + Send;

    /// Reads the onboarding of a PSP account (strongly consistent).
    fn find_onboarding_by_account(
        &self,
        tenant: &str,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<MerchantOnboarding>, StoreError>> + Send;

    /// Replaces an onboarding if it is still at `expected_version`, else `Conflict`.
    fn replace_onboarding(
        &self,
        onboarding: &MerchantOnboarding,
        expected_version: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
