//! The customer's side of a payment at localstripe: what the shop's frontend does with Stripe.js in
//! production (choose a card, confirm), done here over HTTP so tests can authorize PaymentIntents.
//!
//! localstripe answers "Not implemented" to a confirm carrying `payment_method`, so the card is set
//! first with `POST /v1/payment_intents/{id}` and the intent is then confirmed without parameters
//! (`/work/shared/spec/local-stack.md`). With `capture_method=manual` that leaves it `requires_capture`.

/// Any `sk_test_…` key works with localstripe.
pub const LOCALSTRIPE_API_KEY: &str = "sk_test_localstripe";

/// localstripe's base URL from `STRIPE_API_BASE`.
///
/// # Panics
/// When `STRIPE_API_BASE` is unset: tests that need localstripe fail rather than being skipped.
pub fn stripe_api_base() -> String {
    std::env::var("STRIPE_API_BASE").unwrap_or_else(|_| {
        panic!(
            "STRIPE_API_BASE is not set. These tests need a running localstripe: run the suite through the \
             project's test script, which starts localstripe on loopback and sets STRIPE_API_BASE \
             (e.g. http://127.0.0.1:8420)."
        )
    })
}

/// Why the customer could not pay.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    /// localstripe could not be reached.
    #[error("cannot reach localstripe: {0}")]
    Http(#[from] reqwest::Error),
    /// localstripe refused a step (e.g. 402 `card_declined` on confirm).
    #[error("{step} refused with HTTP {status}: {body}")]
    Refused {
        /// `set payment method` or `confirm`.
        step: &'static str,
        /// The HTTP status.
        status: u16,
        /// The error body, as localstripe sent it.
        body: String,
    },
}

/// A customer paying PaymentIntents at localstripe.
pub struct StripeCustomer {
    base_url: String,
    api_key: String,
    client: reqwest::Client,
}

impl StripeCustomer {
    /// A customer of the Stripe stand-in at `base_url`, acting with `api_key`.
    pub fn new(base_url: &str, api_key: &str) -> Self {
        StripeCustomer {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            client: reqwest::Client::new(),
        }
    }

    /// Pays `payment_intent` with a card that works (`pm_card_visa`): a manual-capture intent ends
    /// `requires_capture`.
    pub async fn authorize(&self, payment_intent: &str) -> Result<(), CustomerError> {
        self.pay_with(payment_intent, "pm_card_visa").await
    }

    /// Sets `payment_method` (e.g. `pm_card_chargeCustomerFail`, which localstripe declines on confirm
    /// with 402 `card_declined`) on `payment_intent`, then confirms it.
    pub async fn pay_with(&self, payment_intent: &str, payment_method: &str) -> Result<(), CustomerError> {
        let url = format!("{}/v1/payment_intents/{payment_intent}", self.base_url);
        self.post("set payment method", &url, &[("payment_method", payment_method)])
            .await?;
        self.post("confirm", &format!("{url}/confirm"), &[]).await
    }

    async fn post(&self, step: &'static str, url: &str, form: &[(&str, &str)]) -> Result<(), CustomerError> {
        let response = self
            .client
            .post(url)
            .bearer_auth(&self.api_key)
            .form(form)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await?;
        Err(CustomerError::Refused {
            step,
            status: status.as_u16(),
            body,
        })
    }
}
