//! FPS error answers (protocol §6.11): the code table, what each answer means for whoever sent
//! the request ([`ErrorClass`], the one retry vocabulary), and the error type.

use std::fmt;

macro_rules! error_codes {
    ($( $variant:ident = $text:literal, retriable: $retriable:literal; )*) => {
        /// FPS error codes from the 2010-08-28 API Reference, plus the codes seen in the wild.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $variant, )*
            /// A code this crate does not know, kept verbatim.
            Other(String),
        }

        impl ErrorCode {
            pub fn parse(code: &str) -> Self {
                match code {
                    $( $text => Self::$variant, )*
                    other => Self::Other(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )*
                    Self::Other(code) => code,
                }
            }

            /// FPS's own "Retriable" column (§6.11): the same request may succeed later.
            fn fps_retriable(&self) -> bool {
                match self {
                    $( Self::$variant => $retriable, )*
                    Self::Other(_) => false,
                }
            }
        }
    };
}

error_codes! {
    AccessFailure = "AccessFailure", retriable: true;
    AccountClosed = "AccountClosed", retriable: true;
    AccountLimitsExceeded = "AccountLimitsExceeded", retriable: true;
    AmountOutOfRange = "AmountOutOfRange", retriable: false;
    AuthFailure = "AuthFailure", retriable: true;
    ConcurrentModification = "ConcurrentModification", retriable: true;
    DuplicateRequest = "DuplicateRequest", retriable: false;
    InactiveInstrument = "InactiveInstrument", retriable: false;
    IncompatibleTokens = "IncompatibleTokens", retriable: false;
    InstrumentAccessDenied = "InstrumentAccessDenied", retriable: false;
    InstrumentExpired = "InstrumentExpired", retriable: false;
    InsufficientBalance = "InsufficientBalance", retriable: true;
    InternalError = "InternalError", retriable: true;
    InvalidAccountState = "InvalidAccountState", retriable: true;
    InvalidAccountStateCaller = "InvalidAccountState_Caller", retriable: true;
    InvalidAccountStateRecipient = "InvalidAccountState_Recipient", retriable: true;
    InvalidAccountStateSender = "InvalidAccountState_Sender", retriable: true;
    InvalidCallerReference = "InvalidCallerReference", retriable: false;
    InvalidClientTokenId = "InvalidClientTokenId", retriable: false;
    InvalidDateRange = "InvalidDateRange", retriable: false;
    InvalidParams = "InvalidParams", retriable: false;
    InvalidParameterValue = "InvalidParameterValue", retriable: false;
    InvalidPaymentInstrument = "InvalidPaymentInstrument", retriable: false;
    InvalidPaymentMethod = "InvalidPaymentMethod", retriable: false;
    InvalidRecipientForCcTransaction = "InvalidRecipientForCCTransaction", retriable: false;
    InvalidSenderRoleForAccountType = "InvalidSenderRoleForAccountType", retriable: false;
    InvalidSignature = "InvalidSignature", retriable: false;
    InvalidTokenId = "InvalidTokenId", retriable: false;
    InvalidTokenIdRecipient = "InvalidTokenId_Recipient", retriable: false;
    InvalidTokenIdSender = "InvalidTokenId_Sender", retriable: false;
    InvalidTokenType = "InvalidTokenType", retriable: false;
    InvalidTransactionId = "InvalidTransactionId", retriable: false;
    InvalidTransactionState = "InvalidTransactionState", retriable: false;
    NotMarketplaceApp = "NotMarketplaceApp", retriable: true;
    OriginalTransactionFailed = "OriginalTransactionFailed", retriable: false;
    OriginalTransactionIncomplete = "OriginalTransactionIncomplete", retriable: true;
    PaymentInstrumentNotCc = "PaymentInstrumentNotCC", retriable: false;
    PaymentMethodNotDefined = "PaymentMethodNotDefined", retriable: false;
    PrepaidFundingLimitExceeded = "PrepaidFundingLimitExceeded", retriable: true;
    RefundAmountExceeded = "RefundAmountExceeded", retriable: false;
    RequestExpired = "RequestExpired", retriable: false;
    SameSenderAndRecipient = "SameSenderAndRecipient", retriable: false;
    SameTokenIdUsedMultipleTimes = "SameTokenIdUsedMultipleTimes", retriable: false;
    SenderNotOriginalRecipient = "SenderNotOriginalRecipient", retriable: false;
    ServiceUnavailable = "ServiceUnavailable", retriable: true;
    SettleAmountGreaterThanDebt = "SettleAmountGreaterThanDebt", retriable: false;
    SettleAmountGreaterThanReserveAmount = "SettleAmountGreaterThanReserveAmount", retriable: false;
    SignatureDoesNotMatch = "SignatureDoesNotMatch", retriable: false;
    TokenAccessDenied = "TokenAccessDenied", retriable: false;
    TokenNotActive = "TokenNotActive", retriable: false;
    TokenNotActiveRecipient = "TokenNotActive_Recipient", retriable: false;
    TokenNotActiveSender = "TokenNotActive_Sender", retriable: false;
    TokenUsageError = "TokenUsageError", retriable: false;
    TransactionDenied = "TransactionDenied", retriable: false;
    TransactionFullyRefundedAlready = "TransactionFullyRefundedAlready", retriable: false;
    TransactionTypeNotRefundable = "TransactionTypeNotRefundable", retriable: false;
    UnverifiedAccountRecipient = "UnverifiedAccount_Recipient", retriable: false;
    UnverifiedAccountSender = "UnverifiedAccount_Sender", retriable: false;
    UnverifiedBankAccount = "UnverifiedBankAccount", retriable: false;
    UnverifiedEmailAddressCaller = "UnverifiedEmailAddress_Caller", retriable: false;
    UnverifiedEmailAddressRecipient = "UnverifiedEmailAddress_Recipient", retriable: false;
    UnverifiedEmailAddressSender = "UnverifiedEmailAddress_Sender", retriable: false;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer from FPS: what it said, and the HTTP status it came with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("FPS {code} (HTTP {http_status}): {message}")]
pub struct FpsError {
    pub code: ErrorCode,
    pub message: String,
    pub request_id: Option<String>,
    pub http_status: u16,
}

/// What an FPS error answer means for the request that got it. Every retry decision in this
/// crate and in its callers starts here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The service itself failed (HTTP 500/503, `InternalError`, `ServiceUnavailable`,
    /// `ConcurrentModification`). The request may have been processed all the same (protocol
    /// decision 3): resend the very same request, with backoff. For Pay and Reserve the
    /// CallerReference makes that safe; Settle has none, so its callers look the transaction up
    /// before settling again.
    Transient,
    /// FPS refused, and says the same request may succeed later (its Retriable flag: account
    /// states, balance, limits). Not within seconds: no immediate resend.
    RetryLater,
    /// Refused for good.
    Final,
}

impl FpsError {
    pub fn class(&self) -> ErrorClass {
        let service_failed = matches!(self.http_status, 500 | 503)
            || matches!(
                self.code,
                ErrorCode::InternalError
                    | ErrorCode::ServiceUnavailable
                    | ErrorCode::ConcurrentModification
            );
        if service_failed {
            ErrorClass::Transient
        } else if self.code.fps_retriable() {
            ErrorClass::RetryLater
        } else {
            ErrorClass::Final
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_keep_unknown_ones() {
        for code in [
            "PaymentInstrumentNotCC",
            "InvalidAccountState_Sender",
            "TokenUsageError",
        ] {
            assert_eq!(ErrorCode::parse(code).as_str(), code);
        }
        assert_eq!(
            ErrorCode::parse("Brand_New"),
            ErrorCode::Other("Brand_New".into())
        );
    }

    #[test]
    fn every_answer_has_one_class() {
        use ErrorClass::*;
        let cases = [
            // (code, HTTP status, class)
            ("InternalError", 500, Transient),
            ("ServiceUnavailable", 503, Transient),
            ("ConcurrentModification", 400, Transient),
            // A 500/503 is the service failing, whatever code it carries.
            ("Brand_New", 503, Transient),
            ("TransactionDenied", 500, Transient),
            ("InsufficientBalance", 400, RetryLater),
            ("AccountLimitsExceeded", 400, RetryLater),
            ("InvalidAccountState_Sender", 400, RetryLater),
            ("OriginalTransactionIncomplete", 400, RetryLater),
            ("TransactionDenied", 400, Final),
            ("DuplicateRequest", 400, Final),
            ("SignatureDoesNotMatch", 403, Final),
            ("InvalidTokenId_Sender", 400, Final),
            ("Brand_New", 400, Final),
        ];
        for (code, http_status, class) in cases {
            let error = FpsError {
                code: ErrorCode::parse(code),
                message: String::new(),
                request_id: None,
                http_status,
            };
            assert_eq!(error.class(), class, "{code} with HTTP {http_status}");
        }
    }
}
