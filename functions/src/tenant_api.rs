//! The HTTP handler of `POST /private/configure` and `POST /private/disconnect` (contract §5.1, §5.2,
//! §6), behind the HttpApi's JWT authorizer. A request's path: API Gateway → [`handle`] → tenant header
//! and body → tenant service (`shared::service::tenants`: record, secrets, events) → answer.
//!
//! Answers, as Spryker's App Catalog reads them:
//! * configure: 200 `{tenantIdentifier, configuration}` (secrets redacted); a missing tenant header, a
//!   malformed body or an invalid configuration is 422 `{"errors":[{"code":"422","message","status":422}]}`.
//! * disconnect: 204; open payments without `x-confirmation-status` are 409 code `21000` with the error's
//!   `confirm` labels (also at the top level); a declined confirmation is 400 code `21001`; a missing
//!   tenant header is 422 code `422`, as in Spryker's app-kernel, whose header validator runs before
//!   app-payment's disconnect validator (contract §5.2 names that validator's own 400 `20000`, which is
//!   never reached); an unknown tenant 400.
//! * a temporary failure is 503, a lost race 409, both with the same error shape.
//!
//! Request bodies are never logged: they carry the tenant's secrets.

use crate::http::{caller, empty_response, header, json_response, tenant_header};
use lambda_http::{Body, Error, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared::ports::{Clock, EventPublisher, KeyCheck, PaymentStore, SecretStore, TenantStore};
use shared::service::{AccessError, TenantError, TenantService, authorize};

/// The disconnect confirmation header (contract §5.2).
const CONFIRMATION_HEADER: &str = "x-confirmation-status";

/// One tenant endpoint; each has its own function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantEndpoint {
    /// `POST /private/configure`.
    Configure,
    /// `POST /private/disconnect`.
    Disconnect,
}

impl TenantEndpoint {
    /// The endpoint's route.
    pub fn path(self) -> &'static str {
        match self {
            TenantEndpoint::Configure => "/private/configure",
            TenantEndpoint::Disconnect => "/private/disconnect",
        }
    }
}

/// The configure body (contract §5.1), a JSON:API document.
#[derive(Deserialize, JsonSchema)]
pub struct ConfigureRequest {
    /// The resource (`type` is `configuration`; it is not read).
    data: ConfigureData,
}

/// `data` of the configure body.
#[derive(Deserialize, JsonSchema)]
struct ConfigureData {
    /// Its attributes.
    attributes: ConfigureAttributes,
}

/// `data.attributes` of the configure body.
#[derive(Deserialize, JsonSchema)]
struct ConfigureAttributes {
    /// The tenant's configuration: a JSON object as a string. Keys: `stripeSecretKey` (required),
    /// `stripePublishableKey`, `webhookSigningSecrets` (a list; one is required), `paymentMethods`,
    /// `isMarketplace`; `"[redacted]"` keeps the stored value of a secret.
    #[schemars(extend("contentMediaType" = "application/json"))]
    configuration: String,
}

/// The configure answer: the configuration as stored, secrets redacted.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ConfigureAnswer {
    /// The tenant.
    pub tenant_identifier: String,
    /// The stored configuration; every secret is `"[redacted]"`.
    pub configuration: Map<String, Value>,
}

/// The error answer of configure and disconnect, as Spryker's App Catalog reads it.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TenantRefusal {
    /// One error.
    pub errors: Vec<TenantErrorEntry>,
    /// On a 409 of disconnect: the labels of the Back Office's confirmation dialog.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
}

/// One error of a [`TenantRefusal`].
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TenantErrorEntry {
    /// Spryker's code: `21000` open payments, `21001` declined, `20003` unknown tenant, else the status.
    pub code: String,
    /// What to tell the operator.
    pub message: String,
    /// The HTTP status.
    pub status: u16,
    /// On a 409 of disconnect: the confirmation labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
}

/// The confirmation dialog's labels of a disconnect with open payments.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Confirm {
    /// `Ignore & Disconnect`.
    pub label_ok: String,
    /// `Cancel`.
    pub label_cancel: String,
}

/// An error answer: status, code, message and, for a 409 on disconnect, the confirmation labels.
struct Failure {
    status: u16,
    code: String,
    message: String,
    confirm: bool,
}

impl Failure {
    fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            status,
            code: code.into(),
            message: message.into(),
            confirm: false,
        }
    }

    fn body(&self) -> TenantRefusal {
        let confirm = self.confirm.then(|| Confirm {
            label_ok: "Ignore & Disconnect".into(),
            label_cancel: "Cancel".into(),
        });
        TenantRefusal {
            errors: vec![TenantErrorEntry {
                code: self.code.clone(),
                message: self.message.clone(),
                status: self.status,
                confirm: confirm.clone(),
            }],
            confirm,
        }
    }
}

impl From<TenantError> for Failure {
    fn from(e: TenantError) -> Self {
        let message = e.to_string();
        match e {
            TenantError::Invalid(_) => Failure::new(422, "422", message),
            TenantError::UnknownTenant => Failure::new(400, "20003", message),
            // Spryker's app-payment codes (AppPaymentBackendApiConfig): the shop's Back Office reads them.
            TenantError::NeedsConfirmation => Failure {
                confirm: true,
                ..Failure::new(409, "21000", message)
            },
            TenantError::ConfirmationDeclined => Failure::new(400, "21001", message),
            TenantError::Forbidden(_) => Failure::new(403, "403", message),
            TenantError::Busy => Failure::new(409, "409", message),
            TenantError::Unavailable(_) => Failure::new(503, "503", message),
        }
    }
}

impl From<AccessError> for Failure {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Forbidden(refusal) => TenantError::Forbidden(refusal).into(),
            AccessError::Unavailable(e) => TenantError::from(e).into(),
        }
    }
}

/// `x-confirmation-status` as Spryker reads it: absent or blank is no answer; else the first of a
/// comma-separated list confirms when it is `true`, `1`, `yes` or `on` (PHP's boolean filter), and any
/// other value declines.
fn confirmation_of(request: &Request) -> Option<bool> {
    let value = header(request, CONFIRMATION_HEADER)?;
    let first = value.split(',').next().unwrap_or_default().trim().to_ascii_lowercase();
    Some(matches!(first.as_str(), "true" | "1" | "yes" | "on"))
}

/// Serves one request to `endpoint`. Always an HTTP answer; `Err` only if the answer cannot be built.
pub async fn handle<S, K, P, C, V>(
    service: &TenantService<S, K, P, C, V>,
    endpoint: TenantEndpoint,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: TenantStore + PaymentStore,
    K: SecretStore,
    P: EventPublisher,
    C: Clock,
    V: KeyCheck,
{
    let result = match endpoint {
        TenantEndpoint::Configure => configure(service, &request).await.map(Some),
        TenantEndpoint::Disconnect => disconnect(service, &request).await.map(|()| None),
    };
    match result {
        Ok(Some(body)) => json_response(200, &body),
        Ok(None) => empty_response(204),
        Err(failure) => {
            tracing::warn!(?endpoint, status = failure.status, reason = %failure.message, "request not served");
            json_response(failure.status, &failure.body())
        }
    }
}

async fn configure<S, K, P, C, V>(
    service: &TenantService<S, K, P, C, V>,
    request: &Request,
) -> Result<ConfigureAnswer, Failure>
where
    S: TenantStore + PaymentStore,
    K: SecretStore,
    P: EventPublisher,
    C: Clock,
    V: KeyCheck,
{
    let tenant =
        tenant_header(request).ok_or_else(|| Failure::new(422, "422", "the x-tenant-identifier header is missing"))?;
    let caller = caller(request);
    // Refused before the body is read; the service checks again under its write.
    authorize(&service.store, &tenant, &caller).await?;
    // The error names the field and the problem, never the values (they may be secrets).
    let body: ConfigureRequest = shared::json::from_slice(request.body().as_ref()).map_err(|e| {
        Failure::new(
            422,
            "422",
            format!("the request body is not valid ({e}): expected data.attributes.configuration as a JSON string"),
        )
    })?;
    let configuration = service
        .configure(&tenant, &caller, &body.data.attributes.configuration)
        .await?;
    Ok(ConfigureAnswer {
        tenant_identifier: tenant,
        configuration,
    })
}

async fn disconnect<S, K, P, C, V>(service: &TenantService<S, K, P, C, V>, request: &Request) -> Result<(), Failure>
where
    S: TenantStore + PaymentStore,
    K: SecretStore,
    P: EventPublisher,
    C: Clock,
    V: KeyCheck,
{
    let tenant =
        tenant_header(request).ok_or_else(|| Failure::new(422, "422", "X-Tenant-Identifier in header is required."))?;
    service
        .disconnect(&tenant, &caller(request), confirmation_of(request))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::domain::{Currency, Money, Payment};
    use shared::service::testing::{MemoryTenantService, memory_tenants};

    const KEY: &str = "sk_test_handler_secret";

    use crate::http::sample_request as request;

    fn configure_body(configuration: Value) -> String {
        json!({"data": {"type": "configuration", "attributes": {"configuration": configuration.to_string()}}})
            .to_string()
    }

    async fn answer(svc: &MemoryTenantService, endpoint: TenantEndpoint, request: Request) -> (u16, Value) {
        let response = handle(svc, endpoint, request).await.unwrap();
        crate::openapi::conforming(endpoint.path(), response)
    }

    async fn configure(svc: &MemoryTenantService, headers: Value, body: &str) -> (u16, Value) {
        answer(svc, TenantEndpoint::Configure, request("configure", headers, body)).await
    }

    async fn disconnect(svc: &MemoryTenantService, headers: Value) -> (u16, Value) {
        answer(svc, TenantEndpoint::Disconnect, request("disconnect", headers, "")).await
    }

    fn tenant() -> Value {
        json!({"content-type": "application/json", "x-tenant-identifier": "tenant-a"})
    }

    #[tokio::test]
    async fn the_sample_events_are_served() {
        let svc = memory_tenants();
        let sample = |function: &str| {
            let path = format!("{}/../events/{function}.json", env!("CARGO_MANIFEST_DIR"));
            lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        let (status, body) = answer(&svc, TenantEndpoint::Configure, sample("configure")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["configuration"]["stripeSecretKey"], "[redacted]");
        let (status, _) = answer(&svc, TenantEndpoint::Disconnect, sample("disconnect")).await;
        assert_eq!(status, 204);
    }

    #[tokio::test]
    async fn configure_answers_the_redacted_configuration() {
        let svc = memory_tenants();
        let body = configure_body(
            json!({"stripeSecretKey": KEY, "webhookSigningSecrets": ["whsec_a"], "paymentMethods": ["Credit Card"]}),
        );
        let (status, answer) = configure(&svc, tenant(), &body).await;
        assert_eq!(status, 200);
        assert_eq!(
            answer,
            json!({"tenantIdentifier": "tenant-a",
                   "configuration": {"stripeSecretKey": "[redacted]", "webhookSigningSecrets": ["[redacted]"],
                                     "paymentMethods": ["Credit Card"]}})
        );
        assert!(!answer.to_string().contains(KEY));
    }

    #[tokio::test]
    async fn the_answered_configuration_sent_back_keeps_the_stored_secrets() {
        let svc = memory_tenants();
        let body = configure_body(
            json!({"stripeSecretKey": KEY, "webhookSigningSecrets": ["whsec_a"], "paymentMethods": ["Credit Card"]}),
        );
        let (_, first) = configure(&svc, tenant(), &body).await;
        // The App Catalog echoes what it was answered, with one more method.
        let mut echoed = first["configuration"].clone();
        echoed["paymentMethods"] = json!(["Credit Card", "Apple Pay"]);
        let (status, second) = configure(&svc, tenant(), &configure_body(echoed)).await;
        assert_eq!(status, 200, "{second}");
        assert_eq!(second["configuration"]["stripeSecretKey"], "[redacted]");
        assert_eq!(second["configuration"]["webhookSigningSecrets"], json!(["[redacted]"]));
        let record = svc.store.get_tenant("tenant-a").await.unwrap().unwrap();
        let secrets = svc.secrets.get_secrets(record.secrets.as_ref().unwrap()).await.unwrap();
        assert_eq!(
            secrets.exposed_values(),
            vec![KEY, "whsec_a"],
            "the stored secrets, not [redacted]"
        );
        assert_eq!(record.settings["paymentMethods"], json!(["Credit Card", "Apple Pay"]));
    }

    #[tokio::test]
    async fn bad_configure_requests_are_422_with_errors() {
        let svc = memory_tenants();
        let valid = configure_body(json!({"stripeSecretKey": KEY}));
        let no_tenant = configure(&svc, json!({"content-type": "application/json"}), &valid).await;
        let not_json = configure(&svc, tenant(), "{").await;
        let no_configuration = configure(&svc, tenant(), &json!({"data": {}}).to_string()).await;
        let invalid = configure(&svc, tenant(), &configure_body(json!({"stripeSecretKey": "pk_oops"}))).await;
        // Without a webhook signing secret every Stripe webhook would be refused.
        let no_webhook_secret = configure(&svc, tenant(), &valid).await;
        assert!(
            no_webhook_secret
                .1
                .to_string()
                .contains("webhookSigningSecrets is required"),
            "{}",
            no_webhook_secret.1
        );
        for (status, body) in [no_tenant, not_json, no_configuration, invalid, no_webhook_secret] {
            assert_eq!(status, 422, "{body}");
            assert_eq!(
                (&body["errors"][0]["code"], &body["errors"][0]["status"]),
                (&json!("422"), &json!(422))
            );
            assert!(!body.to_string().contains("pk_oops"));
        }
        assert!(svc.publisher.published().is_empty());
    }

    #[tokio::test]
    async fn disconnect_confirms_open_payments_and_answers_204() {
        let svc = memory_tenants();
        let (status, body) = disconnect(&svc, json!({})).await;
        assert_eq!((status, &body["errors"][0]["code"]), (422, &json!("422")));
        let (status, _) = disconnect(&svc, tenant()).await;
        assert_eq!(status, 400, "unknown tenant");

        let configuration = json!({"stripeSecretKey": KEY, "webhookSigningSecrets": ["whsec_a"]});
        configure(&svc, tenant(), &configure_body(configuration)).await;
        let payment = Payment::new(
            "tenant-a".into(),
            "tx-1".into(),
            Some("DE--1".into()),
            "pi_1".into(),
            Money::new(100, Currency::parse("EUR").unwrap()),
            "t0",
        );
        svc.store.insert_payment(&payment).await.unwrap();
        let (status, body) = disconnect(&svc, tenant()).await;
        assert_eq!((status, &body["errors"][0]["code"]), (409, &json!("21000")));
        let labels = json!({"labelOk": "Ignore & Disconnect", "labelCancel": "Cancel"});
        assert_eq!((&body["confirm"], &body["errors"][0]["confirm"]), (&labels, &labels));
        // As PHP's boolean filter reads the first value: anything but true, 1, yes, on declines.
        for value in ["false", "false,true", "value"] {
            let mut declined = tenant();
            declined["x-confirmation-status"] = json!(value);
            let (status, body) = disconnect(&svc, declined).await;
            assert_eq!((status, &body["errors"][0]["code"]), (400, &json!("21001")), "{value}");
            assert_eq!(
                body["errors"][0]["message"],
                "Please close any open orders and try again."
            );
        }
        let mut confirmed = tenant();
        confirmed["x-confirmation-status"] = json!("true");
        assert_eq!(disconnect(&svc, confirmed).await, (204, Value::Null));
        let names: Vec<String> = svc.publisher.published().into_iter().map(|e| e.detail_type).collect();
        assert_eq!(names, vec!["AppConfigUpdated", "AppConfigUpdated"]);
    }
}
