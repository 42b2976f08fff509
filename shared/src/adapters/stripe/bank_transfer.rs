//! Bank transfers at Stripe (`customer_balance`, https://docs.stripe.com/payments/bank-transfers): the
//! shopper sends money to a virtual account Stripe shows them, which lands in the balance of a Stripe
//! customer and is applied to the PaymentIntent. The app creates one customer per payment, so what that
//! customer's balance holds beyond the payment is exactly what the shopper sent too much.
//!
//! Two events report a difference (decision §9.11), each mapped here onto a funding balance (sent minus
//! the amount):
//! - `payment_intent.partially_funded`: the intent's `next_action.display_bank_transfer_instructions.
//!   amount_remaining` is still missing (underpaid);
//! - `cash_balance.funds_available`: the customer's balance holds money no payment took (overpaid).

use super::transformers::{Form, StripeObjectId, metadata_fields, minor_units};
use super::{ApiKeys, StripeGateway};
use crate::ports::gateway::{CreatePayment, PspError};
use reqwest::Method;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where EUR transfers go: a German virtual IBAN, which any SEPA transfer reaches (Stripe requires a
/// country for `eu_bank_transfer`: BE, DE, ES, FR, IE or NL).
const EU_ACCOUNT_COUNTRY: &str = "DE";

/// The `payment_method_options[customer_balance]` fields of a bank transfer in `currency` (upper-case
/// ISO 4217): Stripe's bank transfer type for it. `None` where Stripe offers no bank transfer.
pub(super) fn options(currency: &str) -> Option<Form> {
    let kind = match currency {
        "EUR" => "eu_bank_transfer",
        "GBP" => "gb_bank_transfer",
        "USD" => "us_bank_transfer",
        "JPY" => "jp_bank_transfer",
        "MXN" => "mx_bank_transfer",
        _ => return None,
    };
    let prefix = "payment_method_options[customer_balance]";
    let mut form = vec![
        (format!("{prefix}[funding_type]"), "bank_transfer".to_string()),
        (format!("{prefix}[bank_transfer][type]"), kind.to_string()),
    ];
    if kind == "eu_bank_transfer" {
        form.push((
            format!("{prefix}[bank_transfer][eu_bank_transfer][country]"),
            EU_ACCOUNT_COUNTRY.to_string(),
        ));
    }
    Some(form)
}

impl<K: ApiKeys> StripeGateway<K> {
    /// The form fields that make `request` a bank transfer: the customer created for it (`POST
    /// /v1/customers` with the payment's reconciliation data, under a key derived from the payment's,
    /// so a retried creation finds the same customer) and the transfer options of its currency.
    pub(super) async fn bank_transfer_fields(&self, tenant: &str, request: &CreatePayment) -> Result<Form, PspError> {
        let currency = request.amount.currency.code();
        let options = options(currency).ok_or_else(|| PspError::Declined {
            code: "currency_not_supported".into(),
            message: format!("Stripe offers no bank transfer in {currency}"),
        })?;
        let form: Form = metadata_fields(&request.metadata).collect();
        let key = format!("{}-customer", request.idempotency_key);
        let customer = self
            .send::<StripeObjectId>(tenant, Method::POST, &["v1", "customers"], Some(&form), Some(&key))
            .await?;
        let mut fields = vec![("customer".to_string(), customer.id)];
        fields.extend(options);
        Ok(fields)
    }
}

/// `PaymentIntent.next_action`: only the bank transfer's instructions are read.
#[derive(Debug, Deserialize)]
pub(super) struct NextAction {
    #[serde(default)]
    display_bank_transfer_instructions: Option<TransferInstructions>,
}

/// `next_action.display_bank_transfer_instructions`: what is still to be sent.
#[derive(Debug, Deserialize)]
struct TransferInstructions {
    #[serde(default)]
    amount_remaining: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
}

impl NextAction {
    /// Whether the intent waits for the shopper's bank transfer (the shopper has done their part).
    pub(super) fn awaits_transfer(&self) -> bool {
        self.display_bank_transfer_instructions.is_some()
    }

    /// The funding balance (minus what is still missing, in minor units) the instructions show.
    pub(super) fn missing_balance(&self, intent_currency: &str) -> Option<i64> {
        let instructions = self.display_bank_transfer_instructions.as_ref()?;
        let currency = instructions.currency.as_deref().unwrap_or(intent_currency);
        instructions.amount_remaining.map(|left| -minor_units(left, currency))
    }
}

/// `cash_balance` (https://docs.stripe.com/api/cash_balance/object): what a customer's balance holds.
#[derive(Debug, Deserialize)]
pub(super) struct StripeCashBalance {
    pub(super) customer: String,
    #[serde(default)]
    available: BTreeMap<String, i64>,
}

impl StripeCashBalance {
    /// The funding balance the customer's cash balance shows (money no payment took), with its
    /// upper-case currency; `None` when it holds nothing. A customer of the app belongs to one payment,
    /// so its balance is in that payment's currency.
    pub(super) fn excess(&self) -> Option<(i64, String)> {
        self.available
            .iter()
            .find(|(_, amount)| **amount > 0)
            .map(|(currency, amount)| (minor_units(*amount, currency), currency.to_ascii_uppercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::StaticApiKey;
    use super::super::tests::{KEY, forms_of_requests, gateway_with, pairs};
    use super::*;
    use crate::domain::{Currency, Money, PaymentMethod};
    use crate::ports::PaymentGateway;
    use serde_json::json;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn request(currency: &str) -> CreatePayment {
        CreatePayment {
            amount: Money::new(10_000, Currency::parse(currency).unwrap()),
            method: PaymentMethod::BankTransfer,
            metadata: BTreeMap::from([("transactionId".to_string(), "tx-1".to_string())]),
            idempotency_key: "create-1".into(),
        }
    }

    #[tokio::test]
    async fn a_bank_transfer_is_a_customer_balance_intent_of_its_own_customer() {
        let server = MockServer::start().await;
        // Shapes as Stripe documents them (https://docs.stripe.com/api/customers/object), abridged.
        Mock::given(method("POST"))
            .and(path("/v1/customers"))
            .and(header("idempotency-key", "create-1-customer"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "cus_1", "object": "customer"})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .and(header("idempotency-key", "create-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "pi_1", "object": "payment_intent", "status": "requires_payment_method", "amount": 10000,
                "currency": "eur", "customer": "cus_1", "client_secret": "pi_1_secret_x"})))
            .expect(1)
            .mount(&server)
            .await;
        let gateway = gateway_with(&server, StaticApiKey::new(KEY.into()));
        let intent = gateway.create_payment("t1", &request("EUR")).await.unwrap();
        assert_eq!(intent.customer.as_deref(), Some("cus_1"));
        let forms = forms_of_requests(&server).await;
        assert_eq!(forms[0], pairs(&[("metadata[transactionId]", "tx-1")]));
        assert_eq!(
            forms[1],
            pairs(&[
                ("amount", "10000"),
                ("currency", "eur"),
                ("payment_method_types[0]", "customer_balance"),
                ("capture_method", "automatic"),
                ("metadata[transactionId]", "tx-1"),
                ("customer", "cus_1"),
                (
                    "payment_method_options[customer_balance][funding_type]",
                    "bank_transfer"
                ),
                (
                    "payment_method_options[customer_balance][bank_transfer][type]",
                    "eu_bank_transfer"
                ),
                (
                    "payment_method_options[customer_balance][bank_transfer][eu_bank_transfer][country]",
                    "DE"
                ),
            ])
        );
    }

    #[tokio::test]
    async fn a_currency_without_bank_transfers_is_refused_before_stripe_is_asked() {
        let server = MockServer::start().await;
        let gateway = gateway_with(&server, StaticApiKey::new(KEY.into()));
        let refused = gateway.create_payment("t1", &request("CHF")).await;
        assert!(
            matches!(&refused, Err(PspError::Declined { code, .. }) if code == "currency_not_supported"),
            "{refused:?}"
        );
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[test]
    fn each_bank_transfer_currency_has_its_type() {
        let kind = |currency: &str| {
            options(currency).map(|form| {
                form.iter()
                    .find(|(k, _)| k.ends_with("[bank_transfer][type]"))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
        };
        assert_eq!(kind("GBP").as_deref(), Some("gb_bank_transfer"));
        assert_eq!(kind("USD").as_deref(), Some("us_bank_transfer"));
        assert_eq!(kind("JPY").as_deref(), Some("jp_bank_transfer"));
        assert_eq!(kind("MXN").as_deref(), Some("mx_bank_transfer"));
        assert_eq!(options("GBP").map(|f| f.len()), Some(2), "only EUR names a country");
        assert_eq!(kind("CHF"), None);
    }

    #[test]
    fn the_instructions_show_what_is_missing_and_the_balance_what_is_too_much() {
        let action: NextAction = serde_json::from_value(json!({"type": "display_bank_transfer_instructions",
            "display_bank_transfer_instructions": {"amount_remaining": 4000, "currency": "eur",
                                                   "type": "eu_bank_transfer"}}))
        .unwrap();
        assert!(action.awaits_transfer());
        assert_eq!(action.missing_balance("eur"), Some(-4000));
        let redirect: NextAction = serde_json::from_value(json!({"type": "redirect_to_url"})).unwrap();
        assert!(!redirect.awaits_transfer());
        assert_eq!(redirect.missing_balance("eur"), None);

        let balance: StripeCashBalance = serde_json::from_value(json!({"object": "cash_balance",
            "available": {"eur": 2500}, "customer": "cus_1", "livemode": false,
            "settings": {"reconciliation_mode": "automatic"}}))
        .unwrap();
        assert_eq!(balance.excess(), Some((2500, "EUR".to_string())));
        let empty: StripeCashBalance =
            serde_json::from_value(json!({"object": "cash_balance", "available": {"eur": 0}, "customer": "cus_1"}))
                .unwrap();
        assert_eq!(empty.excess(), None);
    }
}
