//! The HTTP handler of the four synchronous checkout endpoints (contract §6), behind the HttpApi's JWT
//! authorizer. A request's path: API Gateway → [`handle`] → tenant header and body parsing → checkout
//! service (`shared::service::checkout`: PSP, store, outbox, listener) → JSON answer.
//!
//! Only an active tenant is served: a disconnected or never configured one is answered 400 before
//! anything else happens (contract §5.2), so no payment is created and no PSP is called for it.
//!
//! Bad input is answered 400 with a JSON error body, never 500. Error bodies follow §6 per endpoint:
//! initialize-payment and pre-order-payment answer `{"isSuccessful": false, "message"}`; confirm- and
//! cancel-pre-order-payment answer `{"error", "errors": [{"message"}]}` (the tenant reads `error` or the
//! first error's `message`, §5.4). Client secrets are put in answers only, never in logs.

use crate::http::{ErrorBody, ErrorMessage, Refusal, json_response, tenant_of};
use crate::payment_page::{PAGE_ROUTE, payment_link};
use lambda_http::{Body, Error, Request, Response};
use schemars::JsonSchema;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use shared::acp::sync::{
    CancelPreOrderPaymentRequest, ConfirmPreOrderPaymentRequest, InitializePaymentRequest, PreOrderPaymentRequest,
};
use shared::ports::{Clock, EventPublisher, PaymentGateway, PaymentStore, TenantAccess, TenantStore, Tenants};
use shared::service::checkout::CreatedPayment;
use shared::service::{CheckoutError, CheckoutService, PaymentKnownListener};

/// One synchronous endpoint; each has its own function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /private/initialize-payment`.
    InitializePayment,
    /// `POST /private/pre-order-payment`.
    PreOrderPayment,
    /// `POST /private/confirm-pre-order-payment`.
    ConfirmPreOrderPayment,
    /// `POST /private/cancel-pre-order-payment`.
    CancelPreOrderPayment,
}

impl Endpoint {
    /// The endpoint's route.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::InitializePayment => "/private/initialize-payment",
            Endpoint::PreOrderPayment => "/private/pre-order-payment",
            Endpoint::ConfirmPreOrderPayment => "/private/confirm-pre-order-payment",
            Endpoint::CancelPreOrderPayment => "/private/cancel-pre-order-payment",
        }
    }

    /// The error answer of this endpoint (§6).
    fn refusal(self, status: u16, message: &str) -> Result<Response<Body>, Error> {
        match self {
            Endpoint::InitializePayment | Endpoint::PreOrderPayment => json_response(
                status,
                &CheckoutRefusal {
                    is_successful: false,
                    message: message.to_string(),
                },
            ),
            Endpoint::ConfirmPreOrderPayment | Endpoint::CancelPreOrderPayment => json_response(
                status,
                &PreOrderRefusal {
                    error: message.to_string(),
                    errors: ErrorBody::of(message).errors,
                },
            ),
        }
    }
}

/// The refusal of initialize-payment and pre-order-payment (§6): `{"isSuccessful": false, "message"}`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutRefusal {
    /// Always `false`.
    #[schemars(extend("const" = false))]
    pub is_successful: bool,
    /// Why the request was not served.
    pub message: String,
}

/// The refusal of confirm- and cancel-pre-order-payment (§5.4): the shop reads `error`, or the first
/// error's `message`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PreOrderRefusal {
    /// Why the request was not served.
    pub error: String,
    /// The same message, as the ACP error list.
    pub errors: Vec<ErrorMessage>,
}

/// `preOrderPaymentData` handed to the tenant, which sends it back on confirm and cancel.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PaymentData {
    /// The app's payment id.
    pub transaction_id: String,
    /// The PaymentIntent's client secret, for the shop's frontend (Stripe.js); only in this answer,
    /// never logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// The answer of initialize-payment.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct InitializePaymentAnswer {
    /// Always `true`.
    #[schemars(extend("const" = true))]
    pub is_successful: bool,
    /// The app's payment id.
    pub transaction_id: String,
    /// The hosted payment page of the payment, where the shop sends the shopper.
    pub redirect_url: String,
    /// For a payment without an order yet (headless): its data for the shop's frontend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_order_payment_data: Option<PaymentData>,
}

/// The answer of pre-order-payment.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PreOrderPaymentAnswer {
    /// Always `true`.
    #[schemars(extend("const" = true))]
    pub is_successful: bool,
    /// The payment's data for the shop's frontend.
    pub pre_order_payment_data: PaymentData,
}

/// The answer of confirm- and cancel-pre-order-payment: `{"isSuccessful": true}`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Succeeded {
    /// Always `true`.
    #[schemars(extend("const" = true))]
    pub is_successful: bool,
}

/// A served request's answer.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Served {
    Initialized(InitializePaymentAnswer),
    PreOrder(PreOrderPaymentAnswer),
    Done(Succeeded),
}

/// A request that cannot be served, with its HTTP status.
struct Failure {
    status: u16,
    message: String,
}

impl Failure {
    fn bad_request(message: impl Into<String>) -> Self {
        Failure {
            status: 400,
            message: message.into(),
        }
    }
}

impl From<CheckoutError> for Failure {
    fn from(e: CheckoutError) -> Self {
        let status = match &e {
            CheckoutError::Invalid(_) | CheckoutError::UnknownPayment(_) | CheckoutError::Refused(_) => 400,
            CheckoutError::Busy => 409,
            CheckoutError::Unavailable(_) => 503,
        };
        Failure {
            status,
            message: e.to_string(),
        }
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure {
            status: r.status,
            message: r.message,
        }
    }
}

/// Reads the body as JSON, or as a PHP-style form (`a[b][0]=c`, accepted for backward compatibility, §6).
fn body_of<T: DeserializeOwned>(request: &Request) -> Result<T, Failure> {
    let bytes: &[u8] = request.body().as_ref();
    let form = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let parsed = if form {
        shared::json::from_value(form_to_json(bytes))
    } else {
        shared::json::from_slice(bytes)
    };
    parsed.map_err(|e| Failure::bad_request(format!("the request body is not valid: {e}")))
}

/// A form body as JSON: `a[b]=1&a[c][0]=2` becomes `{"a": {"b": "1", "c": ["2"]}}`; values stay strings.
fn form_to_json(body: &[u8]) -> Value {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(body) {
        let (head, rest) = key.split_once('[').unwrap_or((&key, ""));
        let mut path = vec![head.to_string()];
        path.extend(
            rest.split('[')
                .filter(|s| !s.is_empty())
                .map(|s| s.trim_end_matches(']').to_string()),
        );
        let mut node = &mut root;
        for segment in path {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(map) = node else { break };
            node = map.entry(segment).or_insert(Value::Null);
        }
        *node = Value::String(value.into_owned());
    }
    with_arrays(root)
}

/// Objects whose keys are all indices become arrays, in index order.
fn with_arrays(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut indexed: Vec<(usize, Value)> = Vec::new();
            for (k, v) in &map {
                match k.parse::<usize>() {
                    Ok(i) => indexed.push((i, v.clone())),
                    Err(_) => return Value::Object(map.into_iter().map(|(k, v)| (k, with_arrays(v))).collect()),
                }
            }
            if indexed.is_empty() {
                return Value::Object(Map::new());
            }
            indexed.sort_by_key(|(i, _)| *i);
            Value::Array(indexed.into_iter().map(|(_, v)| with_arrays(v)).collect())
        }
        other => other,
    }
}

/// `preOrderPaymentData` handed to the tenant: the payment id and, for the frontend, its client secret.
fn pre_order_payment_data(created: &CreatedPayment) -> PaymentData {
    PaymentData {
        transaction_id: created.transaction_id.clone(),
        client_secret: created.client_secret.as_ref().map(|s| s.expose_secret().to_string()),
    }
}

/// Serves one request to `endpoint`. Always an HTTP answer; `Err` only if the answer cannot be built.
pub async fn handle<S, G, P, C, L, T>(
    service: &CheckoutService<S, G, P, C, L>,
    tenants: &T,
    app_base_url: &str,
    endpoint: Endpoint,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: PaymentStore + TenantStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
    L: PaymentKnownListener,
    T: Tenants,
{
    match serve(service, tenants, app_base_url, endpoint, &request).await {
        Ok(body) => json_response(200, &body),
        Err(failure) => {
            tracing::warn!(?endpoint, status = failure.status, reason = %failure.message, "request not served");
            endpoint.refusal(failure.status, &failure.message)
        }
    }
}

async fn serve<S, G, P, C, L, T>(
    service: &CheckoutService<S, G, P, C, L>,
    tenants: &T,
    app_base_url: &str,
    endpoint: Endpoint,
    request: &Request,
) -> Result<Served, Failure>
where
    S: PaymentStore + TenantStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
    L: PaymentKnownListener,
    T: Tenants,
{
    let tenant = tenant_of(request, &service.commands.store).await?;
    let access = tenants.access(&tenant).await.map_err(|e| Failure {
        status: 503,
        message: e.to_string(),
    })?;
    match access {
        TenantAccess::Active => {}
        TenantAccess::Disconnected => return Err(Failure::bad_request("Tenant is disconnected.")),
        TenantAccess::NotConfigured => return Err(Failure::bad_request("Tenant is not configured.")),
    }
    match endpoint {
        Endpoint::InitializePayment => {
            let body: InitializePaymentRequest = body_of(request)?;
            let created = service.initialize_payment(&tenant, &body).await?;
            Ok(Served::Initialized(InitializePaymentAnswer {
                is_successful: true,
                transaction_id: created.transaction_id.clone(),
                redirect_url: payment_link(app_base_url, PAGE_ROUTE, &tenant, &created.transaction_id),
                pre_order_payment_data: (!created.has_order).then(|| pre_order_payment_data(&created)),
            }))
        }
        Endpoint::PreOrderPayment => {
            let body: PreOrderPaymentRequest = body_of(request)?;
            let created = service.pre_order_payment(&tenant, &body).await?;
            Ok(Served::PreOrder(PreOrderPaymentAnswer {
                is_successful: true,
                pre_order_payment_data: pre_order_payment_data(&created),
            }))
        }
        Endpoint::ConfirmPreOrderPayment => {
            let body: ConfirmPreOrderPaymentRequest = body_of(request)?;
            service.confirm_pre_order_payment(&tenant, &body).await?;
            Ok(Served::Done(Succeeded { is_successful: true }))
        }
        Endpoint::CancelPreOrderPayment => {
            let body: CancelPreOrderPaymentRequest = body_of(request)?;
            service.cancel_pre_order_payment(&tenant, &body).await?;
            Ok(Served::Done(Succeeded { is_successful: true }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::domain::{Currency, Money, Payment, PaymentStatus};
    use shared::service::testing::{MemoryCheckoutService, memory_checkout, memory_directory, seed_tenant};

    const BASE: &str = "https://app.example.com/";

    use crate::http::sample_request as request;

    fn tenant_headers() -> Value {
        json!({"content-type": "application/json", "x-tenant-identifier": "tenant-a",
               "authorization": "Bearer test"})
    }

    async fn call(svc: &MemoryCheckoutService, endpoint: Endpoint, function: &str, body: Value) -> (u16, Value) {
        answer(svc, endpoint, request(function, tenant_headers(), &body.to_string())).await
    }

    async fn answer(svc: &MemoryCheckoutService, endpoint: Endpoint, request: Request) -> (u16, Value) {
        let tenants = memory_directory(&["tenant-a"]).await;
        let response = handle(svc, &tenants, BASE, endpoint, request).await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/json");
        crate::openapi::conforming(endpoint.path(), response)
    }

    fn initialize_body(order: &str) -> Value {
        json!({"orderData": {"orderReference": order, "currencyCode": "EUR", "grandTotal": 2500,
                             "items": [{"idSalesOrderItem": 5}]},
               "redirectSuccessUrl": "https://shop.example.com/payment/order-success"})
    }

    #[tokio::test]
    async fn every_sample_event_is_served() {
        let svc = memory_checkout();
        let sample = |function: &str| {
            let path = format!("{}/../events/{function}.json", env!("CARGO_MANIFEST_DIR"));
            lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        for (function, endpoint) in [
            ("initialize-payment", Endpoint::InitializePayment),
            ("pre-order-payment", Endpoint::PreOrderPayment),
        ] {
            let (status, body) = answer(&svc, endpoint, sample(function)).await;
            assert_eq!(
                (status, &body["isSuccessful"]),
                (200, &json!(true)),
                "{function}: {body}"
            );
        }
        // The confirm and cancel samples name a headless payment whose customer has authorized it.
        let psp_reference = svc.commands.gateway.authorized_payment(1200, "EUR");
        let headless = Payment::new(
            "tenant-a".into(),
            "6f9619ff-8b86-4d01-b42d-00c04fc964ff".into(),
            None,
            psp_reference,
            Money::new(1200, Currency::parse("EUR").unwrap()),
            "2026-01-01 00:00:00",
        );
        svc.commands.store.insert_payment(&headless).await.unwrap();
        for (function, endpoint) in [
            ("confirm-pre-order-payment", Endpoint::ConfirmPreOrderPayment),
            ("cancel-pre-order-payment", Endpoint::CancelPreOrderPayment),
        ] {
            let (status, body) = answer(&svc, endpoint, sample(function)).await;
            assert_eq!((status, body), (200, json!({"isSuccessful": true})), "{function}");
        }
    }

    #[tokio::test]
    async fn initialize_answers_the_transaction_and_the_payment_page_and_repeats_it() {
        let svc = memory_checkout();
        let (status, body) = call(
            &svc,
            Endpoint::InitializePayment,
            "initialize-payment",
            initialize_body("DE--1"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let tx = body["transactionId"].as_str().unwrap().to_string();
        assert_eq!(
            body,
            json!({"isSuccessful": true, "transactionId": tx,
                   "redirectUrl": format!("https://app.example.com/app-payment?transactionId={tx}&tenantIdentifier=tenant-a")})
        );
        let (_, again) = call(
            &svc,
            Endpoint::InitializePayment,
            "initialize-payment",
            initialize_body("DE--1"),
        )
        .await;
        assert_eq!(again["transactionId"], tx.as_str());
        assert_eq!(svc.commands.gateway.effects("create_payment"), 1);
        assert_eq!(svc.commands.publisher.published().len(), 1, "one PaymentCreated");
    }

    #[tokio::test]
    async fn initialize_accepts_a_php_style_form() {
        let svc = memory_checkout();
        let headers = json!({"content-type": "application/x-www-form-urlencoded", "x-store-reference": "tenant-a"});
        let form = "orderData%5BorderReference%5D=DE--2&orderData[currencyCode]=EUR&orderData[grandTotal]=1000\
                    &orderData[items][1][idSalesOrderItem]=8&orderData[items][0][idSalesOrderItem]=7";
        let (status, body) = answer(
            &svc,
            Endpoint::InitializePayment,
            request("initialize-payment", headers, form),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let payment = svc
            .commands
            .store
            .find_payment_by_order("tenant-a", "DE--2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((payment.amount.minor, payment.order_item_ids), (1000, vec![7, 8]));
    }

    #[tokio::test]
    async fn a_missing_tenant_header_or_bad_json_is_a_400_with_a_json_error() {
        let svc = memory_checkout();
        let no_tenant = request(
            "initialize-payment",
            json!({"content-type": "application/json"}),
            &initialize_body("DE--1").to_string(),
        );
        let (status, body) = answer(&svc, Endpoint::InitializePayment, no_tenant).await;
        assert_eq!(status, 400);
        assert_eq!(body["isSuccessful"], false);
        assert!(body["message"].as_str().unwrap().contains("x-tenant-identifier"));

        let bad_json = request("confirm-pre-order-payment", tenant_headers(), "{not json");
        let (status, body) = answer(&svc, Endpoint::ConfirmPreOrderPayment, bad_json).await;
        assert_eq!(status, 400);
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("not valid"));
        assert_eq!(body["error"], body["errors"][0]["message"]);

        let (status, body) = call(
            &svc,
            Endpoint::PreOrderPayment,
            "pre-order-payment",
            json!({"orderData": {}}),
        )
        .await;
        assert_eq!((status, &body["isSuccessful"]), (400, &json!(false)));
        assert!(svc.commands.publisher.published().is_empty());
        assert_eq!(svc.commands.gateway.effects("create_payment"), 0);
    }

    #[tokio::test]
    async fn the_headless_flow_pre_order_confirm_and_cancel() {
        let svc = memory_checkout();
        let order = json!({"currencyCode": "EUR", "grandTotal": 1200, "items": [{"sku": "a"}]});
        let (status, body) = call(
            &svc,
            Endpoint::PreOrderPayment,
            "pre-order-payment",
            json!({"orderData": order}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let data = &body["preOrderPaymentData"];
        let tx = data["transactionId"].as_str().unwrap().to_string();
        assert!(data["clientSecret"].as_str().unwrap().contains("_secret"));
        assert_eq!(
            svc.commands.publisher.published().len(),
            1,
            "PaymentCreated, without an entity"
        );

        let payment = svc.commands.store.get_payment("tenant-a", &tx).await.unwrap().unwrap();
        svc.commands
            .gateway
            .customer_completes(&payment.psp_reference, PaymentStatus::Authorized);
        let confirm = json!({"orderReference": "DE--3", "orderData": {"items": [{"idSalesOrderItem": 9}]},
                             "preOrderPaymentData": {"transactionId": tx}});
        let (status, body) = call(
            &svc,
            Endpoint::ConfirmPreOrderPayment,
            "confirm-pre-order-payment",
            confirm,
        )
        .await;
        assert_eq!((status, body), (200, json!({"isSuccessful": true})));
        let names: Vec<String> = svc
            .commands
            .publisher
            .published()
            .into_iter()
            .map(|e| e.detail_type)
            .collect();
        assert_eq!(names, vec!["PaymentCreated", "PaymentUpdated", "PaymentAuthorized"]);

        // Unknown payment: 400 with the confirm/cancel error shape.
        let (status, body) = call(
            &svc,
            Endpoint::CancelPreOrderPayment,
            "cancel-pre-order-payment",
            json!({"transactionId": "nope"}),
        )
        .await;
        assert_eq!(status, 400);
        assert!(body["error"].as_str().unwrap().contains("nope"));

        let (status, body) = call(
            &svc,
            Endpoint::CancelPreOrderPayment,
            "cancel-pre-order-payment",
            json!({"preOrderPaymentData": {"transactionId": tx}}),
        )
        .await;
        assert_eq!((status, body), (200, json!({"isSuccessful": true})));
        let payment = svc.commands.store.get_payment("tenant-a", &tx).await.unwrap().unwrap();
        assert_eq!(payment.status, PaymentStatus::Canceled);
    }

    #[test]
    fn forms_become_nested_json_with_arrays() {
        assert_eq!(
            form_to_json(b"a[b]=1&a[c][1]=3&a[c][0]=2&d=x%20y"),
            json!({"a": {"b": "1", "c": ["2", "3"]}, "d": "x y"})
        );
    }

    #[tokio::test]
    async fn a_disconnected_or_unknown_tenant_gets_no_payment() {
        let svc = memory_checkout();
        let tenants = memory_directory(&[]).await;
        let unknown = request(
            "initialize-payment",
            tenant_headers(),
            &initialize_body("DE--1").to_string(),
        );
        let response = handle(&svc, &tenants, BASE, Endpoint::InitializePayment, unknown)
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
        seed_tenant(&tenants, "tenant-a", "sk_test_a", false).await;
        let disconnected = request(
            "initialize-payment",
            tenant_headers(),
            &initialize_body("DE--1").to_string(),
        );
        let response = handle(&svc, &tenants, BASE, Endpoint::InitializePayment, disconnected)
            .await
            .unwrap();
        assert_eq!(
            crate::openapi::conforming(Endpoint::InitializePayment.path(), response),
            (
                400,
                json!({"isSuccessful": false, "message": "Tenant is disconnected."})
            )
        );
        assert_eq!(svc.commands.gateway.effects("create_payment"), 0);
        assert!(svc.commands.publisher.published().is_empty());

        // Reconnected, the same order is served.
        seed_tenant(&tenants, "tenant-a", "sk_test_a", true).await;
        let again = request(
            "initialize-payment",
            tenant_headers(),
            &initialize_body("DE--1").to_string(),
        );
        let response = handle(&svc, &tenants, BASE, Endpoint::InitializePayment, again)
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
}
