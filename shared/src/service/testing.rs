//! The command, webhook and checkout services on the in-memory twins, for unit and handler tests (feature
//! `test-support`).

use super::checkout::{CheckoutService, ListenerError, PaymentKnownListener};
use super::commands::CommandService;
use super::settings::Settings;
use super::tenants::TenantService;
use super::webhooks::WebhookService;
use crate::acp::{InboundCommand, InboundMessage, PaymentPayload};
use crate::adapters::memory::{FixedClock, MemoryGateway, MemoryPublisher, MemoryStore};
use crate::adapters::memory_secrets::MemorySecretStore;
use crate::adapters::tenant_directory::TenantDirectory;
use crate::domain::tenant::{SecretCounts, TenantSecrets};
use crate::domain::{Currency, MerchantOnboarding, MerchantOnboardingStatus, Money, Payment, PaymentStatus};
use crate::ports::{OnboardingStore, PaymentStore};
use crate::ports::{SecretStore, TenantRecord, TenantStore};
use std::sync::Mutex;
use std::time::Duration;
use time::macros::datetime;

/// The command service on the in-memory twins.
pub type MemoryCommandService = CommandService<MemoryStore, MemoryGateway, MemoryPublisher, FixedClock>;

/// A fresh in-memory service as app `app-test`, its clock standing at 2026-01-01, PSP retries 1 ms apart.
pub fn memory_service() -> MemoryCommandService {
    CommandService {
        store: MemoryStore::new(),
        gateway: MemoryGateway::new(),
        publisher: MemoryPublisher::new(),
        clock: FixedClock::at(datetime!(2026-01-01 00:00 UTC)),
        settings: Settings {
            psp_retry_delay: Duration::from_millis(1),
            ..Settings::new("app-test")
        },
    }
}

/// A [`PaymentKnownListener`] that records every call, in order.
#[derive(Default)]
pub struct RecordingListener {
    calls: Mutex<Vec<(String, String)>>,
}

impl RecordingListener {
    /// The `(tenant, transaction id)` of every call so far.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl PaymentKnownListener for RecordingListener {
    async fn after_payment_known(&self, tenant: &str, transaction_id: &str) -> Result<(), ListenerError> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((tenant.to_string(), transaction_id.to_string()));
        Ok(())
    }
}

/// The checkout service on the in-memory twins.
pub type MemoryCheckoutService =
    CheckoutService<MemoryStore, MemoryGateway, MemoryPublisher, FixedClock, RecordingListener>;

/// A fresh in-memory checkout service on [`memory_service`], with a recording listener.
pub fn memory_checkout() -> MemoryCheckoutService {
    CheckoutService {
        commands: memory_service(),
        listener: RecordingListener::default(),
    }
}

/// An order of `tenant` whose customer authorized `amount` EUR cents at the PSP, recorded as authorized
/// with transaction id `tx-{order}`.
pub async fn authorized_order(svc: &MemoryCommandService, tenant: &str, order: &str, amount: i64) -> Payment {
    authorized_order_of_items(svc, tenant, order, amount, &[]).await
}

/// An order of `tenant` authorized like [`authorized_order`] (one item, id 1), then captured in full by
/// a CapturePayment through `svc`.
pub async fn captured_order(svc: &MemoryCommandService, tenant: &str, order: &str, amount: i64) {
    authorized_order(svc, tenant, order, amount).await;
    let capture = InboundMessage {
        tenant_identifier: tenant.into(),
        correlation_id: None,
        message_id: None,
        command: InboundCommand::CapturePayment(PaymentPayload {
            order_reference: order.into(),
            order_item_ids: vec![1],
            amount: Some(amount),
            currency_iso_code: Some("EUR".into()),
        }),
    };
    if let Err(e) = svc.handle(&capture).await {
        panic!("capturing {order} failed: {e}");
    }
}

/// Merchant `merchant` of `tenant` onboarded as `status`, with PSP account `acct_{merchant}`.
pub async fn onboarded(store: &MemoryStore, tenant: &str, merchant: &str, status: MerchantOnboardingStatus) {
    let onboarding = MerchantOnboarding {
        status,
        ..MerchantOnboarding::new(tenant.into(), merchant.into(), format!("acct_{merchant}"))
    };
    if let Err(e) = store.insert_onboarding(&onboarding).await {
        panic!("seeding {merchant}'s onboarding failed: {e}");
    }
}

/// Like [`authorized_order`], for an order whose items (`(sales-order-item id, amount)`) the shop sent
/// when the payment was initialized: `amount` is their sum plus the order's expenses.
pub async fn authorized_order_of_items(
    svc: &MemoryCommandService,
    tenant: &str,
    order: &str,
    amount: i64,
    items: &[(i64, i64)],
) -> Payment {
    let psp_reference = svc.gateway.authorized_payment(amount, "EUR");
    let money = Money::new(
        amount,
        Currency::parse("EUR").unwrap_or_else(|_| unreachable!("EUR is ISO 4217")),
    );
    let payment = Payment::new(
        tenant.into(),
        format!("tx-{order}"),
        Some(order.into()),
        psp_reference,
        money,
        "t0",
    );
    let payment = Payment {
        order_item_ids: items.iter().map(|(id, _)| *id).collect(),
        item_amounts: items.iter().copied().collect(),
        ..payment
    };
    let Ok(Some(payment)) = payment.moved_to(PaymentStatus::Authorized, "t1") else {
        unreachable!("new -> authorized is allowed")
    };
    if let Err(e) = svc.store.insert_payment(&payment).await {
        panic!("seeding {order} failed: {e}");
    }
    payment
}

/// The webhook service on the same twins as `svc`.
pub fn webhook_service(svc: &MemoryCommandService) -> WebhookService<'_, MemoryStore, MemoryPublisher, FixedClock> {
    WebhookService::of(svc)
}

/// The tenant service on the in-memory twins.
pub type MemoryTenantService =
    TenantService<MemoryStore, MemorySecretStore, MemoryPublisher, FixedClock, MemoryGateway>;

/// A fresh in-memory tenant service as app `app-test` at `https://app.example.com`.
pub fn memory_tenants() -> MemoryTenantService {
    TenantService {
        store: MemoryStore::new(),
        secrets: MemorySecretStore::new(),
        publisher: MemoryPublisher::new(),
        clock: FixedClock::at(datetime!(2026-01-01 00:00 UTC)),
        app_identifier: "app-test".into(),
        app_base_url: "https://app.example.com".into(),
        psp: MemoryGateway::new(),
    }
}

/// The tenant directory on the in-memory twins.
pub type MemoryDirectory = TenantDirectory<MemoryStore, MemorySecretStore>;

/// A directory without cache in which `tenants` are configured and active, each with Stripe key
/// `sk_test_{tenant}` and webhook secret `whsec_{tenant}`.
pub async fn memory_directory(tenants: &[&str]) -> MemoryDirectory {
    let directory = TenantDirectory::new(MemoryStore::new(), MemorySecretStore::new(), Duration::ZERO);
    for tenant in tenants {
        seed_tenant(&directory, tenant, &format!("sk_test_{tenant}"), true).await;
    }
    directory
}

/// Turns `tenant`'s stored configuration into a marketplace's (`isMarketplace: true`).
pub async fn make_marketplace(directory: &MemoryDirectory, tenant: &str) {
    let mut record = match directory.records().get_tenant(tenant).await {
        Ok(Some(record)) => record,
        other => panic!("reading {tenant}: {other:?}"),
    };
    record
        .settings
        .insert(crate::domain::tenant::IS_MARKETPLACE.into(), true.into());
    record.version += 1;
    if let Err(e) = directory.records().put_tenant(&record, Some(record.version - 1)).await {
        panic!("making {tenant} a marketplace: {e}");
    }
}

/// Writes `tenant`'s record (active or disconnected) with Stripe key `key` and webhook secret
/// `whsec_{tenant}` into `directory`'s stores, over whatever was there.
pub async fn seed_tenant(directory: &MemoryDirectory, tenant: &str, key: &str, active: bool) {
    let secrets = TenantSecrets {
        stripe_secret_key: Some(key.into()),
        webhook_signing_secrets: vec![format!("whsec_{tenant}").into()],
    };
    let stored = match directory.records().get_tenant(tenant).await {
        Ok(stored) => stored,
        Err(e) => panic!("reading {tenant}: {e}"),
    };
    let reference = match directory.secret_store().put_secrets(tenant, &secrets).await {
        Ok(reference) => reference,
        Err(e) => panic!("seeding {tenant}'s secrets: {e}"),
    };
    let record = TenantRecord {
        tenant: tenant.into(),
        status: if active {
            crate::acp::AppConfigStatus::New
        } else {
            crate::acp::AppConfigStatus::Disconnected
        },
        is_active: active,
        settings: serde_json::Map::new(),
        announced_methods: vec![],
        secrets: Some(reference),
        secret_counts: SecretCounts::of(&secrets),
        version: stored.as_ref().map_or(1, |r| r.version + 1),
        outbox: vec![],
        token_subject: None,
    };
    if let Err(e) = directory.records().put_tenant(&record, stored.map(|r| r.version)).await {
        panic!("seeding {tenant}: {e}");
    }
}

/// Writes a minimal record of `tenant` (configured, no secrets) bound to the token subject `subject`.
pub async fn bound_tenant(store: &MemoryStore, tenant: &str, subject: &str) {
    let record = TenantRecord {
        tenant: tenant.into(),
        status: crate::acp::AppConfigStatus::New,
        is_active: true,
        settings: serde_json::Map::new(),
        announced_methods: vec![],
        secrets: None,
        secret_counts: SecretCounts::default(),
        version: 1,
        outbox: vec![],
        token_subject: Some(subject.into()),
    };
    if let Err(e) = store.put_tenant(&record, None).await {
        panic!("binding {tenant}: {e}");
    }
}
