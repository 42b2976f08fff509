//! The AsyncAPI document (`docs/asyncapi.yml`) is the one `shared::acp::asyncapi` generates from the
//! message types, and every golden fixture (`tests/fixtures/acp/<Message>.json`) satisfies its
//! message's payload schema. Regenerate the document with `UPDATE_DOCS=1 cargo test -p shared --test
//! asyncapi`.

use serde_json::Value;
use shared::acp::asyncapi;

fn committed_path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/asyncapi.yml")
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = asyncapi::document();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let text = serde_norway::to_string(&generated).expect("YAML");
        std::fs::write(committed_path(), text).expect("write docs/asyncapi.yml");
    }
    let committed = std::fs::read_to_string(committed_path()).expect("docs/asyncapi.yml");
    let committed: Value = serde_norway::from_str(&committed).expect("the committed document is YAML");
    // Compared as data: the key order of a JSON object is not part of it.
    assert!(
        committed == generated,
        "docs/asyncapi.yml differs from the message types: run UPDATE_DOCS=1 cargo test -p shared --test asyncapi"
    );
}

#[test]
fn every_golden_fixture_satisfies_its_message_schema() {
    let document = asyncapi::document();
    let fixtures = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/acp");
    let mut checked = 0;
    for entry in std::fs::read_dir(&fixtures).expect("fixtures") {
        let path = entry.expect("fixture").path();
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name").to_string();
        let schema =
            asyncapi::payload_schema(&document, &name).unwrap_or_else(|| panic!("{name} is not in the document"));
        let validator = jsonschema::validator_for(&schema).expect("a valid schema");
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        let errors: Vec<String> = validator.iter_errors(&fixture).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        checked += 1;
    }
    assert_eq!(checked, 21, "one fixture per message");
}

#[test]
fn a_payload_that_breaks_the_contract_is_refused() {
    let document = asyncapi::document();
    let schema = asyncapi::payload_schema(&document, "PaymentCaptured").expect("PaymentCaptured");
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    assert!(validator.is_valid(&serde_json::json!({"orderReference": "DE--1", "orderItemIds": [1], "amount": 100})));
    for broken in [
        serde_json::json!({"orderItemIds": [1]}),
        serde_json::json!({"orderReference": "DE--1", "orderItemIds": ["one"]}),
        serde_json::json!({"orderReference": "DE--1", "amount": 1.5}),
    ] {
        assert!(!validator.is_valid(&broken), "{broken}");
    }
    let headers = asyncapi::headers_schema(&document, "PaymentCaptured").expect("headers");
    assert!(
        !jsonschema::validator_for(&headers)
            .unwrap()
            .is_valid(&serde_json::json!({"transferName": "x"}))
    );
}
