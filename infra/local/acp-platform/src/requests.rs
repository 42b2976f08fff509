//! The kinds of platform request (what a fault is scripted for) and how many of each were made.

use serde_json::{Value, json};

/// A kind of request to the platform proper (the `/_` control routes are none of these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// `POST /{channel}`.
    Publish,
    /// `GET /{channel}`.
    Consume,
    /// `DELETE /{channel}`.
    Ack,
    /// `POST /oauth/token`.
    Token,
    /// `POST /http-endpoint`.
    Http,
}

impl RequestKind {
    /// Every kind, in the order of [`RequestKind::index`].
    pub const ALL: [RequestKind; 5] = [
        RequestKind::Publish,
        RequestKind::Consume,
        RequestKind::Ack,
        RequestKind::Token,
        RequestKind::Http,
    ];

    /// The kind's name in the control routes' JSON.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Publish => "publish",
            RequestKind::Consume => "consume",
            RequestKind::Ack => "ack",
            RequestKind::Token => "token",
            RequestKind::Http => "http",
        }
    }

    /// The kind's position in [`RequestKind::ALL`] (for per-kind arrays).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How many requests the platform got, by kind, and how many of them it refused for want of a valid
/// bearer token (`unauthorized`) or answered with a scripted fault (`faulted`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    by_kind: [u64; RequestKind::ALL.len()],
    unauthorized: u64,
    faulted: u64,
}

impl RequestCounts {
    /// Counts a request of `kind` (every one, whatever its answer).
    pub fn record(&mut self, kind: RequestKind) {
        self.by_kind[kind.index()] += 1;
    }

    /// Counts a request refused with 401 for its bearer token.
    pub fn record_unauthorized(&mut self) {
        self.unauthorized += 1;
    }

    /// Counts a request answered by a scripted fault.
    pub fn record_faulted(&mut self) {
        self.faulted += 1;
    }

    /// `{"publish": n, "consume": n, "ack": n, "token": n, "http": n, "unauthorized": n, "faulted": n}`.
    pub fn to_json(&self) -> Value {
        let mut counts = serde_json::Map::new();
        for kind in RequestKind::ALL {
            counts.insert(kind.name().to_string(), json!(self.by_kind[kind.index()]));
        }
        counts.insert("unauthorized".to_string(), json!(self.unauthorized));
        counts.insert("faulted".to_string(), json!(self.faulted));
        Value::Object(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_follow_all() {
        for (i, kind) in RequestKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }

    #[test]
    fn counts_as_json() {
        let mut counts = RequestCounts::default();
        counts.record(RequestKind::Publish);
        counts.record(RequestKind::Publish);
        counts.record(RequestKind::Token);
        counts.record_unauthorized();
        assert_eq!(
            counts.to_json(),
            json!({"publish": 2, "consume": 0, "ack": 0, "token": 1, "http": 0, "unauthorized": 1, "faulted": 0})
        );
    }
}
