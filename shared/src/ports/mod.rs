//! Ports: one small trait per capability the use cases need. Each has a real adapter and an in-memory
//! twin in [`crate::adapters`]. Methods return `Send` futures so handlers can run on any tokio runtime.

pub mod clock;
pub mod customer;
pub mod event_platform;
pub mod gateway;
pub mod message_queues;
pub mod onboarding;
pub mod publisher;
pub mod store;
pub mod tenant;
pub mod transfers;
pub mod webhook;

pub use clock::Clock;
pub use event_platform::{DeliveryError, EventPlatform};
pub use gateway::{KeyCheck, KeyCheckError, PaymentGateway, PspError, PspPaymentIntent, PspRefund};
pub use message_queues::{DeadLetter, DeadLetters, MessageQueues, QueueTarget, QueuedMessage};
pub use onboarding::{AccountEvent, CreateAccount, MerchantAccounts, OnboardingStore, OnboardingUrls, PspAccount};
pub use publisher::{EventPublisher, PublishError};
pub use store::{
    Attention, Claim, ClaimRequest, Commit, OperationRecord, OperationState, PaymentStore, PaymentWrite, StoreError,
};
pub use tenant::{
    SecretRef, SecretStore, SecretStoreError, TenantAccess, TenantRecord, TenantStore, TenantUnavailable, Tenants,
};
pub use transfers::{MerchantTransfers, TransferOrder, TransferStore};
pub use webhook::{InboxEntry, SecretsError, WebhookChange, WebhookEvent, WebhookSecrets};
