//! A running local stack (`infra/local/stack up`), found through `.local/stack.json`: its AWS endpoint,
//! queues, bus, table and Stripe stand-in, and a way to watch its bus like a tenant does.

use aws_sdk_eventbridge::types::Target;
use local_stack::stack_file::StackFile;
use serde_json::json;
use shared::adapters::dynamodb::DynamoStore;
use shared::adapters::stripe::{StaticApiKey, StripeGateway, Timeouts};
use std::path::{Path, PathBuf};

use crate::aws::unique_name;
use crate::sqs_source::queue_arn;
use crate::stripe_customer::{LOCALSTRIPE_API_KEY, StripeCustomer};

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
        let sqs = aws_sdk_sqs::Client::new(aws);
        let eb = aws_sdk_eventbridge::Client::new(aws);
        let queue = sqs
            .create_queue()
            .queue_name(unique_name("watch"))
            .send()
            .await
            .expect("create queue");
        let queue = queue.queue_url.expect("queue url");
        let rule = unique_name("watch");
        let pattern = json!({"source": [self.app_identifier]}).to_string();
        eb.put_rule()
            .name(&rule)
            .event_bus_name(&self.bus_name)
            .event_pattern(pattern)
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

    /// The app's payment store, to play the checkout until the app creates payments itself.
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
}
