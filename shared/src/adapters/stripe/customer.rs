//! What Stripe collected about a PaymentIntent's shopper as [`CustomerDetails`]: the intent's `shipping`
//! and `receipt_email`, and its payment method's `billing_details`
//! (https://docs.stripe.com/api/payment_intents/object#payment_intent_object-shipping,
//! https://docs.stripe.com/api/payment_methods/object#payment_method_object-billing_details). An
//! express checkout (Stripe's Express Checkout Element with Apple Pay or Google Pay) fills them in.

use super::{ApiKeys, StripeGateway};
use crate::ports::PspError;
use crate::ports::customer::{CustomerDetails, PspAddress, PspCustomer};
use reqwest::Method;
use serde::Deserialize;

/// `address` of a shipping or billing detail.
#[derive(Debug, Default, Deserialize)]
struct StripeAddress {
    #[serde(default)]
    line1: Option<String>,
    #[serde(default)]
    line2: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    country: Option<String>,
}

/// `shipping` of a PaymentIntent, or `billing_details` of a PaymentMethod: the fields the app reads.
#[derive(Debug, Default, Deserialize)]
struct StripeContact {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    address: Option<StripeAddress>,
}

/// The expanded `payment_method`.
#[derive(Debug, Deserialize)]
struct StripePaymentMethod {
    #[serde(default)]
    billing_details: Option<StripeContact>,
}

/// A PaymentIntent with `payment_method` expanded: the fields the app reads.
#[derive(Debug, Deserialize)]
struct StripeIntentCustomer {
    #[serde(default)]
    receipt_email: Option<String>,
    #[serde(default)]
    shipping: Option<StripeContact>,
    #[serde(default)]
    payment_method: Option<StripePaymentMethod>,
}

/// Stripe sends empty strings for fields it has no value for.
fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl StripeContact {
    /// The contact as an address; `None` when it holds nothing.
    fn address(self) -> Option<PspAddress> {
        let address = self.address.unwrap_or_default();
        let address = PspAddress {
            name: given(self.name),
            phone: given(self.phone),
            line1: given(address.line1),
            line2: given(address.line2),
            city: given(address.city),
            postal_code: given(address.postal_code),
            state: given(address.state),
            country: given(address.country).map(|c| c.to_ascii_uppercase()),
        };
        (address != PspAddress::default()).then_some(address)
    }
}

impl From<StripeIntentCustomer> for PspCustomer {
    fn from(intent: StripeIntentCustomer) -> Self {
        let billing = intent.payment_method.and_then(|m| m.billing_details);
        let billing_email = billing.as_ref().and_then(|b| b.email.clone());
        let phone = billing
            .as_ref()
            .and_then(|b| b.phone.clone())
            .or_else(|| intent.shipping.as_ref().and_then(|s| s.phone.clone()));
        PspCustomer {
            email: given(intent.receipt_email).or(given(billing_email)),
            phone: given(phone),
            shipping: intent.shipping.and_then(StripeContact::address),
            billing: billing.and_then(StripeContact::address),
        }
    }
}

impl<K: ApiKeys> CustomerDetails for StripeGateway<K> {
    async fn customer_details(&self, tenant: &str, psp_reference: &str) -> Result<PspCustomer, PspError> {
        let mut url = self.url(&["v1", "payment_intents", psp_reference]);
        url.query_pairs_mut().append_pair("expand[]", "payment_method");
        self.send_to::<StripeIntentCustomer>(tenant, Method::GET, url, None, None)
            .await
            .map(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::stripe::{StaticApiKey, Timeouts};
    use serde_json::json;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn gateway(server: &MockServer) -> StripeGateway<StaticApiKey> {
        StripeGateway::new(
            &server.uri(),
            StaticApiKey::new("sk_test_x".into()),
            Timeouts::default(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn an_express_checkouts_shipping_and_billing_details_are_read_from_the_intent() {
        let server = MockServer::start().await;
        // A PaymentIntent as Stripe documents it, abridged, after an Apple Pay express checkout.
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_1"))
            .and(query_param("expand[]", "payment_method"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "pi_1", "object": "payment_intent", "status": "requires_capture", "receipt_email": null,
                "shipping": {"name": "Jane Doe", "phone": "+4930123456", "carrier": null, "tracking_number": null,
                             "address": {"line1": "Julie-Wolfthorn-Str. 1", "line2": "", "city": "Berlin",
                                         "postal_code": "10115", "state": null, "country": "DE"}},
                "payment_method": {"id": "pm_1", "object": "payment_method", "type": "card",
                                   "card": {"brand": "visa", "last4": "4242", "wallet": {"type": "apple_pay"}},
                                   "billing_details": {"name": "Jane Doe", "email": "jane@example.com",
                                                       "phone": null,
                                                       "address": {"line1": "Main St 5", "line2": null,
                                                                   "city": "Hamburg", "postal_code": "20095",
                                                                   "state": "", "country": "de"}}}})))
            .expect(1)
            .mount(&server)
            .await;
        let gateway = gateway(&server);
        let customer = gateway.customer_details("t1", "pi_1").await.unwrap();
        assert_eq!(
            customer,
            PspCustomer {
                email: Some("jane@example.com".into()),
                phone: Some("+4930123456".into()),
                shipping: Some(PspAddress {
                    name: Some("Jane Doe".into()),
                    phone: Some("+4930123456".into()),
                    line1: Some("Julie-Wolfthorn-Str. 1".into()),
                    line2: None,
                    city: Some("Berlin".into()),
                    postal_code: Some("10115".into()),
                    state: None,
                    country: Some("DE".into()),
                }),
                billing: Some(PspAddress {
                    name: Some("Jane Doe".into()),
                    phone: None,
                    line1: Some("Main St 5".into()),
                    line2: None,
                    city: Some("Hamburg".into()),
                    postal_code: Some("20095".into()),
                    state: None,
                    country: Some("DE".into()),
                }),
            }
        );
    }

    #[tokio::test]
    async fn an_intent_nobody_paid_yet_has_collected_nothing() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "pi_2", "object": "payment_intent", "status": "requires_payment_method",
                "receipt_email": null, "shipping": null, "payment_method": null})))
            .mount(&server)
            .await;
        let gateway = gateway(&server);
        assert!(gateway.customer_details("t1", "pi_2").await.unwrap().is_empty());
    }
}
