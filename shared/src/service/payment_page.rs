//! The shopper's half of the hosted checkout (contract §5.3). Spryker sends the shopper to the app's
//! payment page after placing the order; the page confirms the payment with the PSP in the browser (card
//! data goes from the browser to the PSP only), and the PSP sends the shopper back to the return route.
//!
//! * [`PaymentPageService::page`]: what the page shows (the order total, the tenant's publishable key,
//!   the PaymentIntent's client secret), only for a payment of this tenant that is still open.
//! * [`PaymentPageService::returned`]: re-reads the PaymentIntent and applies its status through the
//!   webhook service, as the PSP's webhook would: one operation per PSP state, so whichever of the two
//!   arrives first emits the events and the other changes nothing. Then it says where the shopper goes.
//! * [`PaymentPageService::cancel`]: the shopper gives up. The PaymentIntent is canceled at the PSP first,
//!   so no later success can hold money for an order that failed; then PaymentAuthorizationFailed.

use super::commands::CommandService;
use super::operation::OperationId;
use super::webhooks::WebhookService;
use crate::domain::{Money, Payment, PaymentStatus, ReturnUrls};
use crate::ports::{
    Clock, EventPublisher, PaymentGateway, PaymentStore, PspError, PspPaymentIntent, TenantAccess, Tenants,
    WebhookChange, WebhookEvent,
};
use secrecy::SecretString;

/// Why the page or the return cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No open payment of this tenant has this transaction id (or the tenant is not served): 404.
    #[error("no payment is waiting for this link")]
    NotFound,
    /// The payment is decided already (paid, failed or canceled): 409.
    #[error("this payment is already finished")]
    Finished,
    /// The store, the PSP or the tenant's configuration cannot be read now: 503.
    #[error("the payment cannot be shown right now: {0}")]
    Unavailable(String),
}

impl From<crate::ports::StoreError> for PageError {
    fn from(e: crate::ports::StoreError) -> Self {
        PageError::Unavailable(e.to_string())
    }
}

impl From<PspError> for PageError {
    fn from(e: PspError) -> Self {
        PageError::Unavailable(e.to_string())
    }
}

/// What the payment page shows.
pub struct PageView {
    /// The order total.
    pub amount: Money,
    /// The tenant's Stripe publishable key.
    pub publishable_key: String,
    /// The PaymentIntent's client secret (put in the page only; never logged).
    pub client_secret: SecretString,
    /// Why the last attempt was declined, when it was.
    pub decline: Option<String>,
}

/// Where the shopper goes after the PSP sent them back, or after canceling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Paid (or settling, for asynchronous methods): the shop's success URL.
    Success(Option<String>),
    /// Canceled or failed for good: the shop's cancel URL.
    Canceled(Option<String>),
    /// The payment still needs a payment method: back to the payment page.
    Page,
}

impl Destination {
    /// The destination of a payment whose PSP state is `intent` and whose shop URLs are `urls`.
    fn of(intent: &PspPaymentIntent, urls: &ReturnUrls) -> Self {
        Self::of_status(intent.status, intent.processing, urls)
    }

    /// The destination of a payment in `status` (`processing`: settling at the PSP).
    fn of_status(status: PaymentStatus, processing: bool, urls: &ReturnUrls) -> Self {
        match status {
            PaymentStatus::Authorized | PaymentStatus::CaptureRequested | PaymentStatus::Captured => {
                Destination::Success(urls.success.clone())
            }
            PaymentStatus::New if processing => Destination::Success(urls.success.clone()),
            PaymentStatus::New => Destination::Page,
            PaymentStatus::AuthorizationFailed
            | PaymentStatus::Canceled
            | PaymentStatus::CancellationFailed
            | PaymentStatus::CaptureFailed => Destination::Canceled(urls.cancel.clone()),
        }
    }
}

/// The page's use cases on a command service's ports, with the tenants' configuration.
pub struct PaymentPageService<S, G, P, C, T> {
    /// Store, PSP, bus, clock and tunables.
    pub commands: CommandService<S, G, P, C>,
    /// Which tenants are served, and their publishable keys.
    pub tenants: T,
}

impl<S, G, P, C, T> PaymentPageService<S, G, P, C, T>
where
    S: PaymentStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
    T: Tenants,
{
    /// The page of `tenant`'s payment `transaction_id`, while the shopper can still pay it.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn page(&self, tenant: &str, transaction_id: &str) -> Result<PageView, PageError> {
        let payment = self.open_payment(tenant, transaction_id).await?;
        let publishable_key = self
            .tenants
            .publishable_key(tenant)
            .await
            .map_err(|e| PageError::Unavailable(e.to_string()))?
            .ok_or_else(|| PageError::Unavailable("the shop has no Stripe publishable key configured".into()))?;
        let intent = self.intent(tenant, &payment).await?;
        if !matches!(intent.status, PaymentStatus::New) || intent.processing {
            // Paid or settling at the PSP, not yet applied here: the return route sends the shopper on.
            return Err(PageError::Finished);
        }
        let client_secret = intent
            .client_secret
            .ok_or_else(|| PageError::Unavailable("the PSP gave no client secret".into()))?;
        Ok(PageView {
            amount: payment.amount,
            publishable_key,
            client_secret: SecretString::from(client_secret),
            decline: intent.decline,
        })
    }

    /// The shopper is back from the PSP: applies the PaymentIntent's status (as its webhook would) and
    /// says where the shopper goes. A failure to apply now is left to the webhook; the destination
    /// follows the PSP's state either way.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn returned(&self, tenant: &str, transaction_id: &str) -> Result<Destination, PageError> {
        let payment = self.served_payment(tenant, transaction_id).await?;
        let intent = self.intent(tenant, &payment).await?;
        self.apply(tenant, &payment, &intent).await;
        Ok(Destination::of(&intent, &payment.return_urls))
    }

    /// The shopper cancels: the PaymentIntent is canceled at the PSP, then the payment fails
    /// (PaymentUpdated, PaymentAuthorizationFailed). A payment that was paid meanwhile is not canceled:
    /// its status is applied and the shopper goes to the success URL.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn cancel(&self, tenant: &str, transaction_id: &str) -> Result<Destination, PageError> {
        let payment = self.served_payment(tenant, transaction_id).await?;
        if payment.status != PaymentStatus::New {
            // Decided already: where it stands is known without asking the PSP.
            return Ok(Destination::of_status(payment.status, false, &payment.return_urls));
        }
        let key = OperationId::named("ShopperCancel", &[tenant, transaction_id], &[]).psp_idempotency_key();
        let gateway = &self.commands.gateway;
        let intent = match self
            .commands
            .psp(|| gateway.cancel(tenant, &payment.psp_reference, &key))
            .await
        {
            Ok(intent) => intent,
            // Refused: it succeeded or was canceled meanwhile; its own state decides.
            Err(PspError::Declined { .. }) => self.intent(tenant, &payment).await?,
            Err(unknown @ PspError::Unknown(_)) => return Err(unknown.into()),
        };
        self.apply(tenant, &payment, &intent).await;
        Ok(Destination::of(&intent, &payment.return_urls))
    }

    /// The payment, if the tenant is served and it is one of its order payments.
    async fn served_payment(&self, tenant: &str, transaction_id: &str) -> Result<Payment, PageError> {
        let access = self
            .tenants
            .access(tenant)
            .await
            .map_err(|e| PageError::Unavailable(e.to_string()))?;
        if access != TenantAccess::Active {
            return Err(PageError::NotFound);
        }
        self.commands
            .store
            .get_payment(tenant, transaction_id)
            .await?
            .filter(|p| p.order_reference.is_some())
            .ok_or(PageError::NotFound)
    }

    /// The payment, if the shopper can still pay it.
    async fn open_payment(&self, tenant: &str, transaction_id: &str) -> Result<Payment, PageError> {
        let payment = self.served_payment(tenant, transaction_id).await?;
        match payment.status {
            PaymentStatus::New => Ok(payment),
            PaymentStatus::Authorized
            | PaymentStatus::AuthorizationFailed
            | PaymentStatus::CaptureRequested
            | PaymentStatus::Captured
            | PaymentStatus::CaptureFailed
            | PaymentStatus::Canceled
            | PaymentStatus::CancellationFailed => Err(PageError::Finished),
        }
    }

    /// The payment's PaymentIntent as the PSP has it now.
    async fn intent(&self, tenant: &str, payment: &Payment) -> Result<PspPaymentIntent, PageError> {
        let gateway = &self.commands.gateway;
        Ok(self
            .commands
            .psp(|| gateway.get_payment(tenant, &payment.psp_reference))
            .await?)
    }

    /// Applies `intent`'s state to the payment through the webhook service (the same operation as the
    /// PSP's webhook reporting that state). Failing here loses nothing: the webhook applies it later.
    async fn apply(&self, tenant: &str, payment: &Payment, intent: &PspPaymentIntent) {
        let event = WebhookEvent {
            event_id: format!("return-{}", intent.id),
            created: self.commands.clock.epoch_seconds(),
            transaction_id: payment.transaction_id.clone(),
            psp_reference: intent.id.clone(),
            tenant: Some(tenant.to_string()),
            change: WebhookChange::Payment {
                status: intent.status,
                amount_captured: intent.amount_captured,
                decline: intent.decline.clone(),
            },
        };
        if let Err(error) = WebhookService::of(&self.commands).handle(tenant, &event).await {
            tracing::warn!(%error, "the PSP's state was not applied now; its webhook will");
        }
    }
}
