//! Merchant onboarding (contract §5.7): starting or continuing a merchant's onboarding with the PSP
//! ([`MerchantOnboarder`], behind `POST /private/merchants/onboarding`), and applying the PSP's account
//! events ([`WebhookService::handle_account`], behind the accounts webhook).
//!
//! * A merchant gets one PSP account, ever: the first call creates it with an idempotency key derived
//!   from (tenant, merchant), stores the onboarding (`incomplete`) under a create-only condition, and
//!   every later call only asks the PSP for a new onboarding link to the stored account. Two first calls
//!   at once get the same account from the PSP (same key) and the second store write finds the first.
//!   A crash between the PSP call and the store write is repaired by the next call within the PSP's
//!   idempotency window (24 h at Stripe); after it, a second account would be created.
//! * An account event is one operation of the runner (`super::runner`), keyed by the PSP's event id, so a redelivery
//!   has no second effect and the resulting MerchantAppOnboardingStatusChanged goes through the outbox
//!   with a stable event id. The onboarding is written (version-conditioned) inside the decision; a
//!   crash after that write is recognised by the next delivery ([`StatusDecision::AlreadyApplied`]) and
//!   the message is sent then. Older events never move the status back; an unchanged status emits
//!   nothing. Events for accounts the tenant has no onboarding for (accounts of the platform not
//!   created by this app, or of another tenant) are acknowledged and ignored: retrying them would never
//!   help.

use super::operation::OperationId;
use super::runner::{Operation, OperationError, OperationReport, Outcome};
use super::webhooks::WebhookService;
use crate::acp::{MerchantAppOnboardingStatusChanged, OutgoingMessage};
use crate::domain::{MerchantOnboarding, MerchantOnboardingStatus, StatusDecision, StatusSource};
use crate::ports::onboarding::{AccountEvent, CreateAccount, MerchantAccounts, OnboardingStore, OnboardingUrls};
use crate::ports::{Clock, EventPublisher, PaymentStore, PspError, StoreError};
use reqwest::Url;

/// The app category announced in the onboarding messages (contract §3.5).
pub const APP_TYPE: &str = "payment";

/// Why onboarding cannot start or continue.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OnboardingError {
    /// The request is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The PSP rejected the merchant for good: there is nothing left to onboard.
    #[error("the merchant's onboarding was rejected by the PSP")]
    Rejected,
    /// The PSP refused (for example: the tenant's platform cannot create merchant accounts).
    #[error("the PSP refused: {0}")]
    Refused(String),
    /// The PSP or the store is unavailable: retry later.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for OnboardingError {
    fn from(e: StoreError) -> Self {
        OnboardingError::Unavailable(e.to_string())
    }
}

impl From<PspError> for OnboardingError {
    fn from(e: PspError) -> Self {
        match e {
            PspError::Declined { code, message } => OnboardingError::Refused(format!("{code}: {message}")),
            PspError::Unknown(why) => OnboardingError::Unavailable(why),
        }
    }
}

/// A valid onboarding request (contract §5.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnboardingRequest {
    /// The tenant's merchant reference.
    pub merchant_reference: String,
    /// The merchant's name.
    pub name: String,
    /// Where the PSP sends the merchant back: `successUrl` on return, `refreshUrl` for a new link.
    pub urls: OnboardingUrls,
}

impl OnboardingRequest {
    /// Checks a request: a merchant reference and name, and absolute `http(s)` URLs (`cancelUrl` and
    /// `errorUrl` are checked when given; Stripe's hosted onboarding has no use for them).
    pub fn new(
        merchant_reference: &str,
        name: &str,
        success_url: &str,
        refresh_url: &str,
        other_urls: &[(&str, Option<&str>)],
    ) -> Result<Self, OnboardingError> {
        let merchant_reference = merchant_reference.trim();
        if merchant_reference.is_empty() {
            return Err(OnboardingError::Invalid("merchant.merchantReference is missing".into()));
        }
        if name.trim().is_empty() {
            return Err(OnboardingError::Invalid("merchant.name is missing".into()));
        }
        let absolute = |field: &str, url: &str| {
            Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                .map(|_| url.to_string())
                .ok_or_else(|| OnboardingError::Invalid(format!("{field} is not an absolute http(s) URL")))
        };
        for (field, url) in other_urls {
            if let Some(url) = url {
                absolute(field, url)?;
            }
        }
        Ok(OnboardingRequest {
            merchant_reference: merchant_reference.to_string(),
            name: name.trim().to_string(),
            urls: OnboardingUrls {
                return_url: absolute("successUrl", success_url)?,
                refresh_url: absolute("refreshUrl", refresh_url)?,
            },
        })
    }
}

/// Where the merchant continues onboarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnboardingLink {
    /// Whether this call created the merchant's account.
    pub created: bool,
    /// The PSP's onboarding page for the merchant (one-time).
    pub url: String,
}

/// Starts and continues onboardings. Borrows its ports, like [`WebhookService`].
pub struct MerchantOnboarder<'a, S, A> {
    /// Where onboardings are kept.
    pub store: &'a S,
    /// The PSP's merchant accounts.
    pub accounts: &'a A,
}

impl<S: OnboardingStore, A: MerchantAccounts> MerchantOnboarder<'_, S, A> {
    /// Creates the merchant's PSP account on the first call, and answers a new onboarding link.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, merchant = %request.merchant_reference))]
    pub async fn start(&self, tenant: &str, request: &OnboardingRequest) -> Result<OnboardingLink, OnboardingError> {
        let merchant = request.merchant_reference.as_str();
        let (onboarding, created) = match self.store.get_onboarding(tenant, merchant).await? {
            Some(onboarding) => (onboarding, false),
            None => self.create(tenant, request).await?,
        };
        if onboarding.status == MerchantOnboardingStatus::Rejected {
            return Err(OnboardingError::Rejected);
        }
        let url = self
            .accounts
            .onboarding_link(tenant, &onboarding.account_id, &request.urls)
            .await?;
        tracing::info!(account = %onboarding.account_id, created, status = ?onboarding.status, "onboarding link issued");
        Ok(OnboardingLink { created, url })
    }

    /// Creates the account and stores the onboarding; `false` when a concurrent call stored it first.
    async fn create(
        &self,
        tenant: &str,
        request: &OnboardingRequest,
    ) -> Result<(MerchantOnboarding, bool), OnboardingError> {
        let merchant = request.merchant_reference.as_str();
        let create = CreateAccount {
            merchant_reference: merchant.to_string(),
            name: request.name.clone(),
            idempotency_key: format!("onboarding-account:{tenant}:{merchant}"),
        };
        let account = self.accounts.create_account(tenant, &create).await?;
        let onboarding = MerchantOnboarding::new(tenant.to_string(), merchant.to_string(), account.id);
        match self.store.insert_onboarding(&onboarding).await {
            Ok(()) => Ok((onboarding, true)),
            Err(StoreError::Conflict(_)) => {
                let stored = self.store.get_onboarding(tenant, merchant).await?;
                let stored = stored.ok_or_else(|| {
                    OnboardingError::Unavailable("the merchant's account is stored for another merchant".into())
                })?;
                Ok((stored, false))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// What an account event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountReport {
    /// The tenant has no onboarding with this account: acknowledged, ignored.
    UnknownAccount,
    /// Ran through the runner.
    Applied(OperationReport),
}

/// Account events are PSP webhooks too: the webhook service applies them on the same ports, when its
/// store also keeps onboardings.
impl<S: PaymentStore + OnboardingStore, P: EventPublisher, C: Clock> WebhookService<'_, S, P, C> {
    /// Handles a verified account event received on `tenant`'s route.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, event_id = %event.event_id, account = %event.account.id))]
    pub async fn handle_account(&self, tenant: &str, event: &AccountEvent) -> Result<AccountReport, OperationError> {
        let Some(onboarding) = self.store.find_onboarding_by_account(tenant, &event.account.id).await? else {
            tracing::info!("account event for an account without onboarding ignored");
            return Ok(AccountReport::UnknownAccount);
        };
        let id = OperationId::keyed(format!("account-webhook-{}", event.event_id));
        let op = Operation {
            tenant,
            id: &id,
            correlation_id: None,
            payment: None,
            refused: Vec::new(),
            request: None,
        };
        let merchant = onboarding.merchant_reference;
        let report = self
            .runner()
            .run(op, |_, _| self.decide_account(tenant, &merchant, event))
            .await?;
        Ok(AccountReport::Applied(report))
    }

    /// Decides under the operation's claim: the onboarding is read again (an earlier read may predate
    /// another event's write). `Err` releases the claim for a retry.
    async fn decide_account(&self, tenant: &str, merchant: &str, event: &AccountEvent) -> Result<Outcome, String> {
        let current = self
            .store
            .get_onboarding(tenant, merchant)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the onboarding disappeared")?;
        let source = StatusSource {
            event_id: event.event_id.clone(),
            created: event.created,
        };
        let status = match current.decide(&event.account.review, source) {
            StatusDecision::Changed(next) => {
                self.store
                    .replace_onboarding(&next, current.version)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(from = ?current.status, to = ?next.status, "onboarding status changed");
                Some(next.status)
            }
            StatusDecision::AlreadyApplied => Some(current.status),
            StatusDecision::Unchanged => None,
        };
        let messages = status
            .map(|status| {
                OutgoingMessage::MerchantAppOnboardingStatusChanged(MerchantAppOnboardingStatusChanged {
                    merchant_reference: merchant.to_string(),
                    app_identifier: self.settings.app_identifier.clone(),
                    app_type: APP_TYPE.to_string(),
                    status,
                    additional_info: None,
                })
            })
            .into_iter()
            .collect();
        Ok(Outcome {
            messages,
            ..Outcome::nothing()
        })
    }
}

#[cfg(test)]
#[path = "onboarding_tests.rs"]
mod tests;
