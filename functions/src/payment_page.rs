//! The hosted payment page's HTTP side (contract §5.3), public routes of the HttpApi (no JWT: the shopper's
//! browser calls them):
//!
//! * `GET /app-payment?transactionId=..&tenantIdentifier=..`: the page (`assets/payment-page.html`): the
//!   order total, Stripe's card Element with the tenant's publishable key, confirmation with Stripe.js;
//! * `GET /app-payment/redirect?..`: where Stripe sends the shopper back; 302 to the shop's success or
//!   cancel URL, or back to the page;
//! * `GET /app-payment/cancel?..`: the page's "cancel and return to the shop" link; 302 to the cancel URL.
//!
//! Every answer is `no-store`, with a Content-Security-Policy allowing the app and Stripe's origins only.
//! Errors are HTML pages with their status (400, 404, 409, 503) and never carry a client secret.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use secrecy::ExposeSecret;
use serde_json::json;
use shared::ports::{Clock, EventPublisher, PaymentGateway, PaymentStore, Tenants};
use shared::service::payment_page::{Destination, PageError, PageView, PaymentPageService};

/// The page's template.
const PAGE: &str = include_str!("../assets/payment-page.html");

/// What the shopper reads when the page cannot be served now.
const UNAVAILABLE: &str = "The payment cannot be shown right now. Please try again in a moment.";

/// The page's route (initialize-payment's `redirectUrl`), the shopper's return and the cancel link.
pub const PAGE_ROUTE: &str = "/app-payment";
const RETURN_ROUTE: &str = "/app-payment/redirect";
const CANCEL_ROUTE: &str = "/app-payment/cancel";

/// `{app_base_url}{route}?transactionId=..&tenantIdentifier=..`: the link of `route` for one payment.
pub fn payment_link(app_base_url: &str, route: &str, tenant: &str, transaction_id: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("transactionId", transaction_id)
        .append_pair("tenantIdentifier", tenant)
        .finish();
    format!("{}{route}?{query}", app_base_url.trim_end_matches('/'))
}

/// Where the page loads Stripe.js from and which origins it talks to.
#[derive(Clone, Debug)]
pub struct PageConfig {
    /// The app's public base URL (the return and cancel routes live below it).
    pub app_base_url: String,
    /// Stripe.js: `https://js.stripe.com/v3/` deployed, localstripe's stand-in locally.
    pub stripe_js_url: String,
    /// The origins Stripe.js may load from, frame and call (the CSP's Stripe part).
    pub stripe_origins: Vec<String>,
}

impl PageConfig {
    /// The configuration for Stripe.js at `stripe_js_url` and Stripe's API at `stripe_api_base`. Stripe's
    /// own Stripe.js also frames `*.js.stripe.com` and `hooks.stripe.com` (3-D Secure).
    pub fn new(app_base_url: &str, stripe_js_url: &str, stripe_api_base: &str) -> Self {
        let mut origins = vec![origin(stripe_js_url), origin(stripe_api_base)];
        if origins[0] == "https://js.stripe.com" {
            origins.extend([
                "https://*.js.stripe.com".to_string(),
                "https://hooks.stripe.com".to_string(),
            ]);
        }
        origins.dedup();
        PageConfig {
            app_base_url: app_base_url.to_string(),
            stripe_js_url: stripe_js_url.to_string(),
            stripe_origins: origins,
        }
    }

    /// The link of `route` for a payment.
    fn route(&self, route: &str, tenant: &str, transaction_id: &str) -> String {
        payment_link(&self.app_base_url, route, tenant, transaction_id)
    }

    /// The Content-Security-Policy of a page whose one inline script carries `nonce` (no script at all
    /// when there is none).
    fn content_security_policy(&self, nonce: Option<&str>) -> String {
        let stripe = self.stripe_origins.join(" ");
        let scripts = match nonce {
            Some(nonce) => format!("'nonce-{nonce}' {stripe}"),
            None => "'none'".to_string(),
        };
        format!(
            "default-src 'none'; script-src {scripts}; connect-src {stripe}; frame-src {stripe}; \
             img-src 'self' data: {stripe}; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
        )
    }
}

/// `scheme://host[:port]` of `url` (the URL itself when it does not parse).
fn origin(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| url.to_string(), |u| u.origin().ascii_serialization())
}

/// The three routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Page,
    Return,
    Cancel,
}

/// Serves one request. Always an HTTP answer; `Err` only if the answer cannot be built.
pub async fn handle<S, G, P, C, T>(
    service: &PaymentPageService<S, G, P, C, T>,
    config: &PageConfig,
    request: Request,
) -> Result<Response<Body>, Error>
where
    S: PaymentStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
    T: Tenants,
{
    let route = match request.raw_http_path().trim_end_matches('/') {
        path if path.ends_with(RETURN_ROUTE) => Route::Return,
        path if path.ends_with(CANCEL_ROUTE) => Route::Cancel,
        _ => Route::Page,
    };
    let query = request.query_string_parameters();
    let (Some(transaction_id), Some(tenant)) = (
        query.first("transactionId").filter(|v| !v.is_empty()),
        query.first("tenantIdentifier").filter(|v| !v.is_empty()),
    ) else {
        return message_page(config, 400, "This payment link is incomplete.");
    };
    let outcome = match route {
        Route::Page => match service.page(tenant, transaction_id).await {
            Ok(view) => return page(config, tenant, transaction_id, &view),
            Err(e) => Err(e),
        },
        Route::Return => service.returned(tenant, transaction_id).await,
        Route::Cancel => service.cancel(tenant, transaction_id).await,
    };
    match outcome {
        Ok(destination) => redirect(config, tenant, transaction_id, &destination),
        Err(error) => {
            tracing::warn!(?route, %error, "payment page request not served");
            // What failed inside (store, PSP, configuration) is logged above, never shown to the shopper.
            let (status, text) = match &error {
                PageError::NotFound => (404, error.to_string()),
                PageError::Finished => (409, error.to_string()),
                PageError::Unavailable(_) => (503, UNAVAILABLE.to_string()),
            };
            message_page(config, status, &text)
        }
    }
}

/// The payment page for `view`.
fn page(config: &PageConfig, tenant: &str, transaction_id: &str, view: &PageView) -> Result<Response<Body>, Error> {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let amount = format!("{} {}", view.amount.major_units(), view.amount.currency.code());
    let page_config = json!({
        "publishableKey": view.publishable_key,
        "clientSecret": view.client_secret.expose_secret(),
        "returnUrl": config.route(RETURN_ROUTE, tenant, transaction_id),
    });
    // JSON inside <script>: `<` escaped, so no value can close the element.
    let page_config = page_config.to_string().replace('<', "\\u003c");
    let decline = view
        .decline
        .as_deref()
        .map(|reason| format!("Your last attempt was declined ({reason}). Please try again or use another card."))
        .unwrap_or_default();
    let html = PAGE
        .replace("{{amount}}", &html_escape::encode_text(&amount))
        .replace(
            "{{stripe_js_url}}",
            &html_escape::encode_double_quoted_attribute(&config.stripe_js_url),
        )
        .replace("{{decline}}", &html_escape::encode_text(&decline))
        .replace(
            "{{cancel_url}}",
            &html_escape::encode_double_quoted_attribute(&config.route(CANCEL_ROUTE, tenant, transaction_id)),
        )
        .replace("{{nonce}}", &nonce)
        .replace("{{config}}", &page_config);
    html_response(config, 200, Some(&nonce), html)
}

/// A 302 to where `destination` leads; without a stored shop URL, a short HTML page says what happened.
fn redirect(
    config: &PageConfig,
    tenant: &str,
    transaction_id: &str,
    destination: &Destination,
) -> Result<Response<Body>, Error> {
    let location = match destination {
        Destination::Page => config.route(PAGE_ROUTE, tenant, transaction_id),
        Destination::Success(Some(url)) | Destination::Canceled(Some(url)) => url.clone(),
        Destination::Success(None) => return message_page(config, 200, "Thank you: your payment is accepted."),
        Destination::Canceled(None) => return message_page(config, 200, "The payment was canceled."),
    };
    Ok(with_headers(Response::builder().status(302), config, None)
        .header("location", location)
        .body(Body::Empty)?)
}

/// A short HTML page saying `message`.
fn message_page(config: &PageConfig, status: u16, message: &str) -> Result<Response<Body>, Error> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Payment</title></head>\
         <body><main><h1>Payment</h1><p id=\"message\">{}</p></main></body></html>",
        html_escape::encode_text(message)
    );
    html_response(config, status, None, html)
}

/// An HTML answer with the page headers.
fn html_response(config: &PageConfig, status: u16, nonce: Option<&str>, html: String) -> Result<Response<Body>, Error> {
    Ok(with_headers(Response::builder().status(status), config, nonce)
        .header("content-type", "text/html; charset=utf-8")
        .body(Body::Text(html))?)
}

/// The headers of every answer: no caching (a page holds a client secret), no referrer (the URL names the
/// payment), no sniffing, and the CSP.
fn with_headers(
    builder: lambda_http::http::response::Builder,
    config: &PageConfig,
    nonce: Option<&str>,
) -> lambda_http::http::response::Builder {
    builder
        .header("cache-control", "no-store")
        .header("referrer-policy", "no-referrer")
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", config.content_security_policy(nonce))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::domain::tenant::STRIPE_PUBLISHABLE_KEY;
    use shared::domain::{Currency, Money, Payment, PaymentMethod};
    use shared::ports::gateway::CreatePayment;
    use shared::ports::{PaymentGateway, PaymentStore, TenantStore};
    use shared::service::testing::{MemoryCommandService, MemoryDirectory, memory_directory, memory_service};

    type Service = PaymentPageService<
        shared::adapters::memory::MemoryStore,
        shared::adapters::memory::MemoryGateway,
        shared::adapters::memory::MemoryPublisher,
        shared::adapters::memory::FixedClock,
        MemoryDirectory,
    >;

    fn config() -> PageConfig {
        PageConfig::new(
            "https://app.example.com",
            "https://js.stripe.com/v3/",
            "https://api.stripe.com",
        )
    }

    /// `tenant-a` (with a publishable key when `publishable`) and `tenant-b`, and an open payment of
    /// `tenant-a` over 10.00 EUR: the service and the payment's transaction id.
    async fn service(publishable: bool) -> (Service, String) {
        let tenants = memory_directory(&["tenant-a", "tenant-b"]).await;
        if publishable {
            let mut record = tenants.records().get_tenant("tenant-a").await.unwrap().unwrap();
            let version = record.version;
            record
                .settings
                .insert(STRIPE_PUBLISHABLE_KEY.into(), json!("pk_test_a"));
            record.version += 1;
            tenants.records().put_tenant(&record, Some(version)).await.unwrap();
        }
        let commands: MemoryCommandService = memory_service();
        let amount = Money::new(1000, Currency::parse("EUR").unwrap());
        let request = CreatePayment {
            amount,
            method: PaymentMethod::Card,
            metadata: Default::default(),
            idempotency_key: "create-1".into(),
        };
        let intent = commands.gateway.create_payment("tenant-a", &request).await.unwrap();
        let payment = Payment::new(
            "tenant-a".into(),
            "tx-1".into(),
            Some("DE--1".into()),
            intent.id,
            amount,
            "2026-01-01 00:00:00",
        );
        commands.store.insert_payment(&payment).await.unwrap();
        (PaymentPageService { commands, tenants }, payment.transaction_id)
    }

    /// The sample event (`events/payment-page.json`) for `path` with `query`.
    fn request(path: &str, query: &[(&str, &str)]) -> Request {
        let fixture = format!("{}/../events/payment-page.json", env!("CARGO_MANIFEST_DIR"));
        let mut event: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
        let params: serde_json::Map<String, Value> = query.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        event["rawQueryString"] = json!(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish()
        );
        event["queryStringParameters"] = Value::Object(params);
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn text(response: &Response<Body>) -> String {
        String::from_utf8(response.body().to_vec()).unwrap()
    }

    fn header<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
        response.headers()[name].to_str().unwrap()
    }

    #[tokio::test]
    async fn the_page_shows_the_total_and_carries_the_client_secret_under_a_nonce() {
        let (service, tx) = service(true).await;
        let query = [("transactionId", tx.as_str()), ("tenantIdentifier", "tenant-a")];
        let response = handle(&service, &config(), request(PAGE_ROUTE, &query)).await.unwrap();
        assert_eq!(response.status(), 200);
        let html = text(&response);
        assert!(html.contains("<strong id=\"total\">10.00 EUR</strong>"), "{html}");
        assert!(html.contains("pi_mem_1_secret") && html.contains("pk_test_a"));
        assert!(html.contains("https://app.example.com/app-payment/redirect?transactionId=tx-1"));
        let csp = header(&response, "content-security-policy");
        let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).unwrap();
        assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
        assert!(csp.contains("https://js.stripe.com") && csp.contains("https://hooks.stripe.com"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(header(&response, "cache-control"), "no-store");
        assert_eq!(header(&response, "referrer-policy"), "no-referrer");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    }

    #[tokio::test]
    async fn bad_foreign_and_unservable_links_get_error_pages_without_secrets() {
        let (service, tx) = service(false).await;
        let cases = [
            (vec![("transactionId", tx.as_str())], 400),
            (
                vec![("transactionId", tx.as_str()), ("tenantIdentifier", "tenant-b")],
                404,
            ),
            (
                vec![("transactionId", "unknown"), ("tenantIdentifier", "tenant-a")],
                404,
            ),
            // No publishable key: the page cannot be built; the shopper reads no internal detail.
            (
                vec![("transactionId", tx.as_str()), ("tenantIdentifier", "tenant-a")],
                503,
            ),
        ];
        for (query, status) in cases {
            let response = handle(&service, &config(), request(PAGE_ROUTE, &query)).await.unwrap();
            assert_eq!(response.status(), status, "{query:?}");
            let html = text(&response);
            assert!(!html.contains("_secret") && !html.contains("publishable"), "{html}");
            assert!(header(&response, "content-security-policy").contains("script-src 'none'"));
            assert_eq!(header(&response, "cache-control"), "no-store");
        }
    }

    #[tokio::test]
    async fn cancel_sends_the_shopper_back_and_a_finished_payment_gets_409() {
        let (service, tx) = service(true).await;
        let query = [("transactionId", tx.as_str()), ("tenantIdentifier", "tenant-a")];
        let response = handle(&service, &config(), request(CANCEL_ROUTE, &query))
            .await
            .unwrap();
        // No cancel URL stored: a short page says what happened.
        assert_eq!(response.status(), 200);
        assert!(text(&response).contains("canceled"));
        let page = handle(&service, &config(), request(PAGE_ROUTE, &query)).await.unwrap();
        assert_eq!(page.status(), 409);
        let names: Vec<String> = service
            .commands
            .publisher
            .published()
            .into_iter()
            .map(|e| e.detail_type)
            .collect();
        assert_eq!(names, ["PaymentUpdated", "PaymentAuthorizationFailed"]);
    }
}
