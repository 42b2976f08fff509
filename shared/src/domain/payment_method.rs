//! The payment methods the app offers, by the name a Spryker shop gives them (`orderData.paymentMethod`,
//! the configured `paymentMethods`), and when each one's money is taken. [`METHODS`] is the one table the
//! checkout, the PSP adapter, the capture and the README follow.

use serde::{Deserialize, Serialize};

/// The payment provider's name as the shop knows it (payment methods' `providerName`).
pub const PROVIDER_NAME: &str = "Stripe";

/// A payment method the app offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PaymentMethod {
    /// Cards (Visa, Mastercard, ...), 3-D Secure when the bank asks.
    #[default]
    Card,
    /// Klarna (pay later).
    Klarna,
    /// PayPal.
    PayPal,
    /// iDEAL (Netherlands bank transfer).
    Ideal,
    /// Bancontact (Belgium).
    Bancontact,
    /// SEPA Direct Debit.
    SepaDebit,
    /// Bank transfer: the shopper sends the money to a virtual account the PSP shows them; it may arrive
    /// short or over (PaymentUnderpaid, PaymentOverpaid).
    BankTransfer,
    /// Apple Pay (a card in the shopper's wallet), paid before the order in an express checkout.
    ApplePay,
    /// Google Pay (a card in the shopper's wallet), paid before the order in an express checkout.
    GooglePay,
}

/// How the shopper reaches a method's payment (`checkoutConfiguration.strategy`, contract §3.4, §5.3-§5.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutStrategy {
    /// After placing the order, on the app's payment page (Spryker's post-order initialize-payment).
    HostedPaymentPage,
    /// From the cart, before the order exists: the wallet's sheet (Stripe's Express Checkout Element)
    /// pays a pre-order payment that the order confirms (`/private/pre-order-payment`).
    ExpressCheckout,
}

impl CheckoutStrategy {
    /// The strategy's name in `checkoutConfiguration.strategy`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutStrategy::HostedPaymentPage => "hosted-payment-page",
            CheckoutStrategy::ExpressCheckout => "express-checkout",
        }
    }
}

/// When a payment's money is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// Authorized (held) when the shopper pays; taken by Spryker's CapturePayment.
    #[default]
    Manual,
    /// Taken when the shopper pays (the method cannot hold money): the payment is reported authorized,
    /// and Spryker's CapturePayment is answered PaymentCaptured without moving money again.
    Automatic,
}

/// Spryker's method name, the method, and when its money is taken.
pub const METHODS: [(&str, PaymentMethod, CaptureMode); 9] = [
    ("Credit Card", PaymentMethod::Card, CaptureMode::Manual),
    ("Klarna", PaymentMethod::Klarna, CaptureMode::Manual),
    ("PayPal", PaymentMethod::PayPal, CaptureMode::Manual),
    ("iDEAL", PaymentMethod::Ideal, CaptureMode::Automatic),
    ("Bancontact", PaymentMethod::Bancontact, CaptureMode::Automatic),
    ("SEPA Direct Debit", PaymentMethod::SepaDebit, CaptureMode::Automatic),
    ("Bank Transfer", PaymentMethod::BankTransfer, CaptureMode::Automatic),
    ("Apple Pay", PaymentMethod::ApplePay, CaptureMode::Manual),
    ("Google Pay", PaymentMethod::GooglePay, CaptureMode::Manual),
];

/// A name as Spryker may spell it: `Credit Card`, `credit-card` (the app normalizes names so) and
/// `creditCard` are one.
fn normalized(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl PaymentMethod {
    /// The method Spryker's `name` stands for: the method's name (`Credit Card`) or the shop's key of it,
    /// the slug of provider and name (`stripe-credit-card`); `None` when the app does not offer it.
    pub fn from_spryker_name(name: &str) -> Option<Self> {
        let wanted = normalized(name);
        let provider = normalized(PROVIDER_NAME);
        METHODS
            .iter()
            .find(|(spryker, _, _)| {
                let spryker = normalized(spryker);
                wanted == spryker || wanted.strip_prefix(&provider) == Some(spryker.as_str())
            })
            .map(|(_, method, _)| *method)
    }

    /// The app's key of the method (`checkoutConfiguration.appPaymentMethodKey`).
    pub fn key(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::Klarna => "klarna",
            PaymentMethod::PayPal => "paypal",
            PaymentMethod::Ideal => "ideal",
            PaymentMethod::Bancontact => "bancontact",
            PaymentMethod::SepaDebit => "sepa_debit",
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::ApplePay => "apple_pay",
            PaymentMethod::GooglePay => "google_pay",
        }
    }

    /// How the shopper reaches this method's payment: wallets pay from the cart (express checkout),
    /// every other method on the payment page after the order.
    pub fn strategy(self) -> CheckoutStrategy {
        match self {
            PaymentMethod::ApplePay | PaymentMethod::GooglePay => CheckoutStrategy::ExpressCheckout,
            PaymentMethod::Card
            | PaymentMethod::Klarna
            | PaymentMethod::PayPal
            | PaymentMethod::Ideal
            | PaymentMethod::Bancontact
            | PaymentMethod::SepaDebit
            | PaymentMethod::BankTransfer => CheckoutStrategy::HostedPaymentPage,
        }
    }

    /// When this method's money is taken.
    pub fn capture(self) -> CaptureMode {
        METHODS
            .iter()
            .find(|(_, method, _)| *method == self)
            .map_or(CaptureMode::Manual, |(_, _, capture)| *capture)
    }

    /// The names of every method offered, for error messages.
    pub fn offered() -> String {
        METHODS.iter().map(|(name, _, _)| *name).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spryker_names_in_any_spelling_find_their_method() {
        for (name, method, _) in METHODS {
            assert_eq!(PaymentMethod::from_spryker_name(name), Some(method));
            assert_eq!(PaymentMethod::from_spryker_name(&name.to_uppercase()), Some(method));
        }
        assert_eq!(
            PaymentMethod::from_spryker_name("credit-card"),
            Some(PaymentMethod::Card)
        );
        assert_eq!(
            PaymentMethod::from_spryker_name("sepa-direct-debit"),
            Some(PaymentMethod::SepaDebit)
        );
        assert_eq!(
            PaymentMethod::from_spryker_name("stripe-credit-card"),
            Some(PaymentMethod::Card)
        );
        assert_eq!(
            PaymentMethod::from_spryker_name("stripe-ideal"),
            Some(PaymentMethod::Ideal)
        );
        assert_eq!(
            PaymentMethod::from_spryker_name("stripe-apple-pay"),
            Some(PaymentMethod::ApplePay)
        );
        assert_eq!(PaymentMethod::from_spryker_name("Bitcoin"), None);
    }

    #[test]
    fn only_wallets_are_paid_in_an_express_checkout() {
        let express: Vec<PaymentMethod> = METHODS
            .iter()
            .filter(|(_, m, _)| m.strategy() == CheckoutStrategy::ExpressCheckout)
            .map(|(_, m, _)| *m)
            .collect();
        assert_eq!(express, [PaymentMethod::ApplePay, PaymentMethod::GooglePay]);
        assert_eq!(CheckoutStrategy::ExpressCheckout.as_str(), "express-checkout");
        assert_eq!(CheckoutStrategy::HostedPaymentPage.as_str(), "hosted-payment-page");
    }

    #[test]
    fn methods_that_cannot_hold_money_are_captured_at_once() {
        let automatic: Vec<PaymentMethod> = METHODS
            .iter()
            .filter(|(_, m, _)| m.capture() == CaptureMode::Automatic)
            .map(|(_, m, _)| *m)
            .collect();
        assert_eq!(
            automatic,
            [
                PaymentMethod::Ideal,
                PaymentMethod::Bancontact,
                PaymentMethod::SepaDebit,
                PaymentMethod::BankTransfer
            ]
        );
    }
}
