//! Stripe Connect transfers as [`MerchantTransfers`]: a merchant's share of an order moves from the
//! platform's balance to the merchant's connected account (https://docs.stripe.com/api/transfers/create),
//! funded by the order's charge (`source_transaction`: the transfer waits until that money is available,
//! https://docs.stripe.com/connect/separate-charges-and-transfers#transfer-availability) and grouped by
//! order (`transfer_group`); a reversal takes part of it back
//! (https://docs.stripe.com/api/transfer_reversals/create). Both send the caller's `Idempotency-Key`.

use super::transformers::{Expandable, Form, StripeObjectId, metadata_fields};
use super::{ApiKeys, StripeGateway, currency};
use crate::ports::PspError;
use crate::ports::transfers::{MerchantTransfers, TransferOrder};
use reqwest::Method;
use serde::Deserialize;

/// A PaymentIntent's charge: `latest_charge` is an expandable field, an id or (expanded) the Charge.
#[derive(Debug, Deserialize)]
struct StripeIntentCharge {
    #[serde(default)]
    latest_charge: Option<Expandable>,
}

/// The form of `POST /v1/transfers` for `order`, funded by `charge`.
fn transfer_form(order: &TransferOrder, wire_amount: i64, charge: &str) -> Form {
    let mut form: Form = [
        ("amount", wire_amount.to_string()),
        ("currency", order.amount.currency.code().to_ascii_lowercase()),
        ("destination", order.destination.clone()),
        ("source_transaction", charge.to_string()),
        ("transfer_group", order.transfer_group.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    form.extend(metadata_fields(&order.metadata));
    form
}

impl<K: ApiKeys> MerchantTransfers for StripeGateway<K> {
    async fn transfer(&self, tenant: &str, order: &TransferOrder) -> Result<String, PspError> {
        let intent: StripeIntentCharge = self
            .send(
                tenant,
                Method::GET,
                &["v1", "payment_intents", &order.payment_psp_reference],
                None,
                None,
            )
            .await?;
        let charge = intent
            .latest_charge
            .map(Expandable::id)
            .ok_or_else(|| PspError::Declined {
                code: "charge_missing".into(),
                message: "the order's payment has no charge to fund the transfer".into(),
            })?;
        let form = transfer_form(order, currency::to_wire(order.amount)?, &charge);
        self.send::<StripeObjectId>(
            tenant,
            Method::POST,
            &["v1", "transfers"],
            Some(&form),
            Some(&order.idempotency_key),
        )
        .await
        .map(|transfer| transfer.id)
    }

    async fn reverse(
        &self,
        tenant: &str,
        transfer_id: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<String, PspError> {
        let form = vec![("amount".to_string(), amount.to_string())];
        self.send::<StripeObjectId>(
            tenant,
            Method::POST,
            &["v1", "transfers", transfer_id, "reversals"],
            Some(&form),
            Some(idempotency_key),
        )
        .await
        .map(|reversal| reversal.id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::pairs;
    use super::*;
    use crate::adapters::stripe::StaticApiKey;
    use crate::domain::{Currency, Money};
    use serde_json::json;
    use std::collections::BTreeMap;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const KEY: &str = "sk_test_platform";

    fn gateway(server: &MockServer) -> StripeGateway<StaticApiKey> {
        super::super::tests::gateway_with(server, StaticApiKey::new(KEY.into()))
    }

    fn order() -> TransferOrder {
        TransferOrder {
            amount: Money::new(900, Currency::parse("EUR").unwrap()),
            destination: "acct_1".into(),
            payment_psp_reference: "pi_1".into(),
            transfer_group: "DE--1".into(),
            idempotency_key: "transfer-abc-1".into(),
            metadata: BTreeMap::from([("merchantReference".to_string(), "MER1".to_string())]),
        }
    }

    /// The form fields of the request to `route`.
    async fn form_of(server: &MockServer, route: &str) -> Vec<(String, String)> {
        let requests = server.received_requests().await.unwrap();
        let request = requests.iter().find(|r| r.url.path() == route).expect("request sent");
        super::super::tests::form_fields(&request.body)
    }

    #[tokio::test]
    async fn a_payout_is_a_transfer_funded_by_the_orders_charge_with_the_callers_key() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "pi_1", "object": "payment_intent", "status": "succeeded", "latest_charge": "ch_1"})))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        // A Transfer as Stripe documents it (https://docs.stripe.com/api/transfers/object), abridged.
        Mock::given(method("POST"))
            .and(path("/v1/transfers"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(header("idempotency-key", "transfer-abc-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "tr_1", "object": "transfer", "amount": 900, "amount_reversed": 0, "currency": "eur",
                "destination": "acct_1", "source_transaction": "ch_1", "transfer_group": "DE--1",
                "reversals": {"object": "list", "data": [], "has_more": false}, "reversed": false})))
            .expect(2)
            .mount(&server)
            .await;
        let id = gateway(&server).transfer("t1", &order()).await.unwrap();
        assert_eq!(id, "tr_1");
        assert_eq!(
            form_of(&server, "/v1/transfers").await,
            pairs(&[
                ("amount", "900"),
                ("currency", "eur"),
                ("destination", "acct_1"),
                ("source_transaction", "ch_1"),
                ("transfer_group", "DE--1"),
                ("metadata[merchantReference]", "MER1"),
            ])
        );
        // The charge expanded (as some integrations and localstripe answer): the same id.
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "pi_1", "object": "payment_intent", "latest_charge": {"id": "ch_1", "object": "charge"}})))
            .mount(&server)
            .await;
        assert_eq!(gateway(&server).transfer("t1", &order()).await.unwrap(), "tr_1");
    }

    #[tokio::test]
    async fn a_payment_without_a_charge_funds_no_transfer() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "pi_1", "object": "payment_intent", "status": "requires_payment_method",
                "latest_charge": null})))
            .mount(&server)
            .await;
        let error = gateway(&server).transfer("t1", &order()).await.unwrap_err();
        assert!(matches!(error, PspError::Declined { code, .. } if code == "charge_missing"));
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 1, "no transfer asked for");
    }

    #[tokio::test]
    async fn a_reversal_takes_the_amount_back_and_stripes_refusal_is_a_decline() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/transfers/tr_1/reversals"))
            .and(header("idempotency-key", "transfer-def-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "trr_1", "object": "transfer_reversal", "amount": 300, "currency": "eur",
                "transfer": "tr_1"})))
            .expect(1)
            .mount(&server)
            .await;
        let id = gateway(&server)
            .reverse("t1", "tr_1", 300, "transfer-def-1")
            .await
            .unwrap();
        assert_eq!(id, "trr_1");
        assert_eq!(
            form_of(&server, "/v1/transfers/tr_1/reversals").await,
            pairs(&[("amount", "300")])
        );

        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/transfers/tr_1/reversals"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
                "type": "invalid_request_error", "code": "parameter_invalid_integer", "param": "amount",
                "message": "Amount must be no more than €6.00"}})))
            .mount(&server)
            .await;
        let error = gateway(&server).reverse("t1", "tr_1", 700, "k").await.unwrap_err();
        assert!(matches!(error, PspError::Declined { .. }), "{error:?}");
    }
}
