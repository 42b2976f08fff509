//! Golden wire tests for the 21 ACP messages (the 19 of the contract, and PaymentOverpaid / PaymentUnderpaid,
//! decision §9.11): every fixture in `tests/fixtures/acp/<MessageName>.json` is
//! read into its struct and written back; the written JSON must equal the fixture and is snapshotted, so any
//! change of the wire shape shows up in review.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shared::acp::*;
use std::collections::BTreeMap;
use std::fmt::Debug;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/acp/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Reads the fixture into `T`, checks JSON → struct → JSON → struct is lossless and returns the struct.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + Debug>(name: &str) -> T {
    let raw = fixture(name);
    let parsed: T = serde_json::from_str(&raw).unwrap();
    let written = serde_json::to_value(&parsed).unwrap();
    assert_eq!(
        written,
        serde_json::from_str::<Value>(&raw).unwrap(),
        "{name}: fixture ≠ re-serialized"
    );
    assert_eq!(
        serde_json::from_value::<T>(written).unwrap(),
        parsed,
        "{name}: round trip"
    );
    parsed
}

/// One test per outgoing message: name, channel, and the payload exactly as it goes on the wire.
macro_rules! outgoing {
    ($test:ident, $name:literal, $variant:ident, $channel:expr) => {
        #[test]
        fn $test() {
            let message = OutgoingMessage::$variant(round_trip($name));
            assert_eq!(message.name(), $name);
            assert_eq!(message.channel(), $channel);
            // The AsyncAPI document puts it on the same channel.
            let document = shared::acp::asyncapi::document();
            let documented = shared::acp::asyncapi::channel_of(&document, $name);
            assert_eq!(documented.as_deref(), Some($channel.as_str()), "docs/asyncapi.yml");
            let wire = message.payload();
            assert_eq!(wire, serde_json::from_str::<Value>(&fixture($name)).unwrap());
            // Key order is not part of JSON; serde_json keeps insertion order when another crate in
            // the build enables `preserve_order`, so the snapshot sorts keys.
            insta::with_settings!({ sort_maps => true }, { insta::assert_json_snapshot!($name, wire) });
        }
    };
}

outgoing!(
    add_payment_method,
    "AddPaymentMethod",
    AddPaymentMethod,
    Channel::PaymentMethodCommands
);
outgoing!(
    update_payment_method,
    "UpdatePaymentMethod",
    UpdatePaymentMethod,
    Channel::PaymentMethodCommands
);
outgoing!(
    delete_payment_method,
    "DeletePaymentMethod",
    DeletePaymentMethod,
    Channel::PaymentMethodCommands
);
outgoing!(
    payment_authorized,
    "PaymentAuthorized",
    PaymentAuthorized,
    Channel::PaymentEvents
);
outgoing!(
    payment_authorization_failed,
    "PaymentAuthorizationFailed",
    PaymentAuthorizationFailed,
    Channel::PaymentEvents
);
outgoing!(
    payment_captured,
    "PaymentCaptured",
    PaymentCaptured,
    Channel::PaymentEvents
);
outgoing!(
    payment_capture_failed,
    "PaymentCaptureFailed",
    PaymentCaptureFailed,
    Channel::PaymentEvents
);
outgoing!(
    payment_refunded,
    "PaymentRefunded",
    PaymentRefunded,
    Channel::PaymentEvents
);
outgoing!(
    payment_refund_failed,
    "PaymentRefundFailed",
    PaymentRefundFailed,
    Channel::PaymentEvents
);
outgoing!(
    payment_canceled,
    "PaymentCanceled",
    PaymentCanceled,
    Channel::PaymentEvents
);
outgoing!(
    payment_cancellation_failed,
    "PaymentCancellationFailed",
    PaymentCancellationFailed,
    Channel::PaymentEvents
);
outgoing!(
    payment_overpaid,
    "PaymentOverpaid",
    PaymentOverpaid,
    Channel::PaymentEvents
);
outgoing!(
    payment_underpaid,
    "PaymentUnderpaid",
    PaymentUnderpaid,
    Channel::PaymentEvents
);
outgoing!(
    payment_created,
    "PaymentCreated",
    PaymentCreated,
    Channel::PaymentEvents
);
outgoing!(
    payment_updated,
    "PaymentUpdated",
    PaymentUpdated,
    Channel::PaymentEvents
);
outgoing!(
    ready_for_merchant_app_onboarding,
    "ReadyForMerchantAppOnboarding",
    ReadyForMerchantAppOnboarding,
    Channel::MerchantAppEvents
);
outgoing!(
    merchant_app_onboarding_status_changed,
    "MerchantAppOnboardingStatusChanged",
    MerchantAppOnboardingStatusChanged,
    Channel::MerchantAppEvents
);
outgoing!(
    app_config_updated,
    "AppConfigUpdated",
    AppConfigUpdated,
    Channel::AppEvents
);

/// One test per inbound command: the fixture as a struct, and as the body of a raw SQS record.
macro_rules! inbound {
    ($test:ident, $name:literal, $variant:ident) => {
        #[test]
        fn $test() {
            let command = InboundCommand::$variant(round_trip($name));
            let attributes: BTreeMap<String, String> = [("transferName", $name), ("tenantIdentifier", "tenant-de")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let parsed = parse_record(&fixture($name), &attributes).unwrap();
            assert_eq!(parsed.command, command);
            assert_eq!(parsed.command.name(), $name);
            let InboundCommand::$variant(payload) = &command else {
                unreachable!()
            };
            let wire = serde_json::to_value(payload).unwrap();
            // Key order is not part of JSON; serde_json keeps insertion order when another crate in
            // the build enables `preserve_order`, so the snapshot sorts keys.
            insta::with_settings!({ sort_maps => true }, { insta::assert_json_snapshot!($name, wire) });
        }
    };
}

inbound!(capture_payment, "CapturePayment", CapturePayment);
inbound!(cancel_payment, "CancelPayment", CancelPayment);
inbound!(refund_payment, "RefundPayment", RefundPayment);

#[test]
fn none_fields_are_omitted_not_null() {
    let minimal = [
        OutgoingMessage::PaymentCaptured(PaymentPayload {
            order_reference: "DE--1".into(),
            order_item_ids: vec![1],
            amount: None,
            currency_iso_code: None,
        }),
        OutgoingMessage::PaymentCreated(PaymentDetailsPayload {
            entity_reference: None,
            payment_reference: "pi_1".into(),
            details: None,
        }),
        OutgoingMessage::AddPaymentMethod(PaymentMethodPayload {
            name: "Credit Card".into(),
            provider_name: "Stripe".into(),
            payment_authorization_endpoint: None,
            payment_method_app_configuration: Some(PaymentMethodAppConfiguration {
                base_url: None,
                endpoints: None,
                checkout_configuration: Some(CheckoutConfiguration {
                    strategy: None,
                    scripts: Some(vec![CheckoutScript {
                        url: "https://js.stripe.com/v3/".into(),
                        query_params: None,
                    }]),
                    payment_service_provider_data: None,
                    app_payment_method_key: None,
                }),
            }),
        }),
        OutgoingMessage::ReadyForMerchantAppOnboarding(ReadyForMerchantAppOnboarding {
            onboarding: Onboarding {
                url: "https://app.example.com/onboard".into(),
                strategy: OnboardingStrategy::Redirect,
            },
            app_type: "payment".into(),
            app_name: "Stripe".into(),
            app_identifier: "stripe".into(),
            additional_links: None,
            merchant_onboarding_states: None,
        }),
        OutgoingMessage::MerchantAppOnboardingStatusChanged(MerchantAppOnboardingStatusChanged {
            merchant_reference: "MER000001".into(),
            app_identifier: "stripe".into(),
            app_type: "payment".into(),
            status: MerchantOnboardingStatus::Pending,
            additional_info: None,
        }),
    ];
    let wires: Vec<Value> = minimal.iter().map(OutgoingMessage::payload).collect();
    assert_eq!(
        wires,
        vec![
            json!({"orderReference": "DE--1", "orderItemIds": [1]}),
            json!({"paymentReference": "pi_1"}),
            json!({"name": "Credit Card", "providerName": "Stripe",
                   "paymentMethodAppConfiguration": {"checkoutConfiguration": {"scripts": [{"url": "https://js.stripe.com/v3/"}]}}}),
            json!({"onboarding": {"url": "https://app.example.com/onboard", "strategy": "redirect"},
                   "type": "payment", "appName": "Stripe", "appIdentifier": "stripe"}),
            json!({"merchantReference": "MER000001", "appIdentifier": "stripe", "type": "payment", "status": "pending"}),
        ]
    );
    for wire in wires {
        assert!(!wire.to_string().contains("null"), "{wire}");
    }
}

#[test]
fn explicit_nulls_on_input_are_accepted_and_dropped() {
    let payload: PaymentPayload =
        serde_json::from_str(r#"{"orderReference":"DE--1","orderItemIds":[1],"amount":null,"currencyIsoCode":null}"#)
            .unwrap();
    assert_eq!(
        serde_json::to_value(&payload).unwrap(),
        json!({"orderReference": "DE--1", "orderItemIds": [1]})
    );
    let refund: RefundPayment = serde_json::from_str(
        r#"{"orderReference":"DE--1","orderItems":[{"orderItemId":1,"sku":null}],"orderItemIds":null,"amount":-1}"#,
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&refund).unwrap(),
        json!({"orderReference": "DE--1", "orderItems": [{"orderItemId": 1}], "amount": -1})
    );
}

#[test]
fn numeric_strings_are_accepted_for_ids_and_amounts() {
    let payload: PaymentPayload =
        serde_json::from_str(r#"{"orderReference":"DE--1","orderItemIds":["101"," 102 ",103],"amount":"19990"}"#)
            .unwrap();
    assert_eq!(payload.order_item_ids, vec![101, 102, 103]);
    assert_eq!(payload.amount, Some(19990));
    assert_eq!(
        serde_json::to_value(&payload).unwrap(),
        json!({"orderReference": "DE--1", "orderItemIds": [101, 102, 103], "amount": 19990})
    );

    let refund: RefundPayment = serde_json::from_str(
        r#"{"orderReference":"DE--1","orderItems":[{"orderItemId":"102","sku":"A"}],"orderItemIds":["102"],"amount":"-4995"}"#,
    )
    .unwrap();
    assert_eq!(refund.order_items[0].order_item_id, 102);
    assert_eq!(refund.item_ids(), vec![102]);
    assert_eq!(refund.amount, -4995);
}

#[test]
fn non_numeric_ids_and_amounts_are_refused() {
    for body in [
        r#"{"orderReference":"DE--1","orderItemIds":["x"]}"#,
        r#"{"orderReference":"DE--1","orderItemIds":[1.5]}"#,
        r#"{"orderReference":"DE--1","orderItemIds":[1],"amount":"ten"}"#,
        r#"{"orderReference":"DE--1","orderItemIds":[1],"amount":18446744073709551615}"#,
    ] {
        assert!(serde_json::from_str::<PaymentPayload>(body).is_err(), "{body}");
    }
}

#[test]
fn unknown_input_keys_are_ignored() {
    let mut capture: Value = serde_json::from_str(&fixture("CapturePayment")).unwrap();
    capture["idSalesOrder"] = json!(9);
    capture["context"] = json!("{\"paidAmount\":1}");
    capture["messageAttributes"] = json!({"transferName": "CapturePayment"});
    let parsed: CapturePayment = serde_json::from_value(capture).unwrap();
    assert_eq!(parsed, round_trip::<CapturePayment>("CapturePayment"));

    let mut refund: Value = serde_json::from_str(&fixture("RefundPayment")).unwrap();
    refund["orderItems"][0]["quantity"] = json!(1);
    refund["newField"] = json!([1, 2]);
    let parsed: RefundPayment = serde_json::from_value(refund).unwrap();
    assert_eq!(parsed, round_trip::<RefundPayment>("RefundPayment"));

    let mut method: Value = serde_json::from_str(&fixture("AddPaymentMethod")).unwrap();
    method["paymentMethodAppConfiguration"]["checkoutConfiguration"]["future"] = json!(true);
    let parsed: PaymentMethodPayload = serde_json::from_value(method).unwrap();
    assert_eq!(parsed, round_trip::<PaymentMethodPayload>("AddPaymentMethod"));
}

#[test]
fn a_negative_refund_amount_is_kept_as_received_and_echoed() {
    let refund: RefundPayment = round_trip("RefundPayment");
    assert_eq!(refund.amount, -4995);
    let command = InboundCommand::RefundPayment(refund.clone());
    let reply = OutgoingMessage::PaymentRefunded(PaymentPayload {
        order_reference: command.order_reference().to_string(),
        order_item_ids: command.order_item_ids(),
        amount: Some(refund.amount),
        currency_iso_code: refund.currency_iso_code.clone(),
    });
    assert_eq!(reply.payload()["amount"], json!(-4995));
    assert_eq!(reply.payload()["orderItemIds"], json!([102]));
}

#[test]
fn order_item_ids_are_returned_as_received() {
    let capture = InboundCommand::CapturePayment(round_trip("CapturePayment"));
    assert_eq!(capture.order_item_ids(), vec![101, 102]);
    let cancel = InboundCommand::CancelPayment(round_trip("CancelPayment"));
    assert_eq!(cancel.order_item_ids(), vec![103]);
    let refund_without_deprecated_ids = InboundCommand::RefundPayment(RefundPayment {
        order_item_ids: None,
        ..round_trip("RefundPayment")
    });
    assert_eq!(refund_without_deprecated_ids.order_item_ids(), vec![102]);
}

#[test]
fn enumerations_use_the_exact_wire_strings() {
    let statuses = [
        (MerchantOnboardingStatus::Incomplete, "incomplete"),
        (MerchantOnboardingStatus::Pending, "pending"),
        (MerchantOnboardingStatus::Enabled, "enabled"),
        (MerchantOnboardingStatus::Completed, "completed"),
        (MerchantOnboardingStatus::Restricted, "restricted"),
        (MerchantOnboardingStatus::RestrictedSoon, "restricted soon"),
        (MerchantOnboardingStatus::Rejected, "rejected"),
    ];
    for (status, wire) in statuses {
        assert_eq!(serde_json::to_value(status).unwrap(), json!(wire));
        assert_eq!(
            serde_json::from_value::<MerchantOnboardingStatus>(json!(wire)).unwrap(),
            status
        );
    }
    for (status, wire) in [
        (AppConfigStatus::New, "NEW"),
        (AppConfigStatus::Connected, "CONNECTED"),
        (AppConfigStatus::Disconnected, "DISCONNECTED"),
    ] {
        assert_eq!(serde_json::to_value(status).unwrap(), json!(wire));
    }
    for (strategy, wire) in [
        (OnboardingStrategy::Iframe, "iframe"),
        (OnboardingStrategy::Redirect, "redirect"),
        (OnboardingStrategy::Api, "api"),
    ] {
        assert_eq!(serde_json::to_value(strategy).unwrap(), json!(wire));
    }
    assert!(serde_json::from_value::<MerchantOnboardingStatus>(json!("restricted_soon")).is_err());
}
