//! The synchronous checkout calls (contract §5.3, §5.4, §6): initialize a payment for an order, create a
//! headless (pre-order) payment, confirm it once the order exists, or cancel it.
//!
//! Each call is one operation of the [`Runner`](super::runner::Runner) (claim, decide, commit with
//! outbox, publish), so a repeated call is answered from what the first one stored and never creates a
//! second PaymentIntent: the PSP idempotency key and the transaction id of an order's payment both derive
//! from (tenant, order reference). Once the tenant can name a payment (created, or confirmed with its
//! order), the [`PaymentKnownListener`] hears of it: webhooks that arrived earlier are processed then.

use super::commands::CommandService;
use super::operation::OperationId;
use super::runner::{Attempt, Operation, OperationError, Outcome, history_time, payment_created, status_message};
use crate::acp::PaymentPayload;
use crate::acp::sync::{
    CancelPreOrderPaymentRequest, ConfirmPreOrderPaymentRequest, InitializePaymentRequest, OrderData, OrderItem,
    PreOrderPaymentRequest, item_amounts, sales_order_item_ids,
};
use crate::domain::{Currency, Money, Payment, PaymentMethod, PaymentStatus, ReturnUrls};
use crate::ports::gateway::{CreatePayment, ORDER_REFERENCE};
use crate::ports::{
    Clock, EventPublisher, PaymentGateway, PaymentStore, PaymentWrite, PspError, PspPaymentIntent, StoreError,
};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;

/// A listener could not finish its work; the call it follows has succeeded regardless.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ListenerError(pub String);

/// Hears that the tenant can now name a payment: it was created, or a headless payment was confirmed
/// with its order. The webhook service implements it to process the webhooks it kept for the payment.
pub trait PaymentKnownListener: Send + Sync {
    /// Called after the payment's state is committed and its events are published.
    fn after_payment_known(
        &self,
        tenant: &str,
        transaction_id: &str,
    ) -> impl Future<Output = Result<(), ListenerError>> + Send;
}

/// Why a checkout call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// The request is malformed or incomplete (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// No payment has this transaction id (HTTP 400).
    #[error("no payment is known for transaction {0}")]
    UnknownPayment(String),
    /// The request is well-formed but cannot be granted, e.g. the authorization failed (HTTP 400).
    #[error("{0}")]
    Refused(String),
    /// Another call on the same payment is in progress (HTTP 409: try again).
    #[error("another request for this payment is in progress")]
    Busy,
    /// The store, the PSP or the bus failed; nothing or only a repeatable part happened (HTTP 503).
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for CheckoutError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => CheckoutError::Busy,
            StoreError::Backend(reason) => CheckoutError::Unavailable(reason),
        }
    }
}

impl From<OperationError> for CheckoutError {
    fn from(e: OperationError) -> Self {
        match e {
            OperationError::InProgress | OperationError::PaymentBusy => CheckoutError::Busy,
            OperationError::Store(e) => e.into(),
            OperationError::OutcomeUnknown(reason) => CheckoutError::Unavailable(reason),
            OperationError::Publish(e) => CheckoutError::Unavailable(e.to_string()),
        }
    }
}

/// A payment created for the checkout.
#[derive(Debug)]
pub struct CreatedPayment {
    /// The app's payment id (`transactionId`).
    pub transaction_id: String,
    /// Whether it belongs to an order already (false for a headless payment).
    pub has_order: bool,
    /// The PaymentIntent's client secret for the shop's frontend (headless payments only; never logged).
    pub client_secret: Option<SecretString>,
}

/// The checkout calls, on a command service's ports, telling `listener` about payments the tenant can name.
pub struct CheckoutService<S, G, P, C, L> {
    /// Store, PSP, bus, clock and tunables.
    pub commands: CommandService<S, G, P, C>,
    /// Hears about payments the tenant can now name.
    pub listener: L,
}

/// What a new payment is created from.
struct NewPayment<'a> {
    tenant: &'a str,
    transaction_id: String,
    order: &'a OrderData,
    amount: Money,
    id: OperationId,
    return_urls: ReturnUrls,
    method: PaymentMethod,
}

/// The amount of `order`, validated.
fn amount_of(order: &OrderData) -> Result<Money, CheckoutError> {
    let currency = Currency::parse(&order.currency_code).map_err(|e| CheckoutError::Invalid(e.to_string()))?;
    if order.grand_total <= 0 {
        return Err(CheckoutError::Invalid("orderData.grandTotal must be positive".into()));
    }
    Ok(Money::new(order.grand_total, currency))
}

/// The payment method of `order`: its `paymentMethod` key or its `paymentMethodName`, the card when the
/// order names none; refused when it names only methods the app does not offer.
fn method_of(order: &OrderData) -> Result<PaymentMethod, CheckoutError> {
    let named: Vec<&str> = [&order.payment_method, &order.payment_method_name]
        .into_iter()
        .filter_map(|m| m.as_deref().map(str::trim).filter(|m| !m.is_empty()))
        .collect();
    if named.is_empty() {
        return Ok(PaymentMethod::Card);
    }
    named
        .iter()
        .find_map(|name| PaymentMethod::from_spryker_name(name))
        .ok_or_else(|| {
            CheckoutError::Invalid(format!(
                "orderData.paymentMethod {:?} is not offered (offered: {})",
                named[0],
                PaymentMethod::offered()
            ))
        })
}

/// Whether `url` points at this machine (`localhost` or `127.0.0.1`): a local stack.
pub fn is_loopback(url: &url::Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1"))
}

/// The shop's return URLs from initialize-payment, each checked: `https`, or `http` on a loopback host
/// when `loopback` is allowed (a local stack). Anything else is refused, so the payment page's redirects
/// can only lead where the shop said (no open redirect).
fn return_urls(request: &InitializePaymentRequest, loopback: bool) -> Result<ReturnUrls, CheckoutError> {
    let check = |name: &str, url: &Option<String>| -> Result<Option<String>, CheckoutError> {
        let Some(url) = url.as_deref().map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let parsed = url::Url::parse(url).map_err(|e| CheckoutError::Invalid(format!("{name} is not a URL: {e}")))?;
        match parsed.scheme() {
            "https" if parsed.host_str().is_some() => Ok(Some(url.to_string())),
            "http" if loopback && is_loopback(&parsed) => Ok(Some(url.to_string())),
            _ => Err(CheckoutError::Invalid(format!("{name} must be an https URL"))),
        }
    };
    Ok(ReturnUrls {
        success: check("redirectSuccessUrl", &request.redirect_success_url)?,
        cancel: check("redirectCancelUrl", &request.redirect_cancel_url)?,
        checkout_summary: check("checkoutSummaryPageUrl", &request.checkout_summary_page_url)?,
    })
}

impl<S, G, P, C, L> CheckoutService<S, G, P, C, L>
where
    S: PaymentStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
    L: PaymentKnownListener,
{
    /// `POST /private/initialize-payment` (§5.3): creates the order's payment, or finds the one created
    /// before. Without an order reference (headless through the authorization endpoint, §5.4) it creates
    /// a pre-order payment.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn initialize_payment(
        &self,
        tenant: &str,
        request: &InitializePaymentRequest,
    ) -> Result<CreatedPayment, CheckoutError> {
        let order = &request.order_data;
        let amount = amount_of(order)?;
        let urls = return_urls(request, self.commands.settings.loopback_return_urls)?;
        let Some(reference) = order.order_reference.as_deref().filter(|r| !r.trim().is_empty()) else {
            return self.create_headless(tenant, order, amount).await;
        };
        let id = OperationId::named(
            "InitializePayment",
            &[tenant, reference],
            &[&amount.minor.to_string(), amount.currency.code()],
        );
        // Random: knowing an order's reference must not open its payment page. A creation retried after
        // an unknown outcome gets a new id and PaymentIntent; the first one, never confirmed, holds nothing.
        let new = NewPayment {
            tenant,
            transaction_id: uuid::Uuid::new_v4().to_string(),
            order,
            amount,
            id,
            return_urls: urls,
            method: method_of(order)?,
        };
        self.create(&new, Some(reference)).await?;
        let payment = self
            .commands
            .store
            .find_payment_by_order(tenant, reference)
            .await?
            .ok_or_else(|| CheckoutError::Refused("the PSP did not create the payment".into()))?;
        if payment.amount != amount {
            return Err(CheckoutError::Refused(format!(
                "order {reference} already has a payment of {}",
                payment.amount
            )));
        }
        self.known(tenant, &payment.transaction_id).await;
        Ok(CreatedPayment {
            transaction_id: payment.transaction_id,
            has_order: true,
            client_secret: None,
        })
    }

    /// `POST /private/pre-order-payment` (§5.4): creates a payment without an order, or returns the one
    /// named in `preOrderPaymentData`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn pre_order_payment(
        &self,
        tenant: &str,
        request: &PreOrderPaymentRequest,
    ) -> Result<CreatedPayment, CheckoutError> {
        let amount = amount_of(&request.order_data)?;
        let named = request
            .pre_order_payment_data
            .as_ref()
            .and_then(|d| d.transaction_id.as_deref());
        if let Some(tx) = named
            && let Some(payment) = self.commands.store.get_payment(tenant, tx).await?
        {
            if payment.amount != amount {
                self.reprice(tenant, &payment, amount).await?;
            }
            return self.headless_answer(tenant, &payment).await;
        }
        self.create_headless(tenant, &request.order_data, amount).await
    }

    /// A repeated pre-order-payment for a cart whose total changed: the PaymentIntent and the payment take
    /// the new amount, so the authorization always matches the order. Only while the shopper has not
    /// paid, and in the payment's currency.
    async fn reprice(&self, tenant: &str, payment: &Payment, amount: Money) -> Result<(), CheckoutError> {
        if amount.currency != payment.amount.currency {
            return Err(CheckoutError::Refused(format!(
                "payment {} is in {}: start a new payment for {}",
                payment.transaction_id, payment.amount.currency, amount.currency
            )));
        }
        let tx = payment.transaction_id.as_str();
        // One operation per (payment version, amount): a retried call changes nothing twice, a cart that
        // changes back and forth is repriced each time.
        let version = payment.version.to_string();
        let id = OperationId::named(
            "RepricePreOrderPayment",
            &[tenant, tx, &version, &amount.minor.to_string()],
            &[],
        );
        let op = Operation {
            tenant,
            id: &id,
            correlation_id: None,
            payment: Some(tx.to_string()),
            refused: vec![],
            request: None,
        };
        let refused = OnceLock::new();
        let refused_reason = &refused;
        let decide = |current: Option<Payment>, _: Attempt| async move {
            let current = current.ok_or("the payment disappeared")?;
            let release = || Outcome::changed(&current, None, Vec::new());
            if current.status != PaymentStatus::New {
                refused_reason
                    .get_or_init(|| format!("payment {tx} is {}: its amount cannot change", current.status.as_str()));
                return Ok(release());
            }
            let gateway = &self.commands.gateway;
            match self
                .commands
                .psp(|| gateway.update_amount(tenant, &current.psp_reference, amount))
                .await
            {
                Ok(_) => {
                    let next = Payment {
                        amount,
                        version: current.version + 1,
                        ..current.clone()
                    };
                    // No event: a payment without an order is not the tenant's yet (§3.2).
                    Ok(Outcome {
                        payment: Some(PaymentWrite::Replace {
                            payment: next,
                            expected_version: current.version,
                        }),
                        ..Outcome::nothing()
                    })
                }
                Err(PspError::Declined { message, .. }) => {
                    refused_reason.get_or_init(|| format!("declined by the PSP: {message}"));
                    Ok(release().as_failure())
                }
                Err(PspError::Unknown(reason)) => Err(reason),
            }
        };
        self.commands.runner().run(op, decide).await?;
        match refused.into_inner() {
            Some(reason) => Err(CheckoutError::Refused(reason)),
            None => Ok(()),
        }
    }

    /// Creates a payment without an order under a fresh transaction id.
    async fn create_headless(
        &self,
        tenant: &str,
        order: &OrderData,
        amount: Money,
    ) -> Result<CreatedPayment, CheckoutError> {
        let transaction_id = uuid::Uuid::new_v4().to_string();
        let id = OperationId::named(
            "PreOrderPayment",
            &[tenant, &transaction_id],
            &[&amount.minor.to_string(), amount.currency.code()],
        );
        let new = NewPayment {
            tenant,
            transaction_id,
            order,
            amount,
            id,
            return_urls: ReturnUrls::default(),
            method: method_of(order)?,
        };
        self.create(&new, None).await?;
        let payment = self
            .commands
            .store
            .get_payment(tenant, &new.transaction_id)
            .await?
            .ok_or_else(|| CheckoutError::Refused("the PSP did not create the payment".into()))?;
        self.known(tenant, &payment.transaction_id).await;
        self.headless_answer(tenant, &payment).await
    }

    /// A headless payment with the client secret the frontend completes it with.
    async fn headless_answer(&self, tenant: &str, payment: &Payment) -> Result<CreatedPayment, CheckoutError> {
        let intent = self
            .commands
            .psp(|| self.commands.gateway.get_payment(tenant, &payment.psp_reference))
            .await
            .map_err(|e| CheckoutError::Unavailable(e.to_string()))?;
        Ok(CreatedPayment {
            transaction_id: payment.transaction_id.clone(),
            has_order: payment.order_reference.is_some(),
            client_secret: intent.client_secret.map(SecretString::from),
        })
    }

    /// Runs the creation of `new`: the PaymentIntent (manual capture, reconciliation metadata), then the
    /// payment in status `new` with PaymentCreated.
    async fn create(&self, new: &NewPayment<'_>, reference: Option<&str>) -> Result<(), CheckoutError> {
        let declined = OnceLock::new();
        let declined_reason = &declined;
        let op = Operation {
            tenant: new.tenant,
            id: &new.id,
            correlation_id: None,
            payment: None,
            // The same order with another amount: nothing is created; the caller compares the amounts.
            refused: vec![],
            request: None,
        };
        let decide = |_: Option<Payment>, _: Attempt| async move {
            if let Some(reference) = reference {
                let existing = self.commands.store.find_payment_by_order(new.tenant, reference).await;
                match existing {
                    Ok(None) => {}
                    Ok(Some(_)) => return Ok(Outcome::nothing()),
                    Err(e) => return Err(format!("reading the order's payment failed: {e}")),
                }
            }
            let mut metadata = BTreeMap::from([
                ("tenantIdentifier".to_string(), new.tenant.to_string()),
                ("transactionId".to_string(), new.transaction_id.clone()),
            ]);
            if let Some(reference) = reference {
                metadata.insert(ORDER_REFERENCE.to_string(), reference.to_string());
            }
            // Keyed by the transaction id too: a retry with a new id must not replay the first creation.
            let key = OperationId::named("CreatePayment", &[new.tenant, &new.transaction_id], &[]);
            let request = CreatePayment {
                amount: new.amount,
                method: new.method,
                metadata,
                idempotency_key: key.psp_idempotency_key(),
            };
            let gateway = &self.commands.gateway;
            match self.commands.psp(|| gateway.create_payment(new.tenant, &request)).await {
                Ok(intent) => {
                    let mut payment = Payment::new(
                        new.tenant.to_string(),
                        new.transaction_id.clone(),
                        reference.map(str::to_string),
                        intent.id,
                        new.amount,
                        &history_time(&self.commands.clock),
                    );
                    payment.order_item_ids = sales_order_item_ids(&new.order.items);
                    payment.item_amounts = item_amounts(&new.order.items);
                    payment.return_urls = new.return_urls.clone();
                    payment.capture = new.method.capture();
                    payment.psp_customer = intent.customer;
                    // PaymentCreated for a pre-order payment too (§3.2: only `tmp-` ids are left out), so
                    // the shop's back office shows it; without `entityReference` until the order exists.
                    Ok(Outcome {
                        messages: vec![payment_created(&payment)],
                        payment: Some(PaymentWrite::Insert(payment)),
                        ..Outcome::nothing()
                    })
                }
                Err(PspError::Declined { message, .. }) => {
                    tracing::warn!(reason = %message, "the PSP refused to create the payment");
                    // `decide` runs at most once per call, so this is the first and only reason.
                    declined_reason.get_or_init(|| message);
                    Ok(Outcome::nothing().as_failure())
                }
                Err(PspError::Unknown(reason)) => Err(reason),
            }
        };
        self.commands.runner().run(op, decide).await?;
        match declined.into_inner() {
            Some(message) => Err(CheckoutError::Refused(format!("declined by the PSP: {message}"))),
            None => Ok(()),
        }
    }

    /// `POST /private/confirm-pre-order-payment` (§5.4): the headless payment learns its order (payment
    /// and order alias in one commit, the PaymentIntent's metadata too) and takes the status the PSP
    /// reports; PaymentUpdated, then the event of that status. Webhooks kept for it are processed next.
    /// Refused when the authorization failed or the payment is canceled.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn confirm_pre_order_payment(
        &self,
        tenant: &str,
        request: &ConfirmPreOrderPaymentRequest,
    ) -> Result<(), CheckoutError> {
        let tx = request
            .transaction_id()
            .ok_or_else(|| CheckoutError::Invalid("transactionId is missing".into()))?;
        let reference = request.order_reference.trim();
        if reference.is_empty() {
            return Err(CheckoutError::Invalid("orderReference is missing".into()));
        }
        let payment = self.payment(tenant, &tx).await?;
        if payment.order_reference.as_deref().is_some_and(|o| o != reference) {
            return Err(CheckoutError::Refused(format!("payment {tx} belongs to another order")));
        }
        // Checked before leasing the payment; a race past this check fails the commit's alias condition.
        let order_payment = self.commands.store.find_payment_by_order(tenant, reference).await?;
        if order_payment.is_some_and(|p| p.transaction_id != tx) {
            return Err(CheckoutError::Refused(format!(
                "order {reference} already has another payment"
            )));
        }
        let items = request.order_data.as_ref().map(|d| d.items.clone()).unwrap_or_default();
        let id = OperationId::named("ConfirmPreOrderPayment", &[tenant, &tx, reference], &[]);
        let op = Operation {
            tenant,
            id: &id,
            correlation_id: None,
            payment: Some(tx.clone()),
            refused: vec![],
            request: None,
        };
        self.commands
            .runner()
            .run(op, |current, _| self.confirm(tenant, reference, items, current))
            .await?;
        self.known(tenant, &tx).await;
        let payment = self.payment(tenant, &tx).await?;
        match payment.status {
            PaymentStatus::AuthorizationFailed => {
                Err(CheckoutError::Refused("the payment authorization failed".into()))
            }
            PaymentStatus::Canceled => Err(CheckoutError::Refused("the payment is canceled".into())),
            PaymentStatus::New
            | PaymentStatus::Authorized
            | PaymentStatus::CaptureRequested
            | PaymentStatus::Captured
            | PaymentStatus::CaptureFailed
            | PaymentStatus::CancellationFailed => Ok(()),
        }
    }

    /// Decides a confirmation. `Err` carries the reason the PSP's state could not be learned.
    async fn confirm(
        &self,
        tenant: &str,
        reference: &str,
        items: Vec<OrderItem>,
        current: Option<Payment>,
    ) -> Result<Outcome, String> {
        let Some(current) = current else {
            return Err("the payment disappeared".into());
        };
        let metadata = BTreeMap::from([(ORDER_REFERENCE.to_string(), reference.to_string())]);
        let gateway = &self.commands.gateway;
        // Stripe answers the metadata update with the PaymentIntent: that is the status re-read.
        let intent = match self
            .commands
            .psp(|| gateway.update_metadata(tenant, &current.psp_reference, &metadata))
            .await
        {
            Ok(intent) => intent,
            Err(PspError::Unknown(reason)) => return Err(reason),
            Err(declined @ PspError::Declined { .. }) => {
                return Err(format!("reading the PSP's state failed: {declined}"));
            }
        };
        let mut base = current.clone();
        base.order_reference = Some(reference.to_string());
        let ids = sales_order_item_ids(&items);
        if !ids.is_empty() {
            base.order_item_ids = ids;
            base.item_amounts = item_amounts(&items);
        }
        base.decline = intent.decline.clone();
        let at = history_time(&self.commands.clock);
        let moved = match base.status_reported_by_psp(intent.status) {
            PaymentStatus::Captured => base.captured(intent.amount_captured, &at),
            status @ (PaymentStatus::Authorized | PaymentStatus::AuthorizationFailed | PaymentStatus::Canceled) => {
                base.moved_to(status, &at)
            }
            // Not final at the PSP: its webhook moves the payment later.
            PaymentStatus::New
            | PaymentStatus::CaptureRequested
            | PaymentStatus::CaptureFailed
            | PaymentStatus::CancellationFailed => Ok(None),
        };
        let next = match moved {
            Ok(Some(next)) => next,
            Ok(None) => Payment {
                version: base.version + 1,
                ..base
            },
            Err(why) => {
                tracing::warn!(reason = %why, psp_status = intent.status.as_str(), "the PSP's status is not taken over");
                Payment {
                    version: base.version + 1,
                    ..base
                }
            }
        };
        let payload = PaymentPayload {
            order_reference: reference.to_string(),
            order_item_ids: next.order_item_ids.clone(),
            amount: Some(match next.status {
                PaymentStatus::Captured => next.captured,
                _ => next.amount.minor,
            }),
            currency_iso_code: Some(next.amount.currency.code().to_string()),
        };
        let messages = status_message(next.status, payload).into_iter().collect();
        let attach = current.order_reference.is_none();
        let mut outcome = Outcome::changed(&current, Some(next.clone()), messages);
        if attach {
            outcome.payment = Some(PaymentWrite::AttachOrder {
                payment: next,
                expected_version: current.version,
            });
        }
        Ok(outcome)
    }

    /// `POST /private/cancel-pre-order-payment` (§5.4): cancels the PaymentIntent and the payment
    /// (PaymentUpdated). Refused when the payment can no longer be canceled.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn cancel_pre_order_payment(
        &self,
        tenant: &str,
        request: &CancelPreOrderPaymentRequest,
    ) -> Result<(), CheckoutError> {
        let tx = request
            .transaction_id()
            .ok_or_else(|| CheckoutError::Invalid("transactionId is missing".into()))?;
        self.payment(tenant, &tx).await?;
        let id = OperationId::named("CancelPreOrderPayment", &[tenant, &tx], &[]);
        let op = Operation {
            tenant,
            id: &id,
            correlation_id: None,
            payment: Some(tx.clone()),
            refused: vec![],
            request: None,
        };
        self.commands
            .runner()
            .run(op, |current, attempt| self.cancel(tenant, attempt, current))
            .await?;
        let payment = self.payment(tenant, &tx).await?;
        match payment.status {
            PaymentStatus::Canceled => Ok(()),
            status @ (PaymentStatus::New
            | PaymentStatus::Authorized
            | PaymentStatus::AuthorizationFailed
            | PaymentStatus::CaptureRequested
            | PaymentStatus::Captured
            | PaymentStatus::CaptureFailed
            | PaymentStatus::CancellationFailed) => Err(CheckoutError::Refused(format!(
                "a payment in status {} could not be canceled",
                status.as_str()
            ))),
        }
    }

    /// Decides a cancellation. `Err` carries the reason of an unknown PSP outcome.
    async fn cancel(&self, tenant: &str, attempt: Attempt, current: Option<Payment>) -> Result<Outcome, String> {
        let Some(current) = current else {
            return Err("the payment disappeared".into());
        };
        if let Err(why) = current.plan_cancel() {
            tracing::warn!(reason = %why, "cancellation refused");
            return Ok(Outcome::changed(&current, None, vec![]));
        }
        let key = attempt.id.psp_idempotency_key();
        let cancel = || self.commands.gateway.cancel(tenant, &current.psp_reference, &key);
        let result = self
            .commands
            .settle(
                tenant,
                &current,
                attempt.retrying_unknown,
                |intent: &PspPaymentIntent| intent.status == PaymentStatus::Canceled,
                cancel,
            )
            .await;
        let at = history_time(&self.commands.clock);
        match result {
            Ok(intent) => match intent.status {
                PaymentStatus::Canceled => {
                    let next = current.moved_to(PaymentStatus::Canceled, &at).ok().flatten();
                    Ok(Outcome::changed(&current, next, vec![]))
                }
                other @ (PaymentStatus::New
                | PaymentStatus::Authorized
                | PaymentStatus::AuthorizationFailed
                | PaymentStatus::CaptureRequested
                | PaymentStatus::Captured
                | PaymentStatus::CaptureFailed
                | PaymentStatus::CancellationFailed) => {
                    tracing::warn!(psp_status = other.as_str(), "the PSP did not cancel the payment");
                    Ok(Outcome::changed(&current, None, vec![]).as_failure())
                }
            },
            Err(PspError::Declined { message, .. }) => {
                tracing::warn!(reason = %message, "the PSP refused the cancellation");
                Ok(Outcome::changed(&current, None, vec![]).as_failure())
            }
            Err(PspError::Unknown(reason)) => Err(reason),
        }
    }

    /// The payment `tx` of `tenant`, or [`CheckoutError::UnknownPayment`].
    async fn payment(&self, tenant: &str, tx: &str) -> Result<Payment, CheckoutError> {
        self.commands
            .store
            .get_payment(tenant, tx)
            .await?
            .ok_or_else(|| CheckoutError::UnknownPayment(tx.to_string()))
    }

    /// Tells the listener; its failure does not undo the call (the webhooks it keeps are retried).
    async fn known(&self, tenant: &str, tx: &str) {
        if let Err(e) = self.listener.after_payment_known(tenant, tx).await {
            tracing::warn!(error = %e, transaction_id = tx, "the payment-known listener failed");
        }
    }
}

#[cfg(test)]
#[path = "checkout_tests.rs"]
mod tests;
