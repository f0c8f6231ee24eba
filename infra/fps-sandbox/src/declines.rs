//! Amounts that make the sandbox decline or stall, chosen by the cents value (§11: the real
//! sandbox used `.6x` cents values; its exact 2010 table is lost, so this one is ours).
//!
//! | cents | effect |
//! |---|---|
//! | `.61` | error `TransactionDenied` (HTTP 400), nothing recorded |
//! | `.62` | error `InsufficientBalance` (HTTP 400, retriable code), nothing recorded |
//! | `.63` | accepted `Pending`, then `Failure` (status code `TransactionDenied`) |
//! | `.64` | accepted `Pending` (status code `PendingVerification`); after 7 days `Cancelled`, status code `Expired` |
//! | `.65` | error `InvalidAccountState_Sender` (HTTP 400), nothing recorded |
//! | `.66` | error `AccountLimitsExceeded` (HTTP 400), nothing recorded |
//!
//! The amount checked is the one the request moves: Pay and Reserve amounts, the Settle amount,
//! the Refund amount. Every other cents value behaves normally.

use fps_protocol::error::ErrorCode;
use fps_protocol::money::Amount;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmountBehaviour {
    /// Completes as the instrument normally does.
    Normal,
    /// Refused synchronously: nothing is recorded.
    Reject(ApiError),
    /// Accepted, then fails.
    FailAfterPending,
    /// Accepted, stays Pending until the transaction times out (`Cancelled`, `Expired`).
    PendingUntilTimeout,
}

/// The table above, as data (cents, effect), for the README and the control API.
pub const TABLE: &[(u32, &str)] = &[
    (61, "error TransactionDenied (HTTP 400), nothing recorded"),
    (
        62,
        "error InsufficientBalance (HTTP 400, retriable code), nothing recorded",
    ),
    (
        63,
        "accepted Pending, then Failure (status code TransactionDenied)",
    ),
    (
        64,
        "accepted Pending (status code PendingVerification); after 7 days Cancelled, status code Expired",
    ),
    (
        65,
        "error InvalidAccountState_Sender (HTTP 400), nothing recorded",
    ),
    (
        66,
        "error AccountLimitsExceeded (HTTP 400), nothing recorded",
    ),
];

/// The cents part of an amount (`25.61` → 61).
pub fn cents(amount: &Amount) -> u32 {
    let hundredths = (amount.value() * Decimal::ONE_HUNDRED).trunc();
    (hundredths % Decimal::ONE_HUNDRED).to_u32().unwrap_or(0)
}

pub fn behaviour(amount: &Amount) -> AmountBehaviour {
    let c = cents(amount);
    let sandbox = |code: ErrorCode, what: &str| {
        AmountBehaviour::Reject(ApiError::new(
            code,
            format!("{what} (sandbox: amounts ending in .{c} are declined this way)."),
        ))
    };
    match c {
        61 => sandbox(
            ErrorCode::TransactionDenied,
            "This transaction is not allowed",
        ),
        62 => sandbox(
            ErrorCode::InsufficientBalance,
            "The sender's account does not have sufficient funds",
        ),
        63 => AmountBehaviour::FailAfterPending,
        64 => AmountBehaviour::PendingUntilTimeout,
        65 => sandbox(
            ErrorCode::InvalidAccountStateSender,
            "The sender's account is not in a state to make this payment",
        ),
        66 => sandbox(
            ErrorCode::AccountLimitsExceeded,
            "The sender's spending limit would be exceeded",
        ),
        _ => AmountBehaviour::Normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(s: &str) -> Amount {
        Amount::parse(s).unwrap()
    }

    #[test]
    fn picks_the_cents() {
        assert_eq!(cents(&amount("25.61")), 61);
        assert_eq!(cents(&amount("0.6")), 60);
        assert_eq!(cents(&amount("3")), 0);
        assert_eq!(cents(&amount("9999.99")), 99);
        assert_eq!(behaviour(&amount("10.00")), AmountBehaviour::Normal);
        assert_eq!(
            behaviour(&amount("1.63")),
            AmountBehaviour::FailAfterPending
        );
        assert_eq!(
            behaviour(&amount("1.64")),
            AmountBehaviour::PendingUntilTimeout
        );
        assert!(matches!(
            behaviour(&amount("7.61")),
            AmountBehaviour::Reject(ApiError {
                code: ErrorCode::TransactionDenied,
                ..
            })
        ));
        assert!(matches!(
            behaviour(&amount("7.62")),
            AmountBehaviour::Reject(ApiError {
                code: ErrorCode::InsufficientBalance,
                ..
            })
        ));
    }
}
