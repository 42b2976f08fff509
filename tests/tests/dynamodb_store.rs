//! The store conformance suite against `DynamoStore` on a moto table.

use integration_tests::aws::{create_payment_table, sdk_config};
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::store_contract;

async fn store() -> DynamoStore {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let table = create_payment_table(&client).await;
    DynamoStore::new(client, table)
}

#[tokio::test]
async fn dynamo_store_passes_the_store_contract() {
    store_contract::run_all(&store().await).await;
}

#[tokio::test]
async fn checks_run_in_parallel_on_one_table() {
    let store = store().await;
    futures::join!(
        store_contract::claim_lifecycle(&store),
        store_contract::busy_payment_leaves_no_claim_behind(&store),
        store_contract::release_unknown_hands_over_at_once(&store),
        store_contract::commit_replaces_payment_and_completes(&store),
        store_contract::publish_lease(&store),
    );
}
