//! Scripted faults: the tests make the next requests of a kind fail, in order, to drive the callers'
//! retry and error paths. A fault is an HTTP error status (answered with a JSON error body; nothing is
//! stored, handed out or acknowledged) or `"drop"` (the connection is closed without an answer).

use crate::requests::RequestKind;
use serde_json::{Value, json};
use std::collections::VecDeque;

/// What the next request of a kind gets instead of its normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status (400..=599) with a JSON error body.
    Status(u16),
    /// The connection closed without any HTTP answer.
    Drop,
}

/// Parses a `POST /_faults` body, `{"publish": [500, "drop"], "token": [401], ...}` (any subset of the
/// kinds), into the faults to append, in order. Unknown kinds and entries are refused, so a typo in a
/// test fails loudly instead of scripting nothing.
pub fn parse_script(body: &[u8]) -> Result<Vec<(RequestKind, Fault)>, String> {
    let Ok(Value::Object(script)) = serde_json::from_slice::<Value>(body) else {
        return Err("the body must be a JSON object of request kinds to lists of faults".to_string());
    };
    let mut faults = Vec::new();
    for (name, entries) in &script {
        let Some(kind) = RequestKind::ALL.into_iter().find(|k| k.name() == name) else {
            return Err(format!(
                "unknown request kind {name:?} (publish, consume, ack, token, http)"
            ));
        };
        let Value::Array(entries) = entries else {
            return Err(format!("{name}: a list of faults is expected"));
        };
        for entry in entries {
            let fault = match entry {
                Value::String(word) if word == "drop" => Fault::Drop,
                Value::Number(n) => match n.as_u64().and_then(|s| u16::try_from(s).ok()) {
                    Some(status @ 400..=599) => Fault::Status(status),
                    _ => return Err(format!("{name}: {n} is not an error status (400..=599)")),
                },
                other => return Err(format!("{name}: {other} is neither an error status nor \"drop\"")),
            };
            faults.push((kind, fault));
        }
    }
    Ok(faults)
}

/// The faults still to come, one queue per request kind.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    queues: [VecDeque<Fault>; RequestKind::ALL.len()],
}

impl Faults {
    /// Appends faults behind those already scripted.
    pub fn append(&mut self, faults: impl IntoIterator<Item = (RequestKind, Fault)>) {
        for (kind, fault) in faults {
            self.queues[kind.index()].push_back(fault);
        }
    }

    /// The fault for the request of `kind` that just came, if one is scripted (it is then used up).
    pub fn take(&mut self, kind: RequestKind) -> Option<Fault> {
        self.queues[kind.index()].pop_front()
    }

    /// Forgets every scripted fault.
    pub fn clear(&mut self) {
        self.queues.iter_mut().for_each(VecDeque::clear);
    }

    /// `{"publish": n, "consume": n, "ack": n, "token": n, "http": n}`: faults still to come per kind.
    pub fn pending_json(&self) -> Value {
        let pending: serde_json::Map<String, Value> = RequestKind::ALL
            .into_iter()
            .map(|k| (k.name().to_string(), json!(self.queues[k.index()].len())))
            .collect();
        Value::Object(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_statuses_and_drops_in_order() {
        let faults = parse_script(br#"{"publish": [500, "drop"], "token": [401]}"#).expect("valid");
        assert_eq!(
            faults,
            vec![
                (RequestKind::Publish, Fault::Status(500)),
                (RequestKind::Publish, Fault::Drop),
                (RequestKind::Token, Fault::Status(401)),
            ]
        );
        assert_eq!(parse_script(b"{}"), Ok(vec![]));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for body in [
            &br#"{"publsh": [500]}"#[..],
            br#"{"publish": 500}"#,
            br#"{"publish": [200]}"#,
            br#"{"publish": [70000]}"#,
            br#"{"publish": [-1]}"#,
            br#"{"publish": ["close"]}"#,
            br#"[500]"#,
            b"not json",
        ] {
            assert!(parse_script(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn each_request_uses_up_the_next_fault_of_its_kind() {
        let mut faults = Faults::default();
        faults.append([
            (RequestKind::Consume, Fault::Status(503)),
            (RequestKind::Consume, Fault::Drop),
            (RequestKind::Ack, Fault::Status(500)),
        ]);
        assert_eq!(
            faults.pending_json(),
            json!({"publish": 0, "consume": 2, "ack": 1, "token": 0, "http": 0})
        );
        assert_eq!(faults.take(RequestKind::Publish), None);
        assert_eq!(faults.take(RequestKind::Consume), Some(Fault::Status(503)));
        assert_eq!(faults.take(RequestKind::Consume), Some(Fault::Drop));
        assert_eq!(faults.take(RequestKind::Consume), None);
        faults.clear();
        assert_eq!(faults.take(RequestKind::Ack), None);
    }
}
