//! Stripe's currency rules, in one table (https://docs.stripe.com/currencies), and the one place where
//! the app's amounts (ISO 4217 minor units, as Spryker sends them) become Stripe's wire amounts and back.
//!
//! - Zero-decimal currencies are sent in whole units (JPY 500 is ¥500).
//! - Three-decimal currencies (BHD, JOD, KWD, OMR, TND) are sent in thousandths, and the last digit must
//!   be 0.
//! - ISK, HUF, TWD and UGX are sent as two-decimal amounts that must be divisible by 100 (whole units).
//! - Every other currency is sent in its ISO minor units.
//!
//! An amount Stripe would refuse is refused here, before any call, as a decline: the command gets its
//! Failed answer with the reason, and nothing reaches Stripe.

use crate::domain::{Currency, Money};
use crate::ports::gateway::PspError;

/// How Stripe counts one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rule {
    /// Decimal places of Stripe's wire amount.
    decimals: u32,
    /// The wire amount must be a multiple of this.
    multiple_of: i64,
}

/// Stripe's zero-decimal currencies.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF", "XOF", "XPF",
];

/// Stripe's three-decimal currencies: the last digit must be 0.
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// Two-decimal at Stripe, but only whole units are accepted.
const WHOLE_UNITS_ONLY: &[&str] = &["ISK", "HUF", "TWD", "UGX"];

fn rule(currency: Currency) -> Rule {
    let code = currency.code();
    if ZERO_DECIMAL.contains(&code) {
        Rule {
            decimals: 0,
            multiple_of: 1,
        }
    } else if THREE_DECIMAL.contains(&code) {
        Rule {
            decimals: 3,
            multiple_of: 10,
        }
    } else if WHOLE_UNITS_ONLY.contains(&code) {
        Rule {
            decimals: 2,
            multiple_of: 100,
        }
    } else {
        Rule {
            decimals: u32::from(currency.exponent()),
            multiple_of: 1,
        }
    }
}

/// A refusal of `amount` before any call.
fn refused(amount: Money, why: &str) -> PspError {
    PspError::Declined {
        code: "amount_invalid_for_currency".into(),
        message: format!(
            "{} {} cannot be charged at Stripe: {why}",
            amount.major_units(),
            amount.currency
        ),
    }
}

/// Stripe's wire amount of `amount`, or a decline when Stripe would refuse it.
pub(super) fn to_wire(amount: Money) -> Result<i64, PspError> {
    let rule = rule(amount.currency);
    let iso = u32::from(amount.currency.exponent());
    let wire = if rule.decimals >= iso {
        10i64
            .checked_pow(rule.decimals - iso)
            .and_then(|f| amount.minor.checked_mul(f))
            .ok_or_else(|| refused(amount, "the amount is too large"))?
    } else {
        let factor = 10i64.pow(iso - rule.decimals);
        if amount.minor % factor != 0 {
            return Err(refused(amount, "Stripe takes no fractions of this currency"));
        }
        amount.minor / factor
    };
    if wire % rule.multiple_of != 0 {
        let why = match rule.decimals {
            3 => "the last of its three decimals must be 0",
            _ => "Stripe takes only whole units of this currency",
        };
        return Err(refused(amount, why));
    }
    Ok(wire)
}

/// The app's minor units of a wire amount Stripe reports in `currency`.
pub(super) fn from_wire(wire: i64, currency: Currency) -> i64 {
    let rule = rule(currency);
    let iso = u32::from(currency.exponent());
    if rule.decimals >= iso {
        wire / 10i64.pow(rule.decimals - iso)
    } else {
        wire.saturating_mul(10i64.pow(iso - rule.decimals))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn money(minor: i64, code: &str) -> Money {
        Money::new(minor, Currency::parse(code).unwrap())
    }

    #[test]
    fn each_rule_of_stripes_table() {
        assert_eq!(to_wire(money(1999, "EUR")), Ok(1999));
        assert_eq!(to_wire(money(500, "JPY")), Ok(500), "zero-decimal: whole yen");
        assert_eq!(to_wire(money(5120, "KWD")), Ok(5120));
        assert!(to_wire(money(5124, "KWD")).is_err(), "three decimals end in 0");
        assert_eq!(
            to_wire(money(5, "ISK")),
            Ok(500),
            "ISK: two decimals at Stripe, ISO has none"
        );
        assert_eq!(to_wire(money(7, "UGX")), Ok(700));
        assert_eq!(to_wire(money(1200, "HUF")), Ok(1200));
        assert!(to_wire(money(1250, "HUF")).is_err(), "HUF: whole forints only");
        assert!(to_wire(money(1001, "TWD")).is_err(), "TWD: whole dollars only");
        assert_eq!(
            to_wire(money(300, "MGA")),
            Ok(3),
            "MGA: zero-decimal at Stripe, two in ISO"
        );
        assert!(to_wire(money(301, "MGA")).is_err());
        let PspError::Declined { code, message } = to_wire(money(5124, "KWD")).unwrap_err() else {
            panic!("a decline")
        };
        assert_eq!(code, "amount_invalid_for_currency");
        assert!(message.contains("5.124 KWD"), "{message}");
    }

    fn code() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "EUR", "USD", "JPY", "KRW", "CLP", "BHD", "KWD", "TND", "ISK", "HUF", "TWD", "UGX", "MGA", "CHF",
        ])
    }

    proptest! {
        /// Every amount Stripe accepts comes back as it went; every other one is refused before a call.
        #[test]
        fn amounts_round_trip_or_are_refused(minor in -10_000_000_000i64..10_000_000_000, code in code()) {
            let amount = money(minor, code);
            match to_wire(amount) {
                Ok(wire) => {
                    prop_assert_eq!(from_wire(wire, amount.currency), minor);
                    prop_assert_eq!(wire % rule(amount.currency).multiple_of, 0);
                }
                Err(PspError::Declined { .. }) => {
                    let r = rule(amount.currency);
                    let iso = u32::from(amount.currency.exponent());
                    let scaled = if r.decimals >= iso {
                        minor.checked_mul(10i64.pow(r.decimals - iso))
                    } else {
                        (minor % 10i64.pow(iso - r.decimals) == 0).then(|| minor / 10i64.pow(iso - r.decimals))
                    };
                    prop_assert!(scaled.is_none_or(|w| w % r.multiple_of != 0), "{amount:?} refused wrongly");
                }
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }

        /// What Stripe reports converts to an amount that converts back to the same wire amount.
        #[test]
        fn wire_amounts_round_trip(units in 0i64..1_000_000_000, code in code()) {
            let currency = Currency::parse(code).unwrap();
            let wire = units * rule(currency).multiple_of;
            let minor = from_wire(wire, currency);
            prop_assert_eq!(to_wire(Money::new(minor, currency)), Ok(wire));
        }
    }
}
