//! Money: integer minor units plus an ISO 4217 currency. There are no floats anywhere in the app.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an amount or a currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The code is not an ISO 4217 currency.
    #[error("unknown currency code {0:?}")]
    UnknownCurrency(String),
    /// Two amounts of different currencies were combined.
    #[error("currency mismatch: {0} vs {1}")]
    CurrencyMismatch(Currency, Currency),
}

/// An ISO 4217 currency, validated against the standard's table (the `iso_currency` crate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses a code such as `EUR` (case-insensitive).
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        iso_currency::Currency::from_code(&code.trim().to_ascii_uppercase())
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    /// The upper-case three-letter code, as Spryker sends it.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point in the ISO table (EUR 2, JPY 0, BHD 3). Amounts never need it
    /// because they are already minor units; it is here for display and for validation by callers.
    pub fn exponent(&self) -> u16 {
        self.0.exponent().unwrap_or(0)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.code().to_string()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in the currency's smallest unit (cents for EUR, yen for JPY, fils for BHD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units; never a float.
    pub minor: i64,
    /// The amount's currency.
    pub currency: Currency,
}

impl Money {
    /// An amount of `minor` units of `currency`.
    pub fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// The amount in major units as decimal text: `12.34` for 1234 euro cents, `1234` for 1234 yen,
    /// `-0.05` for -5 cents. Exact: no float on the way.
    pub fn major_units(&self) -> String {
        let exponent = u32::from(self.currency.exponent());
        let digits = self.minor.unsigned_abs().to_string();
        let sign = if self.minor < 0 { "-" } else { "" };
        if exponent == 0 {
            return format!("{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = exponent as usize + 1);
        let (whole, fraction) = padded.split_at(padded.len() - exponent as usize);
        format!("{sign}{whole}.{fraction}")
    }

    /// Fails unless `other` has the same currency.
    pub fn same_currency(&self, other: Currency) -> Result<(), MoneyError> {
        if self.currency == other {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other))
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.minor, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_codes_case_insensitively_and_knows_exponents() {
        assert_eq!(Currency::parse("eur").unwrap().code(), "EUR");
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KRW").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("BHD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("EUR").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("XYZ"), Err(MoneyError::UnknownCurrency("XYZ".into())));
    }

    #[test]
    fn major_units_follow_the_currency_exponent() {
        let money = |minor, code| Money::new(minor, Currency::parse(code).unwrap()).major_units();
        assert_eq!(money(1234, "EUR"), "12.34");
        assert_eq!(money(5, "EUR"), "0.05");
        assert_eq!(money(-5, "EUR"), "-0.05");
        assert_eq!(money(1234, "JPY"), "1234");
        assert_eq!(money(1, "BHD"), "0.001");
        assert_eq!(money(i64::MIN, "EUR"), "-92233720368547758.08");
    }

    #[test]
    fn serializes_as_the_plain_code() {
        let m = Money::new(1999, Currency::parse("EUR").unwrap());
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"minor":1999,"currency":"EUR"}"#);
        assert!(serde_json::from_str::<Currency>(r#""ZZZ""#).is_err());
    }

    #[test]
    fn refuses_to_mix_currencies() {
        let eur = Money::new(1, Currency::parse("EUR").unwrap());
        assert!(eur.same_currency(Currency::parse("EUR").unwrap()).is_ok());
        assert!(eur.same_currency(Currency::parse("JPY").unwrap()).is_err());
    }

    proptest! {
        #[test]
        fn amounts_round_trip_exactly(minor in any::<i64>(), code in prop::sample::select(vec!["EUR", "JPY", "KRW", "BHD", "USD"])) {
            let m = Money::new(minor, Currency::parse(code).unwrap());
            let back: Money = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            prop_assert_eq!(back, m);
        }
    }
}
