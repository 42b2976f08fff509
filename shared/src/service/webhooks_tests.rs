//! Webhook events on the in-memory twins: each status, duplicates, order, the inbox and refunds.

use super::*;
use crate::acp::{BusEvent, InboundCommand, InboundMessage, RefundOrderItem, RefundPayment};
use crate::domain::{Currency, DisputeStatus, Money};
use crate::service::testing::{MemoryCommandService, authorized_order, memory_service, webhook_service};

type Svc = MemoryCommandService;

const TENANT: &str = "tenant-a";

/// A payment of 1000 EUR cents for `order` (items 1 and 2) in `status`, PSP id `pi_{order}`.
async fn payment_in(svc: &Svc, order: Option<&str>, tx: &str, status: PaymentStatus) -> Payment {
    let eur = Currency::parse("EUR").unwrap();
    let mut p = Payment::new(
        TENANT.into(),
        tx.into(),
        order.map(str::to_string),
        format!("pi_{tx}"),
        Money::new(1000, eur),
        "t0",
    );
    p.order_item_ids = vec![1, 2];
    p.status = status;
    svc.store.insert_payment(&p).await.unwrap();
    p
}

/// A new payment `tx-1` of 1000 EUR cents for order `DE--1`, PSP id `pi_tx-1` (not stored).
fn new_payment() -> Payment {
    Payment::new(
        TENANT.into(),
        "tx-1".into(),
        Some("DE--1".into()),
        "pi_tx-1".into(),
        Money::new(1000, Currency::parse("EUR").unwrap()),
        "t0",
    )
}

fn event(id: &str, tx: &str, change: WebhookChange) -> WebhookEvent {
    WebhookEvent {
        event_id: id.into(),
        created: 1_767_225_600,
        transaction_id: tx.into(),
        psp_reference: format!("pi_{tx}"),
        tenant: Some(TENANT.into()),
        change,
    }
}

fn status(status: PaymentStatus, amount_captured: i64) -> WebhookChange {
    WebhookChange::Payment {
        status,
        amount_captured,
        decline: None,
    }
}

fn names(svc: &Svc) -> Vec<String> {
    svc.publisher.published().into_iter().map(|e| e.detail_type).collect()
}

fn payload(event: &BusEvent) -> serde_json::Value {
    event.parsed_detail().unwrap().payload
}

async fn stored(svc: &Svc, tx: &str) -> Payment {
    svc.store.get_payment(TENANT, tx).await.unwrap().unwrap()
}

async fn handle(svc: &Svc, e: &WebhookEvent) -> WebhookReport {
    webhook_service(svc).handle(TENANT, e).await.unwrap()
}

/// The `declineReason` of the last PaymentUpdated published.
fn last_decline(svc: &Svc) -> serde_json::Value {
    last_details(svc)["declineReason"].clone()
}

#[tokio::test]
async fn a_decline_is_not_the_end_and_its_reason_goes_once_the_shopper_tries_again() {
    let svc = memory_service();
    payment_in(&svc, Some("DE--1"), "tx-1", PaymentStatus::New).await;
    let declined = WebhookChange::Payment {
        status: PaymentStatus::New,
        amount_captured: 0,
        decline: Some("card_declined".into()),
    };
    handle(&svc, &event("evt_1", "tx-1", declined)).await;
    assert_eq!(stored(&svc, "tx-1").await.status, PaymentStatus::New);
    assert_eq!(last_decline(&svc), "card_declined");

    // The next attempt asks for 3-D Secure: the old reason is gone.
    handle(&svc, &event("evt_2", "tx-1", status(PaymentStatus::New, 0))).await;
    assert_eq!(stored(&svc, "tx-1").await.decline, None);
    assert_eq!(last_decline(&svc), serde_json::Value::Null);

    handle(&svc, &event("evt_3", "tx-1", status(PaymentStatus::Authorized, 0))).await;
    assert_eq!(stored(&svc, "tx-1").await.status, PaymentStatus::Authorized);
    assert_eq!(
        names(&svc),
        [
            "PaymentUpdated",
            "PaymentUpdated",
            "PaymentUpdated",
            "PaymentAuthorized"
        ]
    );
}

#[tokio::test]
async fn a_method_captured_when_paid_is_reported_authorized_when_its_money_arrives() {
    let svc = memory_service();
    let mut payment = new_payment();
    payment.capture = crate::domain::CaptureMode::Automatic;
    svc.store.insert_payment(&payment).await.unwrap();
    handle(&svc, &event("evt_1", "tx-1", status(PaymentStatus::Captured, 1000))).await;
    assert_eq!(stored(&svc, "tx-1").await.status, PaymentStatus::Authorized);
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentAuthorized"]);
}

#[tokio::test]
async fn an_intent_canceled_before_it_was_paid_fails_the_authorization() {
    let svc = memory_service();
    payment_in(&svc, Some("DE--1"), "tx-1", PaymentStatus::New).await;
    handle(&svc, &event("evt_1", "tx-1", status(PaymentStatus::Canceled, 0))).await;
    assert_eq!(stored(&svc, "tx-1").await.status, PaymentStatus::AuthorizationFailed);
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentAuthorizationFailed"]);
}

#[tokio::test]
async fn each_status_moves_the_payment_and_sends_its_message() {
    use PaymentStatus::*;
    let table = [
        (
            New,
            status(Authorized, 0),
            Authorized,
            vec!["PaymentUpdated", "PaymentAuthorized"],
        ),
        (
            New,
            status(AuthorizationFailed, 0),
            AuthorizationFailed,
            vec!["PaymentUpdated", "PaymentAuthorizationFailed"],
        ),
        (
            Authorized,
            status(Captured, 800),
            Captured,
            vec!["PaymentUpdated", "PaymentCaptured"],
        ),
        (
            CaptureRequested,
            status(Captured, 1000),
            Captured,
            vec!["PaymentUpdated", "PaymentCaptured"],
        ),
        (
            Authorized,
            status(Canceled, 0),
            Canceled,
            vec!["PaymentUpdated", "PaymentCanceled"],
        ),
        // processing / requires_action while undecided: PaymentUpdated only.
        (New, status(New, 0), New, vec!["PaymentUpdated"]),
        // ... and nothing once decided.
        (Authorized, status(New, 0), Authorized, vec![]),
    ];
    for (i, (from, change, to, expected)) in table.into_iter().enumerate() {
        let svc = memory_service();
        let tx = format!("tx-{i}");
        let before = payment_in(&svc, Some("DE--1"), &tx, from).await;
        handle(&svc, &event("evt_1", &tx, change.clone())).await;
        let after = stored(&svc, &tx).await;
        assert_eq!(after.status, to, "{from:?} + {change:?}");
        assert_eq!(names(&svc), expected, "{from:?} + {change:?}");
        let published = svc.publisher.published();
        if let Some(message) = published.get(1) {
            let p = payload(message);
            let amount = if to == Captured { after.captured } else { 1000 };
            assert_eq!(p["orderReference"], "DE--1");
            assert_eq!(p["orderItemIds"], serde_json::json!([1, 2]));
            assert_eq!(p["amount"], amount);
            assert_eq!(p["currencyIsoCode"], "EUR");
        }
        if to == Captured {
            assert_eq!(after.captured, if from == Authorized { 800 } else { 1000 });
        }
        if to != from {
            assert_eq!(after.version, before.version + 1);
            assert_eq!(after.history.last().map(|h| h.status), Some(to));
        }
    }
}

#[tokio::test]
async fn the_same_event_twice_has_no_second_effect() {
    let svc = memory_service();
    payment_in(&svc, Some("DE--1"), "tx-1", PaymentStatus::New).await;
    let e = event("evt_1", "tx-1", status(PaymentStatus::Authorized, 0));
    assert!(matches!(
        handle(&svc, &e).await,
        WebhookReport::Applied(OperationReport::Completed(_))
    ));
    assert_eq!(
        handle(&svc, &e).await,
        WebhookReport::Applied(OperationReport::Duplicate)
    );
    assert_eq!(names(&svc), vec!["PaymentUpdated", "PaymentAuthorized"]);
}

#[tokio::test]
async fn another_event_with_the_same_status_sends_nothing_new() {
    let svc = memory_service();
    payment_in(&svc, Some("DE--1"), "tx-1", PaymentStatus::New).await;
    handle(&svc, &event("evt_1", "tx-1", status(PaymentStatus::Authorized, 0))).await;
    let version = stored(&svc, "tx-1").await.version;
    handle(&svc, &event("evt_2", "tx-1", status(PaymentStatus::Authorized, 0))).await;
    assert_eq!(names(&svc), vec!["PaymentUpdated", "PaymentAuthorized"]);
    assert_eq!(stored(&svc, "tx-1").await.version, version);
}

#[tokio::test]
async fn a_late_authorized_after_captured_changes_nothing() {
    let svc = memory_service();
    payment_in(&svc, Some("DE--1"), "tx-1", PaymentStatus::Authorized).await;
    handle(&svc, &event("evt_2", "tx-1", status(PaymentStatus::Captured, 1000))).await;
    let late = handle(&svc, &event("evt_1", "tx-1", status(PaymentStatus::Authorized, 0))).await;
    assert_eq!(late, WebhookReport::Applied(OperationReport::Completed(vec![])));
    // A late failure after success is ignored as well.
    handle(
        &svc,
        &event("evt_0", "tx-1", status(PaymentStatus::AuthorizationFailed, 0)),
    )
    .await;
    assert_eq!(stored(&svc, "tx-1").await.status, PaymentStatus::Captured);
    assert_eq!(names(&svc), vec!["PaymentUpdated", "PaymentCaptured"]);
}

#[tokio::test]
async fn events_that_contradict_the_records_are_refused_and_change_nothing() {
    let svc = memory_service();
    let before = payment_in(&svc, Some("DE--1"), "tx-1", PaymentStatus::New).await;
    let mut other_intent = event("evt_1", "tx-1", status(PaymentStatus::Authorized, 0));
    other_intent.psp_reference = "pi_someone_else".into();
    let mut other_tenant = event("evt_2", "tx-1", status(PaymentStatus::Authorized, 0));
    other_tenant.tenant = Some("tenant-b".into());
    for e in [other_intent, other_tenant] {
        let result = webhook_service(&svc).handle(TENANT, &e).await;
        assert!(matches!(result, Err(WebhookError::Mismatch(_))), "{result:?}");
    }
    assert_eq!(stored(&svc, "tx-1").await, before);
    assert!(names(&svc).is_empty());
    assert_eq!(svc.store.inbox(TENANT, "tx-1").await.unwrap(), vec![]);
}

#[tokio::test]
async fn an_event_before_its_payment_waits_in_the_inbox_until_drained() {
    let svc = memory_service();
    let authorized = event("evt_1", "tx-1", status(PaymentStatus::Authorized, 0));
    let captured = WebhookEvent {
        created: authorized.created + 5,
        ..event("evt_0", "tx-1", status(PaymentStatus::Captured, 1000))
    };
    assert_eq!(handle(&svc, &captured).await, WebhookReport::Inboxed);
    assert_eq!(handle(&svc, &authorized).await, WebhookReport::Inboxed);
    assert!(names(&svc).is_empty());

    // A headless payment without an order is not ready either.
    payment_in(&svc, None, "tx-1", PaymentStatus::New).await;
    let service = webhook_service(&svc);
    assert_eq!(
        service.drain_inbox(TENANT, "tx-1").await.unwrap(),
        DrainReport {
            applied: 0,
            kept: 2,
            given_up: 0
        }
    );
    assert!(names(&svc).is_empty());

    // The order is confirmed (here: the record has its order): the drain applies both, oldest first.
    let svc2 = memory_service();
    for entry in svc.store.inbox(TENANT, "tx-1").await.unwrap() {
        svc2.store.put_inbox(&entry).await.unwrap();
    }
    payment_in(&svc2, Some("DE--1"), "tx-1", PaymentStatus::New).await;
    let report = webhook_service(&svc2).drain_inbox(TENANT, "tx-1").await.unwrap();
    assert_eq!(
        report,
        DrainReport {
            applied: 2,
            kept: 0,
            given_up: 0
        }
    );
    assert_eq!(
        names(&svc2),
        vec![
            "PaymentUpdated",
            "PaymentAuthorized",
            "PaymentUpdated",
            "PaymentCaptured"
        ]
    );
    assert_eq!(svc2.store.inbox(TENANT, "tx-1").await.unwrap(), vec![]);
    // Stripe redelivers one of them: a duplicate.
    assert_eq!(
        handle(&svc2, &authorized).await,
        WebhookReport::Applied(OperationReport::Duplicate)
    );
}

#[tokio::test]
async fn an_inbox_entry_failing_nine_times_is_given_up_and_kept() {
    let svc = memory_service();
    payment_in(&svc, Some("DE--1"), "tx-1", PaymentStatus::Captured).await;
    // A refund the app never recorded fails on every attempt.
    let unknown_refund = event(
        "evt_1",
        "tx-1",
        WebhookChange::Refund {
            refund_id: "no-such-refund".into(),
            failure_reason: None,
            psp_refund_id: "re_1".into(),
            status: RefundStatus::Succeeded,
        },
    );
    let entry = InboxEntry {
        tenant: TENANT.into(),
        event: unknown_refund.clone(),
        attempts: INBOX_MAX_ATTEMPTS - 2,
        given_up: false,
        retry_at: 0,
        expires_at: 0,
    };
    svc.store.put_inbox(&entry).await.unwrap();
    let service = webhook_service(&svc);
    let kept = service.drain_inbox(TENANT, "tx-1").await.unwrap();
    assert_eq!((kept.kept, kept.given_up), (1, 0));
    let attempts: Vec<u32> = svc
        .store
        .inbox(TENANT, "tx-1")
        .await
        .unwrap()
        .iter()
        .map(|e| e.attempts)
        .collect();
    assert_eq!(attempts, vec![INBOX_MAX_ATTEMPTS - 1]);
    let given_up = service.drain_inbox(TENANT, "tx-1").await.unwrap();
    assert_eq!((given_up.kept, given_up.given_up), (0, 1));
    let kept = svc.store.inbox(TENANT, "tx-1").await.unwrap();
    assert_eq!(kept.len(), 1, "kept for an operator, not dropped");
    assert!(kept[0].given_up);
    let again = service.drain_inbox(TENANT, "tx-1").await.unwrap();
    assert_eq!(again, DrainReport::default(), "later drains skip it");

    // Received directly, the same event is refused for a retry by the PSP.
    let result = service.handle(TENANT, &unknown_refund).await;
    assert!(matches!(&result, Err(e @ WebhookError::RefundNotRecorded) if e.is_retryable()));
}

/// RefundPayment of `amount` for `item` of order DE--1.
fn refund_payment(item: i64, amount: i64) -> InboundMessage {
    InboundMessage {
        tenant_identifier: TENANT.into(),
        correlation_id: None,
        message_id: None,
        command: InboundCommand::RefundPayment(RefundPayment {
            order_reference: "DE--1".into(),
            order_items: vec![RefundOrderItem {
                order_item_id: item,
                sku: None,
            }],
            order_item_ids: None,
            amount,
            currency_iso_code: Some("EUR".into()),
        }),
    }
}

/// A RefundPayment of 300 for item 1 whose refund the PSP leaves pending; returns the refund id.
async fn pending_refund(svc: &Svc) -> (Payment, String) {
    let payment = authorized_order(svc, TENANT, "DE--1", 1000).await;
    let capture = InboundMessage {
        tenant_identifier: TENANT.into(),
        correlation_id: None,
        message_id: None,
        command: InboundCommand::CapturePayment(PaymentPayload {
            order_reference: "DE--1".into(),
            order_item_ids: vec![1, 2],
            amount: None,
            currency_iso_code: Some("EUR".into()),
        }),
    };
    svc.handle(&capture).await.unwrap();
    svc.gateway.refunds_end_in(RefundStatus::Pending);
    let refund = refund_payment(1, -300);
    let refund_id = super::super::operation::OperationId::of(&refund).key;
    svc.handle(&refund).await.unwrap();
    let p = stored(svc, &payment.transaction_id).await;
    assert_eq!((p.captured, p.refunding, p.refunded), (1000, 300, 0));
    assert_eq!(
        names(svc),
        vec!["PaymentUpdated", "PaymentCaptured", "PaymentUpdated"],
        "no refund answer while pending"
    );
    (p, refund_id)
}

fn refund_event(id: &str, payment: &Payment, refund_id: &str, psp_refund_id: &str, to: RefundStatus) -> WebhookEvent {
    WebhookEvent {
        psp_reference: payment.psp_reference.clone(),
        ..event(
            id,
            &payment.transaction_id,
            WebhookChange::Refund {
                refund_id: refund_id.into(),
                failure_reason: None,
                psp_refund_id: psp_refund_id.into(),
                status: to,
            },
        )
    }
}

#[tokio::test]
async fn a_pending_refund_succeeds_through_its_webhook() {
    let svc = memory_service();
    let (payment, refund_id) = pending_refund(&svc).await;
    let tx = payment.transaction_id.as_str();
    let record = svc.store.get_refund(TENANT, tx, &refund_id).await.unwrap().unwrap();
    let psp_refund_id = record.psp_reference.clone().unwrap();

    let updated = refund_event("evt_r1", &payment, &refund_id, &psp_refund_id, RefundStatus::Pending);
    handle(&svc, &updated).await;
    assert_eq!(names(&svc).len(), 3, "pending again changes nothing");

    let succeeded = refund_event("evt_r2", &payment, &refund_id, &psp_refund_id, RefundStatus::Succeeded);
    handle(&svc, &succeeded).await;
    let published = svc.publisher.published();
    assert_eq!(names(&svc)[3..], ["PaymentUpdated", "PaymentRefunded"]);
    let reply = payload(&published[4]);
    assert_eq!(reply["orderReference"], "DE--1");
    assert_eq!(reply["orderItemIds"], serde_json::json!([1]));
    assert_eq!(reply["amount"], -300, "echoes the command's amount (decision §9.5)");
    assert_eq!(reply["currencyIsoCode"], "EUR");

    let p = stored(&svc, tx).await;
    assert_eq!((p.refunding, p.refunded, p.refundable()), (0, 300, 700));
    let record = svc.store.get_refund(TENANT, tx, &refund_id).await.unwrap().unwrap();
    assert_eq!(record.status, RefundStatus::Succeeded);

    // Another PSP refund id is refused.
    let forged = refund_event("evt_r4", &payment, &refund_id, "re_other", RefundStatus::Failed);
    assert!(matches!(
        webhook_service(&svc).handle(TENANT, &forged).await,
        Err(WebhookError::Mismatch(_))
    ));
    // The bank fails the refund after its success: recorded, its amount released, the tenant told by
    // PaymentUpdated (it was told PaymentRefunded already), never a PaymentRefundFailed.
    let late = WebhookEvent {
        change: WebhookChange::Refund {
            refund_id: refund_id.clone(),
            failure_reason: Some("expired_or_canceled_card".into()),
            psp_refund_id: psp_refund_id.clone(),
            status: RefundStatus::Failed,
        },
        ..refund_event("evt_r3", &payment, &refund_id, &psp_refund_id, RefundStatus::Failed)
    };
    handle(&svc, &late).await;
    assert_eq!(names(&svc)[5..], ["PaymentUpdated"]);
    let details: serde_json::Value =
        serde_json::from_str(payload(&svc.publisher.published()[5])["details"].as_str().unwrap()).unwrap();
    assert_eq!(details["refundedAmount"], 0);
    assert_eq!(
        details["refundFailedAfterSuccess"],
        format!("{psp_refund_id}: expired_or_canceled_card")
    );
    let p = stored(&svc, tx).await;
    assert_eq!((p.refunded, p.refundable()), (0, 1000));
    let record = svc.store.get_refund(TENANT, tx, &refund_id).await.unwrap().unwrap();
    assert_eq!(record.status, RefundStatus::Failed);
    handle(&svc, &late).await;
    assert_eq!(names(&svc).len(), 6, "a redelivery changes nothing");
}

#[tokio::test]
async fn a_failed_refund_releases_its_amount_and_items() {
    let svc = memory_service();
    let (payment, refund_id) = pending_refund(&svc).await;
    let tx = payment.transaction_id.as_str();
    let psp_refund_id = svc
        .store
        .get_refund(TENANT, tx, &refund_id)
        .await
        .unwrap()
        .unwrap()
        .psp_reference
        .unwrap();
    let failed = refund_event("evt_r1", &payment, &refund_id, &psp_refund_id, RefundStatus::Failed);
    handle(&svc, &failed).await;
    assert_eq!(names(&svc)[3..], ["PaymentUpdated", "PaymentRefundFailed"]);
    let reply = payload(&svc.publisher.published()[4]);
    assert_eq!(
        (reply["amount"].clone(), reply["orderItemIds"].clone()),
        (serde_json::json!(-300), serde_json::json!([1]))
    );

    let p = stored(&svc, tx).await;
    assert_eq!((p.refunding, p.refunded, p.refundable()), (0, 0, 1000));
    assert!(p.refunded_item_ids.is_empty(), "item 1 may be refunded again");
    let record = svc.store.get_refund(TENANT, tx, &refund_id).await.unwrap().unwrap();
    assert_eq!(record.status, RefundStatus::Failed);

    // The operator retries the refund in the OMS: the same RefundPayment is a new attempt, answered.
    svc.gateway.refunds_end_in(RefundStatus::Succeeded);
    let retry = refund_payment(1, -300);
    let report = svc.handle(&retry).await.unwrap();
    assert_eq!(
        report,
        OperationReport::Completed(vec!["PaymentUpdated".into(), "PaymentRefunded".into()])
    );
    assert_eq!(stored(&svc, tx).await.refunded, 300);
    assert_eq!(svc.handle(&retry).await.unwrap(), OperationReport::Duplicate);
}

/// A failed status accepts the PSP's later facts (issue 11 §4): the money was captured after the
/// cancellation failed, released after the capture failed, or the authorization went through after
/// all. The payment moves and the tenant is told.
#[tokio::test]
async fn failed_statuses_accept_the_psps_later_facts() {
    let svc = memory_service();
    let cases = [
        (
            "tx-cf",
            PaymentStatus::CancellationFailed,
            PaymentStatus::Captured,
            "PaymentCaptured",
        ),
        (
            "tx-kf",
            PaymentStatus::CaptureFailed,
            PaymentStatus::Canceled,
            "PaymentCanceled",
        ),
        (
            "tx-af",
            PaymentStatus::AuthorizationFailed,
            PaymentStatus::Authorized,
            "PaymentAuthorized",
        ),
    ];
    for (i, (tx, from, to, told)) in cases.into_iter().enumerate() {
        payment_in(&svc, Some(&format!("DE--{tx}")), tx, from).await;
        handle(&svc, &event(&format!("evt_{i}"), tx, status(to, 1000))).await;
        let p = stored(&svc, tx).await;
        assert_eq!(p.status, to, "{from:?} -> {to:?}");
        assert_eq!(names(&svc).last().map(String::as_str), Some(told));
    }
    let captured = stored(&svc, "tx-cf").await;
    assert_eq!((captured.captured, captured.shop_captured), (1000, 1000));
}

/// An event whose object names only the PaymentIntent (a dispute, a charge).
fn by_payment_intent(id: &str, psp_reference: &str, change: WebhookChange) -> WebhookEvent {
    WebhookEvent {
        transaction_id: String::new(),
        psp_reference: psp_reference.into(),
        tenant: None,
        ..event(id, "", change)
    }
}

/// The `details` of the last PaymentUpdated published.
fn last_details(svc: &Svc) -> serde_json::Value {
    let published = svc.publisher.published();
    let updated = published
        .iter()
        .rev()
        .find(|e| e.detail_type == "PaymentUpdated")
        .unwrap();
    serde_json::from_str(payload(updated)["details"].as_str().unwrap()).unwrap()
}

fn dispute(status: DisputeStatus) -> WebhookChange {
    WebhookChange::Dispute {
        dispute_id: "du_1".into(),
        amount: 1000,
        reason: "fraudulent".into(),
        status,
    }
}

#[tokio::test]
async fn a_dispute_is_recorded_and_shown_and_a_foreign_one_ignored() {
    let svc = memory_service();
    let p = payment_in(&svc, Some("DE--1"), "tx-1", PaymentStatus::Captured).await;
    let opened = by_payment_intent("evt_1", &p.psp_reference, dispute(DisputeStatus::NeedsResponse));
    assert!(matches!(handle(&svc, &opened).await, WebhookReport::Applied(_)));
    assert_eq!(names(&svc), ["PaymentUpdated"], "never a refund message");
    assert_eq!(
        last_details(&svc)[r#"Dispute "du_1""#],
        "needs_response: 1000 (fraudulent)"
    );
    // Stripe's retry of the same state (another event id) tells nothing new.
    handle(
        &svc,
        &by_payment_intent("evt_2", &p.psp_reference, dispute(DisputeStatus::NeedsResponse)),
    )
    .await;
    assert_eq!(names(&svc).len(), 1);
    let lost = WebhookEvent {
        created: opened.created + 60,
        ..by_payment_intent("evt_3", &p.psp_reference, dispute(DisputeStatus::Lost))
    };
    handle(&svc, &lost).await;
    assert_eq!(last_details(&svc)[r#"Dispute "du_1""#], "lost: 1000 (fraudulent)");
    assert_eq!(stored(&svc, "tx-1").await.disputes.len(), 1);
    // A dispute of a payment made outside the app.
    let foreign = by_payment_intent("evt_4", "pi_not_ours", dispute(DisputeStatus::NeedsResponse));
    assert_eq!(handle(&svc, &foreign).await, WebhookReport::NotOurs);
    assert_eq!(names(&svc).len(), 2);
}

#[tokio::test]
async fn a_refund_made_outside_the_app_is_recorded_and_counts_against_the_refundable_amount() {
    let svc = memory_service();
    let (payment, _) = pending_refund(&svc).await;
    let refunded = |id: &str, amount: i64, created: i64| WebhookEvent {
        created,
        ..by_payment_intent(
            id,
            &payment.psp_reference,
            WebhookChange::Refunded {
                amount_refunded: amount,
            },
        )
    };
    // Stripe's charge.refunded for the app's own refund: nothing outside the app.
    handle(&svc, &refunded("evt_1", 300, 100)).await;
    assert_eq!(stored(&svc, "tx-DE--1").await.external_refunded(), 0);
    assert!(last_details(&svc).get("externalRefundedAmount").is_none());
    // 200 more refunded in the Dashboard.
    handle(&svc, &refunded("evt_2", 500, 200)).await;
    let p = stored(&svc, "tx-DE--1").await;
    assert_eq!((p.external_refunded(), p.refundable()), (200, 500));
    assert_eq!(last_details(&svc)["externalRefundedAmount"], 200);
    assert!(
        !names(&svc).iter().any(|n| n == "PaymentRefunded"),
        "Spryker named no items"
    );
    // An older report changes nothing.
    let before = names(&svc).len();
    handle(&svc, &refunded("evt_0", 300, 50)).await;
    assert_eq!(
        (names(&svc).len(), stored(&svc, "tx-DE--1").await.external_refunded()),
        (before, 200)
    );
    // A RefundPayment beyond what is left is refused.
    svc.handle(&refund_payment(2, -600)).await.unwrap();
    assert_eq!(names(&svc).last().map(String::as_str), Some("PaymentRefundFailed"));
}

#[tokio::test]
async fn an_authorization_the_psp_canceled_cancels_the_open_items_and_says_why() {
    let svc = memory_service();
    let mut p = new_payment();
    p.status = PaymentStatus::Authorized;
    p.order_item_ids = vec![1, 2];
    p.item_amounts = [(1, 400), (2, 600)].into();
    // Item 1 was canceled before (its amount no longer to capture).
    p.canceled_item_ids.insert(1);
    p.canceled = 400;
    svc.store.insert_payment(&p).await.unwrap();
    handle(&svc, &event("evt_1", "tx-1", status(PaymentStatus::Canceled, 0))).await;
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentCanceled"]);
    let canceled = payload(&svc.publisher.published()[1]);
    assert_eq!(
        canceled["orderItemIds"],
        serde_json::json!([2]),
        "item 1 was canceled before"
    );
    assert_eq!(canceled["amount"], 600);
    assert_eq!(
        last_details(&svc)["canceledAtPsp"],
        "canceled at the PSP, not by a CancelPayment"
    );
    assert_eq!(stored(&svc, "tx-1").await.status, PaymentStatus::Canceled);
}

fn funding(balance: i64) -> WebhookChange {
    WebhookChange::Funding {
        balance,
        currency: "EUR".into(),
    }
}

/// A bank transfer payment of 1000 EUR cents for `DE--1`, captured when paid, with PSP customer `cus_1`.
async fn bank_transfer(svc: &Svc) -> Payment {
    let mut payment = new_payment();
    payment.order_item_ids = vec![1, 2];
    payment.capture = crate::domain::CaptureMode::Automatic;
    payment.psp_customer = Some("cus_1".into());
    svc.store.insert_payment(&payment).await.unwrap();
    payment
}

/// The payload of the last message named `name`, with its `context` parsed.
fn last_funding(svc: &Svc, name: &str) -> (serde_json::Value, serde_json::Value) {
    let published = svc.publisher.published();
    let event = published.iter().rev().find(|e| e.detail_type == name).unwrap();
    let wire = payload(event);
    let context = serde_json::from_str(wire["context"].as_str().unwrap()).unwrap();
    (wire, context)
}

#[tokio::test]
async fn a_bank_transfer_arriving_short_is_underpaid_until_the_rest_arrives() {
    let svc = memory_service();
    bank_transfer(&svc).await;
    handle(&svc, &event("evt_1", "tx-1", funding(-400))).await;
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentUnderpaid"]);
    let (wire, context) = last_funding(&svc, "PaymentUnderpaid");
    assert_eq!(
        (
            wire["orderReference"].clone(),
            wire["orderItemIds"].clone(),
            wire["amount"].clone()
        ),
        ("DE--1".into(), serde_json::json!([1, 2]), 1000.into())
    );
    assert_eq!(context, serde_json::json!({"requestedAmount": 1000, "paidAmount": 600}));
    let details = last_details(&svc);
    assert_eq!(
        (
            &details["fundingState"],
            &details["fundingRequestedAmount"],
            &details["fundingPaidAmount"]
        ),
        (
            &serde_json::json!("underpaid"),
            &serde_json::json!(1000),
            &serde_json::json!(600)
        )
    );
    assert_eq!(
        stored(&svc, "tx-1").await.status,
        PaymentStatus::New,
        "the order waits for the rest"
    );

    // The same report again (Stripe's retry) tells nothing new; more money arriving does.
    handle(&svc, &event("evt_2", "tx-1", funding(-400))).await;
    assert_eq!(names(&svc).len(), 2);
    let later = WebhookEvent {
        created: 1_767_225_660,
        ..event("evt_3", "tx-1", funding(-100))
    };
    handle(&svc, &later).await;
    assert_eq!(last_funding(&svc, "PaymentUnderpaid").1["paidAmount"], 900);

    // The rest arrives: the payment is paid as any method captured when paid.
    handle(&svc, &event("evt_4", "tx-1", status(PaymentStatus::Captured, 1000))).await;
    assert_eq!(stored(&svc, "tx-1").await.status, PaymentStatus::Authorized);
    assert_eq!(names(&svc).last().map(String::as_str), Some("PaymentAuthorized"));
    assert_eq!(
        last_details(&svc)["fundingState"],
        serde_json::Value::Null,
        "nothing is missing any more"
    );
}

#[tokio::test]
async fn money_beyond_the_amount_in_the_customers_balance_is_overpaid() {
    let svc = memory_service();
    let payment = bank_transfer(&svc).await;
    handle(&svc, &event("evt_1", "tx-1", status(PaymentStatus::Captured, 1000))).await;
    // Stripe names the payment by the customer made for it.
    let balance = by_payment_intent("evt_2", "cus_1", funding(250));
    assert!(matches!(handle(&svc, &balance).await, WebhookReport::Applied(_)));
    assert_eq!(
        names(&svc),
        [
            "PaymentUpdated",
            "PaymentAuthorized",
            "PaymentUpdated",
            "PaymentOverpaid"
        ]
    );
    let (wire, context) = last_funding(&svc, "PaymentOverpaid");
    assert_eq!(wire["amount"], 1000);
    assert_eq!(
        context,
        serde_json::json!({"requestedAmount": 1000, "paidAmount": 1250})
    );
    assert_eq!(last_details(&svc)["fundingState"], "overpaid");
    assert_eq!(stored(&svc, "tx-1").await.funding.map(|f| f.balance), Some(250));
    // A balance in another currency is not this payment's money: recorded nowhere, logged for operators.
    let other = WebhookChange::Funding {
        balance: 300,
        currency: "USD".into(),
    };
    handle(&svc, &by_payment_intent("evt_3", "cus_1", other)).await;
    assert_eq!(names(&svc).len(), 4);
    assert_eq!(stored(&svc, "tx-1").await.version, payment.version + 2);
}

#[tokio::test]
async fn money_in_the_balance_of_a_payment_that_took_none_is_no_overpayment() {
    let svc = memory_service();
    bank_transfer(&svc).await;
    handle(&svc, &by_payment_intent("evt_1", "cus_1", funding(700))).await;
    // Recorded and shown as nothing more: the payment still waits for its money.
    assert_eq!(names(&svc), ["PaymentUpdated"]);
    assert_eq!(last_details(&svc)["fundingState"], serde_json::Value::Null);
}
