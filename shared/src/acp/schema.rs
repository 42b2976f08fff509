//! What the app's generated documents share (`docs/asyncapi.yml` from [`super::asyncapi`], and
//! `docs/openapi.yml` from the functions' `openapi` module): one JSON Schema setting, and standalone
//! schemas for validating a message or an answer against a document.

use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Value, json};

/// The JSON Schema generator of the documents: draft 2020-12 (as OpenAPI 3.1 uses it), definitions
/// under `#/components/schemas`, describing what the types accept.
pub fn schema_generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator()
}

/// `schema`, a part of `document`, with the document's component schemas beside it, so its `$ref`s
/// resolve when it is used alone; `None` when `schema` is not a JSON object.
pub fn standalone(document: &Value, schema: &Value) -> Option<Value> {
    let mut root = schema.as_object()?.clone();
    root.insert(
        "components".into(),
        json!({"schemas": document["components"]["schemas"].clone()}),
    );
    Some(Value::Object(root))
}
