//! HTTP header names <-> message attribute names.
//!
//! Spryker's `HttpHeaderFormatter` turns each camelCase message attribute into a header: first letter
//! upper-cased, `-` between a lower-case letter and the capital after it (`tenantIdentifier` ->
//! `Tenant-Identifier`); the `http` sender (`CustomHttpHeaderFormatter`) puts `X-` in front
//! (`X-Tenant-Identifier`). Header names arrive lower-cased (hyper), so the way back splits on `-`.

use std::collections::BTreeMap;

/// Message attributes: camelCase name -> value.
pub type Attributes = BTreeMap<String, String>;

/// The attribute names kept from request headers: the properties of Spryker's `MessageAttributes`
/// transfer plus `publisher` (as the formatter allows them). `metadata` is left out: it is the
/// sender's own bookkeeping (an array), never routed.
pub const ATTRIBUTE_NAMES: [&str; 11] = [
    "transferName",
    "name",
    "event",
    "tenantIdentifier",
    "storeReference",
    "actorId",
    "publisher",
    "emitter",
    "timestamp",
    "correlationId",
    "transactionId",
];

/// The prefix of the `http` sender's attribute headers.
pub const SENDER_PREFIX: &str = "X-";

/// The header name of a camelCase attribute (`correlationId` -> `Correlation-Id`), with `prefix`
/// (`""` or [`SENDER_PREFIX`]) in front.
pub fn header_name(attribute: &str, prefix: &str) -> String {
    let mut name = String::with_capacity(prefix.len() + attribute.len() + 4);
    name.push_str(prefix);
    let mut previous_lowercase = false;
    for (i, c) in attribute.chars().enumerate() {
        if i == 0 {
            name.extend(c.to_uppercase());
        } else {
            if previous_lowercase && c.is_uppercase() {
                name.push('-');
            }
            name.push(c);
        }
        previous_lowercase = c.is_lowercase();
    }
    name
}

/// The camelCase attribute name of a header name without prefix, in any case (`tenant-identifier`
/// -> `tenantIdentifier`): split on `-`, first part lower-case, the following ones capitalized.
pub fn attribute_name(header: &str) -> String {
    let mut attribute = String::with_capacity(header.len());
    for (i, part) in header.split('-').enumerate() {
        let lower = part.to_lowercase();
        if i == 0 {
            attribute.push_str(&lower);
            continue;
        }
        let mut chars = lower.chars();
        if let Some(first) = chars.next() {
            attribute.extend(first.to_uppercase());
            attribute.push_str(chars.as_str());
        }
    }
    attribute
}

/// The message attributes among `headers` (name, raw value): every header that names an attribute of
/// [`ATTRIBUTE_NAMES`], with or without the `X-` prefix. Both forms are taken on every route because
/// Spryker's formatter versions differ (newer `HttpHeaderFormatter`s prefix the channel's headers too);
/// when both carry the same attribute the unprefixed one wins, and the first of repeated headers wins.
/// Everything else (`Authorization`, `Content-Type`, `Consumer-Id`, ...) is dropped.
pub fn attributes_from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Attributes {
    let mut plain = Attributes::new();
    let mut prefixed = Attributes::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let (target, bare) = match lower.strip_prefix("x-") {
            Some(rest) => (&mut prefixed, rest),
            None => (&mut plain, lower.as_str()),
        };
        let attribute = attribute_name(bare);
        if ATTRIBUTE_NAMES.contains(&attribute.as_str()) {
            // Header values may carry non-UTF-8 bytes (obs-text): keep them readable rather than refuse.
            let value = String::from_utf8_lossy(value).into_owned();
            target.entry(attribute).or_insert(value);
        }
    }
    for (attribute, value) in prefixed {
        plain.entry(attribute).or_insert(value);
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_to_header() {
        assert_eq!(header_name("transferName", ""), "Transfer-Name");
        assert_eq!(header_name("tenantIdentifier", ""), "Tenant-Identifier");
        assert_eq!(header_name("actorId", ""), "Actor-Id");
        assert_eq!(header_name("name", ""), "Name");
        assert_eq!(header_name("correlationId", SENDER_PREFIX), "X-Correlation-Id");
        assert_eq!(header_name("storeReference", SENDER_PREFIX), "X-Store-Reference");
    }

    #[test]
    fn header_to_attribute() {
        assert_eq!(attribute_name("tenant-identifier"), "tenantIdentifier");
        assert_eq!(attribute_name("Tenant-Identifier"), "tenantIdentifier");
        assert_eq!(attribute_name("TRANSFER-NAME"), "transferName");
        assert_eq!(attribute_name("actor-id"), "actorId");
        assert_eq!(attribute_name("timestamp"), "timestamp");
    }

    #[test]
    fn every_attribute_survives_the_round_trip() {
        for attribute in ATTRIBUTE_NAMES {
            for prefix in ["", SENDER_PREFIX] {
                let header = header_name(attribute, prefix).to_lowercase();
                let attributes = attributes_from_headers([(header.as_str(), b"v".as_slice())]);
                assert_eq!(attributes.get(attribute).map(String::as_str), Some("v"), "{header}");
            }
        }
    }

    #[test]
    fn keeps_only_attribute_headers() {
        let headers: [(&str, &[u8]); 11] = [
            ("transfer-name", b"PaymentCaptured"),
            ("tenant-identifier", b"tenant-1"),
            ("x-actor-id", b"app-1"),
            ("authorization", b"Bearer abc"),
            ("content-type", b"application/json"),
            ("content-length", b"12"),
            ("host", b"127.0.0.1"),
            ("consumer-id", b"tenant-1"),
            ("user-agent", b"guzzle"),
            ("accept", b"*/*"),
            ("metadata", b"{}"),
        ];
        let attributes = attributes_from_headers(headers);
        let expected: Attributes = [
            ("actorId", "app-1"),
            ("tenantIdentifier", "tenant-1"),
            ("transferName", "PaymentCaptured"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(attributes, expected);
    }

    #[test]
    fn unprefixed_header_wins_and_first_of_repeated_wins() {
        let headers: [(&str, &[u8]); 3] = [
            ("x-tenant-identifier", b"prefixed"),
            ("tenant-identifier", b"plain"),
            ("tenant-identifier", b"second"),
        ];
        let attributes = attributes_from_headers(headers);
        assert_eq!(attributes["tenantIdentifier"], "plain");
    }
}
