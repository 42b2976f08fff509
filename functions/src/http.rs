//! What the HTTP functions share: the tenant of a `/private` request and the caller its token proves,
//! JSON answers and the ACP error body (`{"errors":[{"message":…}]}`); for their tests, a function's
//! sample request.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use schemars::JsonSchema;
use serde::Serialize;
#[cfg(test)]
use serde_json::{Value, json};
use shared::domain::Caller;
use shared::ports::TenantStore;
use shared::service::{AccessError, authorize};
use std::future::Future;
use std::sync::LazyLock;
use tracing::Instrument;

/// The JWT claim naming a token's tenant (`TENANT_CLAIM`, the template's `TenantClaim`), if the tokens
/// carry one; read once per process.
static TENANT_CLAIM: LazyLock<Option<String>> =
    LazyLock::new(|| std::env::var("TENANT_CLAIM").ok().filter(|c| !c.trim().is_empty()));

/// The headers naming the tenant of a `/private` request, in order: `x-tenant-identifier`, else
/// `x-store-reference` (contract §2).
const TENANT_HEADERS: [&str; 2] = ["x-tenant-identifier", "x-store-reference"];

/// The value of header `name`, trimmed; `None` when absent, not text or blank.
pub(crate) fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The tenant of a `/private` request (see [`TENANT_HEADERS`]).
pub(crate) fn tenant_header(request: &Request) -> Option<String> {
    TENANT_HEADERS
        .iter()
        .find_map(|name| header(request, name))
        .map(str::to_string)
}

/// The span of one HTTP request, whose fields every log line of the request carries as top-level keys
/// (see [`crate::telemetry`]): the tenant it names (a `/private` header, or a webhook route's
/// `tenantIdentifier`; proven or refused later), the API's route, and, recorded once known, the webhook
/// event's id as `messageId` and the `orderReference`.
fn request_span(request: &Request, tenant: Option<&str>) -> tracing::Span {
    let route = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.route_key.clone(),
        _ => None,
    };
    tracing::info_span!(
        "request",
        tenant,
        route = route.as_deref(),
        messageId = tracing::field::Empty,
        orderReference = tracing::field::Empty,
    )
}

/// The tenant a request names: a `/private` header, or a webhook route's `tenantIdentifier`.
fn named_tenant(request: &Request) -> Option<String> {
    tenant_header(request).or_else(|| {
        request
            .path_parameters_ref()
            .and_then(|p| p.first("tenantIdentifier"))
            .map(str::to_string)
    })
}

/// Serves one HTTP request with `handle`, in the request's span and observed (metrics flushed, the
/// tenant a property of them).
pub(crate) async fn serve<F, Fut, T>(request: Request, handle: F) -> T
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = T>,
{
    let tenant = named_tenant(&request);
    let span = request_span(&request, tenant.as_deref());
    // Boxed: a handler's future nests deep (its services, the SDK's calls), and without a pointer between
    // it and the runtime's layers a release build's layout queries overflow the compiler's depth limit
    // (payment-page's did: `sam build` failed while the dev builds passed).
    let handled = Box::pin(handle(request).instrument(span));
    crate::telemetry::observed(async move {
        if let Some(tenant) = &tenant {
            crate::telemetry::tenant_property(tenant);
        }
        handled.await
    })
    .await
}

/// The caller of `request` as the API's JWT authorizer proved it: the token's `sub` and the value of the
/// tenant claim `tenant_claim`, from the claims API Gateway hands over (none without an authorizer).
pub(crate) fn caller_of(request: &Request, tenant_claim: Option<&str>) -> Caller {
    let claims = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    };
    let claim = |name: &str| {
        claims
            .and_then(|c| c.get(name))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Caller {
        subject: claim("sub"),
        tenant_claim: tenant_claim.and_then(claim),
    }
}

/// The caller of `request`, with the process's tenant claim (`TENANT_CLAIM`).
pub(crate) fn caller(request: &Request) -> Caller {
    caller_of(request, TENANT_CLAIM.as_deref())
}

/// Why a `/private` request names no tenant its caller may act for: the status and the message.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// 400 (no tenant), 403 (not the caller's tenant) or 503 (the tenant's record cannot be read).
    pub status: u16,
    /// What to tell the caller.
    pub message: String,
}

/// The tenant of a `/private` request, once its caller is proven to act for it (see
/// [`shared::domain::caller`]).
pub(crate) async fn tenant_of<S: TenantStore>(request: &Request, records: &S) -> Result<String, Refusal> {
    let tenant = tenant_header(request).ok_or_else(|| Refusal {
        status: 400,
        message: "the x-tenant-identifier header is missing".into(),
    })?;
    authorize(records, &tenant, &caller(request))
        .await
        .map_err(|e| Refusal {
            status: match e {
                AccessError::Forbidden(_) => 403,
                AccessError::Unavailable(_) => 503,
            },
            message: e.to_string(),
        })?;
    Ok(tenant)
}

/// The ACP error body, `{"errors":[{"message"}]}`: the answer of a refused request on the routes
/// without an error shape of their own.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong: one entry.
    pub errors: Vec<ErrorMessage>,
}

/// One entry of an error body.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ErrorMessage {
    /// What to tell the caller.
    pub message: String,
}

impl ErrorBody {
    /// The error body of one `message`.
    pub fn of(message: &str) -> ErrorBody {
        ErrorBody {
            errors: vec![ErrorMessage {
                message: message.to_string(),
            }],
        }
    }
}

/// A JSON answer with `status`: `body` as the route's type in the OpenAPI document (`crate::openapi`)
/// describes it.
pub(crate) fn json_response<T: Serialize + ?Sized>(status: u16, body: &T) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(serde_json::to_string(body)?))?)
}

/// An answer with `status` and no body.
pub(crate) fn empty_response(status: u16) -> Result<Response<Body>, Error> {
    Ok(Response::builder().status(status).body(Body::Empty)?)
}

/// An error answer in the ACP error shape.
pub(crate) fn error_response(status: u16, message: &str) -> Result<Response<Body>, Error> {
    json_response(status, &ErrorBody::of(message))
}

/// The sample event of `function` (`events/<function>.json`) with `headers` and `body` replaced.
#[cfg(test)]
pub(crate) fn sample_request(function: &str, headers: Value, body: &str) -> Request {
    let path = format!("{}/../events/{function}.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["headers"] = headers;
    event["body"] = json!(body);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::adapters::memory::MemoryStore;
    use shared::service::testing::bound_tenant;

    fn request(tenant: &str) -> Request {
        sample_request("initialize-payment", json!({"x-tenant-identifier": tenant}), "{}")
    }

    #[test]
    fn the_caller_is_read_from_the_authorizers_claims() {
        // The sample event's token: sub "tenant-a@clients", aud "aop-app".
        let caller = caller_of(&request("tenant-a"), Some("aud"));
        assert_eq!(caller.subject.as_deref(), Some("tenant-a@clients"));
        assert_eq!(caller.tenant_claim.as_deref(), Some("aop-app"));
        assert_eq!(
            caller_of(&request("tenant-a"), Some("tenant_identifier")).tenant_claim,
            None
        );
        let no_authorizer = lambda_http::Request::new(Body::Empty);
        assert_eq!(caller_of(&no_authorizer, Some("sub")), Caller::default());
    }

    #[tokio::test]
    async fn a_tenant_bound_to_another_subject_is_a_403_and_a_missing_header_a_400() {
        let store = MemoryStore::default();
        bound_tenant(&store, "tenant-b", "tenant-b@clients").await;
        assert_eq!(
            tenant_of(&request("tenant-a"), &store).await.unwrap(),
            "tenant-a",
            "not bound"
        );
        let refused = tenant_of(&request("tenant-b"), &store).await.unwrap_err();
        assert_eq!(
            (refused.status, refused.message.as_str()),
            (403, "the tenant is bound to another token")
        );
        let unnamed = sample_request("initialize-payment", json!({}), "{}");
        assert_eq!(tenant_of(&unnamed, &store).await.unwrap_err().status, 400);
    }
}
