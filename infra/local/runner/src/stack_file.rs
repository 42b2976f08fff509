//! `.local/stack.json`: what the local stack runs, for tests and the demo driver.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The description `up` writes (keys as documented in the README; later issues add keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackFile {
    /// AWS region of the local resources.
    pub region: String,
    /// moto's endpoint.
    pub aws_endpoint_url: String,
    /// localstripe's base URL.
    pub stripe_base_url: String,
    /// Where the `HttpApi` routes are served.
    pub http_base_url: String,
    /// The `AppIdentifier` the functions run with.
    pub app_identifier: String,
    /// The EventBridge bus the functions publish to.
    pub bus_name: String,
    /// DynamoDB table names by logical id.
    pub tables: BTreeMap<String, String>,
    /// Command queue URLs by the command they carry (`CapturePayment`, ...).
    pub command_queues: BTreeMap<String, String>,
    /// The dead-letter queue URL of each command queue, by command.
    pub dead_letter_queues: BTreeMap<String, String>,
    /// The functions by logical id.
    pub functions: BTreeMap<String, FunctionEntry>,
    /// A token the local HTTP API accepts on its JWT-authorized routes (`Authorization: Bearer ...`);
    /// absent when no route has an authorizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// The local issuer's token endpoint: `GET {token_url}?tenant=T` answers `{"access_token": ...}`, a
    /// token of T's shop that the app accepts for T and no other (issue 14 §1); absent when no route has
    /// an authorizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// The tenant whose Stripe webhooks the stack accepts, and how they are signed; absent when the
    /// template configures none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Webhooks>,
    /// The local ACP event platform and the client valid on it (for the app and for any tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acp: Option<Acp>,
    /// How the app is wired to the platform (`AcpTransport`: `http-channel` or `http-sqs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acp_transport: Option<String>,
    /// The bridge's queues by logical id (`AcpOutboundQueue`, `AcpOutboundDeadLetterQueue`,
    /// `AcpInboundDeadLetterQueue`, `AcpCommandQueue`), as far as the template creates them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub acp_queues: BTreeMap<String, String>,
}

/// The `acp` entry of [`StackFile`]: the local ACP event platform (contract §1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acp {
    /// Its channel base URL: `POST/GET/DELETE {url}/{channel}`.
    pub url: String,
    /// Its OAuth2 client-credentials endpoint.
    pub token_url: String,
    /// A client it accepts.
    pub client_id: String,
    /// That client's secret.
    pub client_secret: String,
}

/// The `webhooks` entry of [`StackFile`]: what a caller needs to send Stripe webhooks as Stripe does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhooks {
    /// The tenant whose webhook routes accept signed events (`/webhooks/stripe/{tenant}/...`).
    pub tenant: String,
    /// Its current signing secrets (`whsec_...`); localstripe signs with the first.
    pub secrets: Vec<String>,
    /// The URL localstripe delivers its own signed events to (`payment_intent.succeeded`,
    /// `payment_intent.payment_failed`: the only PaymentIntent events it sends).
    pub localstripe_endpoint: String,
}

/// One function in [`StackFile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionEntry {
    /// Its cargo binary.
    pub binary: String,
    /// URL of the queue it consumes, if any.
    pub queue: Option<String>,
    /// Its HTTP route keys (`POST /path`).
    pub routes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_documented_shape() {
        let file = StackFile {
            region: "eu-central-1".into(),
            aws_endpoint_url: "http://127.0.0.1:1".into(),
            stripe_base_url: "http://127.0.0.1:2".into(),
            http_base_url: "http://127.0.0.1:3".into(),
            app_identifier: "app".into(),
            bus_name: "bus".into(),
            tables: BTreeMap::from([("PaymentsTable".into(), "t".into())]),
            command_queues: BTreeMap::from([("CapturePayment".into(), "q".into())]),
            dead_letter_queues: BTreeMap::from([("CapturePayment".into(), "d".into())]),
            functions: BTreeMap::from([(
                "CapturePaymentFunction".into(),
                FunctionEntry {
                    binary: "capture-payment".into(),
                    queue: None,
                    routes: vec!["POST /x".into()],
                },
            )]),
            bearer_token: Some("eyJ...".into()),
            token_url: Some("http://127.0.0.1:3/local-issuer/token".into()),
            webhooks: Some(Webhooks {
                tenant: "t".into(),
                secrets: vec!["whsec_a".into()],
                localstripe_endpoint: "http://127.0.0.1:3/webhooks/stripe/t/payment-intents".into(),
            }),
            acp: Some(Acp {
                url: "http://127.0.0.1:4".into(),
                token_url: "http://127.0.0.1:4/oauth/token".into(),
                client_id: "c".into(),
                client_secret: "s".into(),
            }),
            acp_transport: Some("http-channel".into()),
            acp_queues: BTreeMap::from([("AcpOutboundQueue".into(), "o".into())]),
        };
        let value = serde_json::to_value(&file).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = vec![
            "region",
            "aws_endpoint_url",
            "stripe_base_url",
            "http_base_url",
            "app_identifier",
            "bus_name",
            "tables",
            "command_queues",
            "dead_letter_queues",
            "functions",
            "bearer_token",
            "token_url",
            "webhooks",
            "acp",
            "acp_transport",
            "acp_queues",
        ];
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        expected.sort();
        assert_eq!(keys_sorted, expected);
        let function = &value["functions"]["CapturePaymentFunction"];
        let mut fkeys: Vec<&str> = function.as_object().unwrap().keys().map(String::as_str).collect();
        fkeys.sort();
        assert_eq!(fkeys, vec!["binary", "queue", "routes"]);
        assert!(
            function["queue"].is_null(),
            "a function without a queue has \"queue\": null"
        );
        let mut wkeys: Vec<&str> = value["webhooks"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        wkeys.sort();
        assert_eq!(wkeys, vec!["localstripe_endpoint", "secrets", "tenant"]);
        let mut akeys: Vec<&str> = value["acp"].as_object().unwrap().keys().map(String::as_str).collect();
        akeys.sort();
        assert_eq!(
            akeys,
            vec!["client_id", "client_secret", "token_url", "url"],
            "pinned by issue 9"
        );
        let back: StackFile = serde_json::from_value(value).unwrap();
        assert_eq!(back, file);
    }
}
