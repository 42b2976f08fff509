//! [`OnboardingStore`] on the payments table (see the parent module for the helpers and the other items).
//!
//! | item       | `pk`                           | `sk`         | attributes                         |
//! |------------|--------------------------------|--------------|------------------------------------|
//! | onboarding | `TENANT#{t}#MERCHANT#{ref}`    | `ONBOARDING` | the [`MerchantOnboarding`] fields  |
//! | account    | `TENANT#{t}#ACCOUNT#{acct}`    | `ACCOUNT`    | `merchant_reference`               |
//!
//! The account item is the alias the accounts webhook finds a merchant by. Both are created in one
//! transaction; replacing an onboarding is conditional on its version (optimistic locking).

use super::{DynamoStore, decode, item_with_key, key, names, part, put, put_new, s, values};
use crate::domain::MerchantOnboarding;
use crate::ports::StoreError;
use crate::ports::onboarding::OnboardingStore;

const ONBOARDING_SK: &str = "ONBOARDING";
const ACCOUNT_SK: &str = "ACCOUNT";
/// An account alias that does not exist yet, or already points to merchant `:merchant`.
const ACCOUNT_FREE_OR_OURS: &str = "attribute_not_exists(pk) OR #merchant_reference = :merchant";
/// The stored onboarding is still the one read (same version, same account).
const SAME_VERSION: &str = "#version = :expected AND #account_id = :account";

fn onboarding_key(tenant: &str, merchant_reference: &str) -> super::Item {
    key(
        format!("TENANT#{}#MERCHANT#{}", part(tenant), part(merchant_reference)),
        ONBOARDING_SK,
    )
}

fn account_key(tenant: &str, account_id: &str) -> super::Item {
    key(
        format!("TENANT#{}#ACCOUNT#{}", part(tenant), part(account_id)),
        ACCOUNT_SK,
    )
}

/// The alias item pointing from a PSP account to its merchant.
#[derive(serde::Serialize, serde::Deserialize)]
struct AccountAlias {
    merchant_reference: String,
}

impl OnboardingStore for DynamoStore {
    async fn insert_onboarding(&self, onboarding: &MerchantOnboarding) -> Result<(), StoreError> {
        let item = item_with_key(
            "onboarding",
            onboarding,
            onboarding_key(&onboarding.tenant, &onboarding.merchant_reference),
        )?;
        let alias = AccountAlias {
            merchant_reference: onboarding.merchant_reference.clone(),
        };
        let alias = item_with_key(
            "account alias",
            &alias,
            account_key(&onboarding.tenant, &onboarding.account_id),
        )?;
        let actions = vec![
            put_new(&self.table, item)?,
            put(
                &self.table,
                alias,
                Some(ACCOUNT_FREE_OR_OURS),
                names(&["merchant_reference"]),
                values([("merchant", s(&onboarding.merchant_reference))]),
            )?,
        ];
        self.transact(actions)
            .await
            .map_err(|f| f.into_store_error("insert onboarding"))
    }

    async fn get_onboarding(
        &self,
        tenant: &str,
        merchant_reference: &str,
    ) -> Result<Option<MerchantOnboarding>, StoreError> {
        self.get(onboarding_key(tenant, merchant_reference))
            .await?
            .map(|item| decode("onboarding", item))
            .transpose()
    }

    async fn find_onboarding_by_account(
        &self,
        tenant: &str,
        account_id: &str,
    ) -> Result<Option<MerchantOnboarding>, StoreError> {
        let Some(alias) = self.get(account_key(tenant, account_id)).await? else {
            return Ok(None);
        };
        let alias: AccountAlias = decode("account alias", alias)?;
        self.get_onboarding(tenant, &alias.merchant_reference).await
    }

    async fn replace_onboarding(
        &self,
        onboarding: &MerchantOnboarding,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let item = item_with_key(
            "onboarding",
            onboarding,
            onboarding_key(&onboarding.tenant, &onboarding.merchant_reference),
        )?;
        let action = put(
            &self.table,
            item,
            Some(SAME_VERSION),
            names(&["version", "account_id"]),
            values([
                ("expected", super::n(expected_version)),
                ("account", s(&onboarding.account_id)),
            ]),
        )?;
        self.transact(vec![action])
            .await
            .map_err(|f| f.into_store_error("replace onboarding"))
    }
}
