//! The reconciler function's handler: each scheduled invocation runs one pass of
//! [`shared::service::Reconciler`] and returns what it did (also logged).

use lambda_runtime::{Error, LambdaEvent};
use shared::ports::{Clock, EventPublisher, PaymentGateway, PaymentStore};
use shared::service::Reconciler;

/// One pass. The scheduler's event carries nothing the pass needs. Fails only when the "needs
/// attention" index cannot be read (the next invocation tries again).
pub async fn handle<S, G, P, C>(
    reconciler: &Reconciler<'_, S, G, P, C>,
    _event: LambdaEvent<serde_json::Value>,
) -> Result<serde_json::Value, Error>
where
    S: PaymentStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
{
    let report = reconciler.run().await?;
    tracing::info!(
        published = report.published,
        settled = report.settled,
        pending = report.pending,
        released = report.released,
        "reconciler pass"
    );
    Ok(serde_json::json!({
        "published": report.published,
        "settled": report.settled,
        "pending": report.pending,
        "released": report.released,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::acp::{InboundCommand, InboundMessage, PaymentPayload};
    use shared::service::testing::{authorized_order, memory_service};

    const EVENT: &str = include_str!("../../events/reconciler.json");

    #[tokio::test]
    async fn a_scheduled_pass_publishes_what_nobody_published() {
        let svc = memory_service();
        authorized_order(&svc, "tenant-a", "DE--1", 1000).await;
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
        svc.clock.advance(31);
        let reconciler = Reconciler {
            commands: &svc,
            batch: 10,
        };
        let event = LambdaEvent::new(serde_json::from_str(EVENT).unwrap(), lambda_runtime::Context::default());
        let answer = handle(&reconciler, event).await.unwrap();
        assert_eq!(answer["published"], 1);
        assert_eq!(svc.publisher.published().len(), 2);
        let payment = svc
            .store
            .find_payment_by_order("tenant-a", "DE--1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(payment.captured, 1000);
    }
}
