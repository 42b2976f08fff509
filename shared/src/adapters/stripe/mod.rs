//! Stripe as the [`PaymentGateway`]: PaymentIntents with manual capture, captures, cancellations and
//! refunds over Stripe's form-encoded REST API (https://docs.stripe.com/api).
//!
//! Hyperswitch connector style: this module does HTTP, [`transformers`] holds Stripe's wire types and
//! the one exhaustive status mapping per object. Every mutating call sends the caller's
//! `Idempotency-Key` unchanged, so a retry after an unknown outcome replays Stripe's saved answer
//! (reliability §1.1). API keys are fetched per tenant through [`ApiKeys`] and never logged. [`connect`]
//! adds the merchants' Connect accounts (onboarding) on the same HTTP plumbing.

mod bank_transfer;
pub mod connect;
mod currency;
mod customer;
mod transfers;
mod transformers;
pub mod webhook;

use crate::domain::{Money, PaymentMethod};
use crate::metrics;
use crate::ports::gateway::{
    CreatePayment, KeyCheck, KeyCheckError, ORDER_REFERENCE, PaymentGateway, PspError, PspPaymentIntent, PspRefund,
};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};
use transformers::{Form, StripeList, StripePaymentIntent, StripeRefund};

/// The Stripe API version every call pins (`Stripe-Version`), so an account's default version never
/// changes what the app reads: `latest_charge`, refund events for every refund, multicapture.
pub const STRIPE_API_VERSION: &str = "2024-10-28.acacia";

/// The longest `Retry-After` the adapter waits before reporting a throttled call (the retry follows).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Where a tenant's Stripe secret key comes from, and whether its account runs a marketplace.
pub trait ApiKeys: Send + Sync {
    /// The secret key (`sk_…`) of `tenant`'s Stripe account.
    fn api_key(&self, tenant: &str) -> impl Future<Output = Result<SecretString, PspError>> + Send;

    /// Whether `tenant` runs a marketplace (`isMarketplace`): its PaymentIntents carry their order as
    /// `transfer_group`, the group its merchants' payouts join.
    fn is_marketplace(&self, tenant: &str) -> impl Future<Output = Result<bool, PspError>> + Send;
}

/// One key for every tenant: only for tests that talk to a PSP stand-in directly (feature
/// `test-support`). The functions get each tenant's own key from the tenant directory.
#[cfg(any(test, feature = "test-support"))]
#[derive(Clone, Debug)]
pub struct StaticApiKey {
    key: SecretString,
    marketplace: bool,
}

#[cfg(any(test, feature = "test-support"))]
impl StaticApiKey {
    /// Wraps `key`, of a tenant without a marketplace.
    pub fn new(key: SecretString) -> Self {
        StaticApiKey {
            key,
            marketplace: false,
        }
    }

    /// Wraps `key`, of a marketplace tenant.
    pub fn marketplace(key: SecretString) -> Self {
        StaticApiKey { key, marketplace: true }
    }
}

#[cfg(any(test, feature = "test-support"))]
impl ApiKeys for StaticApiKey {
    async fn api_key(&self, _tenant: &str) -> Result<SecretString, PspError> {
        Ok(self.key.clone())
    }

    async fn is_marketplace(&self, _tenant: &str) -> Result<bool, PspError> {
        Ok(self.marketplace)
    }
}

/// HTTP timeouts towards Stripe. A timeout is an unknown outcome, never a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to establish the TCP/TLS connection.
    pub connect: Duration,
    /// Time for the whole request, from sending to the last byte of the answer.
    pub request: Duration,
}

impl Default for Timeouts {
    /// 3 s to connect, 20 s per request: well under a Lambda's timeout, above Stripe's usual latency.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            request: Duration::from_secs(20),
        }
    }
}

/// Why a [`StripeGateway`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StripeConfigError {
    /// The base URL is not an absolute `http(s)` URL.
    #[error("invalid Stripe base URL {0:?}")]
    BaseUrl(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The Stripe adapter. Build it once per cold start; it holds one connection-pooling HTTP client.
pub struct StripeGateway<K: ApiKeys> {
    base_url: Url,
    keys: K,
    client: reqwest::Client,
}

impl<K: ApiKeys> StripeGateway<K> {
    /// A gateway talking to `base_url` (`https://api.stripe.com`, or a local stand-in such as
    /// `http://127.0.0.1:8420`), authenticating each call with the tenant's key from `keys`.
    pub fn new(base_url: &str, keys: K, timeouts: Timeouts) -> Result<Self, StripeConfigError> {
        let base_url = Url::parse(base_url)
            .ok()
            .filter(|url| !url.cannot_be_a_base() && matches!(url.scheme(), "http" | "https"))
            .ok_or_else(|| StripeConfigError::BaseUrl(base_url.to_string()))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::adapters::tls::rustls_client_config())
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .build()?;
        Ok(StripeGateway { base_url, keys, client })
    }

    /// The URL of `segments` under the base, each segment percent-encoded (ids cannot change the path).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        // The constructor refused cannot-be-a-base URLs, the only case where this is `Err`.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A request to `url` authenticated with `key`, on the pinned API version.
    fn request(&self, method: Method, url: Url, key: &SecretString) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .bearer_auth(key.expose_secret())
            .header("Stripe-Version", STRIPE_API_VERSION)
    }

    /// `POST /v1/payment_intents/{id}` with `form` (fields to change; naturally idempotent, no key).
    async fn update_intent(
        &self,
        tenant: &str,
        psp_reference: &str,
        form: &Form,
    ) -> Result<StripePaymentIntent, PspError> {
        self.send::<StripePaymentIntent>(
            tenant,
            Method::POST,
            &["v1", "payment_intents", psp_reference],
            Some(form),
            None,
        )
        .await
    }

    /// The `transfer_group` of a payment with `metadata`: its order, when it has one and the tenant runs
    /// a marketplace (the payouts of `/private/payments/transfers` join the same group).
    async fn transfer_group<'m>(
        &self,
        tenant: &str,
        metadata: &'m BTreeMap<String, String>,
    ) -> Result<Option<&'m str>, PspError> {
        let Some(order) = metadata.get(ORDER_REFERENCE) else {
            return Ok(None);
        };
        Ok(self.keys.is_marketplace(tenant).await?.then_some(order.as_str()))
    }

    /// Sends one request and decodes a 2xx body as `T`; anything else is classified into a [`PspError`].
    async fn send<T: DeserializeOwned>(
        &self,
        tenant: &str,
        method: Method,
        segments: &[&str],
        form: Option<&Form>,
        idempotency_key: Option<&str>,
    ) -> Result<T, PspError> {
        self.send_to(tenant, method, self.url(segments), form, idempotency_key)
            .await
    }

    /// [`Self::send`] to a complete URL (one with a query).
    async fn send_to<T: DeserializeOwned>(
        &self,
        tenant: &str,
        method: Method,
        url: Url,
        form: Option<&Form>,
        idempotency_key: Option<&str>,
    ) -> Result<T, PspError> {
        let key = self.keys.api_key(tenant).await?;
        // `/v1/{collection}/{id}...`: the request names one object.
        let named_object = url
            .path_segments()
            .is_some_and(|s| s.skip_while(|p| *p != "v1").filter(|p| !p.is_empty()).count() >= 3);
        let operation = operation(&method, &url);
        let mut request = self.request(method, url, &key);
        if let Some(form) = form {
            request = request.form(form);
        }
        if let Some(idempotency_key) = idempotency_key {
            request = request.header("Idempotency-Key", idempotency_key);
        }
        let started = Instant::now();
        let (result, retry_after) = exchange(request, named_object).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(PspError::Declined { .. }) => "declined",
            Err(PspError::Unknown(_)) => "unknown",
        };
        metrics::psp_call(&operation, outcome, started.elapsed());
        if let (Err(PspError::Unknown(_)), Some(wait)) = (&result, retry_after) {
            // Stripe said when to come back: the caller's retry comes no earlier.
            tokio::time::sleep(wait).await;
        }
        result
    }
}

/// Sends `request` and decodes a 2xx body as `T`; anything else is classified into a [`PspError`], with
/// the wait Stripe asked for (`Retry-After`) when it gave one.
async fn exchange<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    named_object: bool,
) -> (Result<T, PspError>, Option<Duration>) {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (Err(transport_error(e)), None),
    };
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let should_retry = header("Stripe-Should-Retry").map(|v| v == "true");
    let retry_after = header("Retry-After")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(e) => return (Err(transport_error(e)), None),
    };
    if !status.is_success() {
        return (
            Err(transformers::classify_error(status, should_retry, named_object, &body)),
            retry_after,
        );
    }
    // Never the serde error's text: it may quote the body's values.
    let decoded = crate::json::from_slice(&body)
        .map_err(|e| PspError::Unknown(format!("unreadable Stripe answer (HTTP {status}): {e}")));
    (decoded, None)
}

/// A request's name in the PSP metrics: the object's collection and what is done to it
/// (`payment_intents.capture`, `refunds.create`, `payment_intents.retrieve`); never an object's id.
fn operation(method: &Method, url: &Url) -> String {
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.skip_while(|p| *p != "v1").skip(1).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let collection = segments.first().copied().unwrap_or("unknown");
    let action = match (segments.get(2), segments.len(), *method == Method::GET) {
        (Some(action), _, _) => action,
        (None, 1, true) => "list",
        (None, 1, false) => "create",
        (None, _, true) => "retrieve",
        (None, _, false) => "update",
    };
    format!("{collection}.{action}")
}

/// A timeout or connection failure: the request may or may not have reached Stripe.
fn transport_error(error: reqwest::Error) -> PspError {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "transport error"
    };
    PspError::Unknown(format!("{kind} talking to Stripe: {error}"))
}

/// `GET /v1/account`, the one read every secret key may make: 401 means Stripe refuses the key. A
/// restricted key (`rk_…`) without the account read permission gets 403: it is accepted (with a warning),
/// since the calls the app makes may still be allowed.
impl<K: ApiKeys> KeyCheck for StripeGateway<K> {
    async fn check_key(&self, key: &SecretString) -> Result<(), KeyCheckError> {
        let response = self
            .request(Method::GET, self.url(&["v1", "account"]), key)
            .send()
            .await
            .map_err(|e| KeyCheckError::Unavailable(transport_error(e).to_string()))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            reqwest::StatusCode::UNAUTHORIZED => Err(KeyCheckError::Refused(
                "Stripe refuses the secret key (401 Unauthorized): it is mistyped, rolled or revoked".into(),
            )),
            reqwest::StatusCode::FORBIDDEN => {
                tracing::warn!("the Stripe key may not read its account (403): accepted, restricted keys may");
                Ok(())
            }
            status => Err(KeyCheckError::Unavailable(format!("Stripe answered HTTP {status}"))),
        }
    }
}

impl<K: ApiKeys> PaymentGateway for StripeGateway<K> {
    async fn create_payment(&self, tenant: &str, request: &CreatePayment) -> Result<PspPaymentIntent, PspError> {
        let mut form = transformers::create_payment_form(request, currency::to_wire(request.amount)?);
        if let Some(group) = self.transfer_group(tenant, &request.metadata).await? {
            form.push(("transfer_group".to_string(), group.to_string()));
        }
        if request.method == PaymentMethod::BankTransfer {
            form.extend(self.bank_transfer_fields(tenant, request).await?);
        }
        self.send::<StripePaymentIntent>(
            tenant,
            Method::POST,
            &["v1", "payment_intents"],
            Some(&form),
            Some(&request.idempotency_key),
        )
        .await
        .map(Into::into)
    }

    async fn get_payment(&self, tenant: &str, psp_reference: &str) -> Result<PspPaymentIntent, PspError> {
        let mut url = self.url(&["v1", "payment_intents", psp_reference]);
        // The charge says what was captured and whether multicapture is available.
        url.query_pairs_mut().append_pair("expand[]", "latest_charge");
        self.send_to::<StripePaymentIntent>(tenant, Method::GET, url, None, None)
            .await
            .map(Into::into)
    }

    async fn update_metadata(
        &self,
        tenant: &str,
        psp_reference: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<PspPaymentIntent, PspError> {
        let intent = self
            .update_intent(tenant, psp_reference, &transformers::metadata_form(metadata))
            .await?;
        // A pre-order payment of a marketplace joins its order's group once it has an order. Stripe
        // sets a group once only, so a repeated confirmation leaves it be.
        match self.transfer_group(tenant, metadata).await? {
            Some(group) if intent.transfer_group().is_none() => {
                let form = vec![("transfer_group".to_string(), group.to_string())];
                self.update_intent(tenant, psp_reference, &form).await.map(Into::into)
            }
            Some(_) | None => Ok(intent.into()),
        }
    }

    async fn update_amount(
        &self,
        tenant: &str,
        psp_reference: &str,
        amount: Money,
    ) -> Result<PspPaymentIntent, PspError> {
        let form = vec![("amount".to_string(), currency::to_wire(amount)?.to_string())];
        self.update_intent(tenant, psp_reference, &form).await.map(Into::into)
    }

    async fn capture(
        &self,
        tenant: &str,
        psp_reference: &str,
        amount: Money,
        final_capture: bool,
        idempotency_key: &str,
    ) -> Result<PspPaymentIntent, PspError> {
        let form = transformers::capture_form(currency::to_wire(amount)?, final_capture);
        self.send::<StripePaymentIntent>(
            tenant,
            Method::POST,
            &["v1", "payment_intents", psp_reference, "capture"],
            Some(&form),
            Some(idempotency_key),
        )
        .await
        .map(Into::into)
    }

    async fn cancel(
        &self,
        tenant: &str,
        psp_reference: &str,
        idempotency_key: &str,
    ) -> Result<PspPaymentIntent, PspError> {
        // No `cancellation_reason`: localstripe rejects it.
        self.send::<StripePaymentIntent>(
            tenant,
            Method::POST,
            &["v1", "payment_intents", psp_reference, "cancel"],
            None,
            Some(idempotency_key),
        )
        .await
        .map(Into::into)
    }

    async fn find_refund(
        &self,
        tenant: &str,
        psp_reference: &str,
        key: &str,
        value: &str,
    ) -> Result<Option<PspRefund>, PspError> {
        // Refund metadata is not searchable at Stripe: the payment's refunds are listed, newest first.
        let mut starting_after: Option<String> = None;
        loop {
            let mut url = self.url(&["v1", "refunds"]);
            url.query_pairs_mut()
                .append_pair("payment_intent", psp_reference)
                .append_pair("limit", "100");
            if let Some(after) = &starting_after {
                url.query_pairs_mut().append_pair("starting_after", after);
            }
            let page: StripeList<StripeRefund> = self.send_to(tenant, Method::GET, url, None, None).await?;
            starting_after = page.data.last().map(|r| r.id().to_string());
            let more = page.has_more && starting_after.is_some();
            if let Some(found) = page.data.into_iter().find(|r| r.tagged(key, value)) {
                return Ok(Some(found.into()));
            }
            if !more {
                return Ok(None);
            }
        }
    }

    async fn refund(
        &self,
        tenant: &str,
        psp_reference: &str,
        amount: Money,
        idempotency_key: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<PspRefund, PspError> {
        let form = transformers::refund_form(psp_reference, currency::to_wire(amount)?, metadata);
        self.send::<StripeRefund>(
            tenant,
            Method::POST,
            &["v1", "refunds"],
            Some(&form),
            Some(idempotency_key),
        )
        .await
        .map(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, PaymentStatus, RefundStatus};
    use serde_json::json;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    pub(super) const KEY: &str = "sk_test_secret";

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap())
    }

    /// A gateway to `server` with `keys` and the default timeouts (also used by the other modules' tests).
    pub(super) fn gateway_with(server: &MockServer, keys: StaticApiKey) -> StripeGateway<StaticApiKey> {
        StripeGateway::new(&server.uri(), keys, Timeouts::default()).unwrap()
    }

    fn gateway(server: &MockServer) -> StripeGateway<StaticApiKey> {
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            request: Duration::from_millis(300),
        };
        StripeGateway::new(&server.uri(), StaticApiKey::new(KEY.into()), timeouts).unwrap()
    }

    fn intent_body(status: &str) -> serde_json::Value {
        json!({"id": "pi_123", "object": "payment_intent", "status": status, "amount": 1000, "currency": "eur",
               "client_secret": "pi_123_secret_x", "last_payment_error": null, "latest_charge": null})
    }

    /// The form fields of the only request the server received (also used by `connect`'s tests).
    pub(super) async fn form_of_single_request(server: &MockServer) -> Vec<(String, String)> {
        let mut forms = forms_of_requests(server).await;
        assert_eq!(forms.len(), 1);
        forms.remove(0)
    }

    /// Owned form pairs.
    pub(super) fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[tokio::test]
    async fn create_payment_posts_a_manual_capture_intent_with_key_and_metadata() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(header("idempotency-key", "create:t1:p1"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .respond_with(ResponseTemplate::new(200).set_body_json(intent_body("requires_payment_method")))
            .expect(1)
            .mount(&server)
            .await;
        let request = CreatePayment {
            amount: Money::new(1000, Currency::parse("EUR").unwrap()),
            method: PaymentMethod::Card,
            metadata: BTreeMap::from([
                ("orderReference".to_string(), "DE--1".to_string()),
                ("tenantIdentifier".to_string(), "t1".to_string()),
            ]),
            idempotency_key: "create:t1:p1".into(),
        };
        let intent = gateway(&server).create_payment("t1", &request).await.unwrap();
        assert_eq!(
            intent,
            PspPaymentIntent {
                id: "pi_123".into(),
                status: PaymentStatus::New,
                amount: 1000,
                amount_captured: 0,
                currency: "EUR".into(),
                client_secret: Some("pi_123_secret_x".into()),
                processing: false,
                decline: None,
                multicapture: false,
                customer: None,
            }
        );
        assert_eq!(
            form_of_single_request(&server).await,
            pairs(&[
                ("amount", "1000"),
                ("currency", "eur"),
                ("payment_method_types[0]", "card"),
                ("capture_method", "manual"),
                ("payment_method_options[card][request_multicapture]", "if_available"),
                ("metadata[orderReference]", "DE--1"),
                ("metadata[tenantIdentifier]", "t1"),
            ])
        );
    }

    fn with(mut body: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    }

    #[tokio::test]
    async fn update_metadata_posts_only_the_metadata_and_reads_the_status() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents/pi_123"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(intent_body("requires_capture")))
            .expect(1)
            .mount(&server)
            .await;
        let metadata = BTreeMap::from([("orderReference".to_string(), "DE--1".to_string())]);
        let intent = gateway(&server)
            .update_metadata("t1", "pi_123", &metadata)
            .await
            .unwrap();
        assert_eq!(intent.status, PaymentStatus::Authorized);
        assert_eq!(
            form_of_single_request(&server).await,
            pairs(&[("metadata[orderReference]", "DE--1")])
        );
    }

    /// The fields of a form-encoded request body (also used by `transfers`' tests).
    pub(super) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body).into_owned().collect()
    }

    /// The form fields of every request the server received, in order.
    pub(super) async fn forms_of_requests(server: &MockServer) -> Vec<Vec<(String, String)>> {
        let requests = server.received_requests().await.unwrap();
        requests.iter().map(|r| form_fields(&r.body)).collect()
    }

    #[tokio::test]
    async fn a_marketplace_payment_joins_its_orders_transfer_group() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents"))
            .respond_with(ResponseTemplate::new(200).set_body_json(intent_body("requires_payment_method")))
            .mount(&server)
            .await;
        let marketplace = gateway_with(&server, StaticApiKey::marketplace(KEY.into()));
        let mut request = CreatePayment {
            amount: Money::new(1000, Currency::parse("EUR").unwrap()),
            method: PaymentMethod::Card,
            metadata: BTreeMap::from([("orderReference".to_string(), "DE--1".to_string())]),
            idempotency_key: "k1".into(),
        };
        marketplace.create_payment("t1", &request).await.unwrap();
        // A pre-order payment has no order yet: no group.
        request.metadata.clear();
        marketplace.create_payment("t1", &request).await.unwrap();
        // Nor does a shop without a marketplace group its payments.
        request.metadata.insert("orderReference".into(), "DE--2".into());
        gateway(&server).create_payment("t1", &request).await.unwrap();
        let group =
            |form: &Vec<(String, String)>| form.iter().find(|(k, _)| k == "transfer_group").map(|(_, v)| v.clone());
        let groups: Vec<Option<String>> = forms_of_requests(&server).await.iter().map(group).collect();
        assert_eq!(groups, [Some("DE--1".to_string()), None, None]);
    }

    #[tokio::test]
    async fn a_marketplace_pre_order_payment_joins_its_orders_group_once_confirmed() {
        let server = MockServer::start().await;
        let marketplace = gateway_with(&server, StaticApiKey::marketplace(KEY.into()));
        let metadata = BTreeMap::from([("orderReference".to_string(), "DE--1".to_string())]);
        // The metadata update answers an intent without a group: the group follows in a second update.
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents/pi_123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(intent_body("requires_capture")))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents/pi_123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(with(
                intent_body("requires_capture"),
                json!({"transfer_group": "DE--1"}),
            )))
            .mount(&server)
            .await;
        let intent = marketplace.update_metadata("t1", "pi_123", &metadata).await.unwrap();
        assert_eq!(intent.status, PaymentStatus::Authorized);
        assert_eq!(
            forms_of_requests(&server).await,
            [
                pairs(&[("metadata[orderReference]", "DE--1")]),
                pairs(&[("transfer_group", "DE--1")])
            ]
        );
        // Confirmed again: Stripe sets a group once, so the app does not send it again.
        marketplace.update_metadata("t1", "pi_123", &metadata).await.unwrap();
        assert_eq!(forms_of_requests(&server).await.len(), 3);
    }

    #[tokio::test]
    async fn capture_sends_the_amount_and_key_and_reads_the_captured_amount() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents/pi_123/capture"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(header("idempotency-key", "capture:1"))
            .and(header("stripe-version", STRIPE_API_VERSION))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(with(intent_body("succeeded"), json!({"amount_received": 600}))),
            )
            .expect(1)
            .mount(&server)
            .await;
        let intent = gateway(&server)
            .capture("t1", "pi_123", eur(600), true, "capture:1")
            .await
            .unwrap();
        assert_eq!((intent.status, intent.amount_captured), (PaymentStatus::Captured, 600));
        assert_eq!(
            form_of_single_request(&server).await,
            pairs(&[("amount_to_capture", "600"), ("expand[]", "latest_charge")])
        );
    }

    #[tokio::test]
    async fn a_shipment_of_a_multicapture_payment_is_captured_not_finally() {
        let server = MockServer::start().await;
        let charge = json!({"id": "ch_1", "amount_captured": 300,
            "payment_method_details": {"card": {"multicapture": {"status": "available"}}}});
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents/pi_123/capture"))
            .respond_with(ResponseTemplate::new(200).set_body_json(with(
                intent_body("requires_capture"),
                json!({"amount_received": 300, "latest_charge": charge}),
            )))
            .expect(1)
            .mount(&server)
            .await;
        let intent = gateway(&server)
            .capture("t1", "pi_123", eur(300), false, "capture:1")
            .await
            .unwrap();
        assert_eq!(
            (intent.status, intent.amount_captured, intent.multicapture),
            (PaymentStatus::Authorized, 300, true)
        );
        assert_eq!(
            form_of_single_request(&server).await,
            pairs(&[
                ("amount_to_capture", "300"),
                ("expand[]", "latest_charge"),
                ("final_capture", "false")
            ])
        );
    }

    #[tokio::test]
    async fn a_key_is_checked_by_reading_its_account() {
        let answers = [
            (200, Ok(())),
            // A restricted key that may not read its account.
            (403, Ok(())),
            (401, Err("refused")),
            (500, Err("unavailable")),
        ];
        for (status, expected) in answers {
            let server = MockServer::start().await;
            Mock::given(method("GET"))
                .and(path("/v1/account"))
                .and(header("authorization", "Bearer sk_test_new"))
                .and(header("stripe-version", STRIPE_API_VERSION))
                .respond_with(ResponseTemplate::new(status).set_body_json(json!({"id": "acct_1"})))
                .expect(1)
                .mount(&server)
                .await;
            let checked = gateway(&server).check_key(&SecretString::from("sk_test_new")).await;
            let kind = checked.map_err(|e| match e {
                KeyCheckError::Refused(why) => {
                    assert!(why.contains("401"), "{why}");
                    "refused"
                }
                KeyCheckError::Unavailable(_) => "unavailable",
            });
            assert_eq!(kind, expected, "HTTP {status}");
        }
    }

    #[tokio::test]
    async fn a_throttled_call_waits_what_stripe_asks_and_stays_unknown() {
        let throttled = ResponseTemplate::new(429)
            .insert_header("Retry-After", "1")
            .set_body_json(json!({"error": {"type": "invalid_request_error", "code": "lock_timeout"}}));
        let started = std::time::Instant::now();
        let error = capture_error(throttled).await;
        assert!(matches!(error, PspError::Unknown(_)), "{error:?}");
        assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After honoured");
    }

    #[tokio::test]
    async fn cancel_sends_no_reason_and_get_sends_no_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents/pi_123/cancel"))
            .and(header("idempotency-key", "cancel:1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(intent_body("canceled")))
            .expect(1)
            .mount(&server)
            .await;
        let intent = gateway(&server).cancel("t1", "pi_123", "cancel:1").await.unwrap();
        assert_eq!(intent.status, PaymentStatus::Canceled);
        assert_eq!(form_of_single_request(&server).await, pairs(&[]));

        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(intent_body("requires_capture")))
            .expect(1)
            .mount(&server)
            .await;
        let intent = gateway(&server).get_payment("t1", "pi_123").await.unwrap();
        assert_eq!(intent.status, PaymentStatus::Authorized);
        let requests = server.received_requests().await.unwrap();
        assert!(requests[0].headers.get("idempotency-key").is_none());
    }

    #[tokio::test]
    async fn ids_cannot_escape_their_path_segment() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v1/payment_intents/pi_1%2Fcapture"))
            .respond_with(ResponseTemplate::new(200).set_body_json(intent_body("requires_capture")))
            .expect(1)
            .mount(&server)
            .await;
        gateway(&server).get_payment("t1", "pi_1/capture").await.unwrap();
    }

    #[tokio::test]
    async fn refund_posts_intent_amount_metadata_and_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/refunds"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .and(header("idempotency-key", "refund:r1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"id": "re_1", "object": "refund", "status": "pending", "amount": 300, "currency": "eur"}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        let metadata = BTreeMap::from([("refundId".to_string(), "r1".to_string())]);
        let refund = gateway(&server)
            .refund("t1", "pi_123", eur(300), "refund:r1", &metadata)
            .await
            .unwrap();
        assert_eq!(
            refund,
            PspRefund {
                id: "re_1".into(),
                status: RefundStatus::Pending,
                amount: 300
            }
        );
        assert_eq!(
            form_of_single_request(&server).await,
            pairs(&[
                ("payment_intent", "pi_123"),
                ("amount", "300"),
                ("metadata[refundId]", "r1")
            ])
        );
    }

    #[tokio::test]
    async fn a_refund_is_found_by_its_metadata_across_pages() {
        use wiremock::matchers::query_param;
        let server = MockServer::start().await;
        let refund = |id: &str, tag: &str| {
            json!({"id": id, "object": "refund", "status": "succeeded", "amount": 300,
                "payment_intent": "pi_123", "metadata": {"refundId": tag}})
        };
        Mock::given(method("GET"))
            .and(path("/v1/refunds"))
            .and(query_param("payment_intent", "pi_123"))
            .and(query_param("starting_after", "re_2"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"object": "list", "data": [refund("re_3", "mine")], "has_more": false})),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/refunds"))
            .and(query_param("payment_intent", "pi_123"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"object": "list",
                "data": [refund("re_1", "other"), refund("re_2", "other")], "has_more": true})))
            .mount(&server)
            .await;
        let gateway = gateway(&server);
        let found = gateway.find_refund("t1", "pi_123", "refundId", "mine").await.unwrap();
        assert_eq!(found.map(|r| r.id), Some("re_3".to_string()));
        let missing = gateway.find_refund("t1", "pi_123", "refundId", "gone").await.unwrap();
        assert_eq!(missing, None);
    }

    #[tokio::test]
    async fn amounts_stripe_would_refuse_are_declined_before_any_call_and_others_converted() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/payment_intents/pi_123/capture"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "pi_123", "object": "payment_intent", "status": "succeeded",
                "amount": 500, "amount_received": 500, "currency": "isk"})))
            .expect(1)
            .mount(&server)
            .await;
        let money = |minor, code| Money::new(minor, Currency::parse(code).unwrap());
        let gateway = gateway(&server);
        let refused = gateway
            .capture("t1", "pi_123", money(5124, "KWD"), true, "capture:1")
            .await
            .unwrap_err();
        assert!(matches!(refused, PspError::Declined { code, .. } if code == "amount_invalid_for_currency"));
        // 5 ISK (no decimals in ISO) is 500 at Stripe, and 500 from Stripe is 5 ISK again.
        let captured = gateway
            .capture("t1", "pi_123", money(5, "ISK"), true, "capture:2")
            .await
            .unwrap();
        assert_eq!((captured.amount, captured.amount_captured), (5, 5));
        assert_eq!(
            form_of_single_request(&server).await,
            pairs(&[("amount_to_capture", "500"), ("expand[]", "latest_charge")])
        );
    }

    /// The error a capture gets when Stripe answers with `response`.
    async fn capture_error(response: ResponseTemplate) -> PspError {
        let server = MockServer::start().await;
        Mock::given(method("POST")).respond_with(response).mount(&server).await;
        gateway(&server)
            .capture("t1", "pi_123", eur(600), true, "capture:1")
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn client_errors_are_declines_with_stripes_code() {
        let bad_request = capture_error(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "amount_too_large",
            "message": "Amount to capture is greater than the amount capturable."}})))
        .await;
        assert_eq!(
            bad_request,
            PspError::Declined {
                code: "amount_too_large".into(),
                message: "Amount to capture is greater than the amount capturable.".into()
            }
        );
        let card_declined = capture_error(ResponseTemplate::new(402).set_body_json(json!({"error": {
            "type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined."}})))
        .await;
        assert_eq!(
            card_declined,
            PspError::Declined {
                code: "card_declined".into(),
                message: "Your card was declined.".into()
            }
        );
        let unexpected_state = capture_error(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
            "message": "This PaymentIntent could not be captured because it has a status of canceled."}})))
        .await;
        assert!(
            matches!(unexpected_state, PspError::Declined { code, .. } if code == "payment_intent_unexpected_state")
        );
    }

    #[tokio::test]
    async fn refused_keys_missing_objects_and_retryable_answers_are_never_failures() {
        let retry = ResponseTemplate::new(400)
            .insert_header("Stripe-Should-Retry", "true")
            .set_body_json(json!({"error": {"type": "invalid_request_error", "message": "try again"}}));
        for response in [
            ResponseTemplate::new(401).set_body_json(json!({"error": {"type": "invalid_request_error",
                "message": "Invalid API Key provided: sk_test_****"}})),
            ResponseTemplate::new(403),
            ResponseTemplate::new(404).set_body_json(json!({"error": {"type": "invalid_request_error",
                "code": "resource_missing", "message": "No such payment_intent: 'pi_123'"}})),
            retry,
        ] {
            let error = capture_error(response).await;
            assert!(matches!(error, PspError::Unknown(_)), "{error:?}");
        }
    }

    #[tokio::test]
    async fn conflicts_rate_limits_server_errors_and_garbage_are_unknown() {
        let in_use =
            json!({"error": {"type": "idempotency_error", "code": "idempotency_key_in_use", "message": "in use"}});
        for response in [
            ResponseTemplate::new(409).set_body_json(in_use),
            ResponseTemplate::new(429)
                .set_body_json(json!({"error": {"type": "invalid_request_error", "code": "rate_limit"}})),
            ResponseTemplate::new(500).set_body_json(json!({"error": {"type": "api_error", "message": "oops"}})),
            ResponseTemplate::new(503),
            ResponseTemplate::new(200).set_body_string("<html>not json</html>"),
            ResponseTemplate::new(200).set_body_json(json!({"id": "pi_123", "status": "requires_source"})),
        ] {
            let error = capture_error(response).await;
            assert!(matches!(error, PspError::Unknown(_)), "{error:?}");
        }
    }

    #[tokio::test]
    async fn timeouts_and_refused_connections_are_unknown() {
        let slow = ResponseTemplate::new(200)
            .set_body_json(intent_body("succeeded"))
            .set_delay(Duration::from_secs(2));
        let error = capture_error(slow).await;
        assert!(
            matches!(&error, PspError::Unknown(m) if m.starts_with("timeout")),
            "{error:?}"
        );

        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let gateway = StripeGateway::new(
            &format!("http://127.0.0.1:{port}"),
            StaticApiKey::new(KEY.into()),
            Timeouts::default(),
        )
        .unwrap();
        let error = gateway.get_payment("t1", "pi_123").await.unwrap_err();
        assert!(matches!(error, PspError::Unknown(_)), "{error:?}");
    }

    #[test]
    fn errors_never_carry_the_key_and_bad_base_urls_are_refused() {
        let keys = StaticApiKey::new(KEY.into());
        assert!(!format!("{keys:?}").contains(KEY));
        assert!(matches!(
            StripeGateway::new("not a url", keys.clone(), Timeouts::default()),
            Err(StripeConfigError::BaseUrl(_))
        ));
        assert!(StripeGateway::new("mailto:x@y", keys, Timeouts::default()).is_err());
    }
}
