//! Configure and disconnect a tenant (contract §5.1, §5.2, decision §9.9).
//!
//! **Configure** merges the sent configuration over the stored one, checks a new Stripe key with Stripe
//! (`GET /v1/account`: a key Stripe refuses is a 422), keeps the secrets in the secret store (a new
//! version when they changed) and the rest in the tenant record, and tells the tenant, in
//! this order: Add/Update/DeletePaymentMethod for the change of its payment methods (§3.4),
//! ReadyForMerchantAppOnboarding when it runs a marketplace (§3.5), AppConfigUpdated (§3.6).
//!
//! **Disconnect** needs a confirmation while the tenant has open payments, then sends DeletePaymentMethod
//! for every announced method and AppConfigUpdated with `isActive: false`.
//!
//! The record write is conditional on the version read (a concurrent configure is retried on the newer
//! record, never overwritten) and carries the events as its outbox: they are published after the write
//! and cleared once published; a configure or disconnect that finds an unpublished outbox publishes it
//! first, so no announcement is lost and their order is kept. Event ids derive from the record version,
//! so a republish is harmless.

use crate::acp::event::event_id;
use crate::acp::{
    AppConfigStatus, AppConfigUpdated, BusEvent, Channel, DeletePaymentMethod, MerchantOnboardingState,
    MerchantOnboardingStatus, Onboarding, OnboardingStrategy, OutgoingMessage, PaymentMethodPayload,
    ReadyForMerchantAppOnboarding,
};
use crate::domain::tenant::{
    self, ConfigErrors, MethodChange, PROVIDER_NAME, STRIPE_SECRET_KEY, SecretCounts, TenantSecrets, method_changes,
    payment_method, redacted,
};
use crate::domain::{Caller, Forbidden};
use crate::ports::{
    Clock, EventPublisher, KeyCheck, KeyCheckError, PaymentStore, SecretStore, StoreError, TenantRecord, TenantStore,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Every channel the app uses, announced in AppConfigUpdated (decision §9.9, contract §1.4).
pub const APP_CHANNELS: [Channel; 5] = [
    Channel::PaymentEvents,
    Channel::PaymentCommands,
    Channel::PaymentMethodCommands,
    Channel::AppEvents,
    Channel::MerchantAppEvents,
];

/// How often a write that lost a race with another configure or disconnect is tried again.
const ATTEMPTS: usize = 3;

/// Why a configure or disconnect did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The configuration is invalid (HTTP 422).
    #[error("{0}")]
    Invalid(#[from] ConfigErrors),
    /// Disconnect of a tenant that was never configured (HTTP 400).
    #[error("the tenant is not configured")]
    UnknownTenant,
    /// Disconnect while payments are open, without confirmation (HTTP 409 with a confirmation).
    #[error(
        "The payment App cannot be disconnected when there are open orders. Open orders won't be processed \
         automatically if you disconnect the App. Close the open orders to continue."
    )]
    NeedsConfirmation,
    /// The confirmation was declined (HTTP 400).
    #[error("Please close any open orders and try again.")]
    ConfirmationDeclined,
    /// The caller may not act for this tenant (HTTP 403).
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// Other configures or disconnects kept changing the record (HTTP 409: try again).
    #[error("the tenant's configuration is being changed by another request")]
    Busy,
    /// The store, the secret store or the bus failed (HTTP 503); what was written stays consistent and
    /// unpublished events are published by the next configure or disconnect.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for TenantError {
    fn from(e: StoreError) -> Self {
        TenantError::Unavailable(e.to_string())
    }
}

/// Configures and disconnects tenants. `S` holds both the tenant records and the payments.
pub struct TenantService<S, K, P, C, V> {
    /// Tenant records and payments.
    pub store: S,
    /// The tenants' PSP secrets.
    pub secrets: K,
    /// The event bus.
    pub publisher: P,
    /// The clock.
    pub clock: C,
    /// The app identifier.
    pub app_identifier: String,
    /// The app's base URL (`APP_BASE_URL`): payment methods and onboarding point below it.
    pub app_base_url: String,
    /// Checks a new Stripe key with the PSP before it is stored.
    pub psp: V,
}

/// What a record write decides: the new record, its messages.
struct Change {
    record: TenantRecord,
    messages: Vec<OutgoingMessage>,
}

impl<S, K, P, C, V> TenantService<S, K, P, C, V>
where
    S: TenantStore + PaymentStore,
    K: SecretStore,
    P: EventPublisher,
    C: Clock,
    V: KeyCheck,
{
    /// `POST /private/configure` by `caller`: `configuration` is the JSON string of
    /// `data.attributes.configuration`. The first configure binds the tenant to the caller's token subject
    /// (see [`crate::domain::caller`]). Returns the merged configuration, secrets redacted.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn configure(
        &self,
        tenant: &str,
        caller: &Caller,
        configuration: &str,
    ) -> Result<Map<String, Value>, TenantError> {
        let update = &tenant::parse_configuration(configuration)?;
        let record = self
            .write(tenant, |stored| async move {
                let bound = stored.as_ref().and_then(|r| r.token_subject.clone());
                caller.may_act_for(tenant, bound.as_deref())?;
                let stored_secrets = match stored.as_ref().and_then(|r| r.secrets.as_ref()) {
                    Some(reference) => self.read_secrets(reference).await?,
                    None => TenantSecrets::default(),
                };
                let empty = Map::new();
                let stored_settings = stored.as_ref().map_or(&empty, |r| &r.settings);
                let (settings, secrets) = tenant::merge(stored_settings, &stored_secrets, update)?;
                if let Some(key) = secrets
                    .stripe_secret_key
                    .as_ref()
                    .filter(|_| !secrets.same_key_as(&stored_secrets))
                {
                    self.psp.check_key(key).await.map_err(|e| match e {
                        KeyCheckError::Refused(why) => {
                            TenantError::Invalid(ConfigErrors(vec![format!("{STRIPE_SECRET_KEY}: {why}")]))
                        }
                        KeyCheckError::Unavailable(why) => TenantError::Unavailable(why),
                    })?;
                }
                let reference = match stored.as_ref().and_then(|r| r.secrets.clone()) {
                    Some(reference) if secrets.same_as(&stored_secrets) => reference,
                    Some(_) | None => self
                        .secrets
                        .put_secrets(tenant, &secrets)
                        .await
                        .map_err(|e| TenantError::Unavailable(e.to_string()))?,
                };
                let status = tenant::status_after_configure(stored.as_ref().map(|r| r.status));
                let wanted: Vec<PaymentMethodPayload> = tenant::payment_methods(&settings)
                    .iter()
                    .map(|name| payment_method(name, &self.app_base_url))
                    .collect();
                let announced = stored.as_ref().map(|r| r.announced_methods.clone()).unwrap_or_default();
                let mut messages: Vec<OutgoingMessage> = method_changes(&announced, &wanted)
                    .into_iter()
                    .map(|change| match change {
                        MethodChange::Add(m) => OutgoingMessage::AddPaymentMethod(m),
                        MethodChange::Update(m) => OutgoingMessage::UpdatePaymentMethod(m),
                        MethodChange::Delete(name) => OutgoingMessage::DeletePaymentMethod(DeletePaymentMethod {
                            name,
                            provider_name: PROVIDER_NAME.into(),
                        }),
                    })
                    .collect();
                if tenant::is_marketplace(&settings) {
                    messages.push(self.ready_for_onboarding());
                }
                let counts = SecretCounts::of(&secrets);
                messages.push(self.app_config_updated(status, true, redacted(&settings, counts)));
                Ok(Some(Change {
                    record: TenantRecord {
                        tenant: tenant.to_string(),
                        status,
                        is_active: true,
                        settings,
                        announced_methods: wanted,
                        secrets: Some(reference),
                        secret_counts: counts,
                        version: stored.as_ref().map_or(1, |r| r.version + 1),
                        outbox: vec![],
                        token_subject: bound.or_else(|| caller.subject.clone()),
                    },
                    messages,
                }))
            })
            .await?;
        // The decision above always writes a record; `None` would mean nothing was configured.
        let record = record.ok_or_else(|| TenantError::Unavailable("the configuration was not written".into()))?;
        tracing::info!(status = ?record.status, methods = record.announced_methods.len(), "tenant configured");
        Ok(redacted(&record.settings, record.secret_counts))
    }

    /// `POST /private/disconnect` by `caller`; `confirmation` is the `x-confirmation-status` header, when
    /// sent.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn disconnect(
        &self,
        tenant: &str,
        caller: &Caller,
        confirmation: Option<bool>,
    ) -> Result<(), TenantError> {
        let record = self
            .write(tenant, |stored| async move {
                let stored = stored.ok_or(TenantError::UnknownTenant)?;
                caller.may_act_for(tenant, stored.token_subject.as_deref())?;
                if !stored.is_active {
                    // Disconnected already: nothing new to tell.
                    return Ok(None);
                }
                if self.store.has_open_payments(tenant).await? {
                    match confirmation {
                        None => return Err(TenantError::NeedsConfirmation),
                        Some(false) => return Err(TenantError::ConfirmationDeclined),
                        Some(true) => tracing::warn!("disconnecting with open payments, as confirmed"),
                    }
                }
                let mut messages: Vec<OutgoingMessage> = stored
                    .announced_methods
                    .iter()
                    .map(|m| {
                        OutgoingMessage::DeletePaymentMethod(DeletePaymentMethod {
                            name: m.name.clone(),
                            provider_name: m.provider_name.clone(),
                        })
                    })
                    .collect();
                let status = AppConfigStatus::Disconnected;
                let config = redacted(&stored.settings, stored.secret_counts);
                messages.push(self.app_config_updated(status, false, config));
                Ok(Some(Change {
                    record: TenantRecord {
                        status,
                        is_active: false,
                        announced_methods: vec![],
                        version: stored.version + 1,
                        outbox: vec![],
                        ..stored
                    },
                    messages,
                }))
            })
            .await?;
        if record.is_some() {
            tracing::info!("tenant disconnected");
        }
        Ok(())
    }

    async fn read_secrets(&self, reference: &crate::ports::SecretRef) -> Result<TenantSecrets, TenantError> {
        self.secrets
            .get_secrets(reference)
            .await
            .map_err(|e| TenantError::Unavailable(e.to_string()))
    }

    /// Reads the record (publishing a pending outbox first), lets `decide` compute the change, writes it
    /// conditionally (again on the newer record after a lost race), then publishes its events.
    async fn write<D, Fut>(&self, tenant: &str, decide: D) -> Result<Option<TenantRecord>, TenantError>
    where
        D: Fn(Option<TenantRecord>) -> Fut,
        Fut: Future<Output = Result<Option<Change>, TenantError>>,
    {
        for _ in 0..ATTEMPTS {
            let stored = self.store.get_tenant(tenant).await?;
            if let Some(pending) = stored.as_ref().filter(|r| !r.outbox.is_empty()) {
                self.publish(pending).await?;
            }
            let expected = stored.as_ref().map(|r| r.version);
            let Some(Change { mut record, messages }) = decide(stored).await? else {
                return Ok(None);
            };
            record.outbox = self.render(tenant, record.version, &messages);
            match self.store.put_tenant(&record, expected).await {
                Ok(()) => {
                    self.publish(&record).await?;
                    return Ok(Some(record));
                }
                Err(StoreError::Conflict(_)) => {
                    tracing::info!("the tenant record changed meanwhile; deciding again");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(TenantError::Busy)
    }

    /// Publishes the outbox of `record`, then clears it.
    async fn publish(&self, record: &TenantRecord) -> Result<(), TenantError> {
        self.publisher
            .publish(&record.outbox)
            .await
            .map_err(|e| TenantError::Unavailable(e.to_string()))?;
        if let Err(e) = self.store.clear_tenant_outbox(&record.tenant, record.version).await {
            // Published already: the next writer republishes them under the same ids, harmlessly.
            tracing::warn!(error = %e, "the published outbox could not be cleared");
        }
        Ok(())
    }

    /// The events of the record at `version`, with ids stable for that version.
    fn render(&self, tenant: &str, version: u64, messages: &[OutgoingMessage]) -> Vec<BusEvent> {
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let at = self.clock.now();
        let version = version.to_string();
        messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let id = event_id(&[tenant, "tenant-config", &version, &i.to_string(), m.name()]);
                BusEvent::render(m, tenant, &self.app_identifier, &correlation_id, id, at)
            })
            .collect()
    }

    fn app_config_updated(
        &self,
        status: AppConfigStatus,
        is_active: bool,
        config: Map<String, Value>,
    ) -> OutgoingMessage {
        OutgoingMessage::AppConfigUpdated(AppConfigUpdated {
            app_identifier: self.app_identifier.clone(),
            is_active,
            status,
            config,
            message_channels: APP_CHANNELS.to_vec(),
        })
    }

    /// ReadyForMerchantAppOnboarding: merchants onboard through the app's API (contract §3.5, §5.7).
    fn ready_for_onboarding(&self) -> OutgoingMessage {
        OutgoingMessage::ReadyForMerchantAppOnboarding(ReadyForMerchantAppOnboarding {
            onboarding: Onboarding {
                url: format!(
                    "{}/private/merchants/onboarding",
                    self.app_base_url.trim_end_matches('/')
                ),
                strategy: OnboardingStrategy::Api,
            },
            app_type: "payment".into(),
            app_name: PROVIDER_NAME.into(),
            app_identifier: self.app_identifier.clone(),
            additional_links: None,
            merchant_onboarding_states: Some(onboarding_states()),
        })
    }
}

/// What the Merchant Portal tells a merchant in each onboarding status: `displayText`, and for the
/// statuses where the merchant can act at Stripe, the onboarding button's `buttonText` and `buttonInfo`
/// (the portal hides the button for `completed` and `rejected`).
fn onboarding_texts(status: MerchantOnboardingStatus) -> (&'static str, Option<(&'static str, &'static str)>) {
    use MerchantOnboardingStatus as S;
    match status {
        S::Incomplete => (
            "You started your onboarding at Stripe but have not finished it. Continue where you left off to \
             receive your payouts.",
            Some((
                "Continue Onboarding",
                "Stripe asks for the rest of your business details.",
            )),
        ),
        S::Pending => (
            "Stripe is reviewing the details you submitted. Your payouts start once Stripe has verified them; \
             there is nothing to do for now.",
            Some((
                "View Onboarding",
                "Stripe may ask for more details while it reviews yours.",
            )),
        ),
        S::Enabled => (
            "You can take payments. Your payouts start once Stripe has verified your payout details.",
            Some(("Continue Onboarding", "Add or verify your payout details at Stripe.")),
        ),
        S::Completed => (
            "Your Stripe account is ready: you take payments and receive your payouts.",
            None,
        ),
        S::Restricted => (
            "Stripe has paused payments or payouts to your account until you provide the details it asks for.",
            Some((
                "Update Details",
                "Provide the missing details at Stripe to lift the restriction.",
            )),
        ),
        S::RestrictedSoon => (
            "Stripe needs more details from you. Provide them before the deadline, or Stripe will pause \
             payments and payouts to your account.",
            Some((
                "Update Details",
                "Provide the details Stripe asks for before the deadline.",
            )),
        ),
        S::Rejected => (
            "Stripe has declined your account, so you cannot be paid out through it. Please contact the \
             marketplace operator.",
            None,
        ),
    }
}

/// The `merchantOnboardingStates` of ReadyForMerchantAppOnboarding: the texts of every status.
fn onboarding_states() -> Vec<MerchantOnboardingState> {
    use MerchantOnboardingStatus as S;
    [
        S::Incomplete,
        S::Pending,
        S::Enabled,
        S::Completed,
        S::Restricted,
        S::RestrictedSoon,
        S::Rejected,
    ]
    .into_iter()
    .map(|status| {
        let (display, button) = onboarding_texts(status);
        let mut attributes = BTreeMap::from([("displayText".to_string(), display.to_string())]);
        if let Some((text, info)) = button {
            attributes.insert("buttonText".to_string(), text.to_string());
            attributes.insert("buttonInfo".to_string(), info.to_string());
        }
        MerchantOnboardingState {
            name: status,
            attributes: Some(attributes),
        }
    })
    .collect()
}

#[cfg(test)]
#[path = "tenants_tests.rs"]
mod tests;
