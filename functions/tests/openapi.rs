//! The OpenAPI document (`docs/openapi.yml`) is the one `functions::openapi` generates from the bodies'
//! types, and it describes exactly the routes template.yaml gives the HttpApi. Regenerate the document
//! with `UPDATE_DOCS=1 cargo test -p functions --test openapi`.

use functions::openapi;
use serde_json::Value;
use std::collections::BTreeSet;

fn repo_path(path: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = openapi::document();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let text = serde_norway::to_string(&generated).expect("YAML");
        std::fs::write(repo_path("docs/openapi.yml"), text).expect("write docs/openapi.yml");
    }
    let committed = std::fs::read_to_string(repo_path("docs/openapi.yml")).expect("docs/openapi.yml");
    let committed: Value = serde_norway::from_str(&committed).expect("the committed document is YAML");
    // Compared as data: the key order of a JSON object is not part of it.
    assert!(
        committed == generated,
        "docs/openapi.yml differs from the bodies' types: run UPDATE_DOCS=1 cargo test -p functions --test openapi"
    );
}

#[test]
fn the_document_has_every_route_of_the_template_and_no_other() {
    // template.yaml's HttpApi events: a `Method:` line, then its `Path:` line.
    let template = std::fs::read_to_string(repo_path("template.yaml")).expect("template.yaml");
    let lines: Vec<&str> = template.lines().map(str::trim).collect();
    let in_template: BTreeSet<(String, String)> = lines
        .windows(2)
        .filter_map(|pair| {
            let method = pair[0].strip_prefix("Method: ")?;
            let path = pair[1].strip_prefix("Path: ")?;
            Some((method.to_ascii_lowercase(), path.to_string()))
        })
        .collect();
    let document = openapi::document();
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("a path item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    assert_eq!(in_template.len(), 15, "{in_template:?}");
    assert_eq!(documented, in_template);
}

#[test]
fn every_json_answer_has_a_schema_that_compiles_and_refuses_a_wrong_shape() {
    let document = openapi::document();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if response["content"].get("application/json").is_none() {
                    continue;
                }
                let status: u16 = status.parse().expect("a status");
                let schema = openapi::answer_schema(&document, method, path, status).expect("a JSON answer");
                let validator =
                    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{method} {path} {status}: {e}"));
                assert!(!validator.is_valid(&serde_json::json!([])), "{method} {path} {status}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "{checked} JSON answers");
}

#[test]
fn an_answer_the_document_does_not_have_is_named() {
    let document = openapi::document();
    let error = openapi::answer_schema(&document, "post", "/private/configure", 418).unwrap_err();
    assert!(error.contains("no 418 answer"), "{error}");
    let error = openapi::answer_schema(&document, "post", "/private/disconnect", 204).unwrap_err();
    assert!(error.contains("carries no JSON"), "{error}");
}
