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

use crate::http::{json_response, tenant_of};
use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use shared::ports::customer::{CustomerDetails, PspAddress, PspCustomer};
use shared::ports::{PaymentStore, TenantStore};
use shared::service::customer::{CustomerError, CustomerLookup};

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerRequest {
    #[serde(default)]
    customer_payment_service_provider_data: Option<ProviderData>,
    #[serde(default)]
    transaction_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderData {
    #[serde(default)]
    transaction_id: Option<String>,
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
            &json!({"isSuccessful": false, "error": message, "errors": [{"message": message}]}),
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
            &json!({"isSuccessful": true, "customer": customer_json(&customer)}),
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

/// Inserts the fields that have a value.
fn put(object: &mut Map<String, Value>, fields: &[(&str, Option<&str>)]) {
    for (key, value) in fields {
        if let Some(value) = value {
            object.insert((*key).to_string(), Value::from(*value));
        }
    }
}

fn address_json(address: &PspAddress) -> Value {
    let (first, last) = address.name.as_deref().map(split_name).unzip();
    let mut object = Map::new();
    put(
        &mut object,
        &[
            ("firstName", first.as_deref()),
            ("lastName", last.flatten().as_deref()),
            ("address1", address.line1.as_deref()),
            ("address2", address.line2.as_deref()),
            ("city", address.city.as_deref()),
            ("zipCode", address.postal_code.as_deref()),
            ("state", address.state.as_deref()),
            ("iso2Code", address.country.as_deref()),
            ("phone", address.phone.as_deref()),
        ],
    );
    Value::Object(object)
}

fn customer_json(customer: &PspCustomer) -> Value {
    // The customer's name: the billing name (the payer), else the shipping name.
    let name = customer
        .billing
        .as_ref()
        .and_then(|a| a.name.as_deref())
        .or(customer.shipping.as_ref().and_then(|a| a.name.as_deref()));
    let (first, last) = name.map(split_name).unzip();
    let mut object = Map::new();
    put(
        &mut object,
        &[
            ("email", customer.email.as_deref()),
            ("phone", customer.phone.as_deref()),
            ("firstName", first.as_deref()),
            ("lastName", last.flatten().as_deref()),
        ],
    );
    if let Some(shipping) = &customer.shipping {
        object.insert("shippingAddress".into(), address_json(shipping));
    }
    if let Some(billing) = &customer.billing {
        object.insert("billingAddress".into(), address_json(billing));
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::sample_request;
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
        let status = response.status().as_u16();
        (status, serde_json::from_slice(response.body().as_ref()).unwrap())
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
