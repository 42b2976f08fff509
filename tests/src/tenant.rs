//! A tenant as the App Catalog configures and disconnects it through the stack's HTTP API (`POST
//! /private/configure`, `POST /private/disconnect`, with the stack's bearer token): the one place the
//! demo and the through-the-stack tests set up their tenants.

use crate::local_stack::StackInfo;
use crate::stripe_customer::LOCALSTRIPE_API_KEY;
use serde_json::{Value, json};

/// Posts `configuration` for `tenant` with the stack's bearer token; returns the status and the JSON
/// answer.
pub async fn configure(stack: &StackInfo, tenant: &str, configuration: &Value) -> (u16, Value) {
    configure_as(stack, stack.bearer_token(), tenant, configuration).await
}

/// The configure body of `configuration` (contract §5.1).
pub fn configure_body(configuration: &Value) -> Value {
    json!({"data": {"type": "configuration", "attributes": {"configuration": configuration.to_string()}}})
}

/// Posts `configuration` for `tenant` with `token`; returns the status and the JSON answer.
pub async fn configure_as(stack: &StackInfo, token: &str, tenant: &str, configuration: &Value) -> (u16, Value) {
    let body = configure_body(configuration);
    let response = stack
        .private_request("/private/configure", tenant, Some(token))
        .json(&body)
        .send()
        .await
        .expect("POST /private/configure");
    crate::http_answer::conforming("/private/configure", response).await
}

/// Posts a disconnect for `tenant` with `x-confirmation-status` when given; returns the status and the
/// JSON answer (`Null` for 204).
pub async fn disconnect(stack: &StackInfo, tenant: &str, confirmation: Option<bool>) -> (u16, Value) {
    let mut request = stack.private_request("/private/disconnect", tenant, Some(stack.bearer_token()));
    if let Some(confirmed) = confirmation {
        request = request.header("x-confirmation-status", confirmed.to_string());
    }
    let response = request.send().await.expect("POST /private/disconnect");
    crate::http_answer::conforming("/private/disconnect", response).await
}

/// The secrets the tenants of the demo and the tests are configured with (for the secret scan):
/// localstripe's key and the stack's webhook signing secrets.
pub fn configured_secrets(stack: &StackInfo) -> Vec<String> {
    std::iter::once(LOCALSTRIPE_API_KEY.to_string())
        .chain(stack.webhooks().secrets.iter().cloned())
        .collect()
}

/// The publishable key the demo and the tests configure (localstripe takes any `pk_` key).
pub const LOCALSTRIPE_PUBLISHABLE_KEY: &str = "pk_test_localstripe";

/// The configuration the demo and the tests give a tenant: localstripe's keys, the stack's webhook
/// signing secrets (the ones localstripe signs with, stack.json `webhooks`) and `methods`.
pub fn configuration(stack: &StackInfo, methods: &[&str]) -> Value {
    json!({"stripeSecretKey": LOCALSTRIPE_API_KEY, "stripePublishableKey": LOCALSTRIPE_PUBLISHABLE_KEY,
           "webhookSigningSecrets": stack.webhooks().secrets, "paymentMethods": methods, "isMarketplace": false})
}

/// Configures `tenant` with [`configuration`] of one method (`Credit Card`); panics unless answered 200.
pub async fn configure_tenant(stack: &StackInfo, tenant: &str) -> Value {
    let (status, answer) = configure(stack, tenant, &configuration(stack, &["Credit Card"])).await;
    assert_eq!(status, 200, "configuring {tenant}: {answer}");
    answer
}

/// Configures `tenant` like [`configure_tenant`] and takes its announcements off the bus watch queue
/// `watch`, checking they are exactly AddPaymentMethod then AppConfigUpdated (the first configure; a
/// repeated one announces only AppConfigUpdated).
pub async fn configure_watched_tenant(stack: &StackInfo, sqs: &aws_sdk_sqs::Client, watch: &str, tenant: &str) {
    configure_tenant(stack, tenant).await;
    let seen = crate::acp::tenant_messages(sqs, watch, tenant, 2, std::time::Duration::from_secs(60)).await;
    let names: Vec<&str> = seen.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["AddPaymentMethod", "AppConfigUpdated"],
        "{tenant}'s configure"
    );
}

/// Configures the stack's local tenant (stack.json `webhooks.tenant`, the one localstripe delivers its
/// own webhooks for) like [`configure_tenant`]; returns its identifier.
pub async fn configure_local_tenant(stack: &StackInfo) -> String {
    let tenant = stack.webhooks().tenant.clone();
    configure_tenant(stack, &tenant).await;
    tenant
}
