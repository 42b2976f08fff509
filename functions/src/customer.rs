//! The HTTP handler of `POST /private/customer` (contract §6; behind the HttpApi's JWT authorizer): the
//! express-checkout customer lookup Spryker's `payment-app` calls after the shopper paid with an express
//! method, to fill in the customer and their addresses.
//!
//! Request: header `x-tenant-identifier`; body `{customerPaymentServiceProviderData: {transactionId}}`
//! (the `transactionId` of the pre-order payment's `preOrderPaymentData`; a top-level `transactionId` is
//! read too). Answer: 200 `{isSuccessful: true, customer: {email, phone, firstName, lastName,
//! shippingAddress, billingAddress}}`, each address `{firstName, lastName, address1, address2, city,
//! zipCode, state, iso2Code, phone}` (keys Spryker's `CustomerTransfer` and `AddressTransfer` take; no
//! `country` object, which the shop types as a transfer), absent fields left out. Errors (the shop treats
//! anything but 200 as failed and shows `error`): 400 unreadable, 404 unknown payment, 422 nothing
//! collected yet, 503 retry; `{isSuccessful: false, error, errors: [{message}]}`.

use crate::http::{ErrorBody, ErrorMessage, json_response, tenant_of};
use lambda_http::{Body, Error, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shared::ports::customer::{CustomerDetails, PspAddress, PspCustomer};
use shared::ports::{PaymentStore, TenantStore};
use shared::service::customer::{CustomerError, CustomerLookup};

/// The request body.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRequest {
    /// The pre-order payment, as the shop names it.
    #[serde(default)]
    customer_payment_service_provider_data: Option<ProviderData>,
    /// The pre-order payment, when sent at the top level.
    #[serde(default)]
    transaction_id: Option<String>,
}

/// `customerPaymentServiceProviderData`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ProviderData {
    /// The `transactionId` of the pre-order payment's `preOrderPaymentData`.
    #[serde(default)]
    transaction_id: Option<String>,
}

/// The answer: the shopper Stripe collected.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct CustomerAnswer {
    /// Always `true`.
    #[schemars(extend("const" = true))]
    pub is_successful: bool,
    /// The shopper.
    pub customer: Customer,
}

/// The shopper, with the keys of Spryker's `CustomerTransfer`; absent fields are left out.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// First name (the payer's name but its last word).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name (the last word of the payer's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Where the order goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<Address>,
    /// The payer's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
}

/// An address, with the keys of Spryker's `AddressTransfer`; absent fields are left out.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Street and number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    /// More of the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Postal code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zip_code: Option<String>,
    /// State or region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iso2_code: Option<String>,
    /// Phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The refusal: the shop treats anything but 200 as failed and shows `error`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRefusal {
    /// Always `false`.
    #[schemars(extend("const" = false))]
    pub is_successful: bool,
    /// Why there is no customer.
    pub error: String,
    /// The same message, as the ACP error list.
    pub errors: Vec<ErrorMessage>,
}

/// Serves one request. Always an HTTP answer; `Err` only if the answer cannot be built.
pub async fn handle<S, G>(lookup: &CustomerLookup<'_, S, G>, request: Request) -> Result<Response<Body>, Error>
where
    S: PaymentStore + TenantStore,
    G: CustomerDetails,
{
    let failed = |status: u16, message: String| {
        tracing::warn!(status, reason = %message, "customer lookup not served");
        json_response(
            status,
            &CustomerRefusal {
                is_successful: false,
                errors: ErrorBody::of(&message).errors,
                error: message,
            },
        )
    };
    let tenant = match tenant_of(&request, lookup.store).await {
        Ok(tenant) => tenant,
        Err(refusal) => return failed(refusal.status, refusal.message),
    };
    let body: CustomerRequest = match shared::json::from_slice(request.body().as_ref()) {
        Ok(body) => body,
        Err(e) => return failed(400, format!("the request body is not valid: {e}")),
    };
    let transaction_id = body
        .customer_payment_service_provider_data
        .and_then(|d| d.transaction_id)
        .or(body.transaction_id)
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty());
    let Some(transaction_id) = transaction_id else {
        return failed(
            400,
            "customerPaymentServiceProviderData.transactionId is missing".into(),
        );
    };
    match lookup.customer(&tenant, &transaction_id).await {
        Ok(customer) => json_response(
            200,
            &CustomerAnswer {
                is_successful: true,
                customer: customer_of(&customer),
            },
        ),
        Err(e @ CustomerError::UnknownPayment(_)) => failed(404, e.to_string()),
        Err(e @ CustomerError::NotCollected(_)) => failed(422, e.to_string()),
        Err(e @ CustomerError::Unavailable(_)) => failed(503, e.to_string()),
    }
}

/// A full name as Spryker's first and last name: the last word is the last name.
fn split_name(name: &str) -> (String, Option<String>) {
    match name.trim().rsplit_once(char::is_whitespace) {
        Some((first, last)) => (first.trim().to_string(), Some(last.to_string())),
        None => (name.trim().to_string(), None),
    }
}

fn address_of(address: &PspAddress) -> Address {
    let (first_name, last_name) = address.name.as_deref().map(split_name).unzip();
    Address {
        first_name,
        last_name: last_name.flatten(),
        address1: address.line1.clone(),
        address2: address.line2.clone(),
        city: address.city.clone(),
        zip_code: address.postal_code.clone(),
        state: address.state.clone(),
        iso2_code: address.country.clone(),
        phone: address.phone.clone(),
    }
}

fn customer_of(customer: &PspCustomer) -> Customer {
    // The customer's name: the billing name (the payer), else the shipping name.
    let name = customer
        .billing
        .as_ref()
        .and_then(|a| a.name.as_deref())
        .or(customer.shipping.as_ref().and_then(|a| a.name.as_deref()));
    let (first_name, last_name) = name.map(split_name).unzip();
    Customer {
        email: customer.email.clone(),
        phone: customer.phone.clone(),
        first_name,
        last_name: last_name.flatten(),
        shipping_address: customer.shipping.as_ref().map(address_of),
        billing_address: customer.billing.as_ref().map(address_of),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::sample_request;
    use serde_json::{Value, json};
    use shared::adapters::memory::MemoryGateway;
    use shared::adapters::memory::MemoryStore;
    use shared::domain::{Currency, Money, Payment};

    fn headers(tenant: Option<&str>) -> Value {
        let mut headers = json!({"content-type": "application/json", "authorization": "Bearer test"});
        if let Some(tenant) = tenant {
            headers["x-tenant-identifier"] = json!(tenant);
        }
        headers
    }

    async fn call(store: &MemoryStore, psp: &MemoryGateway, tenant: Option<&str>, body: &str) -> (u16, Value) {
        let lookup = CustomerLookup { store, psp };
        let response = handle(&lookup, sample_request("customer", headers(tenant), body))
            .await
            .unwrap();
        crate::openapi::conforming("/private/customer", response)
    }

    /// A pre-order payment `tx-1` of tenant-a at PSP payment `pi_1`.
    async fn pre_order_payment(store: &MemoryStore) {
        let money = Money::new(1000, Currency::parse("EUR").unwrap());
        let payment = Payment::new("tenant-a".into(), "tx-1".into(), None, "pi_1".into(), money, "t0");
        store.insert_payment(&payment).await.unwrap();
    }

    #[tokio::test]
    async fn the_shopper_the_psp_collected_is_answered_in_sprykers_shape() {
        let (store, psp) = (MemoryStore::new(), MemoryGateway::new());
        pre_order_payment(&store).await;
        let body = r#"{"customerPaymentServiceProviderData": {"transactionId": "tx-1"}}"#;
        let (status, answer) = call(&store, &psp, Some("tenant-a"), body).await;
        assert_eq!(status, 422, "nothing collected yet: {answer}");
        assert_eq!(answer["isSuccessful"], false);
        assert!(answer["error"].as_str().is_some_and(|e| e.contains("tx-1")), "{answer}");

        psp.set_customer_details(
            "pi_1",
            PspCustomer {
                email: Some("jane@example.com".into()),
                phone: Some("+4930123456".into()),
                shipping: Some(PspAddress {
                    name: Some("Jane Q Doe".into()),
                    line1: Some("Julie-Wolfthorn-Str. 1".into()),
                    city: Some("Berlin".into()),
                    postal_code: Some("10115".into()),
                    country: Some("DE".into()),
                    ..PspAddress::default()
                }),
                billing: Some(PspAddress {
                    name: Some("Jane Doe".into()),
                    country: Some("DE".into()),
                    ..PspAddress::default()
                }),
            },
        );
        let (status, answer) = call(&store, &psp, Some("tenant-a"), body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            answer,
            json!({"isSuccessful": true, "customer": {
                "email": "jane@example.com", "phone": "+4930123456", "firstName": "Jane", "lastName": "Doe",
                "shippingAddress": {"firstName": "Jane Q", "lastName": "Doe", "address1": "Julie-Wolfthorn-Str. 1",
                                    "city": "Berlin", "zipCode": "10115", "iso2Code": "DE"},
                "billingAddress": {"firstName": "Jane", "lastName": "Doe", "iso2Code": "DE"}}})
        );
        // The id at the top level, as for confirm and cancel.
        let (status, _) = call(&store, &psp, Some("tenant-a"), r#"{"transactionId": "tx-1"}"#).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn bad_requests_and_other_tenants_payments_are_refused() {
        let (store, psp) = (MemoryStore::new(), MemoryGateway::new());
        pre_order_payment(&store).await;
        let body = r#"{"customerPaymentServiceProviderData": {"transactionId": "tx-1"}}"#;
        let cases = [
            (None, body, 400),
            (Some("tenant-a"), "{", 400),
            (Some("tenant-a"), r#"{"customerPaymentServiceProviderData": {}}"#, 400),
            (Some("tenant-b"), body, 404),
        ];
        for (tenant, body, status) in cases {
            let (got, answer) = call(&store, &psp, tenant, body).await;
            assert_eq!(got, status, "{tenant:?} {body}: {answer}");
            assert!(answer["errors"][0]["message"].is_string(), "{answer}");
        }
    }
}
