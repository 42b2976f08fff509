use super::*;
use crate::domain::{Currency, Money, Payment};
use crate::service::testing::{MemoryTenantService, memory_tenants};
use serde_json::json;

const TENANT: &str = "tenant-a";
const KEY: &str = "sk_test_tenant_a_secret";
const HOOK: &str = "whsec_tenant_a_secret";

/// What a tenant configured with one method and then disconnected (no open payments) announces.
const CONFIGURED_THEN_DISCONNECTED: [&str; 4] = [
    "AddPaymentMethod",
    "AppConfigUpdated",
    "DeletePaymentMethod",
    "AppConfigUpdated",
];

/// The shop's own token: its OAuth client's subject.
fn shop() -> Caller {
    client("tenant-a-client@clients")
}

fn client(subject: &str) -> Caller {
    Caller {
        subject: Some(subject.into()),
        tenant_claim: None,
    }
}

fn configuration(value: Value) -> String {
    value.to_string()
}

fn full(methods: &[&str], marketplace: bool) -> String {
    configuration(json!({"stripeSecretKey": KEY, "webhookSigningSecrets": [HOOK],
                         "paymentMethods": methods, "isMarketplace": marketplace, "mode": "test"}))
}

/// The messages published so far, as (name, payload), and every published text checked for secrets.
fn published(svc: &MemoryTenantService) -> Vec<(String, Value)> {
    svc.publisher
        .published()
        .into_iter()
        .map(|e| {
            assert!(
                !e.detail.contains(KEY) && !e.detail.contains(HOOK),
                "a secret in {}",
                e.detail
            );
            (e.detail_type.clone(), e.parsed_detail().unwrap().payload)
        })
        .collect()
}

fn names(messages: &[(String, Value)]) -> Vec<&str> {
    messages.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test]
async fn the_first_configure_announces_methods_and_the_config_without_secrets() {
    let svc = memory_tenants();
    let answer = svc
        .configure(TENANT, &shop(), &full(&["Credit Card"], false))
        .await
        .unwrap();
    let redacted_config = json!({"paymentMethods": ["Credit Card"], "isMarketplace": false, "mode": "test",
                                 "stripeSecretKey": "[redacted]", "webhookSigningSecrets": ["[redacted]"]});
    assert_eq!(Value::Object(answer), redacted_config);
    let messages = published(&svc);
    assert_eq!(names(&messages), vec!["AddPaymentMethod", "AppConfigUpdated"]);
    assert_eq!(messages[0].1["name"], "Credit Card");
    assert_eq!(messages[0].1["providerName"], "Stripe");
    assert_eq!(
        messages[0].1["paymentMethodAppConfiguration"]["baseUrl"],
        "https://app.example.com"
    );
    assert_eq!(
        messages[1].1,
        json!({"appIdentifier": "app-test", "isActive": true, "status": "NEW", "config": redacted_config,
               "messageChannels": ["payment-events", "payment-commands", "payment-method-commands",
                                   "app-events", "merchant-app-events"]})
    );
    let record = svc.store.get_tenant(TENANT).await.unwrap().unwrap();
    assert!(record.outbox.is_empty(), "published and cleared");
    let stored = serde_json::to_string(&record).unwrap();
    assert!(
        !stored.contains(KEY) && !stored.contains(HOOK),
        "no secret in the record"
    );
    let secrets = svc.secrets.get_secrets(record.secrets.as_ref().unwrap()).await.unwrap();
    assert_eq!(secrets.exposed_values(), vec![KEY, HOOK]);
}

#[tokio::test]
async fn a_reconfigure_sends_the_method_diff_and_keeps_unsent_secrets() {
    let svc = memory_tenants();
    svc.configure(TENANT, &shop(), &full(&["Credit Card", "Klarna"], false))
        .await
        .unwrap();
    let first = svc.store.get_tenant(TENANT).await.unwrap().unwrap();
    let answer = svc
        .configure(
            TENANT,
            &shop(),
            &configuration(json!({"paymentMethods": ["Klarna", "PayPal"]})),
        )
        .await
        .unwrap();
    assert_eq!(answer["stripeSecretKey"], "[redacted]", "the stored key stays");
    let messages = published(&svc);
    assert_eq!(
        names(&messages[3..]),
        vec!["AddPaymentMethod", "DeletePaymentMethod", "AppConfigUpdated"]
    );
    assert_eq!(messages[3].1["name"], "PayPal");
    assert_eq!(messages[4].1, json!({"name": "Credit Card", "providerName": "Stripe"}));
    assert_eq!(messages[5].1["status"], "NEW");
    let second = svc.store.get_tenant(TENANT).await.unwrap().unwrap();
    assert_eq!(second.secrets, first.secrets, "unchanged secrets are not written again");
    assert_eq!(second.version, 2);

    // The same configuration again changes no method: only AppConfigUpdated.
    svc.configure(
        TENANT,
        &shop(),
        &configuration(json!({"paymentMethods": ["Klarna", "PayPal"]})),
    )
    .await
    .unwrap();
    assert_eq!(names(&published(&svc)[6..]), vec!["AppConfigUpdated"]);
}

#[tokio::test]
async fn a_marketplace_is_told_where_merchants_onboard() {
    let svc = memory_tenants();
    svc.configure(TENANT, &shop(), &full(&[], true)).await.unwrap();
    let messages = published(&svc);
    assert_eq!(
        names(&messages),
        vec!["ReadyForMerchantAppOnboarding", "AppConfigUpdated"]
    );
    let mut ready = messages[0].1.clone();
    let states = ready
        .as_object_mut()
        .and_then(|m| m.remove("merchantOnboardingStates"))
        .expect("merchantOnboardingStates");
    assert_eq!(
        ready,
        json!({"onboarding": {"url": "https://app.example.com/private/merchants/onboarding", "strategy": "api"},
               "type": "payment", "appName": "Stripe", "appIdentifier": "app-test"})
    );
    // A text for every status, named exactly as the Merchant Portal matches it; a button where the
    // merchant can act at Stripe.
    let states = states.as_array().expect("a list");
    let names: Vec<&str> = states.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "incomplete",
            "pending",
            "enabled",
            "completed",
            "restricted",
            "restricted soon",
            "rejected"
        ]
    );
    for state in states {
        let attributes = state["attributes"].as_object().expect("attributes");
        assert!(
            attributes["displayText"].as_str().is_some_and(|t| t.len() > 20),
            "{state}"
        );
        let has_button = attributes.contains_key("buttonText") && attributes.contains_key("buttonInfo");
        assert_eq!(
            has_button,
            !matches!(state["name"].as_str(), Some("completed" | "rejected")),
            "{state}"
        );
        assert!(
            attributes
                .keys()
                .all(|k| ["displayText", "buttonText", "buttonInfo"].contains(&k.as_str()))
        );
    }
}

#[tokio::test]
async fn an_invalid_configuration_changes_nothing() {
    let svc = memory_tenants();
    let error = svc
        .configure(
            TENANT,
            &shop(),
            &configuration(json!({"paymentMethods": ["Credit Card"]})),
        )
        .await
        .unwrap_err();
    assert!(matches!(&error, TenantError::Invalid(_)), "{error}");
    assert!(matches!(
        svc.configure(TENANT, &shop(), "{").await,
        Err(TenantError::Invalid(_))
    ));
    assert!(published(&svc).is_empty());
    assert_eq!(svc.store.get_tenant(TENANT).await.unwrap(), None);
}

async fn open_payment(svc: &MemoryTenantService) {
    let payment = Payment::new(
        TENANT.into(),
        "tx-open".into(),
        Some("DE--1".into()),
        "pi_1".into(),
        Money::new(100, Currency::parse("EUR").unwrap()),
        "t0",
    );
    svc.store.insert_payment(&payment).await.unwrap();
}

#[tokio::test]
async fn disconnect_asks_for_confirmation_while_payments_are_open_and_reconnect_works() {
    let svc = memory_tenants();
    assert!(matches!(
        svc.disconnect(TENANT, &shop(), None).await,
        Err(TenantError::UnknownTenant)
    ));
    svc.configure(TENANT, &shop(), &full(&["Credit Card", "Klarna"], false))
        .await
        .unwrap();
    open_payment(&svc).await;
    assert!(matches!(
        svc.disconnect(TENANT, &shop(), None).await,
        Err(TenantError::NeedsConfirmation)
    ));
    assert!(matches!(
        svc.disconnect(TENANT, &shop(), Some(false)).await,
        Err(TenantError::ConfirmationDeclined)
    ));
    assert_eq!(published(&svc).len(), 3, "nothing sent before the confirmation");

    svc.disconnect(TENANT, &shop(), Some(true)).await.unwrap();
    let messages = published(&svc);
    assert_eq!(
        names(&messages[3..]),
        vec!["DeletePaymentMethod", "DeletePaymentMethod", "AppConfigUpdated"]
    );
    assert_eq!(messages[3].1, json!({"name": "Credit Card", "providerName": "Stripe"}));
    assert_eq!(messages[5].1["isActive"], false);
    assert_eq!(messages[5].1["status"], "DISCONNECTED");
    assert_eq!(messages[5].1["config"]["stripeSecretKey"], "[redacted]");

    // Disconnecting again is answered without new messages.
    svc.disconnect(TENANT, &shop(), None).await.unwrap();
    assert_eq!(published(&svc).len(), 6);

    svc.configure(TENANT, &shop(), &configuration(json!({"mode": "live"})))
        .await
        .unwrap();
    let messages = published(&svc);
    assert_eq!(
        names(&messages[6..]),
        vec!["AddPaymentMethod", "AddPaymentMethod", "AppConfigUpdated"]
    );
    assert_eq!(messages[8].1["status"], "CONNECTED");
    assert_eq!(messages[8].1["isActive"], true);
}

#[tokio::test]
async fn disconnect_without_open_payments_needs_no_confirmation() {
    let svc = memory_tenants();
    svc.configure(TENANT, &shop(), &full(&["Credit Card"], false))
        .await
        .unwrap();
    svc.disconnect(TENANT, &shop(), None).await.unwrap();
    assert_eq!(names(&published(&svc)), CONFIGURED_THEN_DISCONNECTED);
}

#[tokio::test]
async fn unpublished_events_are_published_by_the_next_request_first() {
    let svc = memory_tenants();
    svc.publisher.fail_next(1);
    assert!(matches!(
        svc.configure(TENANT, &shop(), &full(&["Credit Card"], false)).await,
        Err(TenantError::Unavailable(_))
    ));
    assert!(published(&svc).is_empty());
    // The configuration was stored; its events wait in the outbox and go out before the next ones.
    svc.disconnect(TENANT, &shop(), None).await.unwrap();
    assert_eq!(names(&published(&svc)), CONFIGURED_THEN_DISCONNECTED);
}

#[tokio::test]
async fn concurrent_configures_lose_no_update() {
    let svc = memory_tenants();
    svc.configure(TENANT, &shop(), &full(&[], false)).await.unwrap();
    let (first, second) = (configuration(json!({"a": 1})), configuration(json!({"b": 2})));
    let shop = shop();
    let (a, b) = tokio::join!(
        svc.configure(TENANT, &shop, &first),
        svc.configure(TENANT, &shop, &second)
    );
    a.unwrap();
    b.unwrap();
    let record = svc.store.get_tenant(TENANT).await.unwrap().unwrap();
    assert_eq!((&record.settings["a"], &record.settings["b"]), (&json!(1), &json!(2)));
    assert_eq!(record.version, 3);
}

#[tokio::test]
async fn a_key_stripe_refuses_is_a_clear_422_and_stores_nothing() {
    let svc = memory_tenants();
    svc.psp.refuse_key(KEY);
    let refused = svc.configure(TENANT, &shop(), &full(&["Credit Card"], false)).await;
    match refused {
        Err(TenantError::Invalid(errors)) => {
            assert_eq!(errors.0.len(), 1);
            assert!(errors.0[0].starts_with("stripeSecretKey: "), "{errors}");
            assert!(!errors.0[0].contains(KEY), "never the key itself");
        }
        other => panic!("{other:?}"),
    }
    assert!(published(&svc).is_empty());
    assert_eq!(svc.store.get_tenant(TENANT).await.unwrap(), None);
}

#[tokio::test]
async fn only_a_new_key_is_checked() {
    let svc = memory_tenants();
    svc.configure(TENANT, &shop(), &full(&["Credit Card"], false))
        .await
        .unwrap();
    // Stripe now refuses the stored key, yet a change of the methods alone needs no call.
    svc.psp.refuse_key(KEY);
    svc.configure(
        TENANT,
        &shop(),
        &configuration(json!({"paymentMethods": ["Credit Card", "Klarna"]})),
    )
    .await
    .unwrap();
    let other = configuration(json!({"stripeSecretKey": "sk_test_other"}));
    svc.psp.refuse_key("sk_test_other");
    assert!(matches!(
        svc.configure(TENANT, &shop(), &other).await,
        Err(TenantError::Invalid(_))
    ));
}

#[tokio::test]
async fn the_first_configure_binds_the_tenant_to_its_token_and_no_other_token_changes_it() {
    let svc = memory_tenants();
    svc.configure(TENANT, &shop(), &full(&["Credit Card"], false))
        .await
        .unwrap();
    let bound = svc.store.get_tenant(TENANT).await.unwrap().unwrap();
    assert_eq!(bound.token_subject.as_deref(), Some("tenant-a-client@clients"));
    let told = published(&svc).len();

    let intruder = client("tenant-b-client@clients");
    let takeover = configuration(json!({"stripeSecretKey": "sk_test_intruder"}));
    assert!(matches!(
        svc.configure(TENANT, &intruder, &takeover).await,
        Err(TenantError::Forbidden(Forbidden::OtherSubject))
    ));
    assert!(matches!(
        svc.disconnect(TENANT, &intruder, Some(true)).await,
        Err(TenantError::Forbidden(Forbidden::OtherSubject))
    ));
    assert_eq!(
        svc.store.get_tenant(TENANT).await.unwrap(),
        Some(bound),
        "nothing changed"
    );
    assert_eq!(published(&svc).len(), told, "nothing told");

    // A token proving its tenant by a claim is served whatever its subject, and changes no binding.
    let claimed = Caller {
        subject: Some("another-client@clients".into()),
        tenant_claim: Some(TENANT.into()),
    };
    svc.configure(TENANT, &claimed, &configuration(json!({"mode": "live"})))
        .await
        .unwrap();
    let record = svc.store.get_tenant(TENANT).await.unwrap().unwrap();
    assert_eq!(record.token_subject.as_deref(), Some("tenant-a-client@clients"));
    let other_tenant = Caller {
        tenant_claim: Some("tenant-b".into()),
        ..shop()
    };
    assert!(matches!(
        svc.configure(TENANT, &other_tenant, &configuration(json!({"mode": "test"})))
            .await,
        Err(TenantError::Forbidden(Forbidden::OtherTenant))
    ));
    svc.disconnect(TENANT, &shop(), Some(true)).await.unwrap();
    let kept = svc.store.get_tenant(TENANT).await.unwrap().unwrap();
    assert_eq!(
        kept.token_subject.as_deref(),
        Some("tenant-a-client@clients"),
        "kept after a disconnect"
    );
}
