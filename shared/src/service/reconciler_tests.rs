//! The reconciler on the in-memory twins: an outbox nobody published, a command whose PSP outcome stayed
//! unknown past its redeliveries, an operation only its caller can retry, and two passes at once.

use super::*;
use crate::acp::{InboundCommand, PaymentPayload};
use crate::adapters::memory::GatewayFault;
use crate::ports::{ClaimRequest, PspError};
use crate::service::testing::{MemoryCommandService, authorized_order, memory_service};
use crate::service::{OperationError, OperationReport};

const TENANT: &str = "tenant-a";

fn capture(order: &str) -> InboundMessage {
    InboundMessage {
        tenant_identifier: TENANT.into(),
        correlation_id: Some("corr-1".into()),
        message_id: Some("m-1".into()),
        command: InboundCommand::CapturePayment(PaymentPayload {
            order_reference: order.into(),
            order_item_ids: vec![1],
            amount: Some(1000),
            currency_iso_code: Some("EUR".into()),
        }),
    }
}

fn reconciler(
    svc: &MemoryCommandService,
) -> Reconciler<'_, impl PaymentStore, impl PaymentGateway, impl EventPublisher, impl Clock> {
    Reconciler {
        commands: svc,
        batch: 100,
    }
}

fn names(svc: &MemoryCommandService) -> Vec<String> {
    svc.publisher.published().into_iter().map(|e| e.detail_type).collect()
}

#[tokio::test]
async fn an_outbox_nobody_published_is_published_once_under_its_ids() {
    let svc = memory_service();
    authorized_order(&svc, TENANT, "DE--1", 1000).await;
    svc.publisher.fail_next(1);
    // Committed, then the publish failed, and the message is never delivered again.
    assert!(matches!(
        svc.handle(&capture("DE--1")).await,
        Err(OperationError::Publish(_))
    ));
    assert!(names(&svc).is_empty());
    assert_eq!(
        reconciler(&svc).run().await.unwrap(),
        ReconcileReport::default(),
        "not due yet"
    );
    svc.clock.advance(31);
    let report = reconciler(&svc).run().await.unwrap();
    assert_eq!(report.published, 1);
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentCaptured"]);
    assert_eq!(
        reconciler(&svc).run().await.unwrap(),
        ReconcileReport::default(),
        "settled"
    );
    // A late redelivery is a duplicate: the events went out once.
    assert_eq!(svc.handle(&capture("DE--1")).await.unwrap(), OperationReport::Duplicate);
    assert_eq!(names(&svc).len(), 2);
}

#[tokio::test]
async fn a_command_whose_outcome_stayed_unknown_gets_its_answer_after_the_queue_gave_up() {
    let svc = memory_service();
    authorized_order(&svc, TENANT, "DE--1", 1000).await;
    // Stripe captures, the answer is lost, and Stripe stays unreachable for every delivery.
    let unreachable = || GatewayFault::Fail(PspError::Unknown("timeout".into()));
    svc.gateway.inject("capture", GatewayFault::ApplyThenLose);
    for _ in 0..2 {
        svc.gateway.inject("capture", unreachable());
    }
    // Each later delivery reads the PaymentIntent first, three tries each.
    for _ in 0..12 {
        svc.gateway.inject("get_payment", unreachable());
    }
    for _ in 0..5 {
        let delivery = svc.handle(&capture("DE--1")).await;
        assert!(
            matches!(delivery, Err(OperationError::OutcomeUnknown(_))),
            "{delivery:?}"
        );
        svc.clock.advance(61);
    }
    // The message is in the DLQ now. Stripe answers again; 15 minutes after the first claim the
    // reconciler runs the stored command: it reads the PaymentIntent and answers.
    assert_eq!(reconciler(&svc).run().await.unwrap().settled, 0, "not due yet");
    svc.clock.advance(15 * 60);
    let report = reconciler(&svc).run().await.unwrap();
    assert_eq!((report.settled, report.pending), (1, 0));
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentCaptured"]);
    assert_eq!(svc.gateway.effects("capture"), 1, "captured once");
    let events = svc.publisher.published();
    let attributes = events[1].parsed_detail().unwrap().message_attributes;
    assert_eq!(
        attributes.correlation_id, "corr-1",
        "the chain's correlation id is kept"
    );
}

#[tokio::test]
async fn an_operation_only_its_caller_can_retry_leaves_the_index() {
    let svc = memory_service();
    let now = svc.clock.epoch_seconds();
    let webhook = ClaimRequest {
        tenant: TENANT.into(),
        key: "webhook-evt_1".into(),
        fingerprint: String::new(),
        token: "dead-worker".into(),
        payment: None,
        now,
        lease_until: now + 60,
        expires_at: now + 3600,
        attention_due: now + 900,
        request: None,
    };
    svc.store.claim(&webhook).await.unwrap();
    svc.clock.advance(901);
    assert_eq!(reconciler(&svc).run().await.unwrap().released, 1);
    assert_eq!(reconciler(&svc).run().await.unwrap(), ReconcileReport::default());
}

#[tokio::test]
async fn two_passes_at_once_publish_an_outbox_once() {
    let svc = memory_service();
    authorized_order(&svc, TENANT, "DE--1", 1000).await;
    svc.publisher.fail_next(1);
    let _ = svc.handle(&capture("DE--1")).await;
    svc.clock.advance(31);
    let (first, second) = (reconciler(&svc), reconciler(&svc));
    let (a, b) = futures::join!(first.run(), second.run());
    assert_eq!(a.unwrap().published + b.unwrap().published, 1);
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentCaptured"]);
}

#[tokio::test]
async fn an_uncaptured_authorization_is_announced_once_a_day_before_it_ends() {
    let svc = memory_service();
    let seeded = authorized_order(&svc, TENANT, "DE--1", 1000).await;
    // Authorized now (the seed's history has no real time).
    let mut payment = svc
        .store
        .get_payment(TENANT, &seeded.transaction_id)
        .await
        .unwrap()
        .unwrap();
    payment.history.last_mut().unwrap().at = super::super::runner::history_time(&svc.clock);
    let store = crate::adapters::memory::MemoryStore::new();
    store.insert_payment(&payment).await.unwrap();
    let svc = crate::service::CommandService { store, ..svc };
    svc.clock.advance(6 * 86400 - 1);
    assert_eq!(reconciler(&svc).run().await.unwrap().expiry_warnings, 0, "not due yet");
    svc.clock.advance(1);
    let report = reconciler(&svc).run().await.unwrap();
    assert_eq!(report.expiry_warnings, 1);
    assert_eq!(names(&svc), ["PaymentUpdated"]);
    let details = svc.publisher.published()[0].parsed_detail().unwrap().payload["details"].clone();
    let details: serde_json::Value = serde_json::from_str(details.as_str().unwrap()).unwrap();
    assert!(details["authorizationExpiresAt"].is_string(), "{details}");
    // Once.
    svc.clock.advance(3600);
    assert_eq!(reconciler(&svc).run().await.unwrap(), ReconcileReport::default());
    assert_eq!(names(&svc).len(), 1);
}

#[tokio::test]
async fn a_kept_webhook_is_applied_once_its_payment_exists_even_if_no_drain_comes() {
    let svc = memory_service();
    let payment = authorized_order(&svc, TENANT, "DE--1", 1000).await;
    // The event of a payment the app does not know yet is kept.
    let event = crate::ports::WebhookEvent {
        event_id: "evt_1".into(),
        created: 1,
        transaction_id: "tx-later".into(),
        psp_reference: payment.psp_reference.clone(),
        tenant: None,
        change: crate::ports::WebhookChange::Payment {
            status: crate::domain::PaymentStatus::Captured,
            amount_captured: 1000,
            decline: None,
        },
    };
    let webhooks = super::super::webhooks::WebhookService::of(&svc);
    assert_eq!(
        webhooks.handle(TENANT, &event).await.unwrap(),
        crate::service::WebhookReport::Inboxed
    );
    svc.clock.advance(300);
    // Still unknown: kept and tried later, not every minute.
    assert_eq!(reconciler(&svc).run().await.unwrap().inbox_applied, 0);
    let entries = svc.store.inbox(TENANT, "tx-later").await.unwrap();
    assert_eq!(entries[0].retry_at, svc.clock.epoch_seconds() + 300);
    // The payment appears (written by a path that drains nothing).
    let later = Payment {
        transaction_id: "tx-later".into(),
        order_reference: Some("DE--2".into()),
        ..payment
    };
    svc.store.insert_payment(&later).await.unwrap();
    svc.clock.advance(300);
    let report = reconciler(&svc).run().await.unwrap();
    assert_eq!(report.inbox_applied, 1);
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentCaptured"]);
    assert!(svc.store.inbox(TENANT, "tx-later").await.unwrap().is_empty());
}

/// A backlog in the dead-letter queues is worked through in rounds within one pass, not one batch a minute.
#[tokio::test]
async fn one_pass_works_through_a_backlog_of_dead_letters_in_rounds() {
    use crate::adapters::memory_bridge::MemoryDeadLetters;
    use std::collections::BTreeMap;

    let svc = memory_service();
    let tenants = crate::service::testing::memory_directory(&[]).await;
    let letters = MemoryDeadLetters::default();
    for n in 0..25 {
        let attributes = BTreeMap::from([
            ("transferName".to_string(), "CapturePayment".to_string()),
            ("tenantIdentifier".to_string(), "tenant-nobody-configured".to_string()),
            ("timestamp".to_string(), "2026-01-01T00:00:00.000000".to_string()),
        ]);
        let body = format!(
            r#"{{"orderReference": "DE--{n}", "orderItemIds": [1], "amount": 1000, "currencyIsoCode": "EUR"}}"#
        );
        letters.put("capture-payment-dlq", &body, attributes);
    }
    let pass = Reconciler {
        commands: &svc,
        batch: 10,
    };
    let report = pass.settle_dead_letters(&letters, &tenants).await.unwrap();
    assert_eq!(report.held, 25, "three rounds of at most 10");
    assert_eq!(letters.len(), 25, "kept for a redrive once the tenant is configured");
}
