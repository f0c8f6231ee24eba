//! Money on `rust_decimal`: FPS moves US dollars only, in cents, between fixed limits.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The only currency FPS accepted.
pub const CURRENCY_CODE: &str = "USD";

/// Smallest transaction FPS accepts ($0.01, `AmountOutOfRange` below).
pub const MIN_AMOUNT: Decimal = Decimal::from_parts(1, 0, 0, false, 2);
/// Largest transaction this product sends (FPS documented $10,000 for card and bank payments).
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount {0:?} is not a decimal number")]
    NotANumber(String),
    #[error("amount {0} must be greater than zero")]
    NotPositive(Decimal),
    #[error("amount {0} has more than 2 decimal places")]
    TooPrecise(Decimal),
    #[error("amount {0} is above the limit of {MAX_AMOUNT}")]
    TooLarge(Decimal),
    #[error("currency {0:?} is not supported (only USD)")]
    Currency(String),
}

/// A positive US-dollar amount with at most two decimal places, within FPS's limits.
///
/// Always stored with scale 2 so that `25.5` and `25.50` are the same value and the same text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Amount(Decimal);

impl Amount {
    /// Validates a decimal as a transaction amount.
    pub fn new(value: Decimal) -> Result<Self, AmountError> {
        if value <= Decimal::ZERO {
            return Err(AmountError::NotPositive(value));
        }
        if value.normalize().scale() > 2 {
            return Err(AmountError::TooPrecise(value));
        }
        if value > MAX_AMOUNT {
            return Err(AmountError::TooLarge(value));
        }
        let mut cents = value;
        cents.rescale(2);
        Ok(Self(cents))
    }

    /// Parses a plain decimal as typed by a person or a config file (`25.50`, `3`).
    pub fn parse(text: &str) -> Result<Self, AmountError> {
        let trimmed = text.trim();
        // Decimal::from_str also takes forms like "1e3" and "_"; money text is digits and one dot.
        let plain = !trimmed.is_empty()
            && trimmed
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
            && trimmed.len() <= 32;
        if !plain {
            return Err(AmountError::NotANumber(text.to_owned()));
        }
        let value =
            Decimal::from_str(trimmed).map_err(|_| AmountError::NotANumber(text.to_owned()))?;
        Self::new(value)
    }

    /// Parses FPS's response form, which carries six decimals (`1.000000`); extra zeros are
    /// fine, non-zero sub-cent digits are not.
    pub fn from_fps(text: &str) -> Result<Self, AmountError> {
        Self::parse(text)
    }

    /// Checks a currency code from FPS or a client.
    pub fn check_currency(code: &str) -> Result<(), AmountError> {
        if code == CURRENCY_CODE {
            Ok(())
        } else {
            Err(AmountError::Currency(code.to_owned()))
        }
    }

    pub fn value(&self) -> Decimal {
        self.0
    }

    /// The FPS wire form: a plain decimal with two places (`25.50`).
    pub fn to_fps_string(&self) -> String {
        self.0.to_string()
    }
}

impl fmt::Display for Amount {
    /// Shown to people as `$25.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.0)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Amount {
    type Error = AmountError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Amount> for String {
    fn from(value: Amount) -> Self {
        value.to_fps_string()
    }
}

/// Formats any non-negative sum of money for people (`$0.00`, `$1,234.50` is not attempted:
/// FPS amounts stay below $10,000 and plain digits read fine).
pub fn format_usd(value: Decimal) -> String {
    let mut v = value.round_dp(2);
    v.rescale(2);
    format!("${v}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn formats_for_fps_with_two_places() {
        assert_eq!(Amount::parse("25.5").unwrap().to_fps_string(), "25.50");
        assert_eq!(Amount::parse("3").unwrap().to_fps_string(), "3.00");
        assert_eq!(Amount::parse("0.01").unwrap().to_fps_string(), "0.01");
        assert_eq!(Amount::parse("10000").unwrap().to_fps_string(), "10000.00");
    }

    #[test]
    fn parses_fps_six_decimal_form() {
        assert_eq!(Amount::from_fps("1.000000").unwrap().value(), dec!(1.00));
        assert_eq!(
            Amount::from_fps("0.100000").unwrap().to_fps_string(),
            "0.10"
        );
        assert!(matches!(
            Amount::from_fps("1.000001"),
            Err(AmountError::TooPrecise(_))
        ));
    }

    #[test]
    fn rejects_everything_else_with_a_named_reason() {
        assert!(matches!(
            Amount::parse("0"),
            Err(AmountError::NotPositive(_))
        ));
        assert!(matches!(
            Amount::parse("-1"),
            Err(AmountError::NotPositive(_))
        ));
        assert!(matches!(
            Amount::parse("1.005"),
            Err(AmountError::TooPrecise(_))
        ));
        assert!(matches!(
            Amount::parse("10000.01"),
            Err(AmountError::TooLarge(_))
        ));
        for bad in [
            "",
            " ",
            "abc",
            "1e3",
            "1,00",
            "NaN",
            "1_000",
            "١٢",
            "9".repeat(40).as_str(),
        ] {
            assert!(
                matches!(Amount::parse(bad), Err(AmountError::NotANumber(_))),
                "{bad:?}"
            );
        }
        assert!(Amount::check_currency("EUR").is_err());
        assert!(Amount::check_currency("USD").is_ok());
    }

    #[test]
    fn equal_values_are_equal_whatever_their_scale() {
        assert_eq!(
            Amount::parse("25.5").unwrap(),
            Amount::parse("25.500").unwrap()
        );
        assert_eq!(Amount::parse("25.50").unwrap().to_string(), "$25.50");
        assert_eq!(format_usd(dec!(0)), "$0.00");
        assert_eq!(format_usd(dec!(2.5)), "$2.50");
    }

    #[test]
    fn serde_round_trips_as_text() {
        let a = Amount::parse("7.10").unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"7.10\"");
        assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), a);
        assert!(serde_json::from_str::<Amount>("\"0.001\"").is_err());
    }
}
