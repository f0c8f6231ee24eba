//! The buyers the CBUI offers, and the payment instruments they hold.

use std::fmt;

use fps_protocol::cbui::PaymentMethod;
use serde::{Deserialize, Serialize};

/// A payment instrument, as FPS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Instrument {
    /// Credit card.
    #[serde(rename = "CC")]
    Cc,
    /// Bank account debit.
    #[serde(rename = "ACH")]
    Ach,
    /// Amazon Payments balance transfer.
    #[serde(rename = "ABT")]
    Abt,
}

impl Instrument {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cc => "CC",
            Self::Ach => "ACH",
            Self::Abt => "ABT",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Cc => "Credit card",
            Self::Ach => "Bank account",
            Self::Abt => "Amazon Payments balance",
        }
    }
}

impl From<PaymentMethod> for Instrument {
    fn from(m: PaymentMethod) -> Self {
        match m {
            PaymentMethod::Cc => Self::Cc,
            PaymentMethod::Ach => Self::Ach,
            PaymentMethod::Abt => Self::Abt,
        }
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Test buyers on the authorisation page (form value in brackets):
///
/// | persona | instrument | CBUI status |
/// |---|---|---|
/// | `card` | credit card | `SC` |
/// | `bank` | bank account | `SB` |
/// | `balance` | Amazon Payments balance | `SA` |
/// | `pe` | none of the requested methods | `PE` |
/// | `np` | unverified e-mail address | `NP` |
///
/// Choosing `card`, `bank` or `balance` when the request does not allow that instrument
/// (e.g. `bank` for `reserve=True`) also ends with `PE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Persona {
    #[serde(rename = "card")]
    Card,
    #[serde(rename = "bank")]
    Bank,
    #[serde(rename = "balance")]
    Balance,
    #[serde(rename = "pe")]
    PaymentMethodMismatch,
    #[serde(rename = "np")]
    NotPermitted,
}

impl Persona {
    pub const ALL: [Persona; 5] = [
        Self::Card,
        Self::Bank,
        Self::Balance,
        Self::PaymentMethodMismatch,
        Self::NotPermitted,
    ];

    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Card => "card",
            Self::Bank => "bank",
            Self::Balance => "balance",
            Self::PaymentMethodMismatch => "pe",
            Self::NotPermitted => "np",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The instrument this buyer pays with, if any.
    pub fn instrument(self) -> Option<Instrument> {
        match self {
            Self::Card => Some(Instrument::Cc),
            Self::Bank => Some(Instrument::Ach),
            Self::Balance => Some(Instrument::Abt),
            Self::PaymentMethodMismatch | Self::NotPermitted => None,
        }
    }

    /// The `status` the return URL gets when this buyer authorises.
    pub fn status_code(self) -> &'static str {
        match self {
            Self::Card => "SC",
            Self::Bank => "SB",
            Self::Balance => "SA",
            Self::PaymentMethodMismatch => "PE",
            Self::NotPermitted => "NP",
        }
    }

    pub fn buyer_name(self) -> &'static str {
        match self {
            Self::Card => "Casey Card",
            Self::Bank => "Blake Bank",
            Self::Balance => "Bailey Balance",
            Self::PaymentMethodMismatch => "Pat Nomethod",
            Self::NotPermitted => "Noel Unverified",
        }
    }

    pub fn buyer_email(self) -> &'static str {
        match self {
            Self::Card => "casey.card@buyer.sandbox.invalid",
            Self::Bank => "blake.bank@buyer.sandbox.invalid",
            Self::Balance => "bailey.balance@buyer.sandbox.invalid",
            Self::PaymentMethodMismatch => "pat.nomethod@buyer.sandbox.invalid",
            Self::NotPermitted => "noel.unverified@buyer.sandbox.invalid",
        }
    }

    /// What the page says about this buyer.
    pub fn description(self) -> &'static str {
        match self {
            Self::Card => "Pays with a Visa card ending in 1111 (status SC).",
            Self::Bank => "Pays from a checking account ending in 6789 (status SB).",
            Self::Balance => "Pays from an Amazon Payments balance of $5,000.00 (status SA).",
            Self::PaymentMethodMismatch => {
                "Has none of the payment methods this merchant accepts (status PE)."
            }
            Self::NotPermitted => {
                "Has not verified their e-mail address: not permitted to pay (status NP)."
            }
        }
    }
}

impl fmt::Display for Persona {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The buyer's answer on the authorisation page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Authorize,
    Cancel,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Cancel => "cancel",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "authorize" => Some(Self::Authorize),
            "cancel" => Some(Self::Cancel),
            _ => None,
        }
    }
}
