//! The HTTP answers a through-the-stack test receives, checked against the app's OpenAPI document
//! (`docs/openapi.yml`, generated from the bodies' types by `functions::openapi`): every answer of a
//! JSON route the tests read goes through [`conforming`].

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// The document, generated once.
static OPENAPI: LazyLock<Value> = LazyLock::new(functions::openapi::document);

/// Validators by route and status, built once each (the chaos run reads thousands of answers).
type Validators = HashMap<(String, u16), Arc<jsonschema::Validator>>;
static VALIDATORS: LazyLock<Mutex<Validators>> = LazyLock::new(Default::default);

/// The status and JSON body (`Null` when there is none) of `response`, the answer of `POST route`
/// (`route` as the document names it, e.g. `/webhooks/stripe/{tenantIdentifier}/refunds`); panics when
/// the document has no such answer, or the body breaks its schema.
pub async fn conforming(route: &str, response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("the answer's body");
    (status, checked(route, status, &text))
}

/// `text`, the body of a `status` answer of `POST route`, as JSON once checked (see [`conforming`]).
pub fn checked(route: &str, status: u16, text: &str) -> Value {
    let described = &OPENAPI["paths"][route]["post"]["responses"][status.to_string()];
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
            let schema =
                functions::openapi::answer_schema(&OPENAPI, "post", route, status).unwrap_or_else(|e| panic!("{e}"));
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
