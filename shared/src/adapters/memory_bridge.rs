//! In-memory twins of the ACP bridge's ports: an event platform that keeps what was published and hands
//! out scripted channel records, and queues that keep what was sent. Both can be told to fail.

use crate::acp::EventDetail;
use crate::acp::channel::ChannelRecord;
use crate::ports::event_platform::{DeliveryError, EventPlatform};
use crate::ports::message_queues::{DeadLetter, DeadLetters, MessageQueues, QueueTarget, QueuedMessage};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
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

/// The command queues' dead-letter queues, in memory: a letter received or hidden stays hidden until
/// [`MemoryDeadLetters::reveal`] (its visibility timeout passing).
#[derive(Default)]
pub struct MemoryDeadLetters {
    /// Each letter and whether it is hidden.
    pub letters: Mutex<Vec<(DeadLetter, bool)>>,
    /// How long each hide asked for, in order.
    pub hidden_for: Mutex<Vec<i32>>,
}

impl MemoryDeadLetters {
    /// Puts a command (its body and attributes) into the dead-letter queue `queue`.
    pub fn put(&self, queue: &str, body: &str, attributes: BTreeMap<String, String>) {
        let mut letters = self.letters.lock().expect("letters");
        let receipt = format!("receipt-{}", letters.len());
        letters.push((
            DeadLetter {
                queue: queue.to_string(),
                receipt,
                body: body.to_string(),
                attributes,
            },
            false,
        ));
    }

    /// Makes every letter visible again.
    pub fn reveal(&self) {
        for (_, hidden) in self.letters.lock().expect("letters").iter_mut() {
            *hidden = false;
        }
    }

    /// How many letters are left.
    pub fn len(&self) -> usize {
        self.letters.lock().expect("letters").len()
    }

    /// Whether none is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl DeadLetters for MemoryDeadLetters {
    async fn receive(&self, limit: usize) -> Result<Vec<DeadLetter>, String> {
        let mut letters = self.letters.lock().expect("letters");
        Ok(letters
            .iter_mut()
            .filter(|(_, hidden)| !*hidden)
            .take(limit)
            .map(|(letter, hidden)| {
                *hidden = true;
                letter.clone()
            })
            .collect())
    }

    async fn delete(&self, letter: &DeadLetter) -> Result<(), String> {
        self.letters
            .lock()
            .expect("letters")
            .retain(|(l, _)| l.receipt != letter.receipt);
        Ok(())
    }

    async fn hide(&self, _letter: &DeadLetter, seconds: i32) -> Result<(), String> {
        self.hidden_for.lock().expect("hidden_for").push(seconds);
        Ok(())
    }
}
