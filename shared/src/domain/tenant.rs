//! A tenant's configuration of the app (contract §5.1, §5.2, decision §9.9): what `POST /private/configure`
//! sends, how it merges over what is stored, the connection status, the redacted view that answers and
//! events show, and the payment methods announced to the tenant (contract §3.4).
//!
//! The configuration arrives as a JSON string of an object. This app reads `stripeSecretKey` and
//! `webhookSigningSecrets` (secrets: kept apart, never shown), `paymentMethods` (names announced with
//! provider `Stripe`) and `isMarketplace`; every other key is kept as non-secret configuration.

use crate::acp::{
    AppConfigStatus, CheckoutConfiguration, PaymentMethodAppConfiguration, PaymentMethodEndpoint, PaymentMethodPayload,
};
use crate::domain::{CheckoutStrategy, PaymentMethod};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// The key of the tenant's Stripe secret key.
pub const STRIPE_SECRET_KEY: &str = "stripeSecretKey";

/// The configuration key of the tenant's Stripe publishable key (not a secret: the payment page shows it).
pub const STRIPE_PUBLISHABLE_KEY: &str = "stripePublishableKey";
/// The key of the tenant's Stripe webhook signing secrets.
pub const WEBHOOK_SIGNING_SECRETS: &str = "webhookSigningSecrets";
/// The key of the payment method names.
pub const PAYMENT_METHODS: &str = "paymentMethods";
/// The key of the marketplace switch.
pub const IS_MARKETPLACE: &str = "isMarketplace";
/// What a secret value is shown as.
pub const REDACTED: &str = "[redacted]";
pub use super::payment_method::PROVIDER_NAME;

/// The endpoints a payment method points the tenant at, by name (contract §3.4).
pub const PAYMENT_METHOD_ENDPOINTS: [(&str, &str); 6] = [
    ("pre-order-payment", "/private/pre-order-payment"),
    ("authorization", "/private/initialize-payment"),
    ("pre-order-confirmation", "/private/confirm-pre-order-payment"),
    ("pre-order-cancellation", "/private/cancel-pre-order-payment"),
    ("transfer", "/private/payments/transfers"),
    ("customer", "/private/customer"),
];

/// The tenant's PSP secrets. `Debug` never shows them.
#[derive(Clone, Debug, Default)]
pub struct TenantSecrets {
    /// The Stripe secret key (`sk_…` or a restricted `rk_…`).
    pub stripe_secret_key: Option<SecretString>,
    /// The webhook signing secrets (`whsec_…`), several while one is rotated.
    pub webhook_signing_secrets: Vec<SecretString>,
}

impl TenantSecrets {
    /// Every secret value, exposed: for equality checks and for scanning output for leaks.
    pub fn exposed_values(&self) -> Vec<&str> {
        self.stripe_secret_key
            .iter()
            .chain(&self.webhook_signing_secrets)
            .map(|s| s.expose_secret())
            .collect()
    }

    /// Whether both hold the same Stripe key.
    pub fn same_key_as(&self, other: &TenantSecrets) -> bool {
        self.stripe_secret_key.as_ref().map(|s| s.expose_secret())
            == other.stripe_secret_key.as_ref().map(|s| s.expose_secret())
    }

    /// Whether both hold the same secrets.
    pub fn same_as(&self, other: &TenantSecrets) -> bool {
        self.same_key_as(other)
            && self
                .webhook_signing_secrets
                .iter()
                .map(|s| s.expose_secret())
                .eq(other.webhook_signing_secrets.iter().map(|s| s.expose_secret()))
    }
}

/// How many secrets a configuration has, by kind: enough to show it redacted without reading them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecretCounts {
    /// 1 when a Stripe secret key is configured.
    pub stripe_secret_key: usize,
    /// The number of webhook signing secrets.
    pub webhook_signing_secrets: usize,
}

impl SecretCounts {
    /// The counts of `secrets`.
    pub fn of(secrets: &TenantSecrets) -> Self {
        SecretCounts {
            stripe_secret_key: usize::from(secrets.stripe_secret_key.is_some()),
            webhook_signing_secrets: secrets.webhook_signing_secrets.len(),
        }
    }
}

/// A configuration sent by `POST /private/configure`, validated: secrets apart from the other keys.
///
/// The answers show each stored secret as [`REDACTED`]. A configuration that echoes them back (the App
/// Catalog may send the configuration it was last answered) keeps the stored values: a `stripeSecretKey`
/// of [`REDACTED`] counts as not sent, and a [`REDACTED`] entry of `webhookSigningSecrets` stands for the
/// stored secret at the same position.
#[derive(Clone, Debug, Default)]
pub struct ConfigUpdate {
    /// The Stripe secret key, when sent (not when echoed as [`REDACTED`]).
    pub stripe_secret_key: Option<SecretString>,
    /// The webhook signing secrets, when sent (an empty list removes them): `None` entries are echoed
    /// [`REDACTED`] ones, the stored secret at that position.
    pub webhook_signing_secrets: Option<Vec<Option<SecretString>>>,
    /// Every other key (non-secret), `paymentMethods` and `isMarketplace` included.
    pub settings: Map<String, Value>,
}

/// Why a configuration is refused (answered 422, contract §5.1). Messages never quote a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct ConfigErrors(pub Vec<String>);

/// Reads `data.attributes.configuration`: a JSON string holding an object.
pub fn parse_configuration(configuration: &str) -> Result<ConfigUpdate, ConfigErrors> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(configuration) else {
        return Err(ConfigErrors(vec![
            "data.attributes.configuration must be a JSON object encoded as a string".into(),
        ]));
    };
    let mut errors = Vec::new();
    let mut update = ConfigUpdate::default();
    for (key, value) in map {
        match key.as_str() {
            STRIPE_SECRET_KEY => match value {
                Value::String(s) if s == REDACTED => {}
                Value::String(s) if s.starts_with("sk_") || s.starts_with("rk_") => {
                    update.stripe_secret_key = Some(SecretString::from(s));
                }
                _ => errors.push(format!(
                    "{STRIPE_SECRET_KEY} must be a Stripe secret key (sk_… or rk_…)"
                )),
            },
            WEBHOOK_SIGNING_SECRETS => match value {
                Value::Array(items) => {
                    let mut secrets = Vec::new();
                    for (i, item) in items.into_iter().enumerate() {
                        match item {
                            Value::String(s) if s == REDACTED => secrets.push(None),
                            Value::String(s) if s.starts_with("whsec_") => secrets.push(Some(SecretString::from(s))),
                            _ => errors.push(format!(
                                "{WEBHOOK_SIGNING_SECRETS}[{i}] must be a Stripe webhook signing secret (whsec_…)"
                            )),
                        }
                    }
                    update.webhook_signing_secrets = Some(secrets);
                }
                _ => errors.push(format!("{WEBHOOK_SIGNING_SECRETS} must be an array of whsec_… secrets")),
            },
            PAYMENT_METHODS => {
                match value
                    .as_array()
                    .map(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                {
                    Some(Some(names)) => {
                        let mut seen = std::collections::BTreeSet::new();
                        if names.iter().any(|n| n.trim().is_empty()) {
                            errors.push(format!("{PAYMENT_METHODS} must not contain empty names"));
                        } else if !names.iter().all(|n| seen.insert(*n)) {
                            errors.push(format!("{PAYMENT_METHODS} must not name a method twice"));
                        }
                        update.settings.insert(key, value);
                    }
                    _ => errors.push(format!("{PAYMENT_METHODS} must be an array of method names")),
                }
            }
            STRIPE_PUBLISHABLE_KEY => match &value {
                Value::String(s) if key_mode(s).is_some() && s.starts_with("pk_") => {
                    update.settings.insert(key, value);
                }
                _ => errors.push(format!(
                    "{STRIPE_PUBLISHABLE_KEY} must be a Stripe publishable key (pk_test_… or pk_live_…)"
                )),
            },
            IS_MARKETPLACE => match value {
                Value::Bool(_) => {
                    update.settings.insert(key, value);
                }
                _ => errors.push(format!("{IS_MARKETPLACE} must be true or false")),
            },
            _ => {
                update.settings.insert(key, value);
            }
        }
    }
    if errors.is_empty() {
        Ok(update)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// The Stripe mode of a key (`test` or `live`, from `sk_test_…`, `rk_live_…`, `pk_test_…`), if it has one.
fn key_mode(key: &str) -> Option<&str> {
    let rest = key.split_once('_')?.1;
    let (mode, _) = rest.split_once('_')?;
    matches!(mode, "test" | "live").then_some(mode)
}

/// The tenant's Stripe publishable key (for the payment page's Stripe.js), if configured.
pub fn publishable_key(settings: &Map<String, Value>) -> Option<&str> {
    settings.get(STRIPE_PUBLISHABLE_KEY).and_then(Value::as_str)
}

/// The configuration after `update` is merged over the stored one: each key sent replaces the stored
/// one, keys not sent stay (contract §5.1). Returns the non-secret settings and the secrets.
pub fn merge(
    stored_settings: &Map<String, Value>,
    stored_secrets: &TenantSecrets,
    update: &ConfigUpdate,
) -> Result<(Map<String, Value>, TenantSecrets), ConfigErrors> {
    let mut settings = stored_settings.clone();
    settings.extend(update.settings.clone());
    let secrets = TenantSecrets {
        stripe_secret_key: update
            .stripe_secret_key
            .clone()
            .or_else(|| stored_secrets.stripe_secret_key.clone()),
        webhook_signing_secrets: match &update.webhook_signing_secrets {
            Some(sent) => signing_secrets(sent, &stored_secrets.webhook_signing_secrets)?,
            None => stored_secrets.webhook_signing_secrets.clone(),
        },
    };
    let Some(secret_key) = &secrets.stripe_secret_key else {
        return Err(ConfigErrors(vec![format!("{STRIPE_SECRET_KEY} is required")]));
    };
    if secrets.webhook_signing_secrets.is_empty() {
        // Without one, every Stripe webhook would be refused: payments would never be authorized.
        return Err(ConfigErrors(vec![format!(
            "{WEBHOOK_SIGNING_SECRETS} is required: the signing secret (whsec_…) of the Stripe webhook endpoint \
             pointing at this app"
        )]));
    }
    // The page's Stripe.js and the app's API calls must work on the same Stripe mode.
    let secret_mode = key_mode(secret_key.expose_secret());
    if let Some(publishable) = publishable_key(&settings)
        && secret_mode.is_some()
        && key_mode(publishable) != secret_mode
    {
        return Err(ConfigErrors(vec![format!(
            "{STRIPE_PUBLISHABLE_KEY} and {STRIPE_SECRET_KEY} must both be test keys or both live keys"
        )]));
    }
    Ok((settings, secrets))
}

/// The webhook signing secrets `sent`, each echoed [`REDACTED`] entry (`None`) replaced by the `stored`
/// secret at its position.
fn signing_secrets(sent: &[Option<SecretString>], stored: &[SecretString]) -> Result<Vec<SecretString>, ConfigErrors> {
    sent.iter()
        .enumerate()
        .map(|(i, secret)| match secret {
            Some(secret) => Ok(secret.clone()),
            None => stored.get(i).cloned().ok_or_else(|| {
                ConfigErrors(vec![format!(
                    "{WEBHOOK_SIGNING_SECRETS}[{i}] is {REDACTED}, but no secret is stored at that position"
                )])
            }),
        })
        .collect()
}

/// The payment method names of a configuration (none when absent).
pub fn payment_methods(settings: &Map<String, Value>) -> Vec<String> {
    settings
        .get(PAYMENT_METHODS)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether the tenant runs a marketplace (merchant onboarding, contract §3.5).
pub fn is_marketplace(settings: &Map<String, Value>) -> bool {
    settings.get(IS_MARKETPLACE).and_then(Value::as_bool).unwrap_or(false)
}

/// The configuration as answers and AppConfigUpdated show it: the settings, with each secret the tenant
/// has replaced by [`REDACTED`] (decision §9.9).
pub fn redacted(settings: &Map<String, Value>, secrets: SecretCounts) -> Map<String, Value> {
    let mut shown = settings.clone();
    if secrets.stripe_secret_key > 0 {
        shown.insert(STRIPE_SECRET_KEY.into(), Value::from(REDACTED));
    }
    if secrets.webhook_signing_secrets > 0 {
        let hidden = vec![Value::from(REDACTED); secrets.webhook_signing_secrets];
        shown.insert(WEBHOOK_SIGNING_SECRETS.into(), Value::Array(hidden));
    }
    shown
}

/// The status after a configure: `NEW` the first time, `CONNECTED` after a disconnect, else unchanged.
pub fn status_after_configure(current: Option<AppConfigStatus>) -> AppConfigStatus {
    match current {
        None => AppConfigStatus::New,
        Some(AppConfigStatus::Disconnected) => AppConfigStatus::Connected,
        Some(status @ (AppConfigStatus::New | AppConfigStatus::Connected)) => status,
    }
}

/// The announcement of payment method `name`, pointing at the app's endpoints under `base_url`. A wallet
/// is announced for Spryker's express checkout: its authorization endpoint is the pre-order payment, as
/// Spryker's app-payment announces such methods; every other method for the payment page (Spryker's
/// default, post-order initialize-payment). A name the app does not offer gets the payment page too.
pub fn payment_method(name: &str, base_url: &str) -> PaymentMethodPayload {
    let base_url = base_url.trim_end_matches('/');
    let method = PaymentMethod::from_spryker_name(name);
    let strategy = method.map_or(CheckoutStrategy::HostedPaymentPage, PaymentMethod::strategy);
    let authorization = match strategy {
        CheckoutStrategy::HostedPaymentPage => "/private/initialize-payment",
        CheckoutStrategy::ExpressCheckout => "/private/pre-order-payment",
    };
    PaymentMethodPayload {
        name: name.to_string(),
        provider_name: PROVIDER_NAME.to_string(),
        payment_authorization_endpoint: Some(format!("{base_url}{authorization}")),
        payment_method_app_configuration: Some(PaymentMethodAppConfiguration {
            base_url: Some(base_url.to_string()),
            endpoints: Some(
                PAYMENT_METHOD_ENDPOINTS
                    .iter()
                    .map(|(name, path)| PaymentMethodEndpoint {
                        name: (*name).to_string(),
                        path: (*path).to_string(),
                    })
                    .collect(),
            ),
            checkout_configuration: Some(CheckoutConfiguration {
                strategy: Some(strategy.as_str().to_string()),
                scripts: None,
                payment_service_provider_data: None,
                app_payment_method_key: method.map(|m| m.key().to_string()),
            }),
        }),
    }
}

/// How the announced payment methods change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MethodChange {
    /// A method the tenant does not know yet.
    Add(PaymentMethodPayload),
    /// A known method whose announcement changed.
    Update(PaymentMethodPayload),
    /// A known method no longer configured (its name).
    Delete(String),
}

/// The changes from `announced` to `wanted` (contract §3.4): Add for new names, Update where the
/// announcement changed, in `wanted`'s order, then Delete for names no longer wanted, in `announced`'s.
pub fn method_changes(announced: &[PaymentMethodPayload], wanted: &[PaymentMethodPayload]) -> Vec<MethodChange> {
    let find = |list: &[PaymentMethodPayload], name: &str| list.iter().find(|m| m.name == name).cloned();
    let mut changes: Vec<MethodChange> = wanted
        .iter()
        .filter_map(|method| match find(announced, &method.name) {
            None => Some(MethodChange::Add(method.clone())),
            Some(before) if &before != method => Some(MethodChange::Update(method.clone())),
            Some(_) => None,
        })
        .collect();
    changes.extend(
        announced
            .iter()
            .filter(|m| find(wanted, &m.name).is_none())
            .map(|m| MethodChange::Delete(m.name.clone())),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const BASE: &str = "https://app.example.com";

    fn settings(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn parses_secrets_apart_from_the_settings() {
        let update = parse_configuration(
            &json!({"stripeSecretKey": "sk_test_1", "webhookSigningSecrets": ["whsec_a", "whsec_b"],
                    "paymentMethods": ["Credit Card"], "isMarketplace": true, "mode": "test"})
            .to_string(),
        )
        .unwrap();
        assert_eq!(update.stripe_secret_key.unwrap().expose_secret(), "sk_test_1");
        assert_eq!(update.webhook_signing_secrets.unwrap().len(), 2);
        assert_eq!(
            Value::Object(update.settings),
            json!({"paymentMethods": ["Credit Card"], "isMarketplace": true, "mode": "test"})
        );
    }

    #[test]
    fn refuses_malformed_configurations_without_quoting_secrets() {
        assert!(parse_configuration("not json").is_err());
        assert!(parse_configuration("[1]").is_err());
        let errors = parse_configuration(
            &json!({"stripeSecretKey": "pk_live_oops", "webhookSigningSecrets": ["whsec_a", "sk_live_leak"],
                    "paymentMethods": ["a", "a"], "isMarketplace": "yes"})
            .to_string(),
        )
        .unwrap_err();
        assert_eq!(errors.0.len(), 4, "{errors}");
        let text = errors.to_string();
        assert!(
            !text.contains("pk_live_oops") && !text.contains("sk_live_leak"),
            "{text}"
        );
        assert!(parse_configuration(&json!({"paymentMethods": [""]}).to_string()).is_err());
        assert!(parse_configuration(&json!({"paymentMethods": "Credit Card"}).to_string()).is_err());
    }

    #[test]
    fn a_publishable_key_must_match_the_secret_keys_mode() {
        let parse = |v: Value| parse_configuration(&v.to_string());
        assert!(parse(json!({"stripePublishableKey": "sk_test_x"})).is_err());
        assert!(parse(json!({"stripePublishableKey": "pk_x"})).is_err());
        let test = parse(
            json!({"stripeSecretKey": "sk_test_a", "stripePublishableKey": "pk_test_b",
                                "webhookSigningSecrets": ["whsec_a"]}),
        )
        .unwrap();
        let (merged, _) = merge(&Map::new(), &TenantSecrets::default(), &test).unwrap();
        assert_eq!(publishable_key(&merged), Some("pk_test_b"));
        let mixed = parse(json!({"stripeSecretKey": "rk_live_a", "stripePublishableKey": "pk_test_b"})).unwrap();
        assert!(merge(&Map::new(), &TenantSecrets::default(), &mixed).is_err());
        // A key sent later is checked against the stored one.
        let stored = TenantSecrets {
            stripe_secret_key: Some("sk_live_a".into()),
            webhook_signing_secrets: vec!["whsec_a".into()],
        };
        let later = parse(json!({"stripePublishableKey": "pk_test_b"})).unwrap();
        assert!(merge(&Map::new(), &stored, &later).is_err());
        let live = parse(json!({"stripePublishableKey": "pk_live_b"})).unwrap();
        assert!(merge(&Map::new(), &stored, &live).is_ok());
    }

    #[test]
    fn an_echo_of_the_redacted_configuration_keeps_the_stored_secrets() {
        let stored_settings = settings(json!({"paymentMethods": ["Credit Card"], "isMarketplace": false}));
        let stored = TenantSecrets {
            stripe_secret_key: Some("sk_test_stored".into()),
            webhook_signing_secrets: vec!["whsec_one".into(), "whsec_two".into()],
        };
        // What configure answered, sent back as it is.
        let shown = redacted(&stored_settings, SecretCounts::of(&stored));
        let echo = parse_configuration(&Value::Object(shown.clone()).to_string()).unwrap();
        let (merged, secrets) = merge(&stored_settings, &stored, &echo).unwrap();
        assert_eq!(merged, stored_settings, "no [redacted] value is stored as a setting");
        assert!(secrets.same_as(&stored));
        // A rotation: the stored first secret kept by its echo, the second replaced, a key sent anew.
        let rotate = parse_configuration(
            &json!({"stripeSecretKey": "sk_test_new", "webhookSigningSecrets": [REDACTED, "whsec_three"]}).to_string(),
        )
        .unwrap();
        let (_, secrets) = merge(&stored_settings, &stored, &rotate).unwrap();
        assert_eq!(
            secrets.exposed_values(),
            vec!["sk_test_new", "whsec_one", "whsec_three"]
        );
        // An echo with nothing stored behind it is refused, never stored as a secret.
        let first = parse_configuration(
            &json!({"stripeSecretKey": REDACTED, "webhookSigningSecrets": ["whsec_a"]}).to_string(),
        )
        .unwrap();
        assert_eq!(
            merge(&Map::new(), &TenantSecrets::default(), &first).unwrap_err(),
            ConfigErrors(vec!["stripeSecretKey is required".into()])
        );
        let beyond =
            parse_configuration(&json!({"webhookSigningSecrets": [REDACTED, REDACTED, REDACTED]}).to_string()).unwrap();
        let refused = merge(&stored_settings, &stored, &beyond).unwrap_err();
        assert!(
            refused.0[0].starts_with("webhookSigningSecrets[2] is [redacted]"),
            "{refused}"
        );
    }

    #[test]
    fn merges_over_the_stored_configuration_and_requires_a_key_and_a_webhook_secret() {
        let stored = settings(json!({"paymentMethods": ["A"], "mode": "test"}));
        let stored_secrets = TenantSecrets {
            stripe_secret_key: Some("sk_old".into()),
            webhook_signing_secrets: vec!["whsec_old".into()],
        };
        let update = parse_configuration(&json!({"paymentMethods": ["B"], "extra": 1}).to_string()).unwrap();
        let (merged, secrets) = merge(&stored, &stored_secrets, &update).unwrap();
        assert_eq!(
            Value::Object(merged),
            json!({"paymentMethods": ["B"], "mode": "test", "extra": 1})
        );
        assert!(secrets.same_as(&stored_secrets));
        let rotate = parse_configuration(&json!({"webhookSigningSecrets": ["whsec_new"]}).to_string()).unwrap();
        let (_, secrets) = merge(&stored, &stored_secrets, &rotate).unwrap();
        assert_eq!(secrets.exposed_values(), vec!["sk_old", "whsec_new"]);
        let first = parse_configuration(&json!({"paymentMethods": []}).to_string()).unwrap();
        assert_eq!(
            merge(&Map::new(), &TenantSecrets::default(), &first).unwrap_err(),
            ConfigErrors(vec!["stripeSecretKey is required".into()])
        );
        let without_webhooks = parse_configuration(&json!({"stripeSecretKey": "sk_test_a"}).to_string()).unwrap();
        let refused = merge(&Map::new(), &TenantSecrets::default(), &without_webhooks).unwrap_err();
        assert!(
            refused.0[0].starts_with("webhookSigningSecrets is required"),
            "{refused:?}"
        );
        let removed = parse_configuration(&json!({"webhookSigningSecrets": []}).to_string()).unwrap();
        assert!(
            merge(&stored, &stored_secrets, &removed).is_err(),
            "the last secret cannot be removed"
        );
    }

    #[test]
    fn redaction_hides_every_secret() {
        let secrets = TenantSecrets {
            stripe_secret_key: Some("sk_test_hidden".into()),
            webhook_signing_secrets: vec!["whsec_hidden".into()],
        };
        let shown = redacted(&settings(json!({"isMarketplace": false})), SecretCounts::of(&secrets));
        assert_eq!(
            Value::Object(shown.clone()),
            json!({"isMarketplace": false, "stripeSecretKey": "[redacted]", "webhookSigningSecrets": ["[redacted]"]})
        );
        assert!(!format!("{secrets:?}").contains("hidden"));
    }

    #[test]
    fn status_transitions() {
        use AppConfigStatus::*;
        assert_eq!(status_after_configure(None), New);
        assert_eq!(status_after_configure(Some(New)), New);
        assert_eq!(status_after_configure(Some(Connected)), Connected);
        assert_eq!(status_after_configure(Some(Disconnected)), Connected);
    }

    #[test]
    fn a_method_points_at_the_apps_endpoints() {
        let method = payment_method("Credit Card", "https://app.example.com/");
        let value = serde_json::to_value(&method).unwrap();
        assert_eq!(value["providerName"], "Stripe");
        assert_eq!(
            value["paymentAuthorizationEndpoint"],
            "https://app.example.com/private/initialize-payment"
        );
        assert_eq!(value["paymentMethodAppConfiguration"]["baseUrl"], BASE);
        assert_eq!(
            value["paymentMethodAppConfiguration"]["endpoints"][1],
            json!({"name": "authorization", "path": "/private/initialize-payment"})
        );
        assert_eq!(
            value["paymentMethodAppConfiguration"]["checkoutConfiguration"],
            json!({"strategy": "hosted-payment-page", "appPaymentMethodKey": "card"})
        );
        let unknown = serde_json::to_value(payment_method("Gift Card", BASE)).unwrap();
        assert_eq!(
            unknown["paymentMethodAppConfiguration"]["checkoutConfiguration"],
            json!({"strategy": "hosted-payment-page"})
        );
    }

    #[test]
    fn a_wallet_is_announced_for_the_express_checkout() {
        let value = serde_json::to_value(payment_method("Apple Pay", BASE)).unwrap();
        assert_eq!(
            value["paymentAuthorizationEndpoint"],
            "https://app.example.com/private/pre-order-payment"
        );
        assert_eq!(
            value["paymentMethodAppConfiguration"]["checkoutConfiguration"],
            json!({"strategy": "express-checkout", "appPaymentMethodKey": "apple_pay"})
        );
        // The tenant builds every pre-order call from the endpoints by name.
        assert_eq!(
            value["paymentMethodAppConfiguration"]["endpoints"][0],
            json!({"name": "pre-order-payment", "path": "/private/pre-order-payment"})
        );
        let google = serde_json::to_value(payment_method("google-pay", BASE)).unwrap();
        assert_eq!(
            google["paymentMethodAppConfiguration"]["checkoutConfiguration"]["strategy"],
            "express-checkout"
        );
    }

    #[test]
    fn method_changes_table() {
        let m = |name: &str| payment_method(name, BASE);
        let moved = |name: &str| payment_method(name, "https://moved.example.com");
        assert_eq!(
            method_changes(&[m("A"), m("B")], &[m("B"), m("C")]),
            vec![MethodChange::Add(m("C")), MethodChange::Delete("A".into())]
        );
        assert_eq!(
            method_changes(&[m("A")], &[moved("A")]),
            vec![MethodChange::Update(moved("A"))]
        );
        assert_eq!(method_changes(&[m("A")], &[m("A")]), vec![]);
        assert_eq!(method_changes(&[], &[m("A")]), vec![MethodChange::Add(m("A"))]);
    }

    proptest! {
        /// Applying the changes to what was announced gives exactly what is wanted, and nothing is
        /// announced twice.
        #[test]
        fn changes_lead_from_announced_to_wanted(
            announced in proptest::sample::subsequence(vec!["A", "B", "C", "D"], 0..=4),
            wanted in proptest::sample::subsequence(vec!["A", "B", "C", "D", "E"], 0..=5),
            moved in any::<bool>(),
        ) {
            let before: Vec<_> = announced.iter().map(|n| payment_method(n, BASE)).collect();
            let base = if moved { "https://moved.example.com" } else { BASE };
            let after: Vec<_> = wanted.iter().map(|n| payment_method(n, base)).collect();
            let mut state = before.clone();
            for change in method_changes(&before, &after) {
                match change {
                    MethodChange::Add(m) => {
                        prop_assert!(!state.iter().any(|s| s.name == m.name));
                        state.push(m);
                    }
                    MethodChange::Update(m) => {
                        let slot = state.iter_mut().find(|s| s.name == m.name);
                        prop_assert!(slot.is_some());
                        if let Some(slot) = slot { *slot = m; }
                    }
                    MethodChange::Delete(name) => {
                        prop_assert!(state.iter().any(|s| s.name == name));
                        state.retain(|s| s.name != name);
                    }
                }
            }
            state.sort_by(|a, b| a.name.cmp(&b.name));
            let mut expected = after.clone();
            expected.sort_by(|a, b| a.name.cmp(&b.name));
            prop_assert_eq!(state, expected);
        }

        /// Merging keeps every stored key not sent and takes every key sent.
        #[test]
        fn merge_keeps_unsent_keys(stored in proptest::collection::btree_map("[a-e]", 0i64..5, 0..5),
                                   sent in proptest::collection::btree_map("[a-e]", 0i64..5, 0..5)) {
            let stored_map: Map<String, Value> = stored.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            let update = ConfigUpdate {
                stripe_secret_key: Some("sk_x".into()),
                webhook_signing_secrets: Some(vec![Some("whsec_x".into())]),
                settings: sent.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
            };
            let (merged, _) = merge(&stored_map, &TenantSecrets::default(), &update).unwrap();
            for (k, v) in &stored {
                let expected = sent.get(k).unwrap_or(v);
                prop_assert_eq!(&merged[k], &json!(expected));
            }
            for (k, v) in &sent {
                prop_assert_eq!(&merged[k], &json!(v));
            }
        }
    }
}
