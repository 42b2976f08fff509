//! The HTTP answers a through-the-stack test receives, checked against the app's OpenAPI document
//! (`docs/openapi.yml`, generated from the bodies' types by `functions::openapi`): every answer of a
//! JSON route the tests read goes through [`conforming`].

use serde_json::Value;

/// The status and JSON body (`Null` when there is none) of `response`, the answer of `POST route`
/// (`route` as the document names it, e.g. `/webhooks/stripe/{tenantIdentifier}/refunds`); panics when
/// the document has no such answer, or the body breaks its schema (`functions::openapi::checked`).
pub async fn conforming(route: &str, response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("the answer's body");
    (status, functions::openapi::checked(route, status, &text))
}
