//! A running local stack (`infra/local/stack up`), found through `.local/stack.json`: its AWS endpoint,
//! queues, bus, table and Stripe stand-in, a way to watch its bus like a tenant does, its HTTP API as
//! Spryker calls it (with the stack's bearer token), and Stripe's side of its webhooks.

use aws_sdk_eventbridge::types::Target;
use local_stack::stack_file::{StackFile, Webhooks};
use serde_json::{Value, json};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::stripe::webhook::signature_header;
use shared::adapters::stripe::{StaticApiKey, StripeGateway, Timeouts};
use shared::ports::PaymentStore;
use std::path::{Path, PathBuf};

use crate::aws::unique_name;
use crate::sqs_source::queue_arn;
use crate::stripe_customer::{LOCALSTRIPE_API_KEY, StripeCustomer};

/// An order's hosted checkout: its payment, the payment page initialize-payment answered, and where
/// the shop wants the shopper back.
#[derive(Clone, Debug)]
pub struct Checkout {
    /// The payment's transaction id.
    pub transaction_id: String,
    /// initialize-payment's `redirectUrl`: the app's payment page.
    pub redirect_url: String,
    /// The shop's `redirectSuccessUrl`.
    pub success_url: String,
    /// The shop's `redirectCancelUrl`.
    pub cancel_url: String,
}

/// A running stack: its `.local/stack.json` (the runner's own [`StackFile`], so the file has one
/// definition), with what the demo and the tests do with it.
#[derive(Clone, Debug)]
pub struct StackInfo(pub StackFile);

impl std::ops::Deref for StackInfo {
    type Target = StackFile;
    fn deref(&self) -> &StackFile {
        &self.0
    }
}

impl StackInfo {
    /// Reads stack.json at `path`.
    pub fn read(path: &Path) -> Result<StackInfo, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map(StackInfo)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The running stack named by `LOCAL_STACK_JSON`, else `.local/stack.json` at the repo root. Panics
    /// with instructions when the stack is not up: these tests never pass by skipping.
    pub fn running() -> StackInfo {
        let path = std::env::var_os("LOCAL_STACK_JSON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.local/stack.json"));
        StackInfo::read(&path).unwrap_or_else(|e| {
            panic!("the local stack is not up ({e}): run `infra/local/stack up` first (infra/local/test does)")
        })
    }

    /// SDK configuration for the stack's moto.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.aws_endpoint_url)
            .region(aws_config::Region::new(self.region.clone()))
            .test_credentials()
            .load()
            .await
    }

    /// The command queue of `command`.
    pub fn queue(&self, command: &str) -> &str {
        self.command_queues
            .get(command)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {command} queue"))
    }

    /// A rule on the app's bus (its source) into a new queue of the caller: where the app's messages show.
    /// Returns (rule name, queue URL).
    pub async fn watch_bus(&self, aws: &aws_config::SdkConfig) -> (String, String) {
        self.watch_bus_matching(aws, json!({"source": [self.app_identifier]}))
            .await
    }

    /// Like [`StackInfo::watch_bus`], for the messages named `names` only.
    pub async fn watch_messages(&self, aws: &aws_config::SdkConfig, names: &[&str]) -> (String, String) {
        self.watch_bus_matching(aws, json!({"source": [self.app_identifier], "detail-type": names}))
            .await
    }

    async fn watch_bus_matching(&self, aws: &aws_config::SdkConfig, pattern: Value) -> (String, String) {
        let sqs = aws_sdk_sqs::Client::new(aws);
        let eb = aws_sdk_eventbridge::Client::new(aws);
        let queue = crate::aws::create_queue(&sqs, "watch").await;
        let rule = unique_name("watch");
        eb.put_rule()
            .name(&rule)
            .event_bus_name(&self.bus_name)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("rule");
        let target = Target::builder()
            .id("watch")
            .arn(queue_arn(&sqs, &queue).await)
            .build()
            .expect("target");
        eb.put_targets()
            .rule(&rule)
            .event_bus_name(&self.bus_name)
            .targets(target)
            .send()
            .await
            .expect("target");
        (rule, queue)
    }

    /// Removes a rule made by [`StackInfo::watch_bus`].
    pub async fn unwatch_bus(&self, aws: &aws_config::SdkConfig, rule: &str) {
        let eb = aws_sdk_eventbridge::Client::new(aws);
        eb.remove_targets()
            .rule(rule)
            .event_bus_name(&self.bus_name)
            .ids("watch")
            .send()
            .await
            .expect("targets");
        eb.delete_rule()
            .name(rule)
            .event_bus_name(&self.bus_name)
            .send()
            .await
            .expect("rule");
    }

    /// The Stripe account the app created for `merchant` of `tenant`, from its stored onboarding.
    pub async fn merchant_account(&self, aws: &aws_config::SdkConfig, tenant: &str, merchant: &str) -> String {
        use shared::ports::OnboardingStore;
        let onboarding = self.store(aws).get_onboarding(tenant, merchant).await.expect("read");
        onboarding.expect("the merchant's onboarding is stored").account_id
    }

    /// The app's payment store: where tests with tenants of their own (who have no webhook secrets, so
    /// nothing can authorize their payments) seed authorized orders.
    pub fn store(&self, aws: &aws_config::SdkConfig) -> DynamoStore {
        let table = self
            .tables
            .get("PaymentsTable")
            .expect("stack.json lists the PaymentsTable");
        DynamoStore::new(aws_sdk_dynamodb::Client::new(aws), table)
    }

    /// Stripe (localstripe) as the app sees it, and the shop's customer at it.
    pub fn stripe(&self) -> (StripeGateway<StaticApiKey>, StripeCustomer) {
        let key = StaticApiKey::new(LOCALSTRIPE_API_KEY.to_string().into());
        let gateway = StripeGateway::new(&self.stripe_base_url, key, Timeouts::default()).expect("stripe gateway");
        (gateway, StripeCustomer::new(&self.stripe_base_url, LOCALSTRIPE_API_KEY))
    }

    /// The token the stack's HTTP API takes on its /private routes (stack.json `bearer_token`): the one
    /// place the demo and the tests get it.
    pub fn bearer_token(&self) -> &str {
        self.0
            .bearer_token
            .as_deref()
            .expect("stack.json has a bearer_token (the template's /private routes have a JWT authorizer)")
    }

    /// A token of `tenant`'s shop from the stack's token endpoint (stack.json `token_url`): the app
    /// serves it for that tenant only.
    pub async fn tenant_token(&self, tenant: &str) -> String {
        let url = self.0.token_url.as_deref().expect("stack.json has a token_url");
        let url = reqwest::Url::parse_with_params(url, [("tenant", tenant)]).expect("token_url is a URL");
        let answer: Value = reqwest::Client::new()
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("the token endpoint answers")
            .json()
            .await
            .expect("a JSON token answer");
        answer["access_token"].as_str().expect("an access_token").to_string()
    }

    /// The tenant whose Stripe webhooks the stack accepts, with its secrets (stack.json `webhooks`): the
    /// one place the demo and the tests get them.
    pub fn webhooks(&self) -> &Webhooks {
        self.0
            .webhooks
            .as_ref()
            .expect("stack.json has webhooks (infra/local/parameters.json names a LocalTenant)")
    }

    /// A request to a /private route as Spryker makes it: `x-tenant-identifier: tenant` and `token` as
    /// the bearer token (none: no Authorization header).
    pub fn private_request(&self, path: &str, tenant: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let request = reqwest::Client::new()
            .post(format!("{}{path}", self.http_base_url))
            .header("x-tenant-identifier", tenant);
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Calls a /private route with a JSON `body` (see [`StackInfo::private_request`]). Returns the
    /// status and the answer's text.
    pub async fn call_private(&self, path: &str, tenant: &str, token: Option<&str>, body: &Value) -> (u16, String) {
        let response = self
            .private_request(path, tenant, token)
            .json(body)
            .send()
            .await
            .expect("the stack's HTTP API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("answer body");
        functions::openapi::checked(path, status, &text);
        (status, text)
    }

    /// `POST /private/initialize-payment` with the stack's token for a new order of `tenant` over
    /// `amount` EUR cents with `items` (sales order item ids); returns the payment's transaction id.
    pub async fn initialize_payment(&self, tenant: &str, order: &str, amount: i64, items: &[i64]) -> String {
        self.checkout(tenant, order, amount, items).await.transaction_id
    }

    /// The hosted checkout of a new order, as Spryker starts it: initialize-payment with the shop's
    /// return URLs (pages of the stack's own HTTP API, which answer 404: enough for a browser to land on).
    pub async fn checkout(&self, tenant: &str, order: &str, amount: i64, items: &[i64]) -> Checkout {
        self.checkout_with(tenant, order, amount, items, "Credit Card").await
    }

    /// [`StackInfo::checkout`] of an order paid with Spryker's payment method `method`.
    pub async fn checkout_with(&self, tenant: &str, order: &str, amount: i64, items: &[i64], method: &str) -> Checkout {
        let shop = format!("{}/shop", self.http_base_url);
        let success_url = format!("{shop}/payment/order-success");
        let cancel_url = format!("{shop}/payment/order-cancel?orderReference={order}");
        let lines: Vec<Value> = items.iter().map(|i| json!({"idSalesOrderItem": i})).collect();
        let body = json!({"orderData": {"orderReference": order, "currencyCode": "EUR", "grandTotal": amount,
                                        "paymentMethodName": method, "items": lines},
                          "redirectSuccessUrl": success_url, "redirectCancelUrl": cancel_url,
                          "checkoutSummaryPageUrl": format!("{shop}/checkout/summary")});
        let answer = self.initialize(tenant, &body).await;
        let text = |key: &str| {
            answer[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key}: {answer}"))
                .to_string()
        };
        Checkout {
            transaction_id: text("transactionId"),
            redirect_url: text("redirectUrl"),
            success_url,
            cancel_url,
        }
    }

    /// `POST /private/initialize-payment` of `body` for `tenant` with the stack's token; panics unless
    /// answered 200. Returns the answer.
    pub async fn initialize(&self, tenant: &str, body: &Value) -> Value {
        let token = self.bearer_token();
        let (status, answer) = self
            .call_private("/private/initialize-payment", tenant, Some(token), body)
            .await;
        assert_eq!(status, 200, "initialize-payment: {answer}");
        serde_json::from_str(&answer).expect("JSON answer")
    }

    /// The PaymentIntent of `order`. The customer's browser learns it from the app's payment page
    /// (`redirectUrl`); the local stack serves no such page, so the app's record is read instead.
    pub async fn intent_of_order(&self, aws: &aws_config::SdkConfig, tenant: &str, order: &str) -> String {
        let payment = self
            .store(aws)
            .find_payment_by_order(tenant, order)
            .await
            .expect("read the payment");
        payment
            .unwrap_or_else(|| panic!("no payment for {order}"))
            .psp_reference
    }

    /// A PaymentIntent as localstripe has it now.
    pub async fn stripe_intent(&self, intent: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/payment_intents/{intent}", self.stripe_base_url))
            .bearer_auth(LOCALSTRIPE_API_KEY)
            .send()
            .await
            .expect("localstripe answers");
        response.json().await.expect("PaymentIntent JSON")
    }

    /// A Stripe event of `event_type` about `intent` as localstripe has it now, with its `status` set to
    /// `status`: what Stripe would send for the events localstripe never sends (it only sends
    /// `payment_intent.succeeded` and `payment_intent.payment_failed`).
    pub async fn stripe_event(&self, event_type: &str, intent: &str, status: &str) -> String {
        let mut object = self.stripe_intent(intent).await;
        object["status"] = json!(status);
        json!({"id": crate::aws::unique_name("evt"), "object": "event", "type": event_type,
               "created": now(), "livemode": false, "api_version": "2024-06-20",
               "data": {"object": object}})
        .to_string()
    }

    /// The customer pays `order`'s PaymentIntent with a test card that works (localstripe then has it
    /// `requires_capture`). Returns the PaymentIntent.
    pub async fn pay(&self, aws: &aws_config::SdkConfig, tenant: &str, order: &str) -> String {
        let intent = self.intent_of_order(aws, tenant, order).await;
        let (_, customer) = self.stripe();
        customer.authorize(&intent).await.expect("the customer pays");
        intent
    }

    /// Stripe reports the authorization of `intent` to the app: `payment_intent.amount_capturable_updated`,
    /// signed with the tenant's secret and posted to its webhook route by this function acting as Stripe,
    /// since localstripe never sends that event. Panics unless the route acknowledges it.
    pub async fn report_authorization(&self, tenant: &str, intent: &str) {
        let event = self
            .stripe_event("payment_intent.amount_capturable_updated", intent, "requires_capture")
            .await;
        let status = self.deliver_signed(tenant, "payment-intents", &event).await;
        assert_eq!(status, 200, "the authorization webhook was not acknowledged");
    }

    /// [`StackInfo::pay`], then [`StackInfo::report_authorization`]. Returns the PaymentIntent.
    pub async fn pay_and_report_authorization(&self, aws: &aws_config::SdkConfig, tenant: &str, order: &str) -> String {
        let intent = self.pay(aws, tenant, order).await;
        self.report_authorization(tenant, &intent).await;
        intent
    }

    /// A `Stripe-Signature` header for `body` now, with the webhook tenant's current secret.
    pub fn sign(&self, body: &str) -> String {
        let secret = self.webhooks().secrets.first().expect("a webhook secret");
        signature_header(&[secret], now(), body.as_bytes())
    }

    /// Delivers `body` to `route_tenant`'s route of `kind`, signed now with the webhook tenant's secret.
    pub async fn deliver_signed(&self, route_tenant: &str, kind: &str, body: &str) -> u16 {
        self.post_webhook(route_tenant, kind, &self.sign(body), body).await
    }

    /// Delivers a webhook as Stripe does: `body` with `signature` to `route_tenant`'s route of `kind`
    /// (`payment-intents` or `refunds`). Returns the HTTP status.
    pub async fn post_webhook(&self, route_tenant: &str, kind: &str, signature: &str, body: &str) -> u16 {
        self.post_webhook_answer(route_tenant, kind, signature, body).await.0
    }

    /// Like [`StackInfo::post_webhook`], with the JSON answer (`Null` when there is none).
    pub async fn post_webhook_answer(
        &self,
        route_tenant: &str,
        kind: &str,
        signature: &str,
        body: &str,
    ) -> (u16, Value) {
        let url = format!("{}/webhooks/stripe/{route_tenant}/{kind}", self.http_base_url);
        let route = format!("/webhooks/stripe/{{tenantIdentifier}}/{kind}");
        let response = reqwest::Client::new()
            .post(url)
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("the stack's HTTP API answers");
        crate::http_answer::conforming(&route, response).await
    }
}

/// Now, in Unix seconds.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
