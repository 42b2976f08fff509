//! The identity of a command (or a checkout request): its idempotency key, its payload fingerprint and the PSP idempotency key
//! derived from it. A command delivered again (even by a new SQS message) has the same identity.

use crate::acp::InboundCommand;
use sha2::{Digest, Sha256};

/// What identifies one command for idempotency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationId {
    /// Operation record key: message name, order reference and the sorted item ids, hashed.
    pub key: String,
    /// Hash of the remaining payload (amount, currency): the same key with another amount is refused.
    pub fingerprint: String,
}

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

impl OperationId {
    /// The identity of `command` for `tenant`.
    pub fn of(tenant: &str, command: &InboundCommand) -> Self {
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
        Self::named(
            command.name(),
            &[tenant, command.order_reference(), &items],
            &[&amount, &currency],
        )
    }

    /// The identity of operation `name` on `identity` (the parts that make two requests the same
    /// operation, the tenant first), with `payload` the parts that must then be equal too.
    pub fn named(name: &str, identity: &[&str], payload: &[&str]) -> Self {
        OperationId {
            key: format!("{name}-{}", &digest(identity)[..40]),
            fingerprint: digest(payload)[..16].to_string(),
        }
    }

    /// The PSP `Idempotency-Key`: deterministic, reused on every retry of this command.
    pub fn psp_idempotency_key(&self) -> String {
        format!("acp-{}", self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acp::{PaymentPayload, RefundPayment};

    fn capture(items: Vec<i64>, amount: Option<i64>) -> InboundCommand {
        InboundCommand::CapturePayment(PaymentPayload {
            order_reference: "DE--1".into(),
            order_item_ids: items,
            amount,
            currency_iso_code: Some("EUR".into()),
        })
    }

    #[test]
    fn identity_ignores_item_order_and_separates_amounts_into_the_fingerprint() {
        let a = OperationId::of("t1", &capture(vec![2, 1], Some(100)));
        let b = OperationId::of("t1", &capture(vec![1, 2], Some(100)));
        let c = OperationId::of("t1", &capture(vec![1, 2], Some(200)));
        assert_eq!(a, b);
        assert_eq!(a.key, c.key);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_ne!(
            a.key,
            OperationId::of("t2", &capture(vec![1, 2], Some(100))).key,
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
        assert_ne!(
            OperationId::of("t1", &refund).key,
            OperationId::of("t1", &capture(vec![1, 2], Some(100))).key
        );
    }
}
