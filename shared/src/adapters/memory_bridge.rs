//! In-memory twins of the ACP bridge's ports: an event platform that keeps what was published and hands
//! out scripted channel records, and queues that keep what was sent. Both can be told to fail.

use crate::acp::EventDetail;
use crate::acp::channel::ChannelRecord;
use crate::ports::event_platform::{DeliveryError, EventPlatform};
use crate::ports::message_queues::{MessageQueues, QueueTarget, QueuedMessage};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

/// The event platform, in memory.
#[derive(Default)]
pub struct MemoryPlatform {
    /// Messages published, in order.
    pub published: Mutex<Vec<EventDetail>>,
    /// Records waiting on the command channel, handed out oldest first until acknowledged.
    pub channel: Mutex<Vec<ChannelRecord>>,
    /// Ids acknowledged, in order.
    pub acknowledged: Mutex<Vec<String>>,
    /// Errors the next calls answer with (any kind of call), first one first.
    pub faults: Mutex<VecDeque<DeliveryError>>,
}

impl MemoryPlatform {
    fn fault(&self) -> Result<(), DeliveryError> {
        match self.faults.lock().expect("faults").pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl EventPlatform for MemoryPlatform {
    async fn publish(&self, message: &EventDetail) -> Result<(), DeliveryError> {
        self.fault()?;
        self.published.lock().expect("published").push(message.clone());
        Ok(())
    }

    async fn consume(&self, _channel: &str, limit: usize) -> Result<Vec<ChannelRecord>, DeliveryError> {
        self.fault()?;
        let acknowledged: BTreeSet<String> = self.acknowledged.lock().expect("acks").iter().cloned().collect();
        Ok(self
            .channel
            .lock()
            .expect("channel")
            .iter()
            .filter(|r| !acknowledged.contains(&r.message_id))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn acknowledge(&self, _channel: &str, message_ids: &[String]) -> Result<(), DeliveryError> {
        self.fault()?;
        self.acknowledged
            .lock()
            .expect("acks")
            .extend(message_ids.iter().cloned());
        Ok(())
    }
}

/// The app's queues, in memory.
#[derive(Default)]
pub struct MemoryQueues {
    /// What was sent, in order.
    pub sent: Mutex<Vec<(QueueTarget, QueuedMessage)>>,
    /// Targets whose sends fail.
    pub failing: Mutex<BTreeSet<QueueTarget>>,
}

impl MemoryQueues {
    /// The messages sent to `target`.
    pub fn sent_to(&self, target: QueueTarget) -> Vec<QueuedMessage> {
        self.sent
            .lock()
            .expect("sent")
            .iter()
            .filter(|(t, _)| *t == target)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

impl MessageQueues for MemoryQueues {
    async fn send(&self, target: QueueTarget, messages: &[QueuedMessage]) -> Vec<Result<(), String>> {
        if self.failing.lock().expect("failing").contains(&target) {
            return messages.iter().map(|_| Err(format!("{target:?} is down"))).collect();
        }
        let mut sent = self.sent.lock().expect("sent");
        messages
            .iter()
            .map(|m| {
                sent.push((target, m.clone()));
                Ok(())
            })
            .collect()
    }
}
