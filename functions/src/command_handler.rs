//! The SQS handler shared by the three command functions. A record's path:
//! queue → [`handle_batch`] → envelope parser (`shared::acp::envelope`) → the tenant's access →
//! command service (`shared::service::commands`: state machine, PSP, store, outbox) → events on the bus.
//!
//! The tenant decides first (contract §5.2):
//! * active: the command is processed with the tenant's own Stripe key;
//! * disconnected: acknowledged without any PSP call or event (logged with the reason);
//! * never configured: an error for that record, so it is retried and then kept in the queue's
//!   dead-letter queue (nothing lost; redrive it once the tenant is configured). No other tenant's key is
//!   ever tried;
//! * configuration unavailable: retried.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Error, LambdaEvent};
use shared::acp::{InboundMessage, parse_record};
use shared::ports::{Clock, EventPublisher, PaymentGateway, PaymentStore, TenantAccess, Tenants};
use shared::service::CommandService;
use shared::{batch, metrics};
use tracing::Instrument;

/// Reads one record; a command for another queue is an error for that record only (decision §9.1).
fn parse(record: &SqsMessage, accepts: &str) -> Result<(String, InboundMessage), String> {
    let body = record.body.as_deref().unwrap_or_default();
    let message = parse_record(body, &batch::string_attributes(record)).map_err(|e| e.to_string())?;
    if message.command.name() != accepts {
        return Err(format!(
            "{} does not belong on the {accepts} queue",
            message.command.name()
        ));
    }
    // Records of one payment run in order; different payments run concurrently.
    let group = format!("{}#{}", message.tenant_identifier, message.command.order_reference());
    Ok((group, message))
}

/// Handles one SQS batch of `accepts` commands (`CapturePayment`, `CancelPayment` or `RefundPayment`),
/// reporting the records to retry as batch item failures.
pub async fn handle_batch<S, G, P, C, T>(
    service: &CommandService<S, G, P, C>,
    tenants: &T,
    accepts: &'static str,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error>
where
    S: PaymentStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
    T: Tenants,
{
    let response = batch::process(
        &event.payload,
        |record| parse(record, accepts),
        |message| {
            let span = message.span();
            handle_one(service, tenants, message).instrument(span)
        },
    )
    .await;
    Ok(response)
}

/// Handles one command, after its tenant's access decided (see the module's list), and counts it in
/// `CommandsHandled` by its outcome.
async fn handle_one<S, G, P, C, T>(
    service: &CommandService<S, G, P, C>,
    tenants: &T,
    message: InboundMessage,
) -> Result<(), String>
where
    S: PaymentStore,
    G: PaymentGateway,
    P: EventPublisher,
    C: Clock,
    T: Tenants,
{
    let tenant = message.tenant_identifier.as_str();
    let command = message.command.name();
    let access = tenants.access(tenant).await.map_err(|e| {
        metrics::command_handled(command, "retry");
        e.to_string()
    })?;
    match access {
        TenantAccess::Active => {}
        TenantAccess::Disconnected => {
            tracing::warn!("command ignored: the tenant is disconnected (no PSP call, no reply)");
            metrics::command_handled(command, "ignored");
            return Ok(());
        }
        TenantAccess::NotConfigured => {
            metrics::command_handled(command, "unconfigured");
            return Err(format!(
                "tenant {tenant} is not configured: retried, then kept in the dead-letter queue"
            ));
        }
    }
    match service.handle(&message).await {
        Ok(report) => {
            metrics::command_handled(command, report.outcome());
            tracing::info!(?report, "command handled");
            Ok(())
        }
        Err(e) => {
            metrics::command_handled(command, "retry");
            Err(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use shared::service::testing::{
        MemoryCommandService, MemoryDirectory, authorized_order, memory_directory, memory_service, seed_tenant,
    };

    type Svc = MemoryCommandService;

    fn service() -> Svc {
        memory_service()
    }

    async fn authorized(svc: &Svc, order: &str, amount: i64) {
        authorized_order(svc, "demo-tenant", order, amount).await;
    }

    /// The sample events' tenant, configured.
    async fn tenants() -> MemoryDirectory {
        memory_directory(&["demo-tenant"]).await
    }

    /// The sample CapturePayment event (events/capture-payment.json).
    const CAPTURE: &str = include_str!("../../events/capture-payment.json");

    /// Handles the SQS event `json` from `command`'s queue.
    async fn run(svc: &Svc, tenants: &MemoryDirectory, command: &'static str, json: &str) -> SqsBatchResponse {
        let event = LambdaEvent::new(serde_json::from_str(json).unwrap(), Context::default());
        handle_batch(svc, tenants, command, event).await.unwrap()
    }

    fn failures(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    fn published(svc: &Svc) -> Vec<(String, String)> {
        svc.publisher
            .published()
            .into_iter()
            .map(|e| {
                (
                    e.detail_type.clone(),
                    e.parsed_detail().unwrap().payload["orderReference"].to_string(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn each_sample_event_gets_its_answer() {
        let svc = service();
        let tenants = tenants().await;
        authorized(&svc, "DE--1001", 12000).await;
        authorized(&svc, "DE--1002", 3000).await;
        for (command, json) in [
            ("CapturePayment", CAPTURE),
            ("CancelPayment", include_str!("../../events/cancel-payment.json")),
            ("RefundPayment", include_str!("../../events/refund-payment.json")),
        ] {
            assert!(run(&svc, &tenants, command, json).await.batch_item_failures.is_empty());
        }
        let names: Vec<String> = published(&svc).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            vec![
                "PaymentUpdated",
                "PaymentCaptured",
                "PaymentUpdated",
                "PaymentCanceled",
                "PaymentUpdated",
                "PaymentRefunded"
            ]
        );
    }

    #[tokio::test]
    async fn a_mixed_batch_fails_only_its_bad_records() {
        let svc = service();
        let tenants = tenants().await;
        for (order, amount) in [("DE--2001", 4000), ("DE--2002", 5000), ("DE--2003", 3000)] {
            authorized(&svc, order, amount).await;
        }
        let response = run(
            &svc,
            &tenants,
            "CapturePayment",
            include_str!("../tests/fixtures/capture_mixed_batch.json"),
        )
        .await;
        // a4 is not JSON; a5 is a CancelPayment on the capture queue.
        assert_eq!(failures(&response), vec!["a4", "a5"]);
        let captured: Vec<String> = published(&svc)
            .into_iter()
            .filter(|(n, _)| n == "PaymentCaptured")
            .map(|(_, o)| o)
            .collect();
        assert_eq!(
            captured.len(),
            3,
            "raw, SNS and HTTP-channel records are all read: {captured:?}"
        );
    }

    #[tokio::test]
    async fn a_redelivered_batch_has_no_second_effect() {
        let svc = service();
        let tenants = tenants().await;
        authorized(&svc, "DE--1001", 12000).await;
        for _ in 0..3 {
            let r = run(&svc, &tenants, "CapturePayment", CAPTURE).await;
            assert!(r.batch_item_failures.is_empty());
        }
        assert_eq!(svc.gateway.effects("capture"), 1);
        assert_eq!(published(&svc).len(), 2);
    }

    #[tokio::test]
    async fn a_disconnected_tenants_commands_are_acknowledged_without_effect() {
        let svc = service();
        let tenants = tenants().await;
        authorized(&svc, "DE--1001", 12000).await;
        seed_tenant(&tenants, "demo-tenant", "sk_test_demo-tenant", false).await;
        let response = run(&svc, &tenants, "CapturePayment", CAPTURE).await;
        assert!(response.batch_item_failures.is_empty(), "acknowledged");
        assert_eq!(svc.gateway.effects("capture"), 0);
        assert!(svc.publisher.published().is_empty());
    }

    #[tokio::test]
    async fn an_unconfigured_tenants_commands_fail_towards_the_dead_letter_queue() {
        let svc = service();
        let tenants = memory_directory(&["another-tenant"]).await;
        authorized(&svc, "DE--1001", 12000).await;
        let response = run(&svc, &tenants, "CapturePayment", CAPTURE).await;
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(svc.gateway.effects("capture"), 0);
        assert!(svc.publisher.published().is_empty());
    }
}
