//! In-memory twins of the ports, for unit and handler tests. They keep the same conditions as the real
//! adapters (one mutex stands in for DynamoDB's conditional writes and transactions). Every call yields
//! to the scheduler first, so concurrent callers interleave as they would against a real service.

use crate::acp::BusEvent;
use crate::domain::{Money, Payment, PaymentMethod, PaymentStatus, Refund, RefundStatus};
use crate::ports::customer::{CustomerDetails, PspCustomer};
use crate::ports::gateway::CreatePayment;
use crate::ports::{
    Attention, Claim, ClaimRequest, Clock, Commit, EventPublisher, InboxEntry, KeyCheck, KeyCheckError,
    OperationRecord, OperationState, PaymentGateway, PaymentStore, PaymentWrite, PspError, PspPaymentIntent, PspRefund,
    PublishError, StoreError, TenantRecord, TenantStore,
};
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;
use tokio::task::yield_now;

mod onboarding;
mod transfers;
pub use onboarding::MemoryAccounts;
pub use transfers::{MemoryTransfer, MemoryTransfers};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another test thread panicked; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Key = (String, String);

#[derive(Clone, Debug)]
struct LeasedPayment {
    payment: Payment,
    lease: Option<(String, i64)>,
}

#[derive(Default)]
struct StoreState {
    payments: HashMap<Key, LeasedPayment>,
    orders: HashMap<Key, String>,
    refunds: HashMap<(String, String, String), Refund>,
    operations: HashMap<Key, OperationRecord>,
    /// Keyed by tenant, transaction id, event id.
    inbox: BTreeMap<(String, String, String), InboxEntry>,
    tenants: HashMap<String, TenantRecord>,
}

/// The payment store in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<StoreState>,
    /// Merchant onboardings (the same table as the payments in DynamoDB; kept apart here).
    onboardings: Mutex<onboarding::Onboardings>,
    /// Transfer ledgers (the same table in DynamoDB; kept apart here).
    transfers: Mutex<transfers::Ledgers>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Frees `tenant`'s payment `transaction_id` if operation `key` holds it.
fn release_payment(s: &mut StoreState, tenant: &str, transaction_id: Option<&str>, key: &str) {
    if let Some(tx) = transaction_id
        && let Some(p) = s.payments.get_mut(&(tenant.to_string(), tx.to_string()))
        && p.lease.as_ref().is_some_and(|(holder, _)| holder == key)
    {
        p.lease = None;
    }
}

fn lease_free(lease: &Option<(String, i64)>, key: &str, now: i64) -> bool {
    match lease {
        None => true,
        Some((holder, until)) => holder == key || *until < now,
    }
}

impl PaymentStore for MemoryStore {
    async fn insert_payment(&self, payment: &Payment) -> Result<(), StoreError> {
        yield_now().await;
        let mut s = lock(&self.state);
        let key = (payment.tenant.clone(), payment.transaction_id.clone());
        let order = payment.order_reference.clone().map(|o| (payment.tenant.clone(), o));
        if s.payments.contains_key(&key) || order.as_ref().is_some_and(|o| s.orders.contains_key(o)) {
            return Err(StoreError::Conflict("payment exists".into()));
        }
        if let Some(o) = order {
            s.orders.insert(o, payment.transaction_id.clone());
        }
        s.payments.insert(
            key,
            LeasedPayment {
                payment: payment.clone(),
                lease: None,
            },
        );
        Ok(())
    }

    async fn get_payment(&self, tenant: &str, transaction_id: &str) -> Result<Option<Payment>, StoreError> {
        yield_now().await;
        let s = lock(&self.state);
        Ok(s.payments
            .get(&(tenant.to_string(), transaction_id.to_string()))
            .map(|p| p.payment.clone()))
    }

    async fn find_payment_by_order(&self, tenant: &str, order_reference: &str) -> Result<Option<Payment>, StoreError> {
        yield_now().await;
        let s = lock(&self.state);
        Ok(s.orders
            .get(&(tenant.to_string(), order_reference.to_string()))
            .and_then(|tx| s.payments.get(&(tenant.to_string(), tx.clone())))
            .map(|p| p.payment.clone()))
    }

    async fn find_payment_by_psp_reference(
        &self,
        tenant: &str,
        psp_reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        yield_now().await;
        let s = lock(&self.state);
        Ok(s.payments
            .values()
            .map(|p| &p.payment)
            .find(|p| {
                p.tenant == tenant
                    && (p.psp_reference == psp_reference || p.psp_customer.as_deref() == Some(psp_reference))
            })
            .cloned())
    }

    async fn get_refund(
        &self,
        tenant: &str,
        transaction_id: &str,
        refund_id: &str,
    ) -> Result<Option<Refund>, StoreError> {
        yield_now().await;
        let s = lock(&self.state);
        Ok(s.refunds
            .get(&(tenant.to_string(), transaction_id.to_string(), refund_id.to_string()))
            .cloned())
    }

    async fn get_operation(&self, tenant: &str, key: &str) -> Result<Option<OperationRecord>, StoreError> {
        yield_now().await;
        Ok(lock(&self.state)
            .operations
            .get(&(tenant.to_string(), key.to_string()))
            .cloned())
    }

    async fn payment_holder(&self, tenant: &str, transaction_id: &str) -> Result<Option<String>, StoreError> {
        yield_now().await;
        Ok(lock(&self.state)
            .payments
            .get(&(tenant.to_string(), transaction_id.to_string()))
            .and_then(|p| p.lease.as_ref().map(|(holder, _)| holder.clone())))
    }

    async fn claim(&self, r: &ClaimRequest) -> Result<Claim, StoreError> {
        yield_now().await;
        let mut s = lock(&self.state);
        let op_key = (r.tenant.clone(), r.key.clone());
        let (attempts, outcome_unknown) = match s.operations.get(&op_key) {
            None => (0, false),
            Some(op)
                if op.state == OperationState::InProgress
                    && op.lease_until < r.now
                    && op.fingerprint == r.fingerprint =>
            {
                // Its worker died: whether it reached the PSP is unknown.
                (op.attempts + 1, true)
            }
            Some(op) => return Ok(Claim::Existing(op.clone())),
        };
        if let Some(tx) = &r.payment {
            // Like DynamoDB's `attribute_exists(pk)` condition: a missing payment cannot be leased.
            match s.payments.get_mut(&(r.tenant.clone(), tx.clone())) {
                Some(p) if lease_free(&p.lease, &r.key, r.now) => {
                    p.lease = Some((r.key.clone(), r.payment_lease_until()));
                }
                Some(_) | None => return Ok(Claim::PaymentBusy),
            }
        }
        s.operations.insert(
            op_key,
            OperationRecord {
                tenant: r.tenant.clone(),
                key: r.key.clone(),
                fingerprint: r.fingerprint.clone(),
                state: OperationState::InProgress,
                lease_token: r.token.clone(),
                lease_until: r.lease_until,
                attempts,
                outcome_unknown,
                payment: r.payment.clone(),
                events: Vec::new(),
                published: false,
                failed: false,
                request: r.request.clone(),
                attention: Some(Attention::InProgress),
                attention_due: Some(r.attention_due),
                publish_lease_until: 0,
                expires_at: r.expires_at,
            },
        );
        Ok(Claim::Acquired {
            attempts,
            outcome_unknown,
        })
    }

    async fn release_unknown(&self, tenant: &str, key: &str, token: &str) -> Result<(), StoreError> {
        yield_now().await;
        let mut s = lock(&self.state);
        let op_key = (tenant.to_string(), key.to_string());
        let op = s.operations.get(&op_key).cloned();
        let Some(op) = op.filter(|o| o.state == OperationState::InProgress && o.lease_token == token) else {
            return Err(StoreError::Conflict("lease lost".into()));
        };
        if op.request.is_none() {
            release_payment(&mut s, tenant, op.payment.as_deref(), key);
        }
        if let Some(o) = s.operations.get_mut(&op_key) {
            o.outcome_unknown = true;
            o.lease_until = 0;
        }
        Ok(())
    }

    async fn commit(&self, c: &Commit) -> Result<(), StoreError> {
        yield_now().await;
        let mut s = lock(&self.state);
        let op_key = (c.tenant.clone(), c.key.clone());
        // Check every condition first, then apply: all or nothing, like a transaction.
        match s.operations.get(&op_key) {
            Some(op) if op.state == OperationState::InProgress && op.lease_token == c.token => {}
            _ => return Err(StoreError::Conflict("operation lease lost".into())),
        }
        if let Some(earlier) = &c.fails
            && !s.operations.contains_key(&(c.tenant.clone(), earlier.clone()))
        {
            return Err(StoreError::Conflict("the failed operation's record is gone".into()));
        }
        let holds = |p: &LeasedPayment| p.lease.as_ref().is_some_and(|(holder, _)| holder == &c.key);
        let replaceable = |s: &StoreState, payment: &Payment, expected_version: u64| {
            let key = (c.tenant.clone(), payment.transaction_id.clone());
            match s.payments.get(&key) {
                Some(p) if holds(p) && p.payment.version == expected_version => Ok(()),
                _ => Err(StoreError::Conflict("payment changed or lease lost".into())),
            }
        };
        let order_key = |payment: &Payment| payment.order_reference.clone().map(|o| (c.tenant.clone(), o));
        match &c.payment {
            None => {}
            Some(PaymentWrite::Replace {
                payment,
                expected_version,
            }) => replaceable(&s, payment, *expected_version)?,
            Some(PaymentWrite::AttachOrder {
                payment,
                expected_version,
            }) => {
                replaceable(&s, payment, *expected_version)?;
                let taken = order_key(payment)
                    .and_then(|o| s.orders.get(&o))
                    .is_some_and(|tx| tx != &payment.transaction_id);
                if taken {
                    return Err(StoreError::Conflict("the order has another payment".into()));
                }
            }
            Some(PaymentWrite::Release { transaction_id }) => {
                match s.payments.get(&(c.tenant.clone(), transaction_id.clone())) {
                    Some(p) if holds(p) => {}
                    _ => return Err(StoreError::Conflict("payment lease lost".into())),
                }
            }
            Some(PaymentWrite::Insert(payment)) => {
                let exists = s
                    .payments
                    .contains_key(&(c.tenant.clone(), payment.transaction_id.clone()));
                if exists || order_key(payment).is_some_and(|o| s.orders.contains_key(&o)) {
                    return Err(StoreError::Conflict("payment exists".into()));
                }
            }
        }
        match &c.payment {
            None => {}
            Some(
                write @ (PaymentWrite::Replace { payment, .. }
                | PaymentWrite::AttachOrder { payment, .. }
                | PaymentWrite::Insert(payment)),
            ) => {
                // A replace keeps the order alias as it is; the other two create it.
                if !matches!(write, PaymentWrite::Replace { .. })
                    && let Some(o) = order_key(payment)
                {
                    s.orders.insert(o, payment.transaction_id.clone());
                }
                let key = (c.tenant.clone(), payment.transaction_id.clone());
                s.payments.insert(
                    key,
                    LeasedPayment {
                        payment: payment.clone(),
                        lease: None,
                    },
                );
            }
            Some(PaymentWrite::Release { transaction_id }) => {
                if let Some(p) = s.payments.get_mut(&(c.tenant.clone(), transaction_id.clone())) {
                    p.lease = None;
                }
            }
        }
        if let Some(r) = &c.refund {
            s.refunds.insert(
                (c.tenant.clone(), r.transaction_id.clone(), r.refund_id.clone()),
                r.clone(),
            );
        }
        if let Some(op) = s.operations.get_mut(&op_key) {
            op.state = OperationState::Completed;
            op.events = c.events.clone();
            op.published = false;
            op.failed = c.failed;
            op.publish_lease_until = c.publish_lease_until;
            op.attention = Some(Attention::Outbox);
            op.attention_due = Some(c.publish_lease_until);
        }
        if let Some(earlier) = c
            .fails
            .as_ref()
            .and_then(|k| s.operations.get_mut(&(c.tenant.clone(), k.clone())))
        {
            earlier.failed = true;
        }
        Ok(())
    }

    async fn take_publish_lease(&self, tenant: &str, key: &str, now: i64, until: i64) -> Result<bool, StoreError> {
        yield_now().await;
        let mut s = lock(&self.state);
        match s.operations.get_mut(&(tenant.to_string(), key.to_string())) {
            Some(op) if op.state == OperationState::Completed && !op.published && op.publish_lease_until < now => {
                op.publish_lease_until = until;
                op.attention_due = Some(until);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_published(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        yield_now().await;
        let mut s = lock(&self.state);
        if let Some(op) = s.operations.get_mut(&(tenant.to_string(), key.to_string())) {
            op.published = true;
            op.attention = None;
            op.attention_due = None;
        }
        Ok(())
    }

    async fn due_operations(
        &self,
        kind: Attention,
        now: i64,
        limit: usize,
    ) -> Result<Vec<OperationRecord>, StoreError> {
        yield_now().await;
        let s = lock(&self.state);
        let mut due: Vec<OperationRecord> = s
            .operations
            .values()
            .filter(|op| op.attention == Some(kind) && op.attention_due.is_some_and(|d| d <= now))
            .cloned()
            .collect();
        due.sort_by_key(|op| op.attention_due);
        due.truncate(limit);
        Ok(due)
    }

    async fn clear_attention(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        yield_now().await;
        let mut s = lock(&self.state);
        let Some(op) = s.operations.get_mut(&(tenant.to_string(), key.to_string())) else {
            return Ok(());
        };
        op.attention = None;
        op.attention_due = None;
        let payment = op.payment.clone();
        release_payment(&mut s, tenant, payment.as_deref(), key);
        Ok(())
    }

    async fn has_open_payments(&self, tenant: &str) -> Result<bool, StoreError> {
        yield_now().await;
        let s = lock(&self.state);
        Ok(s.payments.iter().any(|((t, _), p)| t == tenant && p.payment.is_open())
            || s.operations
                .values()
                .any(|op| op.tenant == tenant && op.state == OperationState::InProgress && op.outcome_unknown)
            || lock(&self.transfers)
                .values()
                .any(|l| l.tenant == tenant && l.has_open()))
    }

    async fn due_expiry_warnings(&self, now: i64, limit: usize) -> Result<Vec<Payment>, StoreError> {
        yield_now().await;
        let s = lock(&self.state);
        let mut due: Vec<Payment> = s
            .payments
            .values()
            .map(|p| &p.payment)
            .filter(|p| p.expiry_warning_due().is_some_and(|d| d <= now))
            .cloned()
            .collect();
        due.sort_by_key(Payment::expiry_warning_due);
        due.truncate(limit);
        Ok(due)
    }

    async fn due_inbox(&self, now: i64, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        yield_now().await;
        let s = lock(&self.state);
        let mut due: Vec<InboxEntry> = s
            .inbox
            .values()
            .filter(|e| !e.given_up && e.retry_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|e| e.retry_at);
        due.truncate(limit);
        Ok(due)
    }

    async fn put_inbox(&self, entry: &InboxEntry) -> Result<(), StoreError> {
        yield_now().await;
        let key = (
            entry.tenant.clone(),
            entry.event.transaction_id.clone(),
            entry.event.event_id.clone(),
        );
        lock(&self.state).inbox.insert(key, entry.clone());
        Ok(())
    }

    async fn inbox(&self, tenant: &str, transaction_id: &str) -> Result<Vec<InboxEntry>, StoreError> {
        yield_now().await;
        let s = lock(&self.state);
        let mut entries: Vec<InboxEntry> = s
            .inbox
            .iter()
            .filter(|((t, tx, _), _)| t == tenant && tx == transaction_id)
            .map(|(_, e)| e.clone())
            .collect();
        entries.sort_by(|a, b| a.order().cmp(&b.order()));
        Ok(entries)
    }

    async fn delete_inbox(&self, tenant: &str, transaction_id: &str, event_id: &str) -> Result<(), StoreError> {
        yield_now().await;
        lock(&self.state)
            .inbox
            .remove(&(tenant.to_string(), transaction_id.to_string(), event_id.to_string()));
        Ok(())
    }
}

impl TenantStore for MemoryStore {
    async fn get_tenant(&self, tenant: &str) -> Result<Option<TenantRecord>, StoreError> {
        yield_now().await;
        Ok(lock(&self.state).tenants.get(tenant).cloned())
    }

    async fn put_tenant(&self, record: &TenantRecord, expected_version: Option<u64>) -> Result<(), StoreError> {
        yield_now().await;
        let mut s = lock(&self.state);
        let stored = s.tenants.get(&record.tenant).map(|r| r.version);
        if stored != expected_version {
            return Err(StoreError::Conflict("the tenant record changed".into()));
        }
        s.tenants.insert(record.tenant.clone(), record.clone());
        Ok(())
    }

    async fn clear_tenant_outbox(&self, tenant: &str, version: u64) -> Result<(), StoreError> {
        yield_now().await;
        if let Some(record) = lock(&self.state).tenants.get_mut(tenant)
            && record.version == version
        {
            record.outbox.clear();
        }
        Ok(())
    }
}

/// An event bus in memory: keeps what was published; can be told to fail.
#[derive(Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<BusEvent>>,
    failures: Mutex<u32>,
}

impl MemoryPublisher {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event published so far, in order.
    pub fn published(&self) -> Vec<BusEvent> {
        lock(&self.published).clone()
    }

    /// The next `n` publish calls fail without publishing anything.
    pub fn fail_next(&self, n: u32) {
        *lock(&self.failures) = n;
    }
}

impl EventPublisher for MemoryPublisher {
    async fn publish(&self, events: &[BusEvent]) -> Result<(), PublishError> {
        yield_now().await;
        {
            let mut failures = lock(&self.failures);
            if *failures > 0 {
                *failures -= 1;
                return Err(PublishError {
                    failed: events.len(),
                    total: events.len(),
                    reason: "injected".into(),
                });
            }
        }
        lock(&self.published).extend_from_slice(events);
        Ok(())
    }
}

/// A fault to inject into the next matching [`MemoryGateway`] call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayFault {
    /// Answer with this error: an `Unknown` one before the request reaches the PSP (the network failed),
    /// a `Declined` one as the PSP's answer (saved under the idempotency key like any answer).
    Fail(PspError),
    /// Do the operation, then answer "unknown" (the response was lost).
    ApplyThenLose,
}

#[derive(Clone, Debug)]
struct MemoryIntent {
    intent: PspPaymentIntent,
    refunded: i64,
    metadata: BTreeMap<String, String>,
    /// Its refunds, with their reconciliation data.
    refunds: Vec<(PspRefund, BTreeMap<String, String>)>,
}

#[derive(Clone, Debug)]
enum Saved {
    Intent(Result<PspPaymentIntent, PspError>),
    Refund(Result<PspRefund, PspError>),
}

#[derive(Default)]
struct GatewayState {
    intents: HashMap<String, MemoryIntent>,
    /// Stripe's idempotency layer: the first result per key is replayed.
    idempotency: HashMap<String, Saved>,
    faults: VecDeque<(&'static str, GatewayFault)>,
    /// Operations that reached the PSP and took effect, by name.
    effects: BTreeMap<&'static str, u32>,
    next_id: u64,
    /// The status refunds end in (succeeded unless set).
    refund_status: Option<RefundStatus>,
    /// Whether new payments may be captured in several parts (Stripe multicapture).
    multicapture: bool,
    /// Keys the PSP refuses.
    refused_keys: BTreeSet<String>,
    /// What an express checkout collected, by PSP payment.
    customers: HashMap<String, PspCustomer>,
}

/// A PSP in memory with Stripe's semantics: manual capture, one capture (or several with multicapture,
/// the last one final), partial refunds up to the captured amount, idempotency keys replayed. Faults can
/// be injected per operation.
#[derive(Default)]
pub struct MemoryGateway {
    state: Mutex<GatewayState>,
}

impl MemoryGateway {
    /// An empty PSP.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every idempotency key, as Stripe does after 24 hours.
    pub fn forget_idempotency_keys(&self) {
        lock(&self.state).idempotency.clear();
    }

    /// The shopper of PSP payment `psp_reference` gave `customer` (an express checkout collected it).
    pub fn set_customer_details(&self, psp_reference: &str, customer: PspCustomer) {
        lock(&self.state).customers.insert(psp_reference.to_string(), customer);
    }

    /// From now on the PSP refuses `key` (as Stripe does a rolled or revoked one).
    pub fn refuse_key(&self, key: &str) {
        lock(&self.state).refused_keys.insert(key.to_string());
    }

    /// Whether payments created from now on offer multicapture (off unless set).
    pub fn offer_multicapture(&self, on: bool) {
        lock(&self.state).multicapture = on;
    }

    /// Adds an authorized payment of `amount` minor units, as if the customer had paid; returns its id.
    pub fn authorized_payment(&self, amount: i64, currency: &str) -> String {
        let mut s = lock(&self.state);
        s.next_id += 1;
        let id = format!("pi_mem_{}", s.next_id);
        let intent = PspPaymentIntent {
            id: id.clone(),
            status: PaymentStatus::Authorized,
            amount,
            amount_captured: 0,
            currency: currency.to_string(),
            client_secret: None,
            processing: false,
            decline: None,
            multicapture: s.multicapture,
            customer: None,
        };
        s.intents.insert(
            id.clone(),
            MemoryIntent {
                intent,
                refunded: 0,
                metadata: BTreeMap::new(),
                refunds: Vec::new(),
            },
        );
        id
    }

    /// The customer finished (or failed) paying for payment `id` in the shop's frontend: the PSP now
    /// reports `status`. False if the PSP does not know `id`.
    pub fn customer_completes(&self, id: &str, status: PaymentStatus) -> bool {
        match lock(&self.state).intents.get_mut(id) {
            Some(i) => {
                i.intent.status = status;
                true
            }
            None => false,
        }
    }

    /// The reconciliation metadata the PSP holds for payment `id`.
    pub fn metadata(&self, id: &str) -> Option<BTreeMap<String, String>> {
        lock(&self.state).intents.get(id).map(|i| i.metadata.clone())
    }

    /// Injects `fault` into the next call of `operation` (`create_payment`, `capture`, `cancel`, `refund`,
    /// `get_payment`, `update_metadata`).
    pub fn inject(&self, operation: &'static str, fault: GatewayFault) {
        lock(&self.state).faults.push_back((operation, fault));
    }

    /// Refunds from now on end in `status` (e.g. `pending`, settled later by a refund webhook).
    pub fn refunds_end_in(&self, status: RefundStatus) {
        lock(&self.state).refund_status = Some(status);
    }

    /// How many times `operation` took effect at the PSP.
    pub fn effects(&self, operation: &str) -> u32 {
        lock(&self.state).effects.get(operation).copied().unwrap_or(0)
    }

    /// Minor units refunded at the PSP for a payment.
    pub fn refunded(&self, id: &str) -> i64 {
        lock(&self.state).intents.get(id).map(|i| i.refunded).unwrap_or(0)
    }

    /// The PSP's current view of a payment.
    pub fn intent(&self, id: &str) -> Option<PspPaymentIntent> {
        lock(&self.state).intents.get(id).map(|i| i.intent.clone())
    }

    fn take_fault(s: &mut GatewayState, operation: &str) -> Option<GatewayFault> {
        let pos = s.faults.iter().position(|(op, _)| *op == operation)?;
        s.faults.remove(pos).map(|(_, f)| f)
    }

    fn declined(message: &str) -> PspError {
        PspError::Declined {
            code: "invalid_request_error".into(),
            message: message.into(),
        }
    }

    /// Runs one mutating call with Stripe's idempotency and the injected faults.
    fn mutate<T: Clone>(
        &self,
        operation: &'static str,
        key: &str,
        wrap: fn(Result<T, PspError>) -> Saved,
        unwrap: fn(&Saved) -> Option<Result<T, PspError>>,
        apply: impl FnOnce(&mut GatewayState) -> Result<T, PspError>,
    ) -> Result<T, PspError> {
        let mut s = lock(&self.state);
        let fault = Self::take_fault(&mut s, operation);
        // An unknown outcome stands for the network: the request never reaches the PSP.
        if let Some(GatewayFault::Fail(e @ PspError::Unknown(_))) = fault {
            return Err(e);
        }
        // Everything else is the PSP's answer, which goes through its idempotency layer first.
        if let Some(saved) = s.idempotency.get(key).and_then(unwrap) {
            return saved;
        }
        let lose_response = fault == Some(GatewayFault::ApplyThenLose);
        let result = match fault {
            Some(GatewayFault::Fail(declined)) => Err(declined),
            Some(GatewayFault::ApplyThenLose) | None => apply(&mut s),
        };
        if result.is_ok() {
            *s.effects.entry(operation).or_default() += 1;
        }
        s.idempotency.insert(key.to_string(), wrap(result.clone()));
        if lose_response {
            Err(PspError::Unknown("response lost (injected)".into()))
        } else {
            result
        }
    }
}

fn intent_mut<'a>(s: &'a mut GatewayState, id: &str) -> Result<&'a mut MemoryIntent, PspError> {
    s.intents
        .get_mut(id)
        .ok_or_else(|| MemoryGateway::declined("No such payment_intent"))
}

fn saved_intent(saved: &Saved) -> Option<Result<PspPaymentIntent, PspError>> {
    match saved {
        Saved::Intent(r) => Some(r.clone()),
        Saved::Refund(_) => None,
    }
}

fn saved_refund(saved: &Saved) -> Option<Result<PspRefund, PspError>> {
    match saved {
        Saved::Refund(r) => Some(r.clone()),
        Saved::Intent(_) => None,
    }
}

impl CustomerDetails for MemoryGateway {
    async fn customer_details(&self, _tenant: &str, psp_reference: &str) -> Result<PspCustomer, PspError> {
        yield_now().await;
        Ok(lock(&self.state)
            .customers
            .get(psp_reference)
            .cloned()
            .unwrap_or_default())
    }
}

impl KeyCheck for MemoryGateway {
    async fn check_key(&self, key: &SecretString) -> Result<(), KeyCheckError> {
        yield_now().await;
        if lock(&self.state).refused_keys.contains(key.expose_secret()) {
            return Err(KeyCheckError::Refused("the PSP refuses the key".into()));
        }
        Ok(())
    }
}

impl PaymentGateway for MemoryGateway {
    async fn create_payment(&self, _tenant: &str, request: &CreatePayment) -> Result<PspPaymentIntent, PspError> {
        yield_now().await;
        self.mutate(
            "create_payment",
            &request.idempotency_key,
            Saved::Intent,
            saved_intent,
            |s| {
                s.next_id += 1;
                let intent = PspPaymentIntent {
                    id: format!("pi_mem_{}", s.next_id),
                    status: PaymentStatus::New,
                    amount: request.amount.minor,
                    amount_captured: 0,
                    currency: request.amount.currency.code().to_string(),
                    client_secret: Some(format!("pi_mem_{}_secret", s.next_id)),
                    processing: false,
                    decline: None,
                    multicapture: s.multicapture,
                    // A bank transfer gets a customer of its own, as at Stripe.
                    customer: (request.method == PaymentMethod::BankTransfer).then(|| format!("cus_mem_{}", s.next_id)),
                };
                s.intents.insert(
                    intent.id.clone(),
                    MemoryIntent {
                        intent: intent.clone(),
                        refunded: 0,
                        metadata: request.metadata.clone(),
                        refunds: Vec::new(),
                    },
                );
                Ok(intent)
            },
        )
    }

    async fn get_payment(&self, _tenant: &str, psp_reference: &str) -> Result<PspPaymentIntent, PspError> {
        yield_now().await;
        let mut s = lock(&self.state);
        if let Some(GatewayFault::Fail(e)) = Self::take_fault(&mut s, "get_payment") {
            return Err(e);
        }
        intent_mut(&mut s, psp_reference).map(|i| i.intent.clone())
    }

    async fn update_metadata(
        &self,
        _tenant: &str,
        psp_reference: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<PspPaymentIntent, PspError> {
        yield_now().await;
        let mut s = lock(&self.state);
        if let Some(GatewayFault::Fail(e)) = Self::take_fault(&mut s, "update_metadata") {
            return Err(e);
        }
        let i = intent_mut(&mut s, psp_reference)?;
        i.metadata.extend(metadata.clone());
        Ok(i.intent.clone())
    }

    async fn update_amount(
        &self,
        _tenant: &str,
        psp_reference: &str,
        amount: Money,
    ) -> Result<PspPaymentIntent, PspError> {
        let amount = amount.minor;
        yield_now().await;
        let mut s = lock(&self.state);
        if let Some(GatewayFault::Fail(e)) = Self::take_fault(&mut s, "update_amount") {
            return Err(e);
        }
        let i = intent_mut(&mut s, psp_reference)?;
        if i.intent.status != PaymentStatus::New {
            return Err(Self::declined("the amount of a paid PaymentIntent cannot change"));
        }
        i.intent.amount = amount;
        Ok(i.intent.clone())
    }

    async fn capture(
        &self,
        _t: &str,
        psp_reference: &str,
        amount: Money,
        final_capture: bool,
        key: &str,
    ) -> Result<PspPaymentIntent, PspError> {
        let amount = amount.minor;
        yield_now().await;
        self.mutate("capture", key, Saved::Intent, saved_intent, |s| {
            let i = intent_mut(s, psp_reference)?;
            if i.intent.status != PaymentStatus::Authorized {
                return Err(Self::declined("This PaymentIntent could not be captured"));
            }
            if !final_capture && !i.intent.multicapture {
                return Err(Self::declined("final_capture=false needs multicapture"));
            }
            if amount > i.intent.amount - i.intent.amount_captured {
                return Err(Self::declined("amount_to_capture exceeds amount_capturable"));
            }
            // Zero only releases the rest of a payment captured in parts before.
            if amount < 0 || (amount == 0 && !(final_capture && i.intent.amount_captured > 0)) {
                return Err(Self::declined("amount_to_capture must be positive"));
            }
            i.intent.amount_captured += amount;
            if final_capture {
                i.intent.status = PaymentStatus::Captured;
            }
            Ok(i.intent.clone())
        })
    }

    async fn cancel(&self, _t: &str, psp_reference: &str, key: &str) -> Result<PspPaymentIntent, PspError> {
        yield_now().await;
        self.mutate("cancel", key, Saved::Intent, saved_intent, |s| {
            let i = intent_mut(s, psp_reference)?;
            match i.intent.status {
                PaymentStatus::Captured | PaymentStatus::Canceled => {
                    Err(Self::declined("This PaymentIntent could not be canceled"))
                }
                _ => {
                    i.intent.status = PaymentStatus::Canceled;
                    Ok(i.intent.clone())
                }
            }
        })
    }

    async fn find_refund(
        &self,
        _t: &str,
        psp_reference: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<PspRefund>, PspError> {
        yield_now().await;
        let mut s = lock(&self.state);
        if let Some(GatewayFault::Fail(e)) = Self::take_fault(&mut s, "find_refund") {
            return Err(e);
        }
        let refunds = &intent_mut(&mut s, psp_reference)?.refunds;
        Ok(refunds
            .iter()
            .find(|(_, metadata)| metadata.get(key).is_some_and(|v| v == value))
            .map(|(refund, _)| refund.clone()))
    }

    async fn refund(
        &self,
        _t: &str,
        psp_reference: &str,
        amount: Money,
        key: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<PspRefund, PspError> {
        let amount = amount.minor;
        yield_now().await;
        self.mutate("refund", key, Saved::Refund, saved_refund, |s| {
            s.next_id += 1;
            let id = format!("re_mem_{}", s.next_id);
            let status = s.refund_status.unwrap_or(RefundStatus::Succeeded);
            let i = intent_mut(s, psp_reference)?;
            if amount > i.intent.amount_captured - i.refunded {
                return Err(Self::declined("Refund amount is greater than unrefunded amount"));
            }
            i.refunded += amount;
            let refund = PspRefund { id, status, amount };
            i.refunds.push((refund.clone(), metadata.clone()));
            Ok(refund)
        })
    }
}

/// A clock that stands still unless moved.
pub struct FixedClock {
    now: AtomicI64,
}

impl FixedClock {
    /// A clock at `at`.
    pub fn at(at: OffsetDateTime) -> Self {
        FixedClock {
            now: AtomicI64::new(at.unix_timestamp()),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, seconds: i64) {
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.now.load(Ordering::SeqCst)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::store_contract;

    #[tokio::test]
    async fn the_memory_store_honours_the_store_contract() {
        store_contract::run_all(&MemoryStore::new()).await;
        store_contract::run_tenant_checks(&MemoryStore::new()).await;
    }
}
