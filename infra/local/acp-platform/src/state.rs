//! The platform's messages: who may consume each, what each consumer was handed, when it may have it
//! again, what it acknowledged, and whether a command went on to the SQS queue. Pure logic: time is a
//! parameter, so the tests move it without sleeping.
//!
//! Routing: a message of a channel reaches every consumer of that channel except its publisher (the
//! consumer whose id is the message's `actorId`). A consumer whose id is one of the configured app
//! identifiers sees every tenant's messages; any other id is a tenant identifier and sees only the
//! messages whose `tenantIdentifier` is that id. Consumers need not exist before a message: each one
//! gets every matching message it has not acknowledged, whenever it first asks.

use crate::headers::Attributes;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A required attribute that a message lacks: the names that would satisfy it (any one of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("missing attribute {}", .0.join(" or "))]
pub struct MissingAttribute(pub &'static [&'static str]);

/// The attributes every message needs (Spryker's `HttpChannelSenderClient` checks the same), each a
/// list of alternatives. An empty value counts as missing.
const REQUIRED: [&[&str]; 3] = [&["transferName", "name"], &["tenantIdentifier"], &["actorId"]];

/// Checks that `attributes` carry every required attribute.
pub fn check_required(attributes: &Attributes) -> Result<(), MissingAttribute> {
    for alternatives in REQUIRED {
        let present = alternatives
            .iter()
            .any(|name| attributes.get(*name).is_some_and(|v| !v.is_empty()));
        if !present {
            return Err(MissingAttribute(alternatives));
        }
    }
    Ok(())
}

/// What one consumer did with one message.
#[derive(Clone, Debug, Default)]
struct ConsumerState {
    deliveries: u32,
    /// Not handed to this consumer again before this instant (set when handed out, unacknowledged).
    invisible_until: Option<Instant>,
    acknowledged: bool,
}

/// One published message.
#[derive(Clone, Debug)]
struct StoredMessage {
    id: String,
    channel: String,
    body: String,
    attributes: Attributes,
    consumers: BTreeMap<String, ConsumerState>,
    delivered_to_queue: bool,
}

/// A message as a consumer receives it (`GET /{channel}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReceivedMessage {
    /// The platform's id of the message.
    #[serde(rename = "MessageId")]
    pub id: String,
    /// The payload JSON as published, as a string.
    #[serde(rename = "MessageBody")]
    pub body: String,
    /// The message attributes, camelCase names.
    #[serde(rename = "MessageAttributes")]
    pub attributes: Attributes,
}

/// A message as the introspection route shows it (`GET /_messages`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageSnapshot {
    /// The platform's id of the message.
    #[serde(rename = "MessageId")]
    pub id: String,
    /// The channel it was published on.
    pub channel: String,
    /// The payload JSON as published, as a string.
    #[serde(rename = "MessageBody")]
    pub body: String,
    /// The message attributes, camelCase names.
    #[serde(rename = "MessageAttributes")]
    pub attributes: Attributes,
    /// The consumers that acknowledged it, sorted.
    #[serde(rename = "acknowledgedBy")]
    pub acknowledged_by: Vec<String>,
    /// How often it was handed to each consumer (consumers that never received it left out).
    pub deliveries: BTreeMap<String, u32>,
    /// Whether it was sent on to the SQS queue of commands.
    #[serde(rename = "deliveredToQueue")]
    pub delivered_to_queue: bool,
}

/// A command still to send to the SQS queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCommand {
    /// The platform's id of the message.
    pub id: String,
    /// The payload JSON.
    pub body: String,
    /// The message attributes.
    pub attributes: Attributes,
}

/// All messages of all channels, in publish order.
#[derive(Debug)]
pub struct Store {
    messages: Vec<StoredMessage>,
    app_identifiers: BTreeSet<String>,
    visibility_timeout: Duration,
}

impl Store {
    /// An empty store: consumers named in `app_identifiers` see all tenants; a message handed out and not
    /// acknowledged is handed to the same consumer again after `visibility_timeout`.
    pub fn new(app_identifiers: impl IntoIterator<Item = String>, visibility_timeout: Duration) -> Self {
        Store {
            messages: Vec::new(),
            app_identifiers: app_identifiers.into_iter().collect(),
            visibility_timeout,
        }
    }

    /// Stores a message published on `channel` and answers its new id (a UUID v4).
    pub fn publish(&mut self, channel: &str, body: String, attributes: Attributes) -> Result<String, MissingAttribute> {
        check_required(&attributes)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.messages.push(StoredMessage {
            id: id.clone(),
            channel: channel.to_string(),
            body,
            attributes,
            consumers: BTreeMap::new(),
            delivered_to_queue: false,
        });
        Ok(id)
    }

    /// Whether `consumer` may receive `message` at all (channel aside).
    fn routes_to(&self, message: &StoredMessage, consumer: &str) -> bool {
        let attribute = |name: &str| message.attributes.get(name).map(String::as_str);
        if attribute("actorId") == Some(consumer) {
            return false;
        }
        self.app_identifiers.contains(consumer) || attribute("tenantIdentifier") == Some(consumer)
    }

    /// Hands `consumer` up to `limit` messages of `channel`, oldest first: those routed to it, not
    /// acknowledged by it and visible to it at `now`. Each is then invisible to it for the visibility
    /// timeout.
    pub fn receive(&mut self, channel: &str, consumer: &str, limit: usize, now: Instant) -> Vec<ReceivedMessage> {
        let mut received = Vec::new();
        let visible_again = now + self.visibility_timeout;
        // Decide first, then mutate: routes_to borrows self.
        let chosen: Vec<usize> = self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.channel == channel && self.routes_to(m, consumer))
            .filter(|(_, m)| {
                m.consumers
                    .get(consumer)
                    .is_none_or(|s| !s.acknowledged && s.invisible_until.is_none_or(|until| until <= now))
            })
            .map(|(i, _)| i)
            .take(limit)
            .collect();
        for index in chosen {
            let message = &mut self.messages[index];
            let state = message.consumers.entry(consumer.to_string()).or_default();
            state.deliveries += 1;
            state.invisible_until = Some(visible_again);
            received.push(ReceivedMessage {
                id: message.id.clone(),
                body: message.body.clone(),
                attributes: message.attributes.clone(),
            });
        }
        received
    }

    /// Marks the messages of `channel` with these ids acknowledged by `consumer`. Ids that are unknown,
    /// of another channel or not routed to this consumer are ignored.
    pub fn acknowledge(&mut self, channel: &str, consumer: &str, ids: &[String]) {
        let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        let chosen: Vec<usize> = self
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.channel == channel && wanted.contains(m.id.as_str()) && self.routes_to(m, consumer))
            .map(|(i, _)| i)
            .collect();
        for index in chosen {
            let state = self.messages[index].consumers.entry(consumer.to_string()).or_default();
            state.acknowledged = true;
            state.invisible_until = None;
        }
    }

    /// Every message of `channel` (all channels when `None`), publish order, with who did what.
    pub fn snapshot(&self, channel: Option<&str>) -> Vec<MessageSnapshot> {
        self.messages
            .iter()
            .filter(|m| channel.is_none_or(|c| m.channel == c))
            .map(|m| MessageSnapshot {
                id: m.id.clone(),
                channel: m.channel.clone(),
                body: m.body.clone(),
                attributes: m.attributes.clone(),
                acknowledged_by: m
                    .consumers
                    .iter()
                    .filter(|(_, s)| s.acknowledged)
                    .map(|(c, _)| c.clone())
                    .collect(),
                deliveries: m
                    .consumers
                    .iter()
                    .filter(|(_, s)| s.deliveries > 0)
                    .map(|(c, s)| (c.clone(), s.deliveries))
                    .collect(),
                delivered_to_queue: m.delivered_to_queue,
            })
            .collect()
    }

    /// The messages of `channel` not yet sent to the SQS queue, publish order.
    pub fn pending_for_queue(&self, channel: &str) -> Vec<PendingCommand> {
        self.messages
            .iter()
            .filter(|m| m.channel == channel && !m.delivered_to_queue)
            .map(|m| PendingCommand {
                id: m.id.clone(),
                body: m.body.clone(),
                attributes: m.attributes.clone(),
            })
            .collect()
    }

    /// Records that the message `id` reached the SQS queue.
    pub fn mark_delivered_to_queue(&mut self, id: &str) {
        if let Some(message) = self.messages.iter_mut().find(|m| m.id == id) {
            message.delivered_to_queue = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "app-stripe";
    const TIMEOUT: Duration = Duration::from_secs(30);

    fn store() -> Store {
        Store::new([APP.to_string()], TIMEOUT)
    }

    fn attributes(transfer: &str, tenant: &str, actor: &str) -> Attributes {
        [
            ("transferName", transfer),
            ("tenantIdentifier", tenant),
            ("actorId", actor),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn publish(store: &mut Store, channel: &str, tenant: &str, actor: &str) -> String {
        store
            .publish(channel, "{}".to_string(), attributes("CapturePayment", tenant, actor))
            .expect("valid message")
    }

    fn ids(received: &[ReceivedMessage]) -> Vec<String> {
        received.iter().map(|m| m.id.clone()).collect()
    }

    #[test]
    fn publisher_never_gets_its_own_message() {
        let mut store = store();
        let now = Instant::now();
        let from_app = publish(&mut store, "payment-events", "tenant-1", APP);
        let from_tenant = publish(&mut store, "payment-events", "tenant-1", "tenant-1");
        assert_eq!(ids(&store.receive("payment-events", APP, 100, now)), vec![from_tenant]);
        assert_eq!(
            ids(&store.receive("payment-events", "tenant-1", 100, now)),
            vec![from_app]
        );
    }

    #[test]
    fn tenants_see_only_their_own_messages_and_the_app_sees_all() {
        let mut store = store();
        let now = Instant::now();
        let one = publish(&mut store, "payment-commands", "tenant-1", "shop-1");
        let two = publish(&mut store, "payment-commands", "tenant-2", "shop-2");
        assert_eq!(
            ids(&store.receive("payment-commands", "tenant-1", 100, now)),
            vec![one.clone()]
        );
        assert_eq!(
            ids(&store.receive("payment-commands", "tenant-2", 100, now)),
            vec![two.clone()]
        );
        assert!(store.receive("payment-commands", "tenant-3", 100, now).is_empty());
        assert_eq!(ids(&store.receive("payment-commands", APP, 100, now)), vec![one, two]);
    }

    #[test]
    fn channels_are_separate() {
        let mut store = store();
        let now = Instant::now();
        publish(&mut store, "payment-commands", "tenant-1", "tenant-1");
        assert!(store.receive("payment-events", APP, 100, now).is_empty());
    }

    #[test]
    fn a_late_consumer_gets_earlier_messages_and_acks_are_per_consumer() {
        let mut store = Store::new([APP.to_string(), "app-other".to_string()], TIMEOUT);
        let now = Instant::now();
        let first = publish(&mut store, "payment-commands", "tenant-1", "tenant-1");
        let second = publish(&mut store, "payment-commands", "tenant-1", "tenant-1");
        let got = store.receive("payment-commands", APP, 100, now);
        assert_eq!(ids(&got), vec![first.clone(), second.clone()]);
        store.acknowledge("payment-commands", APP, std::slice::from_ref(&first));
        // Unacknowledged becomes visible again; acknowledged never.
        let later = now + TIMEOUT;
        assert_eq!(
            ids(&store.receive("payment-commands", APP, 100, later)),
            vec![second.clone()]
        );
        // The other app never asked before: it gets both, the first one included.
        assert_eq!(
            ids(&store.receive("payment-commands", "app-other", 100, later)),
            vec![first.clone(), second]
        );
        let snapshot = store.snapshot(Some("payment-commands"));
        assert_eq!(snapshot[0].acknowledged_by, vec![APP.to_string()]);
        assert_eq!(
            snapshot[0].deliveries,
            BTreeMap::from([(APP.to_string(), 1), ("app-other".to_string(), 1)])
        );
        assert_eq!(snapshot[1].deliveries[APP], 2);
        assert!(snapshot[1].acknowledged_by.is_empty());
    }

    #[test]
    fn visibility_timeout_hides_a_message_from_that_consumer_only() {
        let mut store = Store::new([APP.to_string(), "app-other".to_string()], TIMEOUT);
        let now = Instant::now();
        let id = publish(&mut store, "payment-commands", "tenant-1", "tenant-1");
        assert_eq!(ids(&store.receive("payment-commands", APP, 100, now)), vec![id.clone()]);
        assert!(store.receive("payment-commands", APP, 100, now).is_empty());
        assert!(
            store
                .receive("payment-commands", APP, 100, now + TIMEOUT - Duration::from_millis(1))
                .is_empty()
        );
        assert_eq!(
            ids(&store.receive("payment-commands", "app-other", 100, now)),
            vec![id.clone()]
        );
        assert_eq!(
            ids(&store.receive("payment-commands", APP, 100, now + TIMEOUT)),
            vec![id]
        );
    }

    #[test]
    fn limit_takes_the_oldest() {
        let mut store = store();
        let now = Instant::now();
        let all: Vec<String> = (0..5)
            .map(|_| publish(&mut store, "payment-commands", "tenant-1", "tenant-1"))
            .collect();
        assert_eq!(ids(&store.receive("payment-commands", APP, 2, now)), all[..2].to_vec());
        assert_eq!(ids(&store.receive("payment-commands", APP, 2, now)), all[2..4].to_vec());
        assert_eq!(ids(&store.receive("payment-commands", APP, 2, now)), all[4..].to_vec());
        assert!(store.receive("payment-commands", APP, 2, now).is_empty());
    }

    #[test]
    fn acks_of_unknown_or_foreign_ids_are_ignored() {
        let mut store = store();
        let now = Instant::now();
        let id = publish(&mut store, "payment-commands", "tenant-1", "tenant-1");
        store.acknowledge("payment-commands", "tenant-2", std::slice::from_ref(&id));
        store.acknowledge("payment-events", APP, std::slice::from_ref(&id));
        store.acknowledge("payment-commands", APP, &["unknown".to_string()]);
        assert_eq!(ids(&store.receive("payment-commands", APP, 100, now)), vec![id]);
        assert!(store.snapshot(None)[0].acknowledged_by.is_empty());
    }

    #[test]
    fn required_attributes() {
        let mut store = store();
        let mut missing = attributes("CapturePayment", "tenant-1", "shop");
        missing.remove("transferName");
        assert_eq!(
            store.publish("c", "{}".into(), missing.clone()),
            Err(MissingAttribute(&["transferName", "name"]))
        );
        missing.insert("name".into(), "CapturePayment".into());
        assert!(store.publish("c", "{}".into(), missing.clone()).is_ok());
        missing.insert("tenantIdentifier".into(), String::new());
        assert_eq!(
            store.publish("c", "{}".into(), missing.clone()),
            Err(MissingAttribute(&["tenantIdentifier"]))
        );
        missing.insert("tenantIdentifier".into(), "t".into());
        missing.remove("actorId");
        assert_eq!(
            store.publish("c", "{}".into(), missing),
            Err(MissingAttribute(&["actorId"]))
        );
    }

    #[test]
    fn pending_commands_until_delivered() {
        let mut store = store();
        let first = publish(&mut store, "payment-commands", "tenant-1", "tenant-1");
        publish(&mut store, "payment-events", "tenant-1", APP);
        let second = publish(&mut store, "payment-commands", "tenant-2", "tenant-2");
        let pending: Vec<String> = store
            .pending_for_queue("payment-commands")
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(pending, vec![first.clone(), second.clone()]);
        store.mark_delivered_to_queue(&first);
        let pending: Vec<String> = store
            .pending_for_queue("payment-commands")
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(pending, vec![second]);
        assert!(store.snapshot(Some("payment-commands"))[0].delivered_to_queue);
    }
}
