//! Channel names, and the channel of each message the `http` sender publishes (it names no channel:
//! the platform routes by transfer name, as the ACP platform's own mapping does).

/// The channel of the commands that Spryker's shops send to the app (also sent on to SQS when asked).
pub const COMMANDS_CHANNEL: &str = shared::acp::Channel::PaymentCommands.as_str();

/// Whether `name` can be a channel: one path segment of `[a-z0-9-]+`.
pub fn is_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The channel a message of `transfer_name` travels on, or `None` when the platform knows no route.
pub fn channel_for_transfer(transfer_name: &str) -> Option<&'static str> {
    let channel = match transfer_name {
        "PaymentAuthorized"
        | "PaymentAuthorizationFailed"
        | "PaymentCaptured"
        | "PaymentCaptureFailed"
        | "PaymentRefunded"
        | "PaymentRefundFailed"
        | "PaymentCanceled"
        | "PaymentCancellationFailed"
        | "PaymentCreated"
        | "PaymentUpdated"
        | "PaymentOverpaid"
        | "PaymentUnderpaid" => "payment-events",
        "AddPaymentMethod" | "UpdatePaymentMethod" | "DeletePaymentMethod" => "payment-method-commands",
        "AppConfigUpdated" => "app-events",
        "ReadyForMerchantAppOnboarding" | "MerchantAppOnboardingStatusChanged" => "merchant-app-events",
        "CapturePayment" | "CancelPayment" | "RefundPayment" => COMMANDS_CHANNEL,
        _ => return None,
    };
    Some(channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        for good in ["payment-events", "app-events", "a", "v2-events"] {
            assert!(is_channel_name(good), "{good}");
        }
        for bad in ["", "Payment-Events", "payment_events", "a/b", "ä", "_faults"] {
            assert!(!is_channel_name(bad), "{bad}");
        }
    }

    #[test]
    fn routes_by_transfer_name() {
        assert_eq!(channel_for_transfer("PaymentCaptured"), Some("payment-events"));
        assert_eq!(
            channel_for_transfer("PaymentCancellationFailed"),
            Some("payment-events")
        );
        assert_eq!(
            channel_for_transfer("AddPaymentMethod"),
            Some("payment-method-commands")
        );
        assert_eq!(channel_for_transfer("AppConfigUpdated"), Some("app-events"));
        assert_eq!(
            channel_for_transfer("MerchantAppOnboardingStatusChanged"),
            Some("merchant-app-events")
        );
        assert_eq!(channel_for_transfer("RefundPayment"), Some(COMMANDS_CHANNEL));
        assert_eq!(channel_for_transfer("PaymentMethodAdded"), None);
        assert_eq!(channel_for_transfer(""), None);
    }
}
