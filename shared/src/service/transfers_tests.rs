//! Payouts on the twins: the store's ledger and onboardings, the PSP's transfers.

use super::*;
use crate::acp::{InboundCommand, InboundMessage, PaymentPayload, RefundOrderItem, RefundPayment};
use crate::adapters::memory::{MemoryStore, MemoryTransfers};
use crate::domain::TransmissionKind;
use crate::service::testing::{self, MemoryCommandService, authorized_order, memory_service};

const TENANT: &str = "tenant-a";
const ORDER: &str = "DE--1";

fn message(command: InboundCommand) -> InboundMessage {
    InboundMessage {
        tenant_identifier: TENANT.into(),
        correlation_id: None,
        message_id: None,
        command,
    }
}

/// An order of 1000 cents, authorized and captured in full.
async fn captured_order(svc: &MemoryCommandService) {
    testing::captured_order(svc, TENANT, ORDER, 1000).await;
}

/// `merchant` onboarded as `status` with account `acct_{merchant}`.
async fn onboarded(store: &MemoryStore, merchant: &str, status: MerchantOnboardingStatus) {
    testing::onboarded(store, TENANT, merchant, status).await;
}

/// Payouts on `svc`'s store and the PSP `psp`.
fn payouts<'a>(svc: &'a MemoryCommandService, psp: &'a MemoryTransfers) -> Payouts<'a, MemoryStore, MemoryTransfers> {
    Payouts {
        store: &svc.store,
        transfers: psp,
    }
}

fn item(merchant: &str, reference: &str, amount: i64, transfer: Option<&str>) -> TransmissionItem {
    TransmissionItem {
        kind: TransmissionKind::OrderItem,
        merchant_reference: merchant.into(),
        order_reference: ORDER.into(),
        item_reference: reference.into(),
        amount,
        transfer_id: transfer.map(str::to_string),
    }
}

/// (merchant, successful, transfer id, failure) of each result.
fn summary(results: &[TransmissionResult]) -> Vec<(String, bool, Option<String>, Option<String>)> {
    results
        .iter()
        .map(|r| {
            (
                r.transmission.merchant_reference.clone(),
                r.is_successful(),
                r.transfer_id.clone(),
                r.failure.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn merchants_are_paid_their_share_from_the_orders_charge_once() {
    let svc = memory_service();
    captured_order(&svc).await;
    onboarded(&svc.store, "MER1", MerchantOnboardingStatus::Completed).await;
    onboarded(&svc.store, "MER2", MerchantOnboardingStatus::RestrictedSoon).await;
    let psp = MemoryTransfers::new();
    let payouts = payouts(&svc, &psp);
    let items = [
        item("MER1", "a", 400, None),
        item("MER2", "b", 300, None),
        item("MER1", "c", 100, None),
    ];
    let results = payouts.transmit(TENANT, &items).await;
    assert_eq!(
        summary(&results),
        vec![
            ("MER1".into(), true, Some("tr_1".into()), None),
            ("MER2".into(), true, Some("tr_2".into()), None)
        ]
    );
    assert_eq!(results[0].signed_amount(), 500);
    let made = psp.transfers();
    let first = &made[0].1.order;
    assert_eq!(
        (
            first.amount.minor,
            first.destination.as_str(),
            first.transfer_group.as_str()
        ),
        (500, "acct_MER1", ORDER)
    );
    assert_eq!(
        first.payment_psp_reference,
        svc.store
            .find_payment_by_order(TENANT, ORDER)
            .await
            .unwrap()
            .unwrap()
            .psp_reference
    );
    assert_eq!(first.metadata["merchantReference"], "MER1");

    // The same request again: the same transfers, nothing paid twice.
    let again = payouts.transmit(TENANT, &items).await;
    assert_eq!(summary(&again), summary(&results));
    assert_eq!(psp.transfers().len(), 2);
}

#[tokio::test]
async fn a_merchant_who_cannot_be_paid_gets_a_failed_entry_and_the_others_are_paid() {
    let svc = memory_service();
    captured_order(&svc).await;
    onboarded(&svc.store, "MER1", MerchantOnboardingStatus::Pending).await;
    onboarded(&svc.store, "MER3", MerchantOnboardingStatus::Completed).await;
    let psp = MemoryTransfers::new();
    let payouts = payouts(&svc, &psp);
    let results = payouts
        .transmit(
            TENANT,
            &[
                item("MER1", "a", 100, None),
                item("MER2", "b", 100, None),
                item("MER3", "c", 100, None),
            ],
        )
        .await;
    assert_eq!(
        summary(&results),
        vec![
            (
                "MER1".into(),
                false,
                None,
                Some("merchant MER1's onboarding is pending: it can be paid once the onboarding is completed".into())
            ),
            (
                "MER2".into(),
                false,
                None,
                Some("merchant MER2 has not started its onboarding: it cannot be paid".into())
            ),
            ("MER3".into(), true, Some("tr_1".into()), None),
        ]
    );
    assert_eq!(psp.transfers().len(), 1);
}

#[tokio::test]
async fn payouts_stay_within_captured_less_refunded() {
    let svc = memory_service();
    let psp = MemoryTransfers::new();
    let payouts = payouts(&svc, &psp);
    onboarded(&svc.store, "MER1", MerchantOnboardingStatus::Completed).await;
    // Before the capture nothing can be paid out; no payment at all: a clear message.
    let results = payouts.transmit(TENANT, &[item("MER1", "a", 100, None)]).await;
    assert_eq!(
        results[0].failure.as_deref(),
        Some("the app has no payment for order DE--1")
    );
    authorized_order(&svc, TENANT, ORDER, 1000).await;
    let results = payouts.transmit(TENANT, &[item("MER1", "a", 100, None)]).await;
    assert_eq!(
        results[0].failure.as_deref(),
        Some("100 exceeds what the order still holds for payouts (0)")
    );
    let capture = message(InboundCommand::CapturePayment(PaymentPayload {
        order_reference: ORDER.into(),
        order_item_ids: vec![1],
        amount: Some(1000),
        currency_iso_code: Some("EUR".into()),
    }));
    svc.handle(&capture).await.expect("capture");
    let refund = message(InboundCommand::RefundPayment(RefundPayment {
        order_reference: ORDER.into(),
        order_items: vec![RefundOrderItem {
            order_item_id: 1,
            sku: None,
        }],
        order_item_ids: Some(vec![1]),
        amount: 300,
        currency_iso_code: Some("EUR".into()),
    }));
    svc.handle(&refund).await.expect("refund");
    let results = payouts.transmit(TENANT, &[item("MER1", "b", 800, None)]).await;
    assert_eq!(
        results[0].failure.as_deref(),
        Some("800 exceeds what the order still holds for payouts (700)")
    );
    let results = payouts.transmit(TENANT, &[item("MER1", "b", 700, None)]).await;
    assert!(results[0].is_successful());
    assert_eq!(psp.transfers().len(), 1);
}

#[tokio::test]
async fn a_lost_answer_is_asked_again_with_the_same_key_and_a_refusal_frees_the_money() {
    let svc = memory_service();
    captured_order(&svc).await;
    onboarded(&svc.store, "MER1", MerchantOnboardingStatus::Completed).await;
    let psp = MemoryTransfers::new();
    let payouts = payouts(&svc, &psp);
    let items = [item("MER1", "a", 600, None)];
    psp.lose_next_answer();
    let results = payouts.transmit(TENANT, &items).await;
    assert!(!results[0].is_successful());
    assert!(
        results[0]
            .failure
            .as_deref()
            .unwrap()
            .contains("send the request again")
    );
    // Open business until the outcome is known.
    assert_eq!(svc.store.has_open_payments(TENANT).await, Ok(true));
    // Meanwhile its money is taken: another payout of 600 does not fit.
    let other = payouts.transmit(TENANT, &[item("MER1", "b", 600, None)]).await;
    assert_eq!(
        other[0].failure.as_deref(),
        Some("600 exceeds what the order still holds for payouts (400)")
    );
    let results = payouts.transmit(TENANT, &items).await;
    assert_eq!(
        summary(&results),
        vec![("MER1".into(), true, Some("tr_1".into()), None)]
    );
    assert_eq!(psp.transfers().len(), 1);
    assert_eq!(svc.store.has_open_payments(TENANT).await, Ok(false));

    // A refusal: nothing moved, and the money is free for the next attempt.
    psp.fail_next(PspError::Declined {
        code: "balance_insufficient".into(),
        message: "insufficient available funds".into(),
    });
    let refused = payouts.transmit(TENANT, &[item("MER1", "b", 400, None)]).await;
    assert_eq!(
        refused[0].failure.as_deref(),
        Some("the PSP refused the transfer (balance_insufficient): insufficient available funds")
    );
    let retried = payouts.transmit(TENANT, &[item("MER1", "b", 400, None)]).await;
    assert!(retried[0].is_successful());
    let ledger = svc.store.get_transfers(TENANT, ORDER).await.unwrap().unwrap();
    assert_eq!(ledger.paid_out(), 1000);
    let keys: Vec<&str> = ledger.records.iter().map(|r| r.idempotency_key.as_str()).collect();
    assert_eq!(keys.len(), 3);
    assert!(
        keys[1].ends_with("-1")
            && keys[2].ends_with("-2")
            && keys[1][..keys[1].len() - 2] == keys[2][..keys[2].len() - 2]
    );
}

#[tokio::test]
async fn payouts_are_reversed_in_part_and_in_full_never_beyond_the_transfer() {
    let svc = memory_service();
    captured_order(&svc).await;
    onboarded(&svc.store, "MER1", MerchantOnboardingStatus::Completed).await;
    let psp = MemoryTransfers::new();
    let payouts = payouts(&svc, &psp);
    payouts
        .transmit(TENANT, &[item("MER1", "a", 300, None), item("MER1", "b", 200, None)])
        .await;
    let part = [item("MER1", "a", -300, Some("tr_1"))];
    let results = payouts.transmit(TENANT, &part).await;
    assert_eq!(
        summary(&results),
        vec![("MER1".into(), true, Some("tr_1".into()), None)]
    );
    assert_eq!(results[0].signed_amount(), -300);
    // Repeated: answered, not reversed twice.
    payouts.transmit(TENANT, &part).await;
    assert_eq!(psp.transfers()[0].1.reversed, 300);
    let too_much = payouts.transmit(TENANT, &[item("MER1", "b", -300, Some("tr_1"))]).await;
    assert_eq!(
        too_much[0].failure.as_deref(),
        Some("300 exceeds what is left of transfer tr_1 (200)")
    );
    let unknown = payouts.transmit(TENANT, &[item("MER1", "b", -200, Some("tr_9"))]).await;
    assert_eq!(
        unknown[0].failure.as_deref(),
        Some("transfer tr_9 is not a payout of this merchant for this order")
    );
    let rest = payouts.transmit(TENANT, &[item("MER1", "b", -200, Some("tr_1"))]).await;
    assert!(rest[0].is_successful());
    assert_eq!(psp.transfers()[0].1.reversed, 500);
    let ledger = svc.store.get_transfers(TENANT, ORDER).await.unwrap().unwrap();
    assert_eq!(ledger.paid_out(), 0);
}
