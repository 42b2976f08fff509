//! The HTTP handler of `POST /private/payments/transfers` (contract §6; behind the HttpApi's JWT authorizer
//! like every `/private` route): a marketplace's OMS (Spryker `sales-payment-merchant`) asks the app to
//! pay merchants their share of an order, or to reverse a payout.
//!
//! Request: header `x-tenant-identifier`; body `{orderItems: [...], paymentTransmissionItems: [...]}`, the
//! same list twice (`paymentTransmissionItems` is read, `orderItems` when it is empty). Each item:
//! `type` (`order-item` | `order-expense`), `merchantReference`, `orderReference`, `itemReference`,
//! `amount` (minor units as a string; negative reverses) and on a reversal `transferId`. Spryker sends
//! the keys in snake_case (`merchant_reference`, ...); both spellings are read.
//!
//! Answer: 200 `{transfers: [...]}`, one entry per merchant, order and direction with `isSuccessful`,
//! `failureMessage`, `merchantReference`, `orderReference`, `itemReferences` (comma-separated),
//! `transferId`, `amount` (string) and its `paymentTransmissionItems`. Every key is one Spryker's
//! `PaymentTransmissionResponse` knows: it refuses unknown ones. A transfer that cannot be made is an
//! entry with `isSuccessful: false` and the reason (the OMS records it and may try again); a request
//! that cannot be read is 400 `{errors: [{message}]}`.

use crate::http::{error_response, json_response, tenant_of};
use lambda_http::{Body, Error, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::domain::{TransmissionItem, TransmissionKind};
use shared::ports::{MerchantTransfers, OnboardingStore, PaymentStore, TenantStore, TransferStore};
use shared::service::{Payouts, TransmissionResult};

/// The request body, as `sales-payment-merchant` sends it: the same items twice.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferRequest {
    /// The items, read when `paymentTransmissionItems` is empty (`order_items` is read too).
    #[serde(default, alias = "order_items")]
    order_items: Vec<WireItem>,
    /// The items (`payment_transmission_items` is read too).
    #[serde(default, alias = "payment_transmission_items")]
    payment_transmission_items: Vec<WireItem>,
}

/// A `PaymentTransmissionItem` (camelCase or Spryker's snake_case keys; unknown keys ignored).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct WireItem {
    /// On a reversal: the transfer to take money back from (`transfer_id` is read too).
    #[serde(default, alias = "transfer_id")]
    transfer_id: Option<String>,
    /// What it pays for.
    #[serde(rename = "type")]
    kind: TransmissionKind,
    /// The merchant paid (`merchant_reference` is read too).
    #[serde(default, alias = "merchant_reference")]
    merchant_reference: Option<String>,
    /// The order (`order_reference` is read too).
    #[serde(alias = "order_reference")]
    order_reference: String,
    /// The item or expense (`item_reference` is read too).
    #[serde(alias = "item_reference")]
    item_reference: String,
    /// Minor units, as a string such as `"900"` (a number is read too); negative reverses.
    #[schemars(with = "WireAmount")]
    amount: Value,
}

/// What `amount` accepts.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum WireAmount {
    /// `"900"`, `"-900"`.
    Text(#[schemars(regex(pattern = r"^\s*-?[0-9]+\s*$"))] String),
    /// `900`.
    Number(i64),
}

/// The answer: one entry per merchant, order and direction.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct TransfersAnswer {
    /// The transfers.
    pub transfers: Vec<TransferEntry>,
}

/// One `PaymentTransmissionResponse`: only keys Spryker's transfer object knows (it refuses others).
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct TransferEntry {
    /// Whether the transfer (or reversal) was made.
    pub is_successful: bool,
    /// Why not, when it was not.
    pub failure_message: Option<String>,
    /// The merchant.
    pub merchant_reference: Option<String>,
    /// The order.
    pub order_reference: String,
    /// The items' references, comma-separated.
    pub item_references: String,
    /// The Stripe transfer (`tr_...`) made or reversed.
    pub transfer_id: Option<String>,
    /// Minor units as a string; negative for a reversal.
    pub amount: String,
    /// The items it covers.
    pub payment_transmission_items: Vec<TransferItemEntry>,
}

/// One item of a [`TransferEntry`].
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct TransferItemEntry {
    /// What it pays for.
    #[serde(rename = "type")]
    pub kind: TransmissionKind,
    /// The merchant.
    pub merchant_reference: Option<String>,
    /// The order.
    pub order_reference: String,
    /// The item or expense.
    pub item_reference: String,
    /// Minor units as a string.
    pub amount: String,
    /// The Stripe transfer.
    pub transfer_id: Option<String>,
}

impl WireItem {
    /// The domain's item; `Err` names the item when its amount is not a whole number of minor units.
    fn into_item(self) -> Result<TransmissionItem, String> {
        let amount = match &self.amount {
            Value::String(text) => text.trim().parse::<i64>().ok(),
            Value::Number(number) => number.as_i64(),
            _ => None,
        }
        .ok_or_else(|| {
            format!(
                "item {}: amount must be whole minor units (a string such as \"900\")",
                self.item_reference
            )
        })?;
        Ok(TransmissionItem {
            kind: self.kind,
            merchant_reference: self.merchant_reference.unwrap_or_default(),
            order_reference: self.order_reference,
            item_reference: self.item_reference,
            amount,
            transfer_id: self.transfer_id.filter(|id| !id.trim().is_empty()),
        })
    }
}

/// Serves one request. Always an HTTP answer; `Err` only if the answer cannot be built.
pub async fn handle<S, T>(payouts: &Payouts<'_, S, T>, request: Request) -> Result<Response<Body>, Error>
where
    S: PaymentStore + OnboardingStore + TransferStore + TenantStore,
    T: MerchantTransfers,
{
    let tenant = match tenant_of(&request, payouts.store).await {
        Ok(tenant) => tenant,
        Err(refusal) => {
            tracing::warn!(status = refusal.status, reason = %refusal.message, "transfer request refused");
            return error_response(refusal.status, &refusal.message);
        }
    };
    let items = match read(&request) {
        Ok(items) => items,
        Err(message) => {
            tracing::warn!(reason = %message, "transfer request refused");
            return error_response(400, &message);
        }
    };
    let results = payouts.transmit(&tenant, &items).await;
    let transfers = results.iter().map(entry).collect();
    json_response(200, &TransfersAnswer { transfers })
}

/// The items of a request, or why they cannot be read.
fn read(request: &Request) -> Result<Vec<TransmissionItem>, String> {
    let body: TransferRequest = shared::json::from_slice(request.body().as_ref())
        .map_err(|e| format!("the request body is not a transfer request: {e}"))?;
    let wire = if body.payment_transmission_items.is_empty() {
        body.order_items
    } else {
        body.payment_transmission_items
    };
    if wire.is_empty() {
        return Err("the request names no items (paymentTransmissionItems is empty)".into());
    }
    let items = wire.into_iter().map(WireItem::into_item).collect::<Result<_, _>>()?;
    Ok(items)
}

/// One `PaymentTransmissionResponse`.
fn entry(result: &TransmissionResult) -> TransferEntry {
    let transmission = &result.transmission;
    let merchant = Some(transmission.merchant_reference.clone()).filter(|m| !m.is_empty());
    let items = transmission
        .items
        .iter()
        .map(|item| TransferItemEntry {
            kind: item.kind,
            merchant_reference: merchant.clone(),
            order_reference: item.order_reference.clone(),
            item_reference: item.item_reference.clone(),
            amount: item.amount.to_string(),
            transfer_id: result.transfer_id.clone(),
        })
        .collect();
    let item_references: Vec<&str> = transmission.items.iter().map(|i| i.item_reference.as_str()).collect();
    TransferEntry {
        is_successful: result.is_successful(),
        failure_message: result.failure.clone(),
        merchant_reference: merchant,
        order_reference: transmission.order_reference.clone(),
        item_references: item_references.join(","),
        transfer_id: result.transfer_id.clone(),
        amount: result.signed_amount().to_string(),
        payment_transmission_items: items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::adapters::memory::MemoryTransfers;
    use shared::domain::MerchantOnboardingStatus;
    use shared::service::testing::{MemoryCommandService, captured_order, memory_service, onboarded};

    const SAMPLE: &str = include_str!("../../events/payment-transfers.json");

    fn request(body: Option<Value>, tenant: Option<&str>) -> Request {
        let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
        if let Some(body) = body {
            event["body"] = body.to_string().into();
        }
        match tenant {
            Some(t) => event["headers"]["x-tenant-identifier"] = t.into(),
            None => {
                event["headers"].as_object_mut().unwrap().remove("x-tenant-identifier");
            }
        }
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn sample_body() -> Value {
        let event: Value = serde_json::from_str(SAMPLE).unwrap();
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap()
    }

    async fn call(svc: &MemoryCommandService, psp: &MemoryTransfers, req: Request) -> (u16, Value) {
        let payouts = Payouts {
            store: &svc.store,
            transfers: psp,
        };
        let response = handle(&payouts, req).await.unwrap();
        crate::openapi::conforming("/private/payments/transfers", response)
    }

    /// Order DE--1 (2000 cents) captured; MER000001 onboarded, MER000002 not.
    async fn marketplace_order() -> MemoryCommandService {
        let svc = memory_service();
        captured_order(&svc, "tenant-a", "DE--1", 2000).await;
        onboarded(&svc.store, "tenant-a", "MER000001", MerchantOnboardingStatus::Completed).await;
        svc
    }

    /// The keys Spryker's `PaymentTransmissionResponse` and `PaymentTransmissionItem` know.
    const RESPONSE_KEYS: [&str; 9] = [
        "isSuccessful",
        "merchantReference",
        "orderReference",
        "itemReferences",
        "transferId",
        "failureMessage",
        "amount",
        "orderItems",
        "paymentTransmissionItems",
    ];
    const ITEM_KEYS: [&str; 8] = [
        "transferId",
        "type",
        "merchantReference",
        "orderReference",
        "itemReference",
        "amount",
        "isSuccessful",
        "failureMessage",
    ];

    #[tokio::test]
    async fn the_sample_pays_the_onboarded_merchant_and_answers_one_entry_per_merchant() {
        let svc = marketplace_order().await;
        let psp = MemoryTransfers::new();
        let (status, body) = call(&svc, &psp, request(None, Some("tenant-a"))).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            json!({"transfers": [
                {"isSuccessful": true, "failureMessage": null, "merchantReference": "MER000001",
                 "orderReference": "DE--1",
                 "itemReferences": "5f9c7c1e-0d6f-4a8e-9a47-3a1f2b6c0001,5f9c7c1e-0d6f-4a8e-9a47-3a1f2b6c0002",
                 "transferId": "tr_1", "amount": "1500",
                 "paymentTransmissionItems": [
                    {"type": "order-item", "merchantReference": "MER000001", "orderReference": "DE--1",
                     "itemReference": "5f9c7c1e-0d6f-4a8e-9a47-3a1f2b6c0001", "amount": "900", "transferId": "tr_1"},
                    {"type": "order-item", "merchantReference": "MER000001", "orderReference": "DE--1",
                     "itemReference": "5f9c7c1e-0d6f-4a8e-9a47-3a1f2b6c0002", "amount": "600", "transferId": "tr_1"}]},
                {"isSuccessful": false,
                 "failureMessage": "merchant MER000002 has not started its onboarding: it cannot be paid",
                 "merchantReference": "MER000002", "orderReference": "DE--1",
                 "itemReferences": "5f9c7c1e-0d6f-4a8e-9a47-3a1f2b6c0003", "transferId": null, "amount": "500",
                 "paymentTransmissionItems": [
                    {"type": "order-item", "merchantReference": "MER000002", "orderReference": "DE--1",
                     "itemReference": "5f9c7c1e-0d6f-4a8e-9a47-3a1f2b6c0003", "amount": "500", "transferId": null}]}
            ]})
        );
        for entry in body["transfers"].as_array().unwrap() {
            assert!(
                entry
                    .as_object()
                    .unwrap()
                    .keys()
                    .all(|k| RESPONSE_KEYS.contains(&k.as_str()))
            );
            for item in entry["paymentTransmissionItems"].as_array().unwrap() {
                assert!(
                    item.as_object()
                        .unwrap()
                        .keys()
                        .all(|k| ITEM_KEYS.contains(&k.as_str()))
                );
            }
        }
        // Repeated: the same answer, one transfer at the PSP.
        let (_, again) = call(&svc, &psp, request(None, Some("tenant-a"))).await;
        assert_eq!(again, body);
        assert_eq!(psp.transfers().len(), 1);
    }

    #[tokio::test]
    async fn a_reversal_in_camel_case_names_its_transfer() {
        let svc = marketplace_order().await;
        let psp = MemoryTransfers::new();
        call(&svc, &psp, request(None, Some("tenant-a"))).await;
        let reversal = json!({"paymentTransmissionItems": [{"transferId": "tr_1", "type": "order-item",
            "merchantReference": "MER000001", "orderReference": "DE--1",
            "itemReference": "5f9c7c1e-0d6f-4a8e-9a47-3a1f2b6c0002", "amount": "-600"}]});
        let (status, body) = call(&svc, &psp, request(Some(reversal), Some("tenant-a"))).await;
        assert_eq!(status, 200);
        let entry = &body["transfers"][0];
        assert_eq!(
            (&entry["isSuccessful"], &entry["transferId"], &entry["amount"]),
            (&json!(true), &json!("tr_1"), &json!("-600"))
        );
        assert_eq!(psp.transfers()[0].1.reversed, 600);
    }

    #[tokio::test]
    async fn bad_requests_are_400_with_an_error_body_and_move_nothing() {
        let svc = marketplace_order().await;
        let psp = MemoryTransfers::new();
        let with_item = |key: &str, value: Value| {
            let mut body = sample_body();
            body["paymentTransmissionItems"][0][key] = value;
            body
        };
        let cases = [
            ("no tenant", request(None, None)),
            ("not JSON", request(Some(json!("{")), Some("tenant-a"))),
            (
                "no items",
                request(
                    Some(json!({"orderItems": [], "paymentTransmissionItems": []})),
                    Some("tenant-a"),
                ),
            ),
            (
                "bad amount",
                request(Some(with_item("amount", json!("9.00"))), Some("tenant-a")),
            ),
            (
                "bad type",
                request(Some(with_item("type", json!("shipping"))), Some("tenant-a")),
            ),
            (
                "no order",
                request(Some(with_item("order_reference", Value::Null)), Some("tenant-a")),
            ),
        ];
        for (what, req) in cases {
            let (status, body) = call(&svc, &psp, req).await;
            assert_eq!(status, 400, "{what}: {body}");
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty(), "{what}: {body}");
            assert!(
                !message.contains("9.00") && !message.contains("shipping"),
                "{what} quotes input: {message}"
            );
        }
        assert!(psp.transfers().is_empty());
    }
}
