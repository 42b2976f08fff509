//! The platform over real HTTP: started on 127.0.0.1:0, driven with reqwest as Spryker's clients and
//! the app drive it.

use acp_platform::{Platform, PlatformConfig, TOKEN_AUDIENCE};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const APP: &str = "app-stripe";

async fn start_with(config: PlatformConfig) -> (Platform, reqwest::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let platform = Platform::start(config, listener).expect("start");
    (platform, reqwest::Client::new())
}

async fn start() -> (Platform, reqwest::Client) {
    start_with(PlatformConfig::new("client", "secret", vec![APP.to_string()])).await
}

async fn token_response(
    platform: &Platform,
    http: &reqwest::Client,
    secret: &str,
    audience: &str,
) -> reqwest::Response {
    http.post(platform.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "client"),
            ("client_secret", secret),
            ("audience", audience),
        ])
        .send()
        .await
        .expect("token request")
}

async fn token(platform: &Platform, http: &reqwest::Client) -> String {
    let answer: Value = token_response(platform, http, "secret", TOKEN_AUDIENCE)
        .await
        .json()
        .await
        .expect("JSON");
    answer["access_token"].as_str().expect("a token").to_string()
}

/// A publish of `body` on `channel` with the HTTP channel's headers.
fn publish_request(
    platform: &Platform,
    http: &reqwest::Client,
    token: &str,
    channel: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::RequestBuilder {
    let mut request = http
        .post(format!("{}/{channel}", platform.url()))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

/// Publishes `body` on `channel` with the HTTP channel's headers.
async fn publish(
    platform: &Platform,
    http: &reqwest::Client,
    token: &str,
    channel: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::Response {
    publish_request(platform, http, token, channel, headers, body)
        .send()
        .await
        .expect("publish")
}

async fn consume(platform: &Platform, http: &reqwest::Client, token: &str, channel: &str, consumer: &str) -> Value {
    let response = http
        .get(format!("{}/{channel}?limit=100", platform.url()))
        .bearer_auth(token)
        .header("Consumer-Id", consumer)
        .send()
        .await
        .expect("consume");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("JSON")
}

async fn control(platform: &Platform, http: &reqwest::Client, path: &str) -> Value {
    http.get(format!("{}{path}", platform.url()))
        .send()
        .await
        .expect("control request")
        .json()
        .await
        .expect("JSON")
}

const COMMAND_HEADERS: [(&str, &str); 4] = [
    ("Transfer-Name", "CapturePayment"),
    ("Tenant-Identifier", "tenant-1"),
    ("Actor-Id", "tenant-1"),
    ("Correlation-Id", "corr-1"),
];

#[tokio::test]
async fn token_flow() {
    let (platform, http) = start().await;
    assert_eq!(platform.token_url(), format!("{}/oauth/token", platform.url()));
    assert!(platform.url().starts_with("http://127.0.0.1:"));

    let response = token_response(&platform, &http, "secret", TOKEN_AUDIENCE).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 3600);
    assert!(answer["access_token"].as_str().is_some_and(|t| t.len() >= 32));

    let response = token_response(&platform, &http, "wrong", TOKEN_AUDIENCE).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.expect("JSON")["error"], "invalid_client");

    let response = token_response(&platform, &http, "secret", "other-api").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.expect("JSON")["error"],
        "invalid_audience"
    );

    let response = http
        .post(platform.token_url())
        .form(&[
            ("grant_type", "password"),
            ("client_id", "client"),
            ("client_secret", "secret"),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.expect("JSON")["error"],
        "unsupported_grant_type"
    );

    assert_eq!(control(&platform, &http, "/_requests").await["token"], 4);
}

#[tokio::test]
async fn calls_need_a_valid_unexpired_token() {
    let (platform, http) = start().await;
    let response = publish(&platform, &http, "forged", "payment-commands", &COMMAND_HEADERS, "{}").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"message": "Unauthorized"})
    );
    let response = http
        .get(format!("{}/payment-commands", platform.url()))
        .header("Consumer-Id", APP)
        .send()
        .await
        .expect("consume");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let requests = control(&platform, &http, "/_requests").await;
    assert_eq!(requests["unauthorized"], 2);
    assert_eq!(requests["publish"], 1);
    assert_eq!(requests["consume"], 1);

    // A token that lives no time at all has expired by its first use.
    let mut config = PlatformConfig::new("client", "secret", vec![APP.to_string()]);
    config.token_lifetime = Duration::ZERO;
    let (platform, http) = start_with(config).await;
    let expired = token(&platform, &http).await;
    let response = publish(&platform, &http, &expired, "payment-commands", &COMMAND_HEADERS, "{}").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn publish_consume_acknowledge_round_trip() {
    let (platform, http) = start().await;
    let token = token(&platform, &http).await;
    let body = r#"{"orderReference": "DE--1", "amount": 1000}"#;
    let response = publish(&platform, &http, &token, "payment-commands", &COMMAND_HEADERS, body).await;
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("JSON");
    let id = answer["MessageId"].as_str().expect("an id").to_string();
    assert_eq!(answer, json!({"MessageId": id}));
    assert_eq!(uuid::Uuid::parse_str(&id).expect("a UUID").get_version_num(), 4);

    // The publisher, and another tenant, get nothing; the app gets it, exactly so.
    assert_eq!(
        consume(&platform, &http, &token, "payment-commands", "tenant-1").await,
        json!([])
    );
    assert_eq!(
        consume(&platform, &http, &token, "payment-commands", "tenant-2").await,
        json!([])
    );
    assert_eq!(
        consume(&platform, &http, &token, "payment-commands", APP).await,
        json!([{
            "MessageId": id,
            "MessageBody": body,
            "MessageAttributes": {
                "transferName": "CapturePayment",
                "tenantIdentifier": "tenant-1",
                "actorId": "tenant-1",
                "correlationId": "corr-1",
            },
        }])
    );
    // Handed out and not acknowledged: invisible until the visibility timeout.
    assert_eq!(
        consume(&platform, &http, &token, "payment-commands", APP).await,
        json!([])
    );

    let response = http
        .delete(format!("{}/payment-commands", platform.url()))
        .bearer_auth(&token)
        .header("Consumer-Id", APP)
        .json(&json!({"messageIds": [id, "unknown-id"]}))
        .send()
        .await
        .expect("ack");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("JSON"), json!({}));

    assert_eq!(
        control(&platform, &http, "/_messages?channel=payment-commands").await,
        json!([{
            "MessageId": id,
            "channel": "payment-commands",
            "MessageBody": body,
            "MessageAttributes": {
                "transferName": "CapturePayment",
                "tenantIdentifier": "tenant-1",
                "actorId": "tenant-1",
                "correlationId": "corr-1",
            },
            "acknowledgedBy": [APP],
            "deliveries": {APP: 1},
            "deliveredToQueue": false,
        }])
    );
    assert_eq!(
        control(&platform, &http, "/_messages?channel=payment-events").await,
        json!([])
    );
    let requests = control(&platform, &http, "/_requests").await;
    assert_eq!(
        (&requests["publish"], &requests["consume"], &requests["ack"]),
        (&json!(1), &json!(4), &json!(1))
    );
}

#[tokio::test]
async fn app_events_reach_the_tenant_not_the_publishing_app() {
    let (platform, http) = start().await;
    let token = token(&platform, &http).await;
    let headers = [
        ("Transfer-Name", "PaymentCaptured"),
        ("Tenant-Identifier", "tenant-1"),
        ("Actor-Id", APP),
    ];
    let response = publish(&platform, &http, &token, "payment-events", &headers, "{}").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        consume(&platform, &http, &token, "payment-events", APP).await,
        json!([])
    );
    let received = consume(&platform, &http, &token, "payment-events", "tenant-1").await;
    assert_eq!(received[0]["MessageAttributes"]["transferName"], "PaymentCaptured");
}

#[tokio::test]
async fn refuses_bad_requests() {
    let (platform, http) = start().await;
    let token = token(&platform, &http).await;

    let missing = [("Transfer-Name", "CapturePayment"), ("Actor-Id", "tenant-1")];
    let response = publish(&platform, &http, &token, "payment-commands", &missing, "{}").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.expect("JSON");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("Tenant-Identifier")),
        "{answer}"
    );

    for body in ["[1]", "not json", "\"text\""] {
        let response = publish(&platform, &http, &token, "payment-commands", &COMMAND_HEADERS, body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }

    let response = http
        .get(format!("{}/payment-commands", platform.url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("consume");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    for limit in ["0", "x", "-1"] {
        let response = http
            .get(format!("{}/payment-commands?limit={limit}", platform.url()))
            .bearer_auth(&token)
            .header("Consumer-Id", APP)
            .send()
            .await
            .expect("consume");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{limit}");
    }
    for body in ["", "{}", r#"{"messageIds": "x"}"#] {
        let response = http
            .delete(format!("{}/payment-commands", platform.url()))
            .bearer_auth(&token)
            .header("Consumer-Id", APP)
            .body(body)
            .send()
            .await
            .expect("ack");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }

    let response = http.get(format!("{}/a/b", platform.url())).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.json::<Value>().await.expect("JSON")["message"].is_string());
    let response = http
        .put(format!("{}/payment-events", platform.url()))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.json::<Value>().await.expect("JSON")["message"].is_string());

    assert_eq!(control(&platform, &http, "/_messages").await, json!([]));
}

#[tokio::test]
async fn scripted_faults() {
    let (platform, http) = start().await;
    let token = token(&platform, &http).await;
    let response = http
        .post(format!("{}/_faults", platform.url()))
        .json(&json!({"publish": [500, 401, "drop"], "token": [503]}))
        .send()
        .await
        .expect("faults");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"pending": {"publish": 3, "consume": 0, "ack": 0, "token": 1, "http": 0}})
    );

    let response = publish(&platform, &http, &token, "payment-commands", &COMMAND_HEADERS, "{}").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.json::<Value>().await.expect("JSON")["message"].is_string());
    let response = publish(&platform, &http, &token, "payment-commands", &COMMAND_HEADERS, "{}").await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "a scripted 401 despite a valid token"
    );
    let dropped = publish_request(&platform, &http, &token, "payment-commands", &COMMAND_HEADERS, "{}")
        .send()
        .await;
    assert!(
        dropped.is_err(),
        "a dropped connection is a transport error: {dropped:?}"
    );
    assert_eq!(
        control(&platform, &http, "/_messages").await,
        json!([]),
        "faulted publishes store nothing"
    );

    let response = token_response(&platform, &http, "secret", TOKEN_AUDIENCE).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    let response = publish(&platform, &http, &token, "payment-commands", &COMMAND_HEADERS, "{}").await;
    assert_eq!(response.status(), StatusCode::OK, "faults are used up");
    let requests = control(&platform, &http, "/_requests").await;
    assert_eq!((&requests["faulted"], &requests["publish"]), (&json!(4), &json!(4)));

    let added = http
        .post(format!("{}/_faults", platform.url()))
        .json(&json!({"consume": ["drop"]}))
        .send()
        .await
        .expect("faults");
    assert_eq!(added.status(), StatusCode::OK);
    let cleared: Value = http
        .delete(format!("{}/_faults", platform.url()))
        .send()
        .await
        .expect("clear")
        .json()
        .await
        .expect("JSON");
    assert_eq!(cleared["pending"]["consume"], 0);
    assert_eq!(
        consume(&platform, &http, &token, "payment-commands", APP)
            .await
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let refused = http
        .post(format!("{}/_faults", platform.url()))
        .json(&json!({"publsh": [500]}))
        .send()
        .await
        .expect("faults");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn http_endpoint_routes_by_transfer_name() {
    let (platform, http) = start().await;
    let token = token(&platform, &http).await;
    let send = |transfer: &'static str, tenant: &'static str, actor: &'static str| {
        http.post(platform.http_endpoint_url())
            .bearer_auth(&token)
            .header("X-Transfer-Name", transfer)
            .header("X-Tenant-Identifier", tenant)
            .header("X-Actor-Id", actor)
            .header("X-Store-Reference", "DE")
            .body("{}")
            .send()
    };
    for (transfer, channel) in [
        ("PaymentCaptured", "payment-events"),
        ("AddPaymentMethod", "payment-method-commands"),
        ("AppConfigUpdated", "app-events"),
        ("ReadyForMerchantAppOnboarding", "merchant-app-events"),
        ("CapturePayment", "payment-commands"),
    ] {
        let response = send(transfer, "tenant-1", APP).await.expect("publish");
        assert_eq!(response.status(), StatusCode::OK, "{transfer}");
        let stored = control(&platform, &http, &format!("/_messages?channel={channel}")).await;
        assert_eq!(stored[0]["MessageAttributes"]["transferName"], transfer);
        assert_eq!(stored[0]["MessageAttributes"]["storeReference"], "DE");
    }
    let response = send("SomethingElse", "tenant-1", APP).await.expect("publish");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = http
        .post(platform.http_endpoint_url())
        .bearer_auth(&token)
        .header("X-Transfer-Name", "PaymentCaptured")
        .header("X-Actor-Id", APP)
        .body("{}")
        .send()
        .await
        .expect("publish");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.expect("JSON");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("X-Tenant-Identifier")),
        "{answer}"
    );

    let received = consume(&platform, &http, &token, "payment-events", "tenant-1").await;
    assert_eq!(received.as_array().map(Vec::len), Some(1));
    let requests = control(&platform, &http, "/_requests").await;
    assert_eq!((&requests["http"], &requests["publish"]), (&json!(7), &json!(0)));
}
