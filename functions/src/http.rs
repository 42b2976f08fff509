//! What the HTTP functions share: the tenant of a `/private` request, JSON answers and the ACP error
//! body (`{"errors":[{"message":…}]}`); for their tests, a function's sample request.

use lambda_http::{Body, Error, Request, Response};
use serde_json::{Value, json};

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

/// A JSON answer with `status`.
pub(crate) fn json_response(status: u16, body: &Value) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))?)
}

/// An answer with `status` and no body.
pub(crate) fn empty_response(status: u16) -> Result<Response<Body>, Error> {
    Ok(Response::builder().status(status).body(Body::Empty)?)
}

/// An error answer in the ACP error shape.
pub(crate) fn error_response(status: u16, message: &str) -> Result<Response<Body>, Error> {
    json_response(status, &json!({"errors": [{"message": message}]}))
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
