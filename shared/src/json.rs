//! Reading JSON that comes from outside (requests, records, PSP answers) without echoing it. serde's own
//! messages quote the values they could not read (`invalid type: string "4242…"`), and those messages
//! end up in logs and error answers; a [`JsonError`] names where (the field's path) and what kind of
//! problem, never a value.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a JSON document could not be read, without any of its values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{problem} at `{path}`")]
pub struct JsonError {
    /// The path of the field at fault (`payment.amount`, `items[2].sku`), `.` for the document.
    pub path: String,
    /// What is wrong: not JSON, incomplete, a missing or unknown field (by name), a wrong value.
    pub problem: String,
}

/// Reads `bytes` as a `T`.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer.end().map_err(|e| JsonError {
        path: ".".into(),
        problem: problem(&e),
    })?;
    Ok(value)
}

/// Reads `text` as a `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    from_slice(text.as_bytes())
}

/// Reads an already parsed `value` as a `T`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, JsonError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error(error: serde_path_to_error::Error<serde_json::Error>) -> JsonError {
    let path = error.path().to_string();
    JsonError {
        path,
        problem: problem(error.inner()),
    }
}

/// What kind of problem `error` is. Field names are kept (they are the schema's, or the sender's keys);
/// values never are.
pub fn problem(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax => format!("not JSON (line {}, column {})", error.line(), error.column()),
        Category::Eof => "incomplete JSON".into(),
        Category::Io => "unreadable input".into(),
        Category::Data => {
            let text = error.to_string();
            ["missing field `", "unknown field `", "duplicate field `"]
                .iter()
                .find_map(|prefix| {
                    let rest = text.strip_prefix(prefix)?;
                    let name = &rest[..rest.find('`')?];
                    Some(format!("{}{name}`", prefix))
                })
                .unwrap_or_else(|| "a value of the wrong type or out of range".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Payment {
        amount: u64,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        sku: String,
        kind: Kind,
    }

    #[derive(Debug, serde::Deserialize)]
    enum Kind {
        Physical,
    }

    #[test]
    fn errors_name_the_path_and_the_problem_never_the_value() {
        let secret = "sk_live_51SECRETVALUE";
        let cases = [
            (
                format!(r#"{{"amount": "{secret}", "items": []}}"#),
                "amount",
                "wrong type",
            ),
            (
                format!(r#"{{"amount": 1, "items": [{{"sku": "a", "kind": "{secret}"}}]}}"#),
                "items[0].kind",
                "wrong type",
            ),
            (r#"{"items": []}"#.to_string(), ".", "missing field `amount`"),
            (
                format!(r#"{{"amount": 1, "items": [], "extra": "{secret}"}}"#),
                "extra",
                "unknown field `extra`",
            ),
            (format!(r#"{{"amount": {secret}"#), "amount", "not JSON"),
            (r#"{"amount": 1, "items": ["#.to_string(), "items", "incomplete JSON"),
            (format!(r#"{{"amount": 1, "items": []}} {secret}"#), ".", "not JSON"),
        ];
        for (input, path, problem) in cases {
            let error = from_str::<Payment>(&input).unwrap_err();
            let text = error.to_string();
            assert!(!text.contains("SECRETVALUE"), "{text}");
            assert!(error.path.starts_with(path), "{input}: {error:?}");
            assert!(error.problem.contains(problem), "{input}: {error:?}");
        }
        let value = serde_json::json!({"amount": secret, "items": []});
        let error = from_value::<Payment>(value).unwrap_err();
        assert_eq!(error.path, "amount");
        assert!(!error.to_string().contains(secret));
    }
}
