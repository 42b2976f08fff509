//! Request bodies of the synchronous endpoints the tenant calls (contract §6): only the fields the app
//! reads are declared, unknown keys are ignored, integers may arrive as numeric strings (decision §9.4).

use super::messages::{LenientInt, int_or_numeric_string, opt_int_or_numeric_string};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `orderData` of initialize-payment and pre-order-payment: what to authorize and for which items.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderData {
    /// The tenant's order reference; absent before the order exists (headless, §5.4).
    #[serde(default)]
    pub order_reference: Option<String>,
    /// ISO 4217 code of `grandTotal`.
    pub currency_code: String,
    /// The amount to authorize, in minor units.
    #[serde(deserialize_with = "int_or_numeric_string")]
    #[schemars(with = "LenientInt")]
    pub grand_total: i64,
    /// The shop's key of the payment method (`stripe-credit-card`, the slug of provider and name).
    #[serde(default)]
    pub payment_method: Option<String>,
    /// The payment method's name (`Credit Card`, `Klarna`, ...).
    #[serde(default)]
    pub payment_method_name: Option<String>,
    /// The order's items.
    #[serde(default)]
    pub items: Vec<OrderItem>,
}

/// `orderData` of confirm-pre-order-payment: only its items are read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItems {
    /// The order's items.
    #[serde(default)]
    pub items: Vec<OrderItem>,
}

/// One item of `orderData.items`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    /// The sales-order-item id; absent before the order is placed.
    #[serde(default, deserialize_with = "opt_int_or_numeric_string")]
    #[schemars(with = "Option<LenientInt>")]
    pub id_sales_order_item: Option<i64>,
    /// What the shopper pays for the item after discounts, in minor units (Spryker's
    /// `sumPriceToPayAggregation`, which its CapturePayment amounts add up).
    #[serde(default, deserialize_with = "opt_int_or_numeric_string")]
    #[schemars(with = "Option<LenientInt>")]
    pub sum_price_to_pay_aggregation: Option<i64>,
    /// Quantity (Spryker splits items to quantity 1 by default).
    #[serde(default, deserialize_with = "opt_int_or_numeric_string")]
    #[schemars(with = "Option<LenientInt>")]
    pub quantity: Option<i64>,
    /// Unit price in minor units.
    #[serde(default, deserialize_with = "opt_int_or_numeric_string")]
    #[schemars(with = "Option<LenientInt>")]
    pub unit_price: Option<i64>,
}

impl OrderItem {
    /// The item's amount: `sumPriceToPayAggregation`, else quantity × unit price.
    pub fn amount(&self) -> Option<i64> {
        self.sum_price_to_pay_aggregation
            .or_else(|| self.quantity.unwrap_or(1).checked_mul(self.unit_price?))
    }
}

/// The sales-order-item ids of `items`, in order, skipping items that have none yet.
pub fn sales_order_item_ids(items: &[OrderItem]) -> Vec<i64> {
    items.iter().filter_map(|i| i.id_sales_order_item).collect()
}

/// Each sales-order item's amount, or nothing when any item lacks its id or amount (a partial cancel
/// then waits for the order's last items to give money back).
pub fn item_amounts(items: &[OrderItem]) -> BTreeMap<i64, i64> {
    items
        .iter()
        .map(|i| Some((i.id_sales_order_item?, i.amount()?)))
        .collect::<Option<BTreeMap<_, _>>>()
        .unwrap_or_default()
}

/// `preOrderPaymentData`: free data the app handed out with the pre-order payment, sent back by the tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreOrderPaymentData {
    /// The app's payment id.
    #[serde(default)]
    pub transaction_id: Option<String>,
}

/// `POST /private/initialize-payment`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitializePaymentRequest {
    /// The order.
    pub order_data: OrderData,
    /// Where the shopper goes after paying (`{yves}/{lang}/payment/order-success`).
    #[serde(default)]
    pub redirect_success_url: Option<String>,
    /// Where the shopper goes after canceling (`.../payment/order-cancel?orderReference=...`).
    #[serde(default)]
    pub redirect_cancel_url: Option<String>,
    /// The shop's checkout summary page.
    #[serde(default)]
    pub checkout_summary_page_url: Option<String>,
}

/// `POST /private/pre-order-payment`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreOrderPaymentRequest {
    /// The cart about to become an order (no `orderReference` yet).
    pub order_data: OrderData,
    /// Present on a repeated call: names the payment created before.
    #[serde(default)]
    pub pre_order_payment_data: Option<PreOrderPaymentData>,
}

/// `POST /private/confirm-pre-order-payment`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmPreOrderPaymentRequest {
    /// The order just placed.
    pub order_reference: String,
    /// The payment, when sent at the top level (decision §9.8).
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// The payment, as the tenant sends it (decision §9.8).
    #[serde(default)]
    pub pre_order_payment_data: Option<PreOrderPaymentData>,
    /// The placed order's items.
    #[serde(default)]
    pub order_data: Option<OrderItems>,
}

/// `POST /private/cancel-pre-order-payment`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelPreOrderPaymentRequest {
    /// The payment, when sent at the top level (decision §9.8).
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// The payment, as the tenant sends it (decision §9.8).
    #[serde(default)]
    pub pre_order_payment_data: Option<PreOrderPaymentData>,
}

/// The payment a confirm or cancel names: `transactionId` at the top level, else inside
/// `preOrderPaymentData` (decision §9.8); blank ids count as absent.
fn named_transaction(top: Option<&String>, data: Option<&PreOrderPaymentData>) -> Option<String> {
    top.or_else(|| data.and_then(|d| d.transaction_id.as_ref()))
        .map(|tx| tx.trim().to_string())
        .filter(|tx| !tx.is_empty())
}

impl ConfirmPreOrderPaymentRequest {
    /// The payment to confirm (decision §9.8).
    pub fn transaction_id(&self) -> Option<String> {
        named_transaction(self.transaction_id.as_ref(), self.pre_order_payment_data.as_ref())
    }
}

impl CancelPreOrderPaymentRequest {
    /// The payment to cancel (decision §9.8).
    pub fn transaction_id(&self) -> Option<String> {
        named_transaction(self.transaction_id.as_ref(), self.pre_order_payment_data.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_data_reads_lenient_integers_and_skips_items_without_ids() {
        let data: OrderData = serde_json::from_value(json!({
            "orderReference": "DE--1", "currencyCode": "EUR", "grandTotal": "1999",
            "items": [{"idSalesOrderItem": 1}, {"idSalesOrderItem": "2"}, {"name": "cart item"}],
            "customerEmail": "ignored@example.com"
        }))
        .unwrap();
        assert_eq!(data.grand_total, 1999);
        assert_eq!(sales_order_item_ids(&data.items), vec![1, 2]);
    }

    #[test]
    fn the_transaction_id_is_read_at_the_top_level_first_then_in_pre_order_payment_data() {
        let confirm = |body: serde_json::Value| {
            serde_json::from_value::<ConfirmPreOrderPaymentRequest>(body)
                .unwrap()
                .transaction_id()
        };
        assert_eq!(
            confirm(
                json!({"orderReference": "DE--1", "transactionId": "a", "preOrderPaymentData": {"transactionId": "b"}})
            ),
            Some("a".into())
        );
        assert_eq!(
            confirm(json!({"orderReference": "DE--1", "preOrderPaymentData": {"transactionId": "b"}})),
            Some("b".into())
        );
        assert_eq!(confirm(json!({"orderReference": "DE--1", "transactionId": " "})), None);
        let cancel: CancelPreOrderPaymentRequest =
            serde_json::from_value(json!({"preOrderPaymentData": {"transactionId": "c"}})).unwrap();
        assert_eq!(cancel.transaction_id(), Some("c".into()));
    }
}
