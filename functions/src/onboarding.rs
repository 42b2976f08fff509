//! The HTTP handler of `POST /private/merchants/onboarding` (contract §5.7, §6; behind the HttpApi's JWT
//! authorizer like every `/private` route): starts or continues a marketplace merchant's onboarding
//! at the PSP and answers where the merchant goes next.
//!
//! Request: headers `x-tenant-identifier` (fallback `x-store-reference`) and `x-merchant-reference`;
//! body `{merchant: {merchantReference, name}, successUrl, refreshUrl, cancelUrl?, errorUrl?}`. The
//! merchant is the header's or the body's reference (both given: they must agree).
//!
//! Answers: 201 `{strategy: "redirect", url}` when this call created the merchant's PSP account, 200
//! when it continues an existing one (a new link each time). Errors are `{errors: [{message}]}`: 400 for
//! bad input, 412 when onboarding cannot proceed (the PSP rejected the merchant, or refuses to create
//! merchant accounts for the tenant), 503 when the PSP or the store is unavailable (retry).

use crate::http::{error_response, json_response, tenant_of};
use lambda_http::{Body, Error, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shared::ports::{MerchantAccounts, OnboardingStore, TenantStore};
use shared::service::{MerchantOnboarder, OnboardingError, OnboardingRequest};

/// The merchant header (contract §2, `MerchantAppRequestExpanderPlugin`).
const MERCHANT_HEADER: &str = "x-merchant-reference";

/// The request body (contract §5.7).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnboardingBody {
    /// The merchant.
    merchant: Merchant,
    /// Where Stripe sends the merchant when onboarding is done (an absolute URL).
    success_url: String,
    /// Where Stripe sends the merchant when the link has expired (an absolute URL).
    refresh_url: String,
    /// Where the merchant goes on cancel.
    #[serde(default)]
    cancel_url: Option<String>,
    /// Where the merchant goes on an error.
    #[serde(default)]
    error_url: Option<String>,
}

/// `merchant` of the request body.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Merchant {
    /// The merchant's reference (else the `x-merchant-reference` header's).
    #[serde(default)]
    merchant_reference: Option<String>,
    /// The merchant's name.
    name: String,
}

/// Where the merchant goes next: `{"strategy": "redirect", "url"}`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct OnboardingAnswer {
    /// Always `redirect`.
    #[schemars(extend("const" = "redirect"))]
    pub strategy: &'static str,
    /// Stripe's onboarding link for the merchant.
    pub url: String,
}

/// An answer that is not a link: its status and message.
struct Failure(u16, String);

impl From<OnboardingError> for Failure {
    fn from(e: OnboardingError) -> Self {
        let status = match &e {
            OnboardingError::Invalid(_) => 400,
            OnboardingError::Rejected | OnboardingError::Refused(_) => 412,
            OnboardingError::Unavailable(_) => 503,
        };
        Failure(status, e.to_string())
    }
}

/// Serves one request. Always an HTTP answer; `Err` only if the answer cannot be built.
pub async fn handle<S, A>(onboarder: &MerchantOnboarder<'_, S, A>, request: Request) -> Result<Response<Body>, Error>
where
    S: OnboardingStore + TenantStore,
    A: MerchantAccounts,
{
    match serve(onboarder, &request).await {
        Ok((created, url)) => json_response(
            if created { 201 } else { 200 },
            &OnboardingAnswer {
                strategy: "redirect",
                url,
            },
        ),
        Err(Failure(status, message)) => {
            tracing::warn!(status, reason = %message, "onboarding request not served");
            error_response(status, &message)
        }
    }
}

async fn serve<S: OnboardingStore + TenantStore, A: MerchantAccounts>(
    onboarder: &MerchantOnboarder<'_, S, A>,
    request: &Request,
) -> Result<(bool, String), Failure> {
    let bad = |message: String| Failure(400, message);
    // The merchant is looked up among the proven tenant's own merchants only.
    let tenant = tenant_of(request, onboarder.store)
        .await
        .map_err(|r| Failure(r.status, r.message))?;
    let body: OnboardingBody = shared::json::from_slice(request.body().as_ref())
        .map_err(|e| bad(format!("the request body is not valid: {e}")))?;
    let header = request
        .headers()
        .get(MERCHANT_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let in_body = body.merchant.merchant_reference.as_deref().map(str::trim);
    let merchant = match (header, in_body) {
        (Some(h), Some(b)) if h != b => {
            return Err(bad(
                "x-merchant-reference and merchant.merchantReference name different merchants".into(),
            ));
        }
        (Some(reference), _) | (None, Some(reference)) => reference,
        (None, None) => return Err(bad("the merchant reference is missing".into())),
    };
    let request = OnboardingRequest::new(
        merchant,
        &body.merchant.name,
        &body.success_url,
        &body.refresh_url,
        &[
            ("cancelUrl", body.cancel_url.as_deref()),
            ("errorUrl", body.error_url.as_deref()),
        ],
    )?;
    let link = onboarder.start(&tenant, &request).await?;
    Ok((link.created, link.url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::adapters::memory::{MemoryAccounts, MemoryStore};
    use shared::domain::MerchantOnboardingStatus;
    use shared::ports::PspError;

    const SAMPLE: &str = include_str!("../../events/merchant-onboarding.json");

    /// The sample request with `headers` merged in (null removes one) and `body` when given.
    fn request(headers: Value, body: Option<Value>) -> Request {
        let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
        for (k, v) in headers.as_object().unwrap() {
            let h = event["headers"].as_object_mut().unwrap();
            match v {
                Value::Null => h.remove(k),
                v => h.insert(k.clone(), v.clone()),
            };
        }
        if let Some(body) = body {
            event["body"] = body.to_string().into();
        }
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn sample_body() -> Value {
        let event: Value = serde_json::from_str(SAMPLE).unwrap();
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap()
    }

    async fn call(store: &MemoryStore, accounts: &MemoryAccounts, req: Request) -> (u16, Value) {
        let onboarder = MerchantOnboarder { store, accounts };
        let response = handle(&onboarder, req).await.unwrap();
        crate::openapi::conforming("/private/merchants/onboarding", response)
    }

    #[tokio::test]
    async fn the_sample_creates_then_continues_the_onboarding() {
        let (store, accounts) = (MemoryStore::new(), MemoryAccounts::new());
        let (status, body) = call(&store, &accounts, request(json!({}), None)).await;
        assert_eq!(
            (status, body),
            (
                201,
                json!({"strategy": "redirect", "url": "https://connect.example/setup/acct_1/1"})
            )
        );
        let (status, body) = call(&store, &accounts, request(json!({}), None)).await;
        assert_eq!(
            (status, body),
            (
                200,
                json!({"strategy": "redirect", "url": "https://connect.example/setup/acct_1/2"})
            )
        );
        assert_eq!(accounts.created(), 1);
        let stored = store.get_onboarding("tenant-a", "MER000001").await.unwrap().unwrap();
        assert_eq!(
            (stored.account_id.as_str(), stored.status),
            ("acct_1", MerchantOnboardingStatus::Incomplete)
        );
        let (_, urls) = &accounts.links()[0];
        assert_eq!(
            urls.return_url,
            "https://mp.shop.example.com/app-merchant/onboarding/success"
        );
        assert_eq!(
            urls.refresh_url,
            "https://mp.shop.example.com/app-merchant/onboarding/refresh"
        );
        // The merchant named by the header only, or by the body only: the same merchant.
        let mut no_ref = sample_body();
        no_ref["merchant"].as_object_mut().unwrap().remove("merchantReference");
        assert_eq!(call(&store, &accounts, request(json!({}), Some(no_ref))).await.0, 200);
        assert_eq!(
            call(&store, &accounts, request(json!({"x-merchant-reference": null}), None))
                .await
                .0,
            200
        );
        assert_eq!(accounts.created(), 1);
    }

    #[tokio::test]
    async fn bad_input_is_400_with_an_error_body_and_changes_nothing() {
        let (store, accounts) = (MemoryStore::new(), MemoryAccounts::new());
        let with = |path: &str, value: Value| {
            let mut body = sample_body();
            if let Some(v) = body.pointer_mut(path) {
                *v = value;
            }
            body
        };
        let mut no_ref = sample_body();
        no_ref["merchant"].as_object_mut().unwrap().remove("merchantReference");
        let cases = [
            ("no tenant", request(json!({"x-tenant-identifier": null}), None)),
            (
                "no merchant",
                request(json!({"x-merchant-reference": null}), Some(no_ref)),
            ),
            (
                "two merchants",
                request(json!({"x-merchant-reference": "MER000002"}), None),
            ),
            ("not JSON", request(json!({}), Some(json!("{")))),
            (
                "no successUrl",
                request(json!({}), Some(with("/successUrl", Value::Null))),
            ),
            ("no name", request(json!({}), Some(with("/merchant/name", json!(" "))))),
            (
                "relative refreshUrl",
                request(json!({}), Some(with("/refreshUrl", json!("/again")))),
            ),
            (
                "bad errorUrl",
                request(json!({}), Some(with("/errorUrl", json!("nope")))),
            ),
        ];
        for (what, req) in cases {
            let (status, body) = call(&store, &accounts, req).await;
            assert_eq!(status, 400, "{what}: {body}");
            assert!(
                body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: {body}"
            );
        }
        assert_eq!(accounts.created(), 0);
    }

    #[tokio::test]
    async fn psp_refusals_are_412_and_outages_503() {
        let (store, accounts) = (MemoryStore::new(), MemoryAccounts::new());
        accounts.fail_next(PspError::Declined {
            code: "invalid_request_error".into(),
            message: "You can only create new accounts if you've signed up for Connect".into(),
        });
        let (status, body) = call(&store, &accounts, request(json!({}), None)).await;
        assert_eq!(status, 412);
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("Connect"));
        accounts.fail_next(PspError::Unknown("timeout".into()));
        assert_eq!(call(&store, &accounts, request(json!({}), None)).await.0, 503);
        assert_eq!(store.get_onboarding("tenant-a", "MER000001").await.unwrap(), None);
        // A rejected merchant: 412, no new link.
        assert_eq!(call(&store, &accounts, request(json!({}), None)).await.0, 201);
        let mut stored = store.get_onboarding("tenant-a", "MER000001").await.unwrap().unwrap();
        stored.status = MerchantOnboardingStatus::Rejected;
        stored.version = 1;
        store.replace_onboarding(&stored, 0).await.unwrap();
        let (status, body) = call(&store, &accounts, request(json!({}), None)).await;
        assert_eq!(status, 412);
        assert_eq!(
            body["errors"][0]["message"],
            "the merchant's onboarding was rejected by the PSP"
        );
        assert_eq!(accounts.links().len(), 1);
    }
}
