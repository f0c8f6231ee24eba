//! What the order records about the buyer's payment, in the shop's words: how the buyer
//! paid, and where the gateway says the payment stands. The stored text forms (`CC`,
//! `Reserved`, …) are part of the order table's format: changing them breaks stored orders.

/// The instrument the buyer chose when authorising.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentMethod {
    /// The buyer's Amazon Payments balance.
    AmazonBalance,
    /// A bank account debit.
    BankAccount,
    /// A credit card: the only instrument a reservation accepts.
    CreditCard,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AmazonBalance => "ABT",
            Self::BankAccount => "ACH",
            Self::CreditCard => "CC",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ABT" => Some(Self::AmazonBalance),
            "ACH" => Some(Self::BankAccount),
            "CC" => Some(Self::CreditCard),
            _ => None,
        }
    }
}

/// Where a payment (charge, reserve or settle) stands, as the gateway reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionStatus {
    /// Funds moved.
    Success,
    /// Accepted; the outcome comes later.
    Pending,
    /// Refused, or failed after acceptance.
    Failure,
    /// Funds held on the buyer's card, to be settled.
    Reserved,
    /// Called off (a reserve cancelled or expired).
    Cancelled,
}

impl TransactionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::Pending => "Pending",
            Self::Failure => "Failure",
            Self::Reserved => "Reserved",
            Self::Cancelled => "Cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Success" => Some(Self::Success),
            "Pending" => Some(Self::Pending),
            "Failure" => Some(Self::Failure),
            "Reserved" => Some(Self::Reserved),
            "Cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_round_trip_and_unknown_text_is_refused() {
        for method in [
            PaymentMethod::AmazonBalance,
            PaymentMethod::BankAccount,
            PaymentMethod::CreditCard,
        ] {
            assert_eq!(PaymentMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(PaymentMethod::CreditCard.as_str(), "CC");
        assert_eq!(PaymentMethod::parse("cc"), None);
        for status in [
            TransactionStatus::Success,
            TransactionStatus::Pending,
            TransactionStatus::Failure,
            TransactionStatus::Reserved,
            TransactionStatus::Cancelled,
        ] {
            assert_eq!(TransactionStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TransactionStatus::parse("SUCCESS"), None);
    }
}
