//! The app's OpenAPI document (`docs/openapi.yml`), generated from the types the HTTP functions read
//! and write: every route of the HttpApi with its parameters, its request body and its answers by
//! status, their JSON shapes derived by `schemars` from the same structs the handlers (de)serialize.
//! `functions/tests/openapi.rs` fails when the committed document differs from [`document`]; the
//! handlers' tests and the through-the-stack tests check every answer they get against it
//! ([`answer_schema`]).

use crate::customer::{CustomerAnswer, CustomerRefusal, CustomerRequest};
use crate::http::ErrorBody;
use crate::onboarding::{OnboardingAnswer, OnboardingBody};
use crate::sync_api::{
    CheckoutRefusal, Endpoint, InitializePaymentAnswer, PreOrderPaymentAnswer, PreOrderRefusal, Succeeded,
};
use crate::tenant_api::{ConfigureAnswer, ConfigureRequest, TenantEndpoint, TenantRefusal};
use crate::transfers::{TransferRequest, TransfersAnswer};
use crate::webhook_handler::Received;
use schemars::generate::SchemaGenerator;
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};
use shared::acp::schema::{schema_generator, standalone};
use shared::acp::sync::{
    CancelPreOrderPaymentRequest, ConfirmPreOrderPaymentRequest, InitializePaymentRequest, PreOrderPaymentRequest,
};

/// API Gateway's own answer, given without the app: the JWT authorizer refused the token (401), or the
/// function failed (500: it crashed, or ran out of time).
#[derive(JsonSchema)]
#[allow(dead_code)]
struct GatewayMessage {
    /// `Unauthorized`, `Internal Server Error`.
    message: String,
}

/// A webhook's 500: the app's (the event was not applied now), or API Gateway's (the function failed).
/// Stripe delivers the event again either way.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum WebhookRetry {
    /// The app's answer.
    App(ErrorBody),
    /// API Gateway's answer.
    Gateway(GatewayMessage),
}

/// A Stripe event as Stripe delivers it (only `id`, `type`, `created` and `data.object` are read).
#[derive(JsonSchema)]
#[allow(dead_code)]
struct StripeEvent {
    /// `evt_...`.
    id: String,
    /// The event type, e.g. `payment_intent.succeeded`.
    #[serde(rename = "type")]
    kind: String,
    /// When it happened (Unix seconds).
    created: i64,
    /// `{object: {...}}`: the Stripe object the event is about.
    data: Value,
}

/// A JSON body's schema.
type Json = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, referenced from the document's components.
fn of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What an answer carries.
#[derive(Clone, Copy)]
enum Content {
    /// `application/json` of a type.
    Json(Json),
    /// An HTML page (the payment page and its error pages).
    Html,
    /// Nothing (204).
    Empty,
    /// A redirect (`Location`).
    Redirect,
}

/// One answer of a route.
struct Answer {
    status: u16,
    description: &'static str,
    content: Content,
}

const fn answer(status: u16, description: &'static str, content: Content) -> Answer {
    Answer {
        status,
        description,
        content,
    }
}

/// An answer carrying JSON of type `T`.
fn json<T: JsonSchema>(status: u16, description: &'static str) -> Answer {
    answer(status, description, Content::Json(of::<T>))
}

/// Who may call a route.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A bearer token the HttpApi's JWT authorizer accepts, and `x-tenant-identifier`.
    Tenant,
    /// Stripe, proven by `Stripe-Signature` over the raw body (the route's tenant's secrets).
    Stripe,
    /// Anyone (the shopper's browser).
    Public,
}

/// A header or query parameter a route reads beyond its access's own.
struct Parameter {
    name: &'static str,
    location: &'static str,
    required: bool,
    description: &'static str,
}

/// One route of the HttpApi.
struct Route {
    method: &'static str,
    path: &'static str,
    /// The function serving it (`operationId`).
    function: &'static str,
    summary: &'static str,
    access: Access,
    parameters: Vec<Parameter>,
    request: Option<Json>,
    answers: Vec<Answer>,
}

/// A `/private` route's refusals beyond its own: API Gateway's 401, then the function's 403 (another
/// tenant's token) and 503 (retry) in the route's error shape `error`.
fn tenant_refusals(error: Json) -> [Answer; 3] {
    [
        json::<GatewayMessage>(
            401,
            "No valid token: API Gateway's JWT authorizer refused it (the function never runs).",
        ),
        answer(
            403,
            "The token does not act for the named tenant.",
            Content::Json(error),
        ),
        answer(
            503,
            "The store or Stripe is unavailable: try again.",
            Content::Json(error),
        ),
    ]
}

/// A Stripe webhook route: the signature header, the event and the answers Stripe reads.
fn webhook(path: &'static str, function: &'static str, summary: &'static str) -> Route {
    Route {
        method: "post",
        path,
        function,
        summary,
        access: Access::Stripe,
        parameters: vec![Parameter {
            name: "Stripe-Signature",
            location: "header",
            required: true,
            description: "Stripe's signature of the raw body (`t=...,v1=...`).",
        }],
        request: Some(of::<StripeEvent>),
        answers: vec![
            json::<Received>(
                200,
                "Applied, applied before, or nothing to do (`{\"received\": true}`).",
            ),
            json::<ErrorBody>(400, "Refused (a bad signature, an unreadable event): nothing changed."),
            json::<ErrorBody>(413, "The body is larger than 64 KiB."),
            json::<WebhookRetry>(
                500,
                "Not applied now, or the function failed: Stripe delivers it again.",
            ),
        ],
    }
}

/// A checkout route: `request` and its success, with the refusals in `error` (contract §6).
fn checkout(
    path: &'static str,
    function: &'static str,
    summary: &'static str,
    request: Json,
    ok: Json,
    error: Json,
) -> Route {
    let mut answers = vec![
        answer(200, "Done.", Content::Json(ok)),
        answer(
            400,
            "An unreadable body, a tenant not configured or disconnected, an unknown payment, or Stripe refused it.",
            Content::Json(error),
        ),
        answer(
            409,
            "Another request holds the payment: try again.",
            Content::Json(error),
        ),
    ];
    answers.extend(tenant_refusals(error));
    Route {
        method: "post",
        path,
        function,
        summary,
        access: Access::Tenant,
        parameters: Vec::new(),
        request: Some(request),
        answers,
    }
}

/// A payment page route (no body; the payment named by the query).
fn page(path: &'static str, function: &'static str, summary: &'static str, ok: Answer) -> Route {
    let query = |name: &'static str, description: &'static str| Parameter {
        name,
        location: "query",
        required: true,
        description,
    };
    Route {
        method: "get",
        path,
        function,
        summary,
        access: Access::Public,
        parameters: vec![
            query("transactionId", "The payment (initialize-payment's `transactionId`)."),
            query("tenantIdentifier", "The payment's tenant."),
        ],
        request: None,
        answers: vec![
            ok,
            answer(400, "The link is incomplete.", Content::Html),
            answer(404, "No such payment.", Content::Html),
            answer(409, "The payment is no longer open to pay.", Content::Html),
            answer(503, "The payment cannot be shown now.", Content::Html),
        ],
    }
}

/// Every route of the HttpApi (template.yaml), in its order.
fn routes() -> Vec<Route> {
    let tenant_route = |path, function, summary, parameters, request, mut answers: Vec<Answer>, error| {
        answers.extend(tenant_refusals(error));
        Route {
            method: "post",
            path,
            function,
            summary,
            access: Access::Tenant,
            parameters,
            request,
            answers,
        }
    };
    vec![
        checkout(
            Endpoint::InitializePayment.path(),
            "initialize-payment",
            "Create the payment of an order (hosted payment page or headless).",
            of::<InitializePaymentRequest>,
            of::<InitializePaymentAnswer>,
            of::<CheckoutRefusal>,
        ),
        page(
            "/app-payment",
            "payment-page",
            "The hosted payment page.",
            answer(200, "The page.", Content::Html),
        ),
        page(
            "/app-payment/redirect",
            "payment-page",
            "Where Stripe sends the shopper back.",
            answer(
                302,
                "To the shop's success or cancel URL, or back to the page.",
                Content::Redirect,
            ),
        ),
        page(
            "/app-payment/cancel",
            "payment-page",
            "The page's cancel link.",
            answer(302, "To the shop's cancel URL.", Content::Redirect),
        ),
        checkout(
            Endpoint::PreOrderPayment.path(),
            "pre-order-payment",
            "Create (or repeat) the payment of a cart before its order exists.",
            of::<PreOrderPaymentRequest>,
            of::<PreOrderPaymentAnswer>,
            of::<CheckoutRefusal>,
        ),
        checkout(
            Endpoint::ConfirmPreOrderPayment.path(),
            "confirm-pre-order-payment",
            "Attach the placed order to its pre-order payment.",
            of::<ConfirmPreOrderPaymentRequest>,
            of::<Succeeded>,
            of::<PreOrderRefusal>,
        ),
        checkout(
            Endpoint::CancelPreOrderPayment.path(),
            "cancel-pre-order-payment",
            "Cancel a pre-order payment whose order was not placed.",
            of::<CancelPreOrderPaymentRequest>,
            of::<Succeeded>,
            of::<PreOrderRefusal>,
        ),
        tenant_route(
            TenantEndpoint::Configure.path(),
            "configure",
            "Store the tenant's configuration and announce its payment methods.",
            Vec::new(),
            Some(of::<ConfigureRequest>),
            vec![
                json::<ConfigureAnswer>(200, "Stored; the configuration as stored, secrets redacted."),
                json::<TenantRefusal>(409, "A concurrent configure or disconnect: try again."),
                json::<TenantRefusal>(
                    422,
                    "No tenant header, an unreadable body, or an invalid configuration (the fields named, never their values).",
                ),
            ],
            of::<TenantRefusal>,
        ),
        tenant_route(
            TenantEndpoint::Disconnect.path(),
            "disconnect",
            "Disconnect the tenant (its methods withdrawn, its secrets deleted).",
            vec![Parameter {
                name: "x-confirmation-status",
                location: "header",
                required: false,
                description: "The answer to a 409: `true` disconnects with open payments, anything else declines.",
            }],
            None,
            vec![
                answer(204, "Disconnected.", Content::Empty),
                json::<TenantRefusal>(
                    400,
                    "The confirmation was declined (code 21001), or the tenant is unknown (20003).",
                ),
                json::<TenantRefusal>(
                    409,
                    "Open payments: confirm with `x-confirmation-status: true` (code 21000, with `confirm` labels); or a concurrent request (code 409).",
                ),
                json::<TenantRefusal>(422, "The tenant header is missing."),
            ],
            of::<TenantRefusal>,
        ),
        tenant_route(
            "/private/merchants/onboarding",
            "merchant-onboarding",
            "Start or continue a marketplace merchant's onboarding at Stripe.",
            vec![Parameter {
                name: "x-merchant-reference",
                location: "header",
                required: false,
                description: "The merchant (else `merchant.merchantReference`; both given, they must agree).",
            }],
            Some(of::<OnboardingBody>),
            vec![
                json::<OnboardingAnswer>(
                    201,
                    "The merchant's Stripe account was created; where the merchant goes next.",
                ),
                json::<OnboardingAnswer>(200, "The onboarding continues; a new link."),
                json::<ErrorBody>(400, "Bad input."),
                json::<ErrorBody>(
                    412,
                    "Onboarding cannot proceed (Stripe rejected the merchant or refuses accounts for the tenant).",
                ),
            ],
            of::<ErrorBody>,
        ),
        tenant_route(
            "/private/customer",
            "customer",
            "The shopper and addresses Stripe collected for an express-checkout payment.",
            Vec::new(),
            Some(of::<CustomerRequest>),
            vec![
                json::<CustomerAnswer>(200, "The customer."),
                json::<CustomerRefusal>(400, "Unreadable body or no transaction id."),
                json::<CustomerRefusal>(404, "No such payment."),
                json::<CustomerRefusal>(422, "Nothing collected yet."),
            ],
            of::<CustomerRefusal>,
        ),
        tenant_route(
            "/private/payments/transfers",
            "payment-transfers",
            "Pay merchants their share of an order, or reverse a payout (marketplace).",
            Vec::new(),
            Some(of::<TransferRequest>),
            vec![
                json::<TransfersAnswer>(
                    200,
                    "One entry per merchant, order and direction; a transfer that cannot be made is an entry with `isSuccessful: false`.",
                ),
                json::<ErrorBody>(400, "Unreadable body or no items."),
            ],
            of::<ErrorBody>,
        ),
        webhook(
            "/webhooks/stripe/{tenantIdentifier}/payment-intents",
            "stripe-payment-intents-webhook",
            "Stripe's payment events (every payment, charge, refund and dispute event is applied on either payment route).",
        ),
        webhook(
            "/webhooks/stripe/{tenantIdentifier}/refunds",
            "stripe-refunds-webhook",
            "Stripe's refund events (every payment, charge, refund and dispute event is applied on either payment route).",
        ),
        webhook(
            "/webhooks/stripe/{tenantIdentifier}/accounts",
            "stripe-accounts-webhook",
            "Stripe Connect's `account.updated` events (merchant onboarding).",
        ),
    ]
}

/// The OpenAPI 3.1 document of the app's HTTP API.
pub fn document() -> Value {
    let mut generator = schema_generator();
    let mut paths = Map::new();
    for route in routes() {
        let mut parameters: Vec<Value> = Vec::new();
        if route.path.contains("{tenantIdentifier}") {
            parameters.push(json!({"name": "tenantIdentifier", "in": "path", "required": true,
                "description": "The tenant whose webhook secrets sign the event.", "schema": {"type": "string"}}));
        }
        if route.access == Access::Tenant {
            parameters.push(json!({"name": "x-tenant-identifier", "in": "header", "required": true,
                "description": "The tenant (`x-store-reference` is read when it is missing).", "schema": {"type": "string"}}));
        }
        for p in &route.parameters {
            parameters.push(json!({"name": p.name, "in": p.location, "required": p.required,
                "description": p.description, "schema": {"type": "string"}}));
        }
        let mut responses = Map::new();
        // Every route may fail before the app answers (the function crashed or ran out of time).
        let failed = json::<GatewayMessage>(
            500,
            "The function failed (it crashed, or ran out of time): API Gateway's own answer.",
        );
        let own_failure = route.answers.iter().any(|a| a.status == failed.status);
        for a in route.answers.iter().chain((!own_failure).then_some(&failed)) {
            let mut response = json!({"description": a.description});
            match a.content {
                Content::Json(schema) => {
                    response["content"] = json!({"application/json": {"schema": schema(&mut generator)}})
                }
                Content::Html => response["content"] = json!({"text/html": {"schema": {"type": "string"}}}),
                Content::Redirect => {
                    response["headers"] =
                        json!({"Location": {"description": "Where the browser goes.", "schema": {"type": "string"}}})
                }
                Content::Empty => {}
            }
            responses.insert(a.status.to_string(), response);
        }
        let mut operation = json!({
            "operationId": format!("{}:{}", route.function, route.path),
            "summary": route.summary,
            "x-function": route.function,
            "parameters": parameters,
            "responses": responses,
        });
        operation["security"] = match route.access {
            Access::Tenant => json!([{"acpToken": []}]),
            Access::Stripe => json!([{"stripeSignature": []}]),
            Access::Public => json!([]),
        };
        if let Some(request) = route.request {
            operation["requestBody"] = json!({"required": true,
                "content": {"application/json": {"schema": request(&mut generator)}}});
        }
        paths
            .entry(route.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("a path item")
            .insert(route.method.into(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ACP payment app (Stripe): HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The routes of the payment app's HTTP API: what Spryker shops (the sync API, the App Catalog), shoppers' browsers and Stripe call. Generated from the Rust types of the request and answer bodies by `functions::openapi`; do not edit by hand.",
        },
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                "acpToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "A token of the ACP issuer (the HttpApi's JWT authorizer); it must act for the tenant it names."},
                "stripeSignature": {"type": "apiKey", "in": "header", "name": "Stripe-Signature",
                    "description": "Stripe's HMAC-SHA256 signature with one of the tenant's webhook signing secrets."},
            },
        },
    })
}

/// The schema of the JSON answer of `method path` (`path` as the document names it, e.g.
/// `/webhooks/stripe/{tenantIdentifier}/refunds`) with `status`, standalone (its definitions beside it).
/// `Err` says why there is none: the document has no such answer, or it carries no JSON.
pub fn answer_schema(document: &Value, method: &str, path: &str, status: u16) -> Result<Value, String> {
    let response = document["paths"]
        .get(path)
        .and_then(|item| item.get(method))
        .and_then(|operation| operation["responses"].get(status.to_string()))
        .ok_or_else(|| format!("{method} {path} has no {status} answer in docs/openapi.yml"))?;
    let schema = &response["content"]["application/json"]["schema"];
    standalone(document, schema).ok_or_else(|| format!("{method} {path}'s {status} answer carries no JSON"))
}

/// For the tests (the handlers' and the through-the-stack ones): `text`, the body of a `status` answer
/// of `POST route` (`route` as the document names it), as JSON once checked against the document
/// (`Null` for an answer without a body). Panics when the document has no such answer, or the body
/// breaks its schema. Validators are built once per route and status (the chaos run reads thousands).
#[cfg(any(test, feature = "test-support"))]
pub fn checked(route: &str, status: u16, text: &str) -> Value {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};
    type Validators = HashMap<(String, u16), Arc<jsonschema::Validator>>;
    static DOCUMENT: LazyLock<Value> = LazyLock::new(document);
    static VALIDATORS: LazyLock<Mutex<Validators>> = LazyLock::new(Default::default);
    let described = &DOCUMENT["paths"][route]["post"]["responses"][status.to_string()];
    assert!(
        described.is_object(),
        "POST {route} has no {status} answer in docs/openapi.yml: {text}"
    );
    if text.is_empty() {
        assert!(
            described.get("content").is_none(),
            "POST {route} answered {status} without the body docs/openapi.yml describes"
        );
        return Value::Null;
    }
    let body: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("POST {route} {status}: not JSON ({e}): {text}"));
    let validator = VALIDATORS
        .lock()
        .expect("validators")
        .entry((route.to_string(), status))
        .or_insert_with(|| {
            let schema = answer_schema(&DOCUMENT, "post", route, status).unwrap_or_else(|e| panic!("{e}"));
            Arc::new(jsonschema::validator_for(&schema).expect("the document's schema"))
        })
        .clone();
    let errors: Vec<String> = validator.iter_errors(&body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "POST {route} {status} breaks docs/openapi.yml: {errors:?} in {body}"
    );
    body
}

/// For the handlers' tests: the status and JSON body of `response`, a `POST` to `path`, once
/// [`checked`].
#[cfg(test)]
pub(crate) fn conforming(path: &str, response: lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = std::str::from_utf8(response.body().as_ref()).expect("a UTF-8 answer");
    (status, checked(path, status, text))
}
