//! The reconciler function's handler: each scheduled invocation runs one pass of
//! [`shared::service::Reconciler`] over the store's "needs attention" index and the command queues'
//! dead-letter queues, and returns what it did (also logged).

use lambda_runtime::{Error, LambdaEvent};
use shared::ports::{Clock, DeadLetters, EventPublisher, PaymentGateway, PaymentStore, Tenants};
use shared::service::Reconciler;

/// One pass. The scheduler's event carries nothing the pass needs. Fails only when the "needs
/// attention" index or the dead-letter queues cannot be read (the next invocation tries again).
pub async fn handle<S, G, P, C, Q, T>(
    reconciler: &Reconciler<'_, S, G, P, C>,
    dead_letters: &Q,
    tenants: &T,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error>
where
    S: PaymentStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
    Q: DeadLetters,
    T: Tenants,
{
    // Boxed: each pass is a deep stack of generic futures, and the compiler's layout query for
    // one future holding both overflows its depth limit.
    let report = Box::pin(reconciler.run()).await?;
    let letters = Box::pin(reconciler.settle_dead_letters(dead_letters, tenants)).await?;
    let answer = serde_json::json!({
        "published": report.published,
        "settled": report.settled,
        "pending": report.pending,
        "released": report.released,
        "inboxApplied": report.inbox_applied,
        "inboxGivenUp": report.inbox_given_up,
        "expiryWarnings": report.expiry_warnings,
        "deadLettersAnswered": letters.answered,
        "deadLettersHeld": letters.held,
        "deadLettersPending": letters.pending,
    });
    tracing::info!(report = %answer, "reconciler pass");
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::acp::{InboundCommand, InboundMessage, PaymentPayload};
    use shared::adapters::memory_bridge::MemoryDeadLetters;
    use shared::service::testing::{authorized_order, memory_directory, memory_service};
    use std::collections::BTreeMap;

    const EVENT: &str = include_str!("../../events/reconciler.json");

    /// A CapturePayment of `order` as its command queue received it (body and string attributes).
    fn capture_letter(letters: &MemoryDeadLetters, tenant: &str, order: &str) {
        let attributes = BTreeMap::from([
            ("transferName".to_string(), "CapturePayment".to_string()),
            ("tenantIdentifier".to_string(), tenant.to_string()),
            ("timestamp".to_string(), "2026-01-01T00:00:00.000000".to_string()),
        ]);
        let body = format!(
            r#"{{"orderReference": "{order}", "orderItemIds": [1], "amount": 1000, "currencyIsoCode": "EUR"}}"#
        );
        letters.put("capture-payment-dlq", &body, attributes);
    }

    #[tokio::test]
    async fn a_scheduled_pass_publishes_what_nobody_published_and_answers_dead_letters() {
        let svc = memory_service();
        let tenants = memory_directory(&["tenant-a"]).await;
        let letters = MemoryDeadLetters::default();
        authorized_order(&svc, "tenant-a", "DE--1", 1000).await;
        authorized_order(&svc, "tenant-a", "DE--2", 1000).await;
        svc.publisher.fail_next(1);
        let capture = InboundMessage {
            tenant_identifier: "tenant-a".into(),
            correlation_id: None,
            message_id: None,
            command: InboundCommand::CapturePayment(PaymentPayload {
                order_reference: "DE--1".into(),
                order_item_ids: vec![1],
                amount: None,
                currency_iso_code: None,
            }),
        };
        assert!(
            svc.handle(&capture).await.is_err(),
            "the publish failed after the commit"
        );
        // The capture of DE--2 failed every delivery; one of a tenant nobody configured too.
        capture_letter(&letters, "tenant-a", "DE--2");
        capture_letter(&letters, "tenant-unknown", "XX--1");
        svc.clock.advance(31);
        let reconciler = Reconciler {
            commands: &svc,
            batch: 10,
        };
        let event = LambdaEvent::new(serde_json::from_str(EVENT).unwrap(), lambda_runtime::Context::default());
        let answer = handle(&reconciler, &letters, &tenants, event).await.unwrap();
        assert_eq!(answer["published"], 1);
        assert_eq!(
            (answer["deadLettersAnswered"].clone(), answer["deadLettersHeld"].clone()),
            (1.into(), 1.into())
        );
        let captured: Vec<String> = svc
            .publisher
            .published()
            .into_iter()
            .filter(|e| e.detail_type == "PaymentCaptured")
            .map(|e| {
                let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap();
                detail["payload"]["orderReference"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(captured, ["DE--1", "DE--2"]);
        // The unconfigured tenant's command stays, hidden for an hour, for a redrive once configured.
        assert_eq!(letters.len(), 1);
        assert_eq!(*letters.hidden_for.lock().unwrap(), [3600]);
    }
}
