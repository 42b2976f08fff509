//! The identity of a command (or a checkout request): its idempotency key, its payload fingerprint and the
//! PSP idempotency key derived from it (decision §9.15).
//!
//! A command that carries Spryker's `transactionId` message attribute (a UUIDv4 per message) is identified
//! by it: the same id is a redelivery, a new id a new attempt. Without it, the identity is the command's
//! content (name, tenant, order, items), and a command whose earlier attempt was answered with a failure is
//! a new attempt: Spryker's OMS lets an operator retry a failed capture, cancel or refund.

use crate::acp::{InboundCommand, InboundMessage};
use sha2::{Digest, Sha256};

/// What identifies one operation for idempotency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationId {
    /// Operation record key: the message name and a hash of the identity (message id, or order and items),
    /// plus the attempt number from the second attempt on.
    pub key: String,
    /// Hash of the payload that must be equal for the same key (amount, currency; and order and items when
    /// the key is a message id): the same key with another payload is refused.
    pub fingerprint: String,
    /// Whether a repeat after a failure answer is a new attempt (the identity is the content, not a
    /// message id). Then attempt `n` is keyed `{key}-attempt-{n}`.
    pub retry_after_failure: bool,
}

pub(crate) fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

impl OperationId {
    /// The identity of the command `msg`.
    pub fn of(msg: &InboundMessage) -> Self {
        let command = &msg.command;
        let tenant = msg.tenant_identifier.as_str();
        let mut items = command.order_item_ids();
        items.sort_unstable();
        items.dedup();
        let items = items.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let (amount, currency) = match command {
            InboundCommand::CapturePayment(p) | InboundCommand::CancelPayment(p) => (
                p.amount.map(|a| a.to_string()).unwrap_or_default(),
                p.currency_iso_code.clone(),
            ),
            InboundCommand::RefundPayment(r) => (r.amount.to_string(), r.currency_iso_code.clone()),
        };
        let currency = currency.unwrap_or_default().to_ascii_uppercase();
        let order = command.order_reference();
        match msg.message_id.as_deref() {
            Some(message_id) => OperationId {
                retry_after_failure: false,
                ..Self::named(
                    command.name(),
                    &[tenant, "message", message_id],
                    &[order, &items, &amount, &currency],
                )
            },
            None => Self::named(command.name(), &[tenant, order, &items], &[&amount, &currency]),
        }
    }

    /// The identity of operation `name` on `identity` (the parts that make two requests the same
    /// operation, the tenant first), with `payload` the parts that must then be equal too. A repeat after a
    /// failure answer is a new attempt.
    pub fn named(name: &str, identity: &[&str], payload: &[&str]) -> Self {
        OperationId {
            key: format!("{name}-{}", &digest(identity)[..40]),
            fingerprint: digest(payload)[..16].to_string(),
            retry_after_failure: true,
        }
    }

    /// An operation identified by `key` alone (a PSP event): it carries no payload to compare and is
    /// never answered with a failure of its own.
    pub fn keyed(key: String) -> Self {
        OperationId {
            key,
            fingerprint: String::new(),
            retry_after_failure: false,
        }
    }

    /// The identity of attempt `n` (1 is the first) of this operation.
    pub fn attempt(&self, n: u32) -> Self {
        match n {
            0 | 1 => self.clone(),
            n => OperationId {
                key: format!("{}-attempt-{n}", self.key),
                ..self.clone()
            },
        }
    }

    /// The PSP `Idempotency-Key`: deterministic, reused on every retry of this attempt, new for a new one.
    pub fn psp_idempotency_key(&self) -> String {
        format!("acp-{}", self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acp::{PaymentPayload, RefundPayment};

    fn message(tenant: &str, message_id: Option<&str>, command: InboundCommand) -> InboundMessage {
        InboundMessage {
            tenant_identifier: tenant.into(),
            correlation_id: None,
            message_id: message_id.map(str::to_string),
            command,
        }
    }

    fn capture(items: Vec<i64>, amount: Option<i64>) -> InboundCommand {
        InboundCommand::CapturePayment(PaymentPayload {
            order_reference: "DE--1".into(),
            order_item_ids: items,
            amount,
            currency_iso_code: Some("EUR".into()),
        })
    }

    fn of(tenant: &str, command: InboundCommand) -> OperationId {
        OperationId::of(&message(tenant, None, command))
    }

    #[test]
    fn a_message_id_is_the_identity_and_the_content_its_fingerprint() {
        let first = OperationId::of(&message("t1", Some("m-1"), capture(vec![1], Some(100))));
        let again = OperationId::of(&message("t1", Some("m-1"), capture(vec![1], Some(100))));
        let other = OperationId::of(&message("t1", Some("m-2"), capture(vec![1], Some(100))));
        let reused = OperationId::of(&message("t1", Some("m-1"), capture(vec![2], Some(100))));
        assert_eq!(first, again, "a redelivery");
        assert_ne!(first.key, other.key, "a new message is a new attempt");
        assert_eq!(first.key, reused.key);
        assert_ne!(
            first.fingerprint, reused.fingerprint,
            "a reused id with other items is refused"
        );
        assert!(!first.retry_after_failure);
        assert!(of("t1", capture(vec![1], Some(100))).retry_after_failure);
    }

    #[test]
    fn attempts_after_the_first_have_keys_of_their_own() {
        let id = of("t1", capture(vec![1], Some(100)));
        assert_eq!(id.attempt(1), id);
        let second = id.attempt(2);
        assert_ne!(second.key, id.key);
        assert_ne!(second.psp_idempotency_key(), id.psp_idempotency_key());
        assert_eq!(second.fingerprint, id.fingerprint);
        assert_ne!(id.attempt(3).key, second.key);
    }

    #[test]
    fn identity_ignores_item_order_and_separates_amounts_into_the_fingerprint() {
        let a = of("t1", capture(vec![2, 1], Some(100)));
        let b = of("t1", capture(vec![1, 2], Some(100)));
        let c = of("t1", capture(vec![1, 2], Some(200)));
        assert_eq!(a, b);
        assert_eq!(a.key, c.key);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_ne!(
            a.key,
            of("t2", capture(vec![1, 2], Some(100))).key,
            "tenants never share keys"
        );
        assert!(a.psp_idempotency_key().len() <= 255);
    }

    #[test]
    fn commands_of_different_kinds_never_share_keys() {
        let refund = InboundCommand::RefundPayment(RefundPayment {
            order_reference: "DE--1".into(),
            order_items: vec![],
            order_item_ids: Some(vec![1, 2]),
            amount: -100,
            currency_iso_code: Some("EUR".into()),
        });
        assert_ne!(of("t1", refund).key, of("t1", capture(vec![1, 2], Some(100))).key);
    }
}
