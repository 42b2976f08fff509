//! Command processing on the in-memory twins: every promise of issue 2 at unit level.

use super::*;
use crate::acp::{BusEvent, InboundMessage, RefundOrderItem};
use crate::adapters::memory::GatewayFault;
use crate::ports::{Claim, ClaimRequest};
use crate::service::testing::{MemoryCommandService, authorized_order, memory_service};
use crate::service::{OperationError, OperationReport};

type Svc = MemoryCommandService;

const TENANT: &str = "tenant-a";

fn service() -> Svc {
    memory_service()
}

/// An order whose payment the customer has authorized at the PSP.
async fn authorized(svc: &Svc, order: &str, amount: i64) -> Payment {
    authorized_order(svc, TENANT, order, amount).await
}

fn message(command: InboundCommand) -> InboundMessage {
    InboundMessage {
        tenant_identifier: TENANT.into(),
        correlation_id: Some("corr-1".into()),
        message_id: None,
        command,
    }
}

fn capture(order: &str, items: Vec<i64>, amount: Option<i64>) -> InboundMessage {
    message(InboundCommand::CapturePayment(PaymentPayload {
        order_reference: order.into(),
        order_item_ids: items,
        amount,
        currency_iso_code: Some("EUR".into()),
    }))
}

fn cancel(order: &str) -> InboundMessage {
    message(InboundCommand::CancelPayment(PaymentPayload {
        order_reference: order.into(),
        order_item_ids: vec![1],
        amount: Some(0),
        currency_iso_code: Some("EUR".into()),
    }))
}

fn refund(order: &str, items: Vec<i64>, amount: i64) -> InboundMessage {
    message(InboundCommand::RefundPayment(RefundPayment {
        order_reference: order.into(),
        order_items: items
            .iter()
            .map(|i| RefundOrderItem {
                order_item_id: *i,
                sku: None,
            })
            .collect(),
        order_item_ids: Some(items),
        amount,
        currency_iso_code: Some("EUR".into()),
    }))
}

fn names(svc: &Svc) -> Vec<String> {
    svc.publisher.published().into_iter().map(|e| e.detail_type).collect()
}

fn payload(event: &BusEvent) -> serde_json::Value {
    event.parsed_detail().unwrap().payload
}

async fn payment(svc: &Svc, order: &str) -> Payment {
    svc.store.find_payment_by_order(TENANT, order).await.unwrap().unwrap()
}

#[tokio::test]
async fn capture_moves_money_once_and_answers_with_captured() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    let report = svc.handle(&capture("DE--1", vec![1, 2], Some(1000))).await.unwrap();
    assert_eq!(
        report,
        OperationReport::Completed(vec!["PaymentUpdated".into(), "PaymentCaptured".into()])
    );
    let events = svc.publisher.published();
    assert_eq!(
        payload(&events[1]),
        serde_json::json!({"orderReference": "DE--1", "orderItemIds": [1, 2], "amount": 1000, "currencyIsoCode": "EUR"})
    );
    let updated = payload(&events[0]);
    assert_eq!(
        (
            updated["entityReference"].as_str(),
            updated["paymentReference"].as_str()
        ),
        (Some("DE--1"), Some("tx-DE--1"))
    );
    // `details`: one flat JSON object, as Spryker's app-payment sends it (the shop shows one level).
    let details: serde_json::Value = serde_json::from_str(updated["details"].as_str().unwrap()).unwrap();
    let flat = details.as_object().unwrap();
    assert!(flat.values().all(|v| !v.is_object() && !v.is_array()), "{details}");
    assert_eq!(
        (&details["sourceStatus"], &details["targetStatus"]),
        (&serde_json::json!("authorized"), &serde_json::json!("captured"))
    );
    for status in ["new", "authorized", "captured"] {
        assert!(
            details[format!("External status \"{status}\"")].is_string(),
            "{details}"
        );
    }
    assert_eq!(
        (&details["status"], &details["capturedAmount"]),
        (&"captured".into(), &1000.into())
    );
    let detail = events[1].parsed_detail().unwrap();
    assert_eq!(detail.message_attributes.correlation_id, "corr-1");
    assert_eq!(detail.message_attributes.tenant_identifier, TENANT);
    let p = payment(&svc, "DE--1").await;
    assert_eq!((p.status, p.captured), (PaymentStatus::Captured, 1000));
    assert_eq!(svc.gateway.effects("capture"), 1);
}

/// An authorized 1000 EUR cents payment of `order` whose method (iDEAL and the like) takes the money
/// when the shopper pays.
async fn paid_with_automatic_capture(svc: &Svc, order: &str) -> Payment {
    let mut paid = Payment::new(
        TENANT.into(),
        format!("tx-{order}"),
        Some(order.into()),
        svc.gateway.authorized_payment(1000, "EUR"),
        crate::domain::Money::new(1000, crate::domain::Currency::parse("EUR").unwrap()),
        "t0",
    );
    paid.capture = crate::domain::CaptureMode::Automatic;
    let paid = paid.moved_to(PaymentStatus::Authorized, "t1").unwrap().unwrap();
    svc.store.insert_payment(&paid).await.unwrap();
    paid
}

#[tokio::test]
async fn a_method_captured_when_paid_answers_capture_without_moving_money_again() {
    let svc = service();
    paid_with_automatic_capture(&svc, "DE--1").await;
    svc.handle(&capture("DE--1", vec![1, 2], Some(1000))).await.unwrap();
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentCaptured"]);
    let p = payment(&svc, "DE--1").await;
    assert_eq!((p.status, p.captured), (PaymentStatus::Captured, 1000));
    assert_eq!(svc.gateway.effects("capture"), 0);
}

#[tokio::test]
async fn canceling_a_method_captured_when_paid_gives_the_money_back_once() {
    let svc = service();
    let paid = paid_with_automatic_capture(&svc, "DE--1").await;
    let psp_reference = paid.psp_reference;
    // The money arrived when the shopper paid (the twin's intent captured in full).
    svc.gateway
        .capture(TENANT, &psp_reference, paid.amount, true, "paid")
        .await
        .unwrap();
    let msg = cancel("DE--1");
    svc.handle(&msg).await.unwrap();
    assert_eq!(svc.handle(&msg).await.unwrap(), OperationReport::Duplicate);
    assert_eq!(names(&svc), ["PaymentUpdated", "PaymentCanceled"]);
    assert_eq!(payment(&svc, "DE--1").await.status, PaymentStatus::Canceled);
    assert_eq!(svc.gateway.effects("refund"), 1);
    assert_eq!(svc.gateway.effects("cancel"), 0);
}

#[tokio::test]
async fn the_same_capture_three_times_in_a_row_has_one_effect_and_one_result() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    let msg = capture("DE--1", vec![1], Some(1000));
    svc.handle(&msg).await.unwrap();
    assert_eq!(svc.handle(&msg).await.unwrap(), OperationReport::Duplicate);
    // Item order does not make a new command.
    assert_eq!(
        svc.handle(&capture("DE--1", vec![1], Some(1000))).await.unwrap(),
        OperationReport::Duplicate
    );
    assert_eq!(svc.gateway.effects("capture"), 1);
    assert_eq!(names(&svc), vec!["PaymentUpdated", "PaymentCaptured"]);
}

#[tokio::test]
async fn the_same_capture_three_times_at_once_has_one_effect_and_one_result() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    let msg = capture("DE--1", vec![1], Some(1000));
    let results = futures::future::join_all([svc.handle(&msg), svc.handle(&msg), svc.handle(&msg)]).await;
    let completed = results
        .iter()
        .filter(|r| matches!(r, Ok(OperationReport::Completed(_))))
        .count();
    assert_eq!(completed, 1, "{results:?}");
    for r in &results {
        assert!(
            matches!(
                r,
                Ok(_) | Err(OperationError::InProgress) | Err(OperationError::PaymentBusy)
            ),
            "{r:?}"
        );
    }
    // The ones told to retry come back later and find the work done.
    assert_eq!(svc.handle(&msg).await.unwrap(), OperationReport::Duplicate);
    assert_eq!(svc.gateway.effects("capture"), 1);
    let events = svc.publisher.published();
    assert_eq!(names(&svc), vec!["PaymentUpdated", "PaymentCaptured"]);
    assert_ne!(events[0].event_id, events[1].event_id);
}

#[tokio::test]
async fn a_lost_psp_response_is_retried_with_the_same_key_and_never_reported_as_failed() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    svc.gateway.inject("capture", GatewayFault::ApplyThenLose);
    let report = svc.handle(&capture("DE--1", vec![1], None)).await.unwrap();
    assert_eq!(
        report,
        OperationReport::Completed(vec!["PaymentUpdated".into(), "PaymentCaptured".into()])
    );
    assert_eq!(svc.gateway.effects("capture"), 1);
}

#[tokio::test]
async fn an_unknown_outcome_across_deliveries_reads_the_psp_before_capturing_again() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    let unknown = || GatewayFault::Fail(PspError::Unknown("timeout".into()));
    svc.gateway.inject("capture", GatewayFault::ApplyThenLose);
    svc.gateway.inject("capture", unknown());
    svc.gateway.inject("capture", unknown());
    let msg = capture("DE--1", vec![1], Some(700));
    assert!(matches!(svc.handle(&msg).await, Err(OperationError::OutcomeUnknown(_))));
    assert!(
        svc.publisher.published().is_empty(),
        "an unknown outcome is not a failure"
    );
    // The next delivery comes at once: the claim was released.
    let report = svc.handle(&msg).await.unwrap();
    assert_eq!(
        report,
        OperationReport::Completed(vec!["PaymentUpdated".into(), "PaymentCaptured".into()])
    );
    assert_eq!(svc.gateway.effects("capture"), 1);
    assert_eq!(payload(&svc.publisher.published()[1])["amount"], 700);
}

/// `msg` claimed on payment `p` by a worker (60 s lease) that will die before it commits.
async fn claimed_by_a_worker_that_dies(svc: &Svc, msg: &InboundMessage, p: &Payment) {
    let id = OperationId::of(msg);
    let now = svc.clock.epoch_seconds();
    let claim = ClaimRequest {
        tenant: TENANT.into(),
        key: id.key.clone(),
        fingerprint: id.fingerprint.clone(),
        token: "dead-worker".into(),
        payment: Some(p.transaction_id.clone()),
        now,
        lease_until: now + 60,
        expires_at: now + 86_400,
        attention_due: now + 900,
        request: Some(msg.to_stored()),
    };
    assert!(matches!(svc.store.claim(&claim).await.unwrap(), Claim::Acquired { .. }));
}

#[tokio::test]
async fn a_crash_after_the_psp_call_is_finished_by_the_next_delivery_after_the_lease() {
    let svc = service();
    let p = authorized(&svc, "DE--1", 1000).await;
    let msg = capture("DE--1", vec![1], None);
    let id = OperationId::of(&msg);
    // A worker claimed the command, captured at the PSP and died before committing.
    claimed_by_a_worker_that_dies(&svc, &msg, &p).await;
    svc.gateway
        .capture(TENANT, &p.psp_reference, p.amount, true, &id.psp_idempotency_key())
        .await
        .unwrap();
    assert!(matches!(svc.handle(&msg).await, Err(OperationError::InProgress)));
    svc.clock.advance(61);
    let report = svc.handle(&msg).await.unwrap();
    assert_eq!(
        report,
        OperationReport::Completed(vec!["PaymentUpdated".into(), "PaymentCaptured".into()])
    );
    assert_eq!(svc.gateway.effects("capture"), 1);
}

#[tokio::test]
async fn a_crash_between_commit_and_publish_ends_in_exactly_one_publication() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    let msg = capture("DE--1", vec![1], None);
    svc.publisher.fail_next(1);
    assert!(matches!(svc.handle(&msg).await, Err(OperationError::Publish(_))));
    assert!(svc.publisher.published().is_empty());
    // Too early: the first worker's publish lease still holds.
    assert!(matches!(svc.handle(&msg).await, Err(OperationError::InProgress)));
    svc.clock.advance(31);
    assert_eq!(
        svc.handle(&msg).await.unwrap(),
        OperationReport::Republished(vec!["PaymentUpdated".into(), "PaymentCaptured".into()])
    );
    assert_eq!(svc.handle(&msg).await.unwrap(), OperationReport::Duplicate);
    assert_eq!(names(&svc), vec!["PaymentUpdated", "PaymentCaptured"]);
    assert_eq!(svc.gateway.effects("capture"), 1);
}

#[tokio::test]
async fn a_decline_is_a_capture_failure() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    let declined = PspError::Declined {
        code: "card_declined".into(),
        message: "declined".into(),
    };
    svc.gateway.inject("capture", GatewayFault::Fail(declined));
    svc.handle(&capture("DE--1", vec![1], None)).await.unwrap();
    assert_eq!(names(&svc), vec!["PaymentUpdated", "PaymentCaptureFailed"]);
    assert_eq!(payment(&svc, "DE--1").await.status, PaymentStatus::CaptureFailed);
    // A retried capture after the failure is a new attempt with its own outcome.
    svc.handle(&capture("DE--1", vec![2], None)).await.unwrap();
    assert_eq!(payment(&svc, "DE--1").await.status, PaymentStatus::Captured);
}

#[tokio::test]
async fn commands_for_unknown_payments_fail() {
    let svc = service();
    svc.handle(&capture("DE--404", vec![1], None)).await.unwrap();
    svc.handle(&cancel("DE--404")).await.unwrap();
    svc.handle(&refund("DE--404", vec![1], -100)).await.unwrap();
    assert_eq!(
        names(&svc),
        vec![
            "PaymentCaptureFailed",
            "PaymentCancellationFailed",
            "PaymentRefundFailed"
        ]
    );
    let refund_failed = payload(&svc.publisher.published()[2]);
    assert_eq!(refund_failed["amount"], -100, "a refund's amount is echoed as received");
}

#[tokio::test]
async fn cancel_releases_an_authorization_but_never_a_capture() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    svc.handle(&cancel("DE--1")).await.unwrap();
    assert_eq!(names(&svc), vec!["PaymentUpdated", "PaymentCanceled"]);
    assert_eq!(
        payload(&svc.publisher.published()[1])["orderItemIds"],
        serde_json::json!([1])
    );
    assert_eq!(payment(&svc, "DE--1").await.status, PaymentStatus::Canceled);

    authorized(&svc, "DE--2", 1000).await;
    svc.handle(&capture("DE--2", vec![1], None)).await.unwrap();
    svc.handle(&cancel("DE--2")).await.unwrap();
    assert_eq!(names(&svc)[4], "PaymentCancellationFailed");
    assert_eq!(
        svc.gateway.effects("cancel"),
        1,
        "no PSP call for a refused cancellation"
    );
    assert_eq!(payment(&svc, "DE--2").await.status, PaymentStatus::Captured);
}

#[tokio::test]
async fn partial_refunds_add_up_to_at_most_the_captured_amount() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    svc.handle(&capture("DE--1", vec![1, 2, 3], Some(600))).await.unwrap();
    svc.handle(&refund("DE--1", vec![1], -300)).await.unwrap();
    svc.handle(&refund("DE--1", vec![2], -200)).await.unwrap();
    svc.handle(&refund("DE--1", vec![3], -101)).await.unwrap();
    let events = svc.publisher.published();
    let tail: Vec<&str> = events[2..].iter().map(|e| e.detail_type.as_str()).collect();
    assert_eq!(
        tail,
        vec![
            "PaymentUpdated",
            "PaymentRefunded",
            "PaymentUpdated",
            "PaymentRefunded",
            "PaymentRefundFailed"
        ]
    );
    assert_eq!(
        payload(&events[3]),
        serde_json::json!({"orderReference": "DE--1", "orderItemIds": [1], "amount": -300, "currencyIsoCode": "EUR"})
    );
    let p = payment(&svc, "DE--1").await;
    // Without multicapture the first capture took the whole authorization; the shop captured 600.
    assert_eq!(
        (p.status, p.captured, p.shop_captured, p.refunded),
        (PaymentStatus::Captured, 1000, 600, 500)
    );
    assert_eq!(svc.gateway.effects("refund"), 2);
    let stored = svc
        .store
        .get_refund(
            TENANT,
            &p.transaction_id,
            &OperationId::of(&refund("DE--1", vec![1], -300)).key,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.status, stored.amount, stored.requested_amount),
        (RefundStatus::Succeeded, 300, -300)
    );
}

#[tokio::test]
async fn concurrent_refunds_never_exceed_the_captured_amount() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    svc.handle(&capture("DE--1", vec![1, 2, 3], None)).await.unwrap();
    let (a, b, c) = (
        refund("DE--1", vec![1], -600),
        refund("DE--1", vec![2], -600),
        refund("DE--1", vec![3], -600),
    );
    // Deliveries told to retry are retried (and only those, as SQS does) until every command has its answer.
    let mut pending = vec![a, b, c];
    for _ in 0..5 {
        let results = futures::future::join_all(pending.iter().map(|m| svc.handle(m))).await;
        pending = pending
            .into_iter()
            .zip(results)
            .filter_map(|(m, r)| r.is_err().then_some(m))
            .collect();
    }
    assert!(pending.is_empty());
    let results: Vec<String> = names(&svc)
        .into_iter()
        .filter(|n| n.starts_with("PaymentRefund"))
        .collect();
    assert_eq!(
        results.iter().filter(|n| *n == "PaymentRefunded").count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        results.iter().filter(|n| *n == "PaymentRefundFailed").count(),
        2,
        "{results:?}"
    );
    assert_eq!(payment(&svc, "DE--1").await.refunded, 600);
}

#[tokio::test]
async fn the_same_command_with_another_amount_is_refused_before_the_psp() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    svc.handle(&capture("DE--1", vec![1], Some(500))).await.unwrap();
    svc.handle(&capture("DE--1", vec![1], Some(600))).await.unwrap();
    assert_eq!(
        names(&svc),
        vec!["PaymentUpdated", "PaymentCaptured", "PaymentCaptureFailed"]
    );
    assert_eq!(svc.gateway.effects("capture"), 1);
}

#[tokio::test]
async fn another_command_in_flight_on_the_payment_makes_this_one_wait() {
    let svc = service();
    let p = authorized(&svc, "DE--1", 1000).await;
    let other = ClaimRequest {
        tenant: TENANT.into(),
        key: "someone-else".into(),
        fingerprint: String::new(),
        token: "t".into(),
        payment: Some(p.transaction_id),
        now: svc.clock.epoch_seconds(),
        lease_until: svc.clock.epoch_seconds() + 60,
        expires_at: svc.clock.epoch_seconds() + 3600,
        attention_due: svc.clock.epoch_seconds() + 900,
        request: None,
    };
    svc.store.claim(&other).await.unwrap();
    let msg = capture("DE--1", vec![1], None);
    assert!(matches!(svc.handle(&msg).await, Err(OperationError::PaymentBusy)));
    assert_eq!(svc.gateway.effects("capture"), 0);
    svc.clock.advance(61);
    assert!(matches!(svc.handle(&msg).await, Ok(OperationReport::Completed(_))));
}

/// A captured order `DE--1` of 1000 whose next refund reaches Stripe and whose answers are all lost
/// (the first after the effect, the delivery's two retries too): its outcome stays unknown.
async fn captured_with_next_refund_lost(svc: &Svc) -> Payment {
    let p = authorized(svc, "DE--1", 1000).await;
    svc.handle(&capture("DE--1", vec![1, 2], None)).await.unwrap();
    svc.gateway.inject("refund", GatewayFault::ApplyThenLose);
    for _ in 0..2 {
        svc.gateway
            .inject("refund", GatewayFault::Fail(PspError::Unknown("timeout".into())));
    }
    p
}

#[tokio::test]
async fn a_refund_whose_answer_was_lost_is_found_again_not_refunded_twice_even_after_24_hours() {
    let svc = service();
    let p = captured_with_next_refund_lost(&svc).await;
    let msg = refund("DE--1", vec![1], -300);
    assert!(matches!(svc.handle(&msg).await, Err(OperationError::OutcomeUnknown(_))));
    // The redrive comes after Stripe forgot the idempotency key: the refund is found by its metadata.
    svc.gateway.forget_idempotency_keys();
    svc.clock.advance(2 * 86_400);
    let report = svc.handle(&msg).await.unwrap();
    assert_eq!(
        report,
        OperationReport::Completed(vec!["PaymentUpdated".into(), "PaymentRefunded".into()])
    );
    assert_eq!(svc.gateway.refunded(&p.psp_reference), 300, "refunded once");
    assert_eq!(svc.gateway.effects("refund"), 1);
}

/// What the chaos run found (issue 12 §5): a refund whose answer is lost, then the OMS's repeat of it as a
/// message of its own. Planned from the stored payment, the repeat would refund the item again (and the
/// first, found later, be refused as refunding an item already refunded, so the app would record less
/// than Stripe gave back). The first holds the payment until it is answered: the repeat settles it first
/// (finding its refund at the PSP), then is refused for the item refunded.
#[tokio::test]
async fn a_repeat_of_a_refund_whose_outcome_is_unknown_settles_it_first_and_nothing_is_refunded_twice() {
    let svc = service();
    let p = captured_with_next_refund_lost(&svc).await;
    let first = with_message_id(refund("DE--1", vec![1], -300), "message-1");
    assert!(matches!(
        svc.handle(&first).await,
        Err(OperationError::OutcomeUnknown(_))
    ));

    // Stripe still cannot be read: the repeat waits.
    for _ in 0..3 {
        svc.gateway
            .inject("find_refund", GatewayFault::Fail(PspError::Unknown("timeout".into())));
    }
    let repeat = with_message_id(refund("DE--1", vec![1], -300), "message-2");
    assert!(matches!(svc.handle(&repeat).await, Err(OperationError::PaymentBusy)));
    assert_eq!(svc.gateway.effects("refund"), 1);

    // Stripe answers again: the repeat settles the first, then is refused.
    let before = names(&svc).len();
    let refused = svc.handle(&repeat).await.unwrap();
    assert_eq!(refused, OperationReport::Completed(vec!["PaymentRefundFailed".into()]));
    assert_eq!(
        names(&svc)[before..],
        ["PaymentUpdated", "PaymentRefunded", "PaymentRefundFailed"],
        "the first is answered first"
    );
    assert_eq!(svc.handle(&first).await.unwrap(), OperationReport::Duplicate);
    assert_eq!(svc.gateway.refunded(&p.psp_reference), 300, "refunded once");
    assert_eq!(svc.gateway.effects("refund"), 1);
    assert_eq!(payment(&svc, "DE--1").await.refunded, 300, "the books match the PSP");
}

/// A worker that dies after moving money leaves its command holding the payment: another command waits
/// while the dead worker's lease lasts, then settles that command first.
#[tokio::test]
async fn a_command_whose_worker_died_holds_its_payment_until_it_is_settled() {
    let svc = service();
    let p = authorized(&svc, "DE--1", 1000).await;
    svc.handle(&capture("DE--1", vec![1, 2], None)).await.unwrap();
    let first = with_message_id(refund("DE--1", vec![1], -300), "message-1");
    let id = OperationId::of(&first);
    claimed_by_a_worker_that_dies(&svc, &first, &p).await;
    let metadata = BTreeMap::from([("refundId".to_string(), id.key.clone())]);
    let money = Money::new(300, p.amount.currency);
    svc.gateway
        .refund(TENANT, &p.psp_reference, money, &id.psp_idempotency_key(), &metadata)
        .await
        .unwrap();

    let repeat = with_message_id(refund("DE--1", vec![1], -300), "message-2");
    assert!(matches!(svc.handle(&repeat).await, Err(OperationError::PaymentBusy)));
    svc.clock.advance(61);
    assert_eq!(
        svc.handle(&repeat).await.unwrap(),
        OperationReport::Completed(vec!["PaymentRefundFailed".into()])
    );
    assert_eq!(
        svc.handle(&first).await.unwrap(),
        OperationReport::Duplicate,
        "answered by the repeat"
    );
    assert_eq!(svc.gateway.effects("refund"), 1);
    assert_eq!(payment(&svc, "DE--1").await.refunded, 300);
}

#[tokio::test]
async fn the_last_open_item_of_an_expired_multicapture_authorization_is_canceled_without_a_capture() {
    let svc = service();
    svc.gateway.offer_multicapture(true);
    let p =
        crate::service::testing::authorized_order_of_items(&svc, TENANT, "DE--1", 1000, &[(1, 400), (2, 600)]).await;
    svc.handle(&capture("DE--1", vec![1], Some(400))).await.unwrap();
    assert_eq!(svc.gateway.intent(&p.psp_reference).unwrap().amount_captured, 400);
    // Stripe closes the partly captured authorization when it expires (`succeeded`, the rest released).
    svc.gateway
        .customer_completes(&p.psp_reference, PaymentStatus::Captured);
    let mut cancel = cancel("DE--1");
    if let InboundCommand::CancelPayment(c) = &mut cancel.command {
        c.order_item_ids = vec![2];
    }
    svc.handle(&cancel).await.unwrap();
    assert_eq!(names(&svc).last().map(String::as_str), Some("PaymentCanceled"));
    assert_eq!(svc.gateway.effects("capture"), 1, "nothing left to release");
    let stored = payment(&svc, "DE--1").await;
    assert!(stored.capture_closed);
    assert_eq!((stored.status, stored.shop_captured), (PaymentStatus::Captured, 400));
}

/// `msg` as a new message with Spryker's `transactionId` attribute `id`.
fn with_message_id(msg: InboundMessage, id: &str) -> InboundMessage {
    InboundMessage {
        message_id: Some(id.into()),
        ..msg
    }
}

fn declined() -> GatewayFault {
    GatewayFault::Fail(PspError::Declined {
        code: "card_declined".into(),
        message: "insufficient funds".into(),
    })
}

#[tokio::test]
async fn a_command_repeated_after_its_failure_is_a_new_attempt_with_a_new_psp_key() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    svc.gateway.inject("capture", declined());
    let first = svc.handle(&capture("DE--1", vec![1], Some(1000))).await.unwrap();
    assert_eq!(
        first,
        OperationReport::Completed(vec!["PaymentUpdated".into(), "PaymentCaptureFailed".into()])
    );
    // The operator retries in the OMS: the same command again is answered again, and the PSP is asked
    // under a new key (the old one would replay the decline).
    let retry = svc.handle(&capture("DE--1", vec![1], Some(1000))).await.unwrap();
    assert_eq!(
        retry,
        OperationReport::Completed(vec!["PaymentUpdated".into(), "PaymentCaptured".into()])
    );
    assert_eq!(svc.gateway.effects("capture"), 1);
    // Succeeded now: a repeat is a duplicate.
    let again = svc.handle(&capture("DE--1", vec![1], Some(1000))).await.unwrap();
    assert_eq!(again, OperationReport::Duplicate);
    assert_eq!(payment(&svc, "DE--1").await.captured, 1000);
}

#[tokio::test]
async fn a_message_id_tells_a_redelivery_from_a_new_attempt() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    svc.gateway.inject("refund", declined());
    svc.handle(&capture("DE--1", vec![1, 2], None)).await.unwrap();
    let refund_once = with_message_id(refund("DE--1", vec![1], -300), "m-1");
    svc.handle(&refund_once).await.unwrap();
    // The same message again (an SQS redelivery): nothing new, even after a failure.
    assert_eq!(svc.handle(&refund_once).await.unwrap(), OperationReport::Duplicate);
    // Spryker sends the command again: a new message id, a new attempt.
    let report = svc
        .handle(&with_message_id(refund("DE--1", vec![1], -300), "m-2"))
        .await
        .unwrap();
    assert_eq!(
        report,
        OperationReport::Completed(vec!["PaymentUpdated".into(), "PaymentRefunded".into()])
    );
    let refund_answers: Vec<String> = names(&svc)
        .into_iter()
        .filter(|n| n.starts_with("PaymentRefund"))
        .collect();
    assert_eq!(refund_answers, ["PaymentRefundFailed", "PaymentRefunded"]);
    assert_eq!(svc.gateway.refunded(&payment(&svc, "DE--1").await.psp_reference), 300);
}

#[tokio::test]
async fn a_refusal_repeated_is_answered_again_and_a_cancel_retried_after_its_failure_cancels() {
    let svc = service();
    authorized(&svc, "DE--1", 1000).await;
    // Refused before the PSP (more than authorized): the same command again is answered again.
    for _ in 0..2 {
        svc.handle(&capture("DE--1", vec![1], Some(5000))).await.unwrap();
    }
    assert_eq!(names(&svc), vec!["PaymentCaptureFailed", "PaymentCaptureFailed"]);
    svc.gateway.inject("cancel", declined());
    svc.handle(&cancel("DE--1")).await.unwrap();
    assert_eq!(payment(&svc, "DE--1").await.status, PaymentStatus::CancellationFailed);
    svc.handle(&cancel("DE--1")).await.unwrap();
    assert_eq!(payment(&svc, "DE--1").await.status, PaymentStatus::Canceled);
    assert_eq!(
        names(&svc)[2..],
        [
            "PaymentUpdated",
            "PaymentCancellationFailed",
            "PaymentUpdated",
            "PaymentCanceled"
        ]
    );
}

mod model {
    //! Random interleavings of commands (split captures, partial cancels, refunds), redeliveries, repeats
    //! after failures and PSP faults, on orders with and without multicapture (reliability.md §9.17,
    //! issue 11). After every step: one answer per attempt, Σcaptured ≤ authorized, Σrefunded ≤ Σcaptured,
    //! the app's money equals the PSP's, no item both captured and canceled, nothing moves backwards.
    //!
    //! `MODEL_CASES` sets the number of cases (10,000 by default; `infra/local/model-test --long` runs
    //! 1,000,000).

    use super::*;
    use crate::ports::{WebhookChange, WebhookEvent};
    use crate::service::testing::authorized_order_of_items;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    /// The order: four items of 200 and 100 of shipping, 900 in all.
    const ITEMS: [(i64, i64); 4] = [(1, 200), (2, 200), (3, 200), (4, 200)];
    const TOTAL: i64 = 900;

    #[derive(Clone, Debug)]
    enum Step {
        Capture(Vec<i64>, Option<i64>),
        Cancel(Vec<i64>),
        Refund(Vec<i64>, i64),
        /// Deliver an earlier step's message again (SQS redelivery: the same message id, if any).
        Redeliver(usize),
        /// Send an earlier step's command again as a new message (an operator's retry in Spryker's OMS).
        Resend(usize),
        /// The next commands carry a `transactionId` message attribute (or stop carrying one).
        MessageIds(bool),
        /// The next call of this PSP operation fails this way.
        Fault(&'static str, u8),
        /// The next publish fails: the outbox is published by a later delivery (a crash after commit).
        PublishFault,
        /// Stripe delivers a webhook of the PaymentIntent as it was after an earlier step (or now): late,
        /// out of order, or again.
        Webhook(usize),
    }

    fn items() -> impl Strategy<Value = Vec<i64>> {
        prop::collection::btree_set(1i64..5, 1..3).prop_map(|s| s.into_iter().collect())
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            // Spryker's amounts (200 per item, shipping on the first), or any amount at all.
            4 => (items(), prop::option::of(prop_oneof![Just(200i64), Just(300), Just(400), Just(500), 1i64..1000]))
                .prop_map(|(i, a)| Step::Capture(i, a)),
            2 => items().prop_map(Step::Cancel),
            3 => (items(), 1i64..500).prop_map(|(i, a)| Step::Refund(i, -a)),
            2 => (0usize..8).prop_map(Step::Redeliver),
            1 => (0usize..8).prop_map(Step::Resend),
            1 => any::<bool>().prop_map(Step::MessageIds),
            2 => (prop::sample::select(vec!["capture", "cancel", "refund", "get_payment", "find_refund"]), 0u8..3)
                .prop_map(|(op, kind)| Step::Fault(op, kind)),
            1 => Just(Step::PublishFault),
            2 => (0usize..8).prop_map(Step::Webhook),
        ]
    }

    fn fault(kind: u8) -> GatewayFault {
        match kind {
            0 => GatewayFault::ApplyThenLose,
            1 => GatewayFault::Fail(PspError::Unknown("injected timeout".into())),
            _ => GatewayFault::Fail(PspError::Declined {
                code: "injected".into(),
                message: "no".into(),
            }),
        }
    }

    fn cancel_of(items: Vec<i64>) -> InboundMessage {
        message(InboundCommand::CancelPayment(PaymentPayload {
            order_reference: "DE--P".into(),
            order_item_ids: items,
            amount: Some(0),
            currency_iso_code: Some("EUR".into()),
        }))
    }

    /// The answers published so far (every message but PaymentUpdated), in order.
    fn answers(svc: &Svc) -> Vec<String> {
        names(svc).into_iter().filter(|n| n != "PaymentUpdated").collect()
    }

    /// The money and ledger invariants, and that nothing moved backwards since `before`.
    async fn check(svc: &Svc, before: &Payment, msg: &dyn std::fmt::Debug) -> Payment {
        let p = payment(svc, "DE--P").await;
        let psp = svc.gateway.intent(&p.psp_reference).unwrap();
        assert!(p.captured <= p.amount.minor, "Σcaptured ≤ authorized: {p:?}");
        assert!(
            p.shop_captured + p.canceled <= p.amount.minor,
            "the shop's ledger fits: {p:?}"
        );
        assert!(p.refunded + p.refunding <= p.captured, "Σrefunded ≤ Σcaptured: {p:?}");
        assert_eq!(
            p.captured, psp.amount_captured,
            "the app's captured amount is the PSP's"
        );
        assert_eq!(
            p.refunded + p.refunding,
            svc.gateway.refunded(&p.psp_reference),
            "refunds are the PSP's"
        );
        assert!(p.captured_item_ids.is_disjoint(&p.canceled_item_ids), "{p:?}");
        match p.status {
            PaymentStatus::Canceled => assert_eq!(psp.status, PaymentStatus::Canceled),
            PaymentStatus::Captured if p.capture_closed => assert_eq!(psp.status, PaymentStatus::Captured),
            _ => {}
        }
        // Nothing backwards.
        assert!(
            p.status == before.status || before.status.can_move_to(p.status),
            "{:?} -> {:?} after {msg:?}",
            before.status,
            p.status
        );
        assert!(p.version >= before.version && p.captured >= before.captured);
        assert!(p.shop_captured >= before.shop_captured && p.canceled >= before.canceled);
        assert!(p.captured_item_ids.is_superset(&before.captured_item_ids));
        assert!(p.canceled_item_ids.is_superset(&before.canceled_item_ids));
        assert!(p.capture_closed || !before.capture_closed);
        p
    }

    async fn run(multicapture: bool, steps: Vec<Step>) {
        let svc = service();
        svc.gateway.offer_multicapture(multicapture);
        let mut before = authorized_order_of_items(&svc, TENANT, "DE--P", TOTAL, &ITEMS).await;
        // The PaymentIntent after each step, as Stripe would report it in a webhook.
        let mut snapshots = vec![svc.gateway.intent(&before.psp_reference).unwrap()];
        let mut sent: Vec<InboundMessage> = Vec::new();
        // The last answer of each attempt chain (message id, or content identity): failed or not.
        let mut last_answer: HashMap<String, bool> = HashMap::new();
        let mut with_ids = false;
        let mut next_id = 0;
        let mut message_id = |with_ids: bool| {
            next_id += 1;
            with_ids.then(|| format!("m-{next_id}"))
        };
        for step in steps {
            let fresh = |msg: InboundMessage, id: Option<String>| InboundMessage { message_id: id, ..msg };
            let msg = match step {
                Step::Capture(items, amount) => fresh(capture("DE--P", items, amount), message_id(with_ids)),
                Step::Cancel(items) => fresh(cancel_of(items), message_id(with_ids)),
                Step::Refund(items, amount) => fresh(refund("DE--P", items, amount), message_id(with_ids)),
                Step::Redeliver(i) if !sent.is_empty() => sent[i % sent.len()].clone(),
                Step::Resend(i) if !sent.is_empty() => InboundMessage {
                    message_id: message_id(with_ids),
                    ..sent[i % sent.len()].clone()
                },
                Step::Redeliver(_) | Step::Resend(_) => continue,
                Step::MessageIds(on) => {
                    with_ids = on;
                    continue;
                }
                Step::Fault(op, kind) => {
                    svc.gateway.inject(op, fault(kind));
                    continue;
                }
                Step::PublishFault => {
                    svc.publisher.fail_next(1);
                    continue;
                }
                Step::Webhook(i) => {
                    let intent = &snapshots[i % snapshots.len()];
                    let event = WebhookEvent {
                        event_id: format!("evt_{}", snapshots.len() * 100 + i),
                        created: 1_767_225_600,
                        transaction_id: before.transaction_id.clone(),
                        psp_reference: intent.id.clone(),
                        tenant: Some(TENANT.into()),
                        change: WebhookChange::Payment {
                            status: intent.status,
                            amount_captured: intent.amount_captured,
                            decline: None,
                        },
                    };
                    // Stripe retries until it gets its 200.
                    let webhooks = crate::service::testing::webhook_service(&svc);
                    let mut applied = false;
                    for _ in 0..8 {
                        if webhooks.handle(TENANT, &event).await.is_ok() {
                            applied = true;
                            break;
                        }
                        svc.clock.advance(61);
                    }
                    assert!(applied, "{event:?} never applied");
                    before = check(&svc, &before, &Step::Webhook(i)).await;
                    continue;
                }
            };
            let answers_before = answers(&svc);
            // SQS redelivers until the record succeeds; leases expire between deliveries.
            let mut done = false;
            for _ in 0..8 {
                if svc.handle(&msg).await.is_ok() {
                    done = true;
                    break;
                }
                svc.clock.advance(61);
            }
            assert!(done, "{msg:?} never completed");
            sent.push(msg.clone());
            // One answer per attempt: a new message, or a repeat of a command answered with a failure
            // (decision §9.15), is answered; a redelivery is not.
            let new_answers = answers(&svc).split_off(answers_before.len());
            let id = OperationId::of(&msg);
            let chain = format!("{}/{}", id.key, id.fingerprint);
            let new_attempt = match last_answer.get(&chain) {
                None => true,
                Some(failed) => *failed && id.retry_after_failure,
            };
            assert_eq!(new_answers.len(), usize::from(new_attempt), "{msg:?}: {new_answers:?}");
            if let Some(answer) = new_answers.first() {
                last_answer.insert(chain, answer.ends_with("Failed"));
            }
            before = check(&svc, &before, &msg).await;
            snapshots.push(svc.gateway.intent(&before.psp_reference).unwrap());
        }
        let events = svc.publisher.published();
        let ids: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids.len(), events.len(), "an event was published twice");
    }

    fn cases() -> u32 {
        std::env::var("MODEL_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(10_000)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]
        #[test]
        fn money_is_right_for_every_order_shape(
            multicapture in any::<bool>(),
            steps in prop::collection::vec(step(), 1..14),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(run(multicapture, steps));
        }
    }
}
