//! [`PaymentStore`] on one DynamoDB table (keys `pk`/`sk`, TTL attribute `expires_at` in epoch seconds).
//!
//! Item layout (`{t}` tenant, `{tx}` transaction id):
//!
//! | item      | `pk`                          | `sk`            | attributes                                   |
//! |-----------|-------------------------------|-----------------|----------------------------------------------|
//! | payment   | `TENANT#{t}#PAYMENT#{tx}`     | `PAYMENT`       | the [`Payment`] fields, `op_lease`, `op_lease_until` |
//! | order     | `TENANT#{t}#ORDER#{order}`    | `ORDER`         | `transaction_id`                             |
//! | psp       | `TENANT#{t}#PSP#{pi}`         | `PSP`           | `transaction_id`                             |
//! | refund    | `TENANT#{t}#PAYMENT#{tx}`     | `REFUND#{id}`   | the [`Refund`] fields                        |
//! | operation | `TENANT#{t}#OP#{key}`         | `OP`            | the [`OperationRecord`] fields               |
//! | inbox     | `TENANT#{t}#INBOX#{tx}`       | `EVENT#{evt}`   | the [`InboxEntry`] fields                    |
//! | open      | `TENANT#{t}#OPEN`             | `PAYMENT#{tx}`  | none: exists while the payment is open       |
//! | tenant    | `TENANT#{t}`                  | `CONFIG`        | the [`TenantRecord`] fields (no secrets)     |
//!
//! The *open* marker is written in the same transaction as its payment (put while the payment is neither
//! captured nor canceled, deleted otherwise), so "does the tenant have open payments" is one strongly
//! consistent `Query` with `Limit 1`, exact as of the last commit.
//!
//! Merchant onboardings and the orders' transfer ledgers live in the same table (items and conditions in
//! `dynamodb/onboarding.rs` and `dynamodb/transfers.rs`).
//!
//! `op_lease` (the key of the operation holding the payment) and `op_lease_until` (epoch seconds) are
//! internal to the store: they are never part of the domain [`Payment`]. Every rule of the store
//! protocol is a DynamoDB condition; multi-item changes are single `TransactWriteItems` calls.

use crate::domain::{Payment, Refund};
use crate::ports::store::{
    Attention, Claim, ClaimRequest, Commit, OperationRecord, OperationState, PaymentStore, PaymentWrite, StoreError,
};
use crate::ports::tenant::{TenantRecord, TenantStore};
use crate::ports::webhook::InboxEntry;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

mod onboarding;
mod transfers;

/// A DynamoDB item.
type Item = HashMap<String, AttributeValue>;

const PAYMENT_SK: &str = "PAYMENT";
const ORDER_SK: &str = "ORDER";
const PSP_SK: &str = "PSP";
const OP_SK: &str = "OP";
const TENANT_SK: &str = "CONFIG";

/// The payment attribute naming the operation that holds its lease.
const OP_LEASE: &str = "op_lease";
/// The payment attribute holding the lease's end (epoch seconds).
const OP_LEASE_UNTIL: &str = "op_lease_until";
/// Create-only condition.
const NOT_EXISTS: &str = "attribute_not_exists(pk)";
/// An order alias that does not exist yet, or already points to payment `:tx`.
const ALIAS_FREE_OR_OURS: &str = "attribute_not_exists(pk) OR #transaction_id = :tx";
/// The DynamoDB code of a failed condition inside a cancelled transaction.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// Lease a payment to operation `:key`; allowed when free, expired, or already held by that operation.
const LEASE_PAYMENT: &str = "SET #op_lease = :key, #op_lease_until = :lease_until";
/// The condition of [`LEASE_PAYMENT`].
const PAYMENT_LEASABLE: &str =
    "attribute_exists(pk) AND (attribute_not_exists(#op_lease) OR #op_lease_until < :now OR #op_lease = :key)";
/// Release a payment's lease (only the holding operation may).
const RELEASE_PAYMENT: &str = "REMOVE #op_lease, #op_lease_until";
/// The payment's lease is held by operation `:key`.
const HELD_BY_KEY: &str = "#op_lease = :key";
/// The operation is in progress under the caller's lease token.
const HELD_BY_TOKEN: &str = "#state = :in_progress AND #lease_token = :token";

/// Escapes a key component so that ids containing `#` (the separator) or `%` can never make one tenant's
/// key equal another's: `a#ORDER#b` + `c` and `a` + `b#ORDER#c` stay different keys.
fn part(component: &str) -> String {
    component.replace('%', "%25").replace('#', "%23")
}

fn payment_pk(tenant: &str, transaction_id: &str) -> String {
    format!("TENANT#{}#PAYMENT#{}", part(tenant), part(transaction_id))
}

fn order_pk(tenant: &str, order_reference: &str) -> String {
    format!("TENANT#{}#ORDER#{}", part(tenant), part(order_reference))
}

fn psp_pk(tenant: &str, psp_reference: &str) -> String {
    format!("TENANT#{}#PSP#{}", part(tenant), part(psp_reference))
}

fn op_pk(tenant: &str, key: &str) -> String {
    format!("TENANT#{}#OP#{}", part(tenant), part(key))
}

fn refund_sk(refund_id: &str) -> String {
    format!("REFUND#{}", part(refund_id))
}

fn open_pk(tenant: &str) -> String {
    format!("TENANT#{}#OPEN", part(tenant))
}

fn tenant_key(tenant: &str) -> Item {
    key(format!("TENANT#{}", part(tenant)), TENANT_SK)
}

fn inbox_pk(tenant: &str, transaction_id: &str) -> String {
    format!("TENANT#{}#INBOX#{}", part(tenant), part(transaction_id))
}

/// The key of an inbox entry.
fn inbox_key(tenant: &str, transaction_id: &str, event_id: &str) -> Item {
    key(inbox_pk(tenant, transaction_id), format!("EVENT#{}", part(event_id)))
}

/// The key of a payment item.
fn payment_key(tenant: &str, transaction_id: &str) -> Item {
    key(payment_pk(tenant, transaction_id), PAYMENT_SK)
}

/// The key of an operation item.
fn op_key(tenant: &str, operation: &str) -> Item {
    key(op_pk(tenant, operation), OP_SK)
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The primary key of an item.
fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// Expression attribute names: `#name` → `name` for each name.
fn names(attributes: &[&str]) -> HashMap<String, String> {
    attributes.iter().map(|a| (format!("#{a}"), (*a).to_string())).collect()
}

/// Expression attribute values: `:name` → value for each pair.
fn values<const N: usize>(pairs: [(&str, AttributeValue); N]) -> HashMap<String, AttributeValue> {
    pairs.into_iter().map(|(k, v)| (format!(":{k}"), v)).collect()
}

/// The "needs attention" index (template.yaml `PaymentsTable`): `attention` and `attention_due`, set only
/// on operation records the reconciler may have to finish.
pub const ATTENTION_INDEX: &str = "attention-index";

fn attention_value(attention: Attention) -> AttributeValue {
    s(match attention {
        Attention::InProgress => "IN_PROGRESS",
        Attention::Outbox => "OUTBOX",
    })
}

/// The "needs attention" kind of a payment whose authorization's end operators are to be warned of.
const EXPIRY: &str = "EXPIRY";
/// The "needs attention" kind of an inbox entry to retry.
const INBOX: &str = "INBOX";

/// `item` in the "needs attention" index as `kind`, due at `due`; out of it when `None`.
fn with_attention(mut item: Item, kind: &str, due: Option<i64>) -> Item {
    if let Some(due) = due {
        item.insert("attention".into(), s(kind));
        item.insert("attention_due".into(), n(due));
    }
    item
}

/// The item of `payment` (in the index while an expiry warning is due).
fn payment_item(payment: &Payment) -> Result<Item, StoreError> {
    let item = item_with_key(
        "payment",
        payment,
        payment_key(&payment.tenant, &payment.transaction_id),
    )?;
    Ok(with_attention(item, EXPIRY, payment.expiry_warning_due()))
}

fn state_value(state: OperationState) -> AttributeValue {
    s(match state {
        OperationState::InProgress => "IN_PROGRESS",
        OperationState::Completed => "COMPLETED",
    })
}

fn encode<T: Serialize>(what: &str, value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Backend(format!("cannot encode {what}: {e}")))
}

/// Decodes an item; the error never quotes the item's content.
fn decode<T: DeserializeOwned>(what: &str, item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|_| StoreError::Backend(format!("stored {what} item is not readable")))
}

/// An item of `value`'s fields under `key`.
fn item_with_key<T: Serialize>(what: &str, value: &T, key: Item) -> Result<Item, StoreError> {
    let mut item = encode(what, value)?;
    item.extend(key);
    Ok(item)
}

/// A failed call that is not a failed condition: retry later.
fn backend<E: std::error::Error + 'static, R: std::fmt::Debug>(action: &str, err: SdkError<E, R>) -> StoreError {
    StoreError::Backend(format!("{action}: {}", DisplayErrorContext(&err)))
}

/// `None` for an empty map: DynamoDB refuses empty expression maps.
fn non_empty<V>(map: HashMap<String, V>) -> Option<HashMap<String, V>> {
    (!map.is_empty()).then_some(map)
}

fn sdk_build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(format!("cannot build request: {err}"))
}

/// Why a transaction did not apply.
enum TxFailure {
    /// Conditions failed; `failed[i]` tells whether action `i`'s did.
    Conditions(Vec<bool>),
    /// Anything else (throttling, transaction conflicts, network).
    Backend(StoreError),
}

impl TxFailure {
    fn into_store_error(self, action: &str) -> StoreError {
        match self {
            TxFailure::Conditions(_) => StoreError::Conflict(format!("{action}: a condition failed")),
            TxFailure::Backend(e) => e,
        }
    }
}

/// A put action, conditional when `condition` is given; names and values are the condition's.
fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .set_expression_attribute_names(non_empty(names))
        .set_expression_attribute_values(non_empty(values))
        .build()
        .map_err(sdk_build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A put action creating `item`: fails if it exists.
fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    put(table, item, Some(NOT_EXISTS), HashMap::new(), HashMap::new())
}

/// An update action; names and values are for both expressions.
fn update(
    table: &str,
    key: Item,
    expression: &str,
    condition: &str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(expression)
        .condition_expression(condition)
        .set_expression_attribute_names(non_empty(names))
        .set_expression_attribute_values(non_empty(values))
        .build()
        .map_err(sdk_build_error)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The action keeping `payment`'s open marker in step with it.
fn open_marker(table: &str, payment: &Payment) -> Result<TransactWriteItem, StoreError> {
    let marker = key(
        open_pk(&payment.tenant),
        format!("PAYMENT#{}", part(&payment.transaction_id)),
    );
    marker_action(table, marker, payment.is_open())
}

/// The open marker of operation `key` while its PSP outcome is unknown (`open`), or its removal.
fn unsettled_marker(table: &str, tenant: &str, op: &str, open: bool) -> Result<TransactWriteItem, StoreError> {
    marker_action(table, key(open_pk(tenant), format!("OP#{}", part(op))), open)
}

/// Puts the open marker `marker`, or deletes it.
fn marker_action(table: &str, marker: Item, open: bool) -> Result<TransactWriteItem, StoreError> {
    if open {
        return put(table, marker, None, HashMap::new(), HashMap::new());
    }
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(marker))
        .build()
        .map_err(sdk_build_error)?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// An alias item pointing from an order or a PSP payment to its payment.
#[derive(serde::Serialize, serde::Deserialize)]
struct Alias {
    transaction_id: String,
}

/// The payment store on DynamoDB.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store on `table_name`, which has keys `pk` (S, HASH) and `sk` (S, RANGE).
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table_name.into(),
        }
    }

    /// Runs one transaction.
    async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), TxFailure> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await;
        let Err(err) = result else { return Ok(()) };
        if let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error() {
            let failed: Vec<bool> = e
                .cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some(CONDITION_FAILED))
                .collect();
            if failed.contains(&true) {
                return Err(TxFailure::Conditions(failed));
            }
        }
        Err(TxFailure::Backend(backend("TransactWriteItems", err)))
    }

    /// Strongly consistent read of one item.
    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(out.item)
    }

    /// A conditional single-item update; `Ok(false)` when the condition failed.
    async fn update_if(
        &self,
        key: Item,
        expression: &str,
        condition: &str,
        names: HashMap<String, String>,
        values: HashMap<String, AttributeValue>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(non_empty(names))
            .set_expression_attribute_values(non_empty(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                Ok(false)
            }
            Err(e) => Err(backend("UpdateItem", e)),
        }
    }

    /// The action leasing `payment` to `request`'s operation.
    fn lease_payment(&self, request: &ClaimRequest, payment: &str) -> Result<TransactWriteItem, StoreError> {
        update(
            &self.table,
            payment_key(&request.tenant, payment),
            LEASE_PAYMENT,
            PAYMENT_LEASABLE,
            names(&[OP_LEASE, OP_LEASE_UNTIL]),
            values([
                ("key", s(&request.key)),
                ("lease_until", n(request.payment_lease_until())),
                ("now", n(request.now)),
            ]),
        )
    }

    /// The action releasing `transaction_id`'s lease held by operation `key`.
    fn release_payment(&self, tenant: &str, transaction_id: &str, key: &str) -> Result<TransactWriteItem, StoreError> {
        update(
            &self.table,
            payment_key(tenant, transaction_id),
            RELEASE_PAYMENT,
            HELD_BY_KEY,
            names(&[OP_LEASE, OP_LEASE_UNTIL]),
            values([("key", s(key))]),
        )
    }

    /// The actions creating `payment` (create-only), the alias of its PSP payment, and the alias of its
    /// order, when it has one.
    fn insert_actions(&self, payment: &Payment) -> Result<Vec<TransactWriteItem>, StoreError> {
        let item = payment_item(payment)?;
        let alias = Alias {
            transaction_id: payment.transaction_id.clone(),
        };
        let psp_alias = item_with_key(
            "PSP alias",
            &alias,
            key(psp_pk(&payment.tenant, &payment.psp_reference), PSP_SK),
        )?;
        let mut actions = vec![
            put_new(&self.table, item)?,
            put(&self.table, psp_alias, None, HashMap::new(), HashMap::new())?,
            open_marker(&self.table, payment)?,
        ];
        // A bank transfer's customer names the payment in the PSP's balance events.
        if let Some(customer) = &payment.psp_customer {
            let customer_alias = item_with_key(
                "PSP customer alias",
                &alias,
                key(psp_pk(&payment.tenant, customer), PSP_SK),
            )?;
            actions.push(put(&self.table, customer_alias, None, HashMap::new(), HashMap::new())?);
        }
        actions.extend(self.order_alias(payment)?);
        Ok(actions)
    }

    /// The action putting the alias from `payment`'s order (if it has one) to it, unless the order points
    /// to another payment.
    fn order_alias(&self, payment: &Payment) -> Result<Option<TransactWriteItem>, StoreError> {
        let Some(order) = &payment.order_reference else {
            return Ok(None);
        };
        let alias = Alias {
            transaction_id: payment.transaction_id.clone(),
        };
        let item = item_with_key("order alias", &alias, key(order_pk(&payment.tenant, order), ORDER_SK))?;
        put(
            &self.table,
            item,
            Some(ALIAS_FREE_OR_OURS),
            names(&["transaction_id"]),
            values([("tx", s(&payment.transaction_id))]),
        )
        .map(Some)
    }

    /// The action replacing the payment of `commit` if it is still at `expected_version` and leased to
    /// the committing operation; the put drops the lease attributes.
    fn replace_payment(
        &self,
        commit: &Commit,
        payment: &Payment,
        expected_version: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let item = payment_item(payment)?;
        put(
            &self.table,
            item,
            Some(&format!("#version = :expected_version AND {HELD_BY_KEY}")),
            names(&["version", OP_LEASE]),
            values([("expected_version", n(expected_version)), ("key", s(&commit.key))]),
        )
    }

    /// The payment the alias item at `alias` points to.
    async fn payment_by_alias(&self, tenant: &str, alias: Item) -> Result<Option<Payment>, StoreError> {
        let Some(item) = self.get(alias).await? else {
            return Ok(None);
        };
        let alias: Alias = decode("alias", item)?;
        self.get_payment(tenant, &alias.transaction_id).await
    }

    /// Items of the "needs attention" index of `kind` due at `now`, oldest due first, at most `limit`.
    /// The index is eventually consistent: an item settled a moment ago may still show up, and each step
    /// of the reconciler checks its conditions again.
    async fn due_items(&self, kind: AttributeValue, now: i64, limit: usize) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(ATTENTION_INDEX)
            .key_condition_expression("#attention = :kind AND #attention_due <= :now")
            .set_expression_attribute_names(Some(names(&["attention", "attention_due"])))
            .set_expression_attribute_values(Some(values([("kind", kind), ("now", n(now))])))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| backend("Query", e))?;
        Ok(out.items.unwrap_or_default())
    }

    /// Runs `operation` (action 0) plus the payment lease (action 1) when the request names a payment.
    async fn claim_with(
        &self,
        request: &ClaimRequest,
        operation: TransactWriteItem,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut actions = vec![operation];
        if let Some(payment) = &request.payment {
            actions.push(self.lease_payment(request, payment)?);
        }
        match self.transact(actions).await {
            Ok(()) => Ok(ClaimOutcome::Done),
            Err(TxFailure::Conditions(failed)) if failed.first() == Some(&true) => Ok(ClaimOutcome::OperationTaken),
            Err(TxFailure::Conditions(_)) => Ok(ClaimOutcome::PaymentBusy),
            Err(TxFailure::Backend(e)) => Err(e),
        }
    }

    /// Takes over `old`, whose lease expired, or reports it as it now stands.
    async fn take_over(&self, request: &ClaimRequest, old: OperationRecord) -> Result<Claim, StoreError> {
        let operation = update(
            &self.table,
            op_key(&request.tenant, &request.key),
            "SET #lease_token = :token, #lease_until = :lease_until, #attempts = #attempts + :one, #attention_due = :due",
            "#state = :in_progress AND #lease_token = :old_token AND #lease_until < :now",
            names(&["lease_token", "lease_until", "attempts", "state", "attention_due"]),
            values([
                ("token", s(&request.token)),
                ("lease_until", n(request.lease_until)),
                ("due", n(request.attention_due)),
                ("one", n(1)),
                ("in_progress", state_value(OperationState::InProgress)),
                ("old_token", s(&old.lease_token)),
                ("now", n(request.now)),
            ]),
        )?;
        match self.claim_with(request, operation).await? {
            // Its worker died: whether it reached the PSP is unknown.
            ClaimOutcome::Done => Ok(Claim::Acquired {
                attempts: old.attempts + 1,
                outcome_unknown: true,
            }),
            ClaimOutcome::PaymentBusy => Ok(Claim::PaymentBusy),
            ClaimOutcome::OperationTaken => self.existing(request).await,
        }
    }

    /// The operation as it stands, after a claim found it.
    async fn existing(&self, request: &ClaimRequest) -> Result<Claim, StoreError> {
        self.get_operation(&request.tenant, &request.key)
            .await?
            .map(Claim::Existing)
            .ok_or_else(|| StoreError::Conflict("the operation disappeared during the claim".into()))
    }
}

/// What a claim transaction did.
enum ClaimOutcome {
    /// Both the operation and the payment lease were written.
    Done,
    /// The operation's condition failed.
    OperationTaken,
    /// Only the payment lease's condition failed.
    PaymentBusy,
}

impl PaymentStore for DynamoStore {
    #[tracing::instrument(skip_all, fields(tenant = %payment.tenant, transaction_id = %payment.transaction_id))]
    async fn insert_payment(&self, payment: &Payment) -> Result<(), StoreError> {
        self.transact(self.insert_actions(payment)?)
            .await
            .map_err(|f| f.into_store_error("insert payment"))
    }

    #[tracing::instrument(skip(self))]
    async fn get_payment(&self, tenant: &str, transaction_id: &str) -> Result<Option<Payment>, StoreError> {
        self.get(payment_key(tenant, transaction_id))
            .await?
            .map(|mut item| {
                // The lease is the store's business: the domain payment never sees it.
                item.remove(OP_LEASE);
                item.remove(OP_LEASE_UNTIL);
                decode("payment", item)
            })
            .transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn payment_holder(&self, tenant: &str, transaction_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(payment_key(tenant, transaction_id))
            .await?
            .and_then(|mut item| item.remove(OP_LEASE))
            .and_then(|holder| holder.as_s().ok().cloned()))
    }

    #[tracing::instrument(skip(self))]
    async fn find_payment_by_order(&self, tenant: &str, order_reference: &str) -> Result<Option<Payment>, StoreError> {
        self.payment_by_alias(tenant, key(order_pk(tenant, order_reference), ORDER_SK))
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn find_payment_by_psp_reference(
        &self,
        tenant: &str,
        psp_reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        self.payment_by_alias(tenant, key(psp_pk(tenant, psp_reference), PSP_SK))
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn get_refund(
        &self,
        tenant: &str,
        transaction_id: &str,
        refund_id: &str,
    ) -> Result<Option<Refund>, StoreError> {
        self.get(key(payment_pk(tenant, transaction_id), refund_sk(refund_id)))
            .await?
            .map(|item| decode("refund", item))
            .transpose()
    }

    #[tracing::instrument(skip(self))]
    async fn get_operation(&self, tenant: &str, key: &str) -> Result<Option<OperationRecord>, StoreError> {
        self.get(op_key(tenant, key))
            .await?
            .map(|item| decode("operation", item))
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(tenant = %request.tenant, key = %request.key))]
    async fn claim(&self, request: &ClaimRequest) -> Result<Claim, StoreError> {
        let record = OperationRecord {
            tenant: request.tenant.clone(),
            key: request.key.clone(),
            fingerprint: request.fingerprint.clone(),
            state: OperationState::InProgress,
            lease_token: request.token.clone(),
            lease_until: request.lease_until,
            attempts: 0,
            outcome_unknown: false,
            payment: request.payment.clone(),
            events: Vec::new(),
            published: false,
            failed: false,
            request: request.request.clone(),
            attention: Some(Attention::InProgress),
            attention_due: Some(request.attention_due),
            publish_lease_until: 0,
            expires_at: request.expires_at,
        };
        let item = item_with_key("operation", &record, op_key(&request.tenant, &request.key))?;
        let operation = put_new(&self.table, item)?;
        match self.claim_with(request, operation).await? {
            ClaimOutcome::Done => Ok(Claim::Acquired {
                attempts: 0,
                outcome_unknown: false,
            }),
            ClaimOutcome::PaymentBusy => Ok(Claim::PaymentBusy),
            ClaimOutcome::OperationTaken => match self.existing(request).await? {
                // Taken over only by the same payload, as a fresh claim would be.
                Claim::Existing(old)
                    if old.state == OperationState::InProgress
                        && old.lease_until < request.now
                        && old.fingerprint == request.fingerprint =>
                {
                    self.take_over(request, old).await
                }
                other => Ok(other),
            },
        }
    }

    #[tracing::instrument(skip(self, token))]
    async fn release_unknown(&self, tenant: &str, key: &str, token: &str) -> Result<(), StoreError> {
        let record = self
            .get_operation(tenant, key)
            .await?
            .ok_or_else(|| StoreError::Conflict("release of an unknown operation".into()))?;
        let mut actions = vec![update(
            &self.table,
            op_key(tenant, key),
            "SET #outcome_unknown = :true, #lease_until = :zero",
            HELD_BY_TOKEN,
            names(&["outcome_unknown", "lease_until", "state", "lease_token"]),
            values([
                ("true", AttributeValue::Bool(true)),
                ("zero", n(0)),
                ("in_progress", state_value(OperationState::InProgress)),
                ("token", s(token)),
            ]),
        )?];
        if let Some(payment) = record.payment.as_ref().filter(|_| record.request.is_none()) {
            actions.push(self.release_payment(tenant, payment, key)?);
        }
        // Unsettled money is open business: a disconnect asks for confirmation until it is settled.
        actions.push(unsettled_marker(&self.table, tenant, key, true)?);
        self.transact(actions)
            .await
            .map_err(|f| f.into_store_error("release operation"))
    }

    #[tracing::instrument(skip_all, fields(tenant = %commit.tenant, key = %commit.key))]
    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let events = serde_dynamo::to_attribute_value::<_, AttributeValue>(&commit.events)
            .map_err(|e| StoreError::Backend(format!("cannot encode events: {e}")))?;
        let mut actions = vec![update(
            &self.table,
            op_key(&commit.tenant, &commit.key),
            "SET #state = :completed, #events = :events, #published = :false, #failed = :failed, #publish_lease_until = :publish_lease_until, #attention = :outbox, #attention_due = :publish_lease_until",
            HELD_BY_TOKEN,
            names(&[
                "state",
                "events",
                "published",
                "failed",
                "publish_lease_until",
                "lease_token",
                "attention",
                "attention_due",
            ]),
            values([
                ("completed", state_value(OperationState::Completed)),
                ("outbox", attention_value(Attention::Outbox)),
                ("events", events),
                ("false", AttributeValue::Bool(false)),
                ("failed", AttributeValue::Bool(commit.failed)),
                ("publish_lease_until", n(commit.publish_lease_until)),
                ("in_progress", state_value(OperationState::InProgress)),
                ("token", s(&commit.token)),
            ]),
        )?];
        actions.push(unsettled_marker(&self.table, &commit.tenant, &commit.key, false)?);
        match &commit.payment {
            Some(PaymentWrite::Replace {
                payment,
                expected_version,
            }) => {
                actions.push(self.replace_payment(commit, payment, *expected_version)?);
                actions.push(open_marker(&self.table, payment)?);
            }
            Some(PaymentWrite::AttachOrder {
                payment,
                expected_version,
            }) => {
                actions.push(self.replace_payment(commit, payment, *expected_version)?);
                actions.push(open_marker(&self.table, payment)?);
                actions.extend(self.order_alias(payment)?);
            }
            Some(PaymentWrite::Insert(payment)) => actions.extend(self.insert_actions(payment)?),
            Some(PaymentWrite::Release { transaction_id }) => {
                actions.push(self.release_payment(&commit.tenant, transaction_id, &commit.key)?);
            }
            None => {}
        }
        if let Some(earlier) = &commit.fails {
            actions.push(update(
                &self.table,
                op_key(&commit.tenant, earlier),
                "SET #failed = :true",
                "attribute_exists(pk)",
                names(&["failed"]),
                values([("true", AttributeValue::Bool(true))]),
            )?);
        }
        if let Some(refund) = &commit.refund {
            let item = item_with_key(
                "refund",
                refund,
                key(
                    payment_pk(&commit.tenant, &refund.transaction_id),
                    refund_sk(&refund.refund_id),
                ),
            )?;
            actions.push(put(&self.table, item, None, HashMap::new(), HashMap::new())?);
        }
        self.transact(actions)
            .await
            .map_err(|f| f.into_store_error("commit operation"))
    }

    #[tracing::instrument(skip(self))]
    async fn take_publish_lease(&self, tenant: &str, key: &str, now: i64, until: i64) -> Result<bool, StoreError> {
        self.update_if(
            op_key(tenant, key),
            "SET #publish_lease_until = :until, #attention_due = :until",
            "#state = :completed AND #published = :false AND #publish_lease_until < :now",
            names(&["publish_lease_until", "state", "published", "attention_due"]),
            values([
                ("until", n(until)),
                ("completed", state_value(OperationState::Completed)),
                ("false", AttributeValue::Bool(false)),
                ("now", n(now)),
            ]),
        )
        .await
    }

    #[tracing::instrument(skip(self))]
    async fn mark_published(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        let updated = self
            .update_if(
                op_key(tenant, key),
                "SET #published = :true REMOVE #attention, #attention_due",
                "#state = :completed",
                names(&["published", "state", "attention", "attention_due"]),
                values([
                    ("true", AttributeValue::Bool(true)),
                    ("completed", state_value(OperationState::Completed)),
                ]),
            )
            .await?;
        if updated {
            Ok(())
        } else {
            Err(StoreError::Conflict(
                "mark published: the operation is not completed".into(),
            ))
        }
    }

    #[tracing::instrument(skip(self))]
    async fn due_operations(
        &self,
        kind: Attention,
        now: i64,
        limit: usize,
    ) -> Result<Vec<OperationRecord>, StoreError> {
        self.due_items(attention_value(kind), now, limit)
            .await?
            .into_iter()
            .map(|item| decode("operation", item))
            .collect()
    }

    #[tracing::instrument(skip(self))]
    async fn clear_attention(&self, tenant: &str, key: &str) -> Result<(), StoreError> {
        self.update_if(
            op_key(tenant, key),
            "REMOVE #attention, #attention_due",
            "attribute_exists(pk)",
            names(&["attention", "attention_due"]),
            HashMap::new(),
        )
        .await?;
        if let Some(payment) = self.get_operation(tenant, key).await?.and_then(|r| r.payment) {
            // Freed only if this operation still holds it.
            self.update_if(
                payment_key(tenant, &payment),
                RELEASE_PAYMENT,
                HELD_BY_KEY,
                names(&[OP_LEASE, OP_LEASE_UNTIL]),
                values([("key", s(key))]),
            )
            .await?;
        }
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn has_open_payments(&self, tenant: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(open_pk(tenant)))
            .consistent_read(true)
            .limit(1)
            .send()
            .await
            .map_err(|e| backend("Query", e))?;
        Ok(out.count > 0)
    }

    #[tracing::instrument(skip(self))]
    async fn due_expiry_warnings(&self, now: i64, limit: usize) -> Result<Vec<Payment>, StoreError> {
        self.due_items(s(EXPIRY), now, limit)
            .await?
            .into_iter()
            .map(|mut item| {
                item.remove(OP_LEASE);
                item.remove(OP_LEASE_UNTIL);
                decode("payment", item)
            })
            .collect()
    }

    #[tracing::instrument(skip(self))]
    async fn due_inbox(&self, now: i64, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        self.due_items(s(INBOX), now, limit)
            .await?
            .into_iter()
            .map(|item| decode("inbox entry", item))
            .collect()
    }

    #[tracing::instrument(skip_all, fields(tenant = %entry.tenant, event_id = %entry.event.event_id))]
    async fn put_inbox(&self, entry: &InboxEntry) -> Result<(), StoreError> {
        let item = item_with_key(
            "inbox entry",
            entry,
            inbox_key(&entry.tenant, &entry.event.transaction_id, &entry.event.event_id),
        )?;
        let item = with_attention(item, INBOX, (!entry.given_up).then_some(entry.retry_at));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| backend("PutItem", e))?;
        Ok(())
    }

    #[tracing::instrument(skip(self))]
    async fn inbox(&self, tenant: &str, transaction_id: &str) -> Result<Vec<InboxEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(inbox_pk(tenant, transaction_id)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend("Query", e))?;
            for item in out.items.unwrap_or_default() {
                entries.push(decode::<InboxEntry>("inbox entry", item)?);
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                Some(_) | None => break,
            }
        }
        entries.sort_by(|a, b| a.order().cmp(&b.order()));
        Ok(entries)
    }

    #[tracing::instrument(skip(self))]
    async fn delete_inbox(&self, tenant: &str, transaction_id: &str, event_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(inbox_key(tenant, transaction_id, event_id)))
            .send()
            .await
            .map_err(|e| backend("DeleteItem", e))?;
        Ok(())
    }
}

impl TenantStore for DynamoStore {
    #[tracing::instrument(skip(self))]
    async fn get_tenant(&self, tenant: &str) -> Result<Option<TenantRecord>, StoreError> {
        self.get(tenant_key(tenant))
            .await?
            .map(|item| decode("tenant", item))
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(tenant = %record.tenant, version = record.version))]
    async fn put_tenant(&self, record: &TenantRecord, expected_version: Option<u64>) -> Result<(), StoreError> {
        let item = item_with_key("tenant", record, tenant_key(&record.tenant))?;
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        let request = match expected_version {
            None => request.condition_expression(NOT_EXISTS),
            Some(version) => request
                .condition_expression("#version = :expected_version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected_version", n(version)),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(PutItemError::is_conditional_check_failed_exception) =>
            {
                Err(StoreError::Conflict("the tenant record changed".into()))
            }
            Err(e) => Err(backend("PutItem", e)),
        }
    }

    #[tracing::instrument(skip(self))]
    async fn clear_tenant_outbox(&self, tenant: &str, version: u64) -> Result<(), StoreError> {
        // A record that moved on is left alone: `false` is not an error.
        self.update_if(
            tenant_key(tenant),
            "SET #outbox = :empty",
            "#version = :version",
            names(&["outbox", "version"]),
            values([("empty", AttributeValue::L(Vec::new())), ("version", n(version))]),
        )
        .await
        .map(|_| ())
    }
}
