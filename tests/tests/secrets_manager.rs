//! The Secrets Manager secret store against moto: one secret per tenant, a version per write, every
//! version readable as written, and tenants kept apart.

use integration_tests::aws::{sdk_config, unique_name};
use shared::adapters::secrets_manager::SecretsManagerStore;
use shared::domain::tenant::TenantSecrets;
use shared::ports::SecretStore;

fn secrets(key: &str, hooks: &[&str]) -> TenantSecrets {
    TenantSecrets {
        stripe_secret_key: Some(key.into()),
        webhook_signing_secrets: hooks.iter().map(|h| (*h).into()).collect(),
    }
}

#[tokio::test]
async fn versions_are_written_and_read_per_tenant() {
    let aws = sdk_config().await;
    let store = SecretsManagerStore::new(
        aws_sdk_secretsmanager::Client::new(&aws),
        format!("{}/", unique_name("app")),
    );
    let tenant = "shop/one";
    let first = store
        .put_secrets(tenant, &secrets("sk_test_1", &["whsec_a"]))
        .await
        .unwrap();
    assert_eq!(first.name, store.secret_name(tenant));
    assert!(first.name.ends_with("/shop=2Fone/stripe"), "{}", first.name);
    let second = store
        .put_secrets(tenant, &secrets("sk_test_2", &["whsec_b", "whsec_a"]))
        .await
        .unwrap();
    assert_eq!(second.name, first.name);
    assert_ne!(second.version, first.version);
    let other = store.put_secrets("shop-two", &secrets("sk_test_3", &[])).await.unwrap();
    assert_ne!(other.name, first.name);

    let read = |reference| {
        let store = store.clone();
        async move {
            store
                .get_secrets(&reference)
                .await
                .unwrap()
                .exposed_values()
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(read(first.clone()).await, vec!["sk_test_1", "whsec_a"]);
    assert_eq!(read(second).await, vec!["sk_test_2", "whsec_b", "whsec_a"]);
    assert_eq!(read(other).await, vec!["sk_test_3"]);

    let missing = shared::ports::SecretRef {
        name: first.name.clone(),
        version: "00000000-0000-0000-0000-000000000000".into(),
    };
    let error = store.get_secrets(&missing).await.unwrap_err();
    assert!(!error.to_string().contains("sk_test"), "{error}");
}
