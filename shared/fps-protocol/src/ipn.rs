//! Instant Payment Notifications (§9): the form FPS POSTs to the merchant on every status
//! change of a transaction (and on a token's cancellation), signed like a return. Reading one
//! here proves nothing: the receiver asks VerifySignature with the raw body before acting.

use crate::cbui::{parse_query, ReturnParseError};
use crate::xml::TransactionStatus;

/// Longer bodies are refused before parsing (real IPNs are well under 2 KB).
pub const MAX_IPN_LEN: usize = 16 * 1024;

/// What the notification is about (`notificationType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationType {
    TransactionStatus,
    TokenCancellation,
    Other(String),
}

/// The FPS operation that moved the transaction (`operation`, §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpnOperation {
    Pay,
    Reserve,
    Settle,
    Refund,
    /// Cancelled by the caller.
    Cancel,
    /// Cancelled by FPS (a reserve or a transaction that expired).
    CancelTransaction,
    Other(String),
}

impl IpnOperation {
    fn parse(text: &str) -> Self {
        match text {
            "PAY" => Self::Pay,
            "RESERVE" => Self::Reserve,
            "SETTLE" => Self::Settle,
            "REFUND" => Self::Refund,
            "CANCEL" => Self::Cancel,
            "CANCEL_TRANSACTION" => Self::CancelTransaction,
            other => Self::Other(other.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpnParseError {
    #[error("the notification is empty")]
    Empty,
    #[error("the notification is longer than {MAX_IPN_LEN} bytes")]
    TooLong,
    #[error("the notification is not a form: {0}")]
    Form(#[from] ReturnParseError),
    #[error("the notification has no {0}")]
    Missing(&'static str),
    #[error("transactionStatus {0:?} is not a status FPS sends")]
    Status(String),
}

/// A notification as received: its fields, and the raw body that VerifySignature needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipn {
    pub notification_type: NotificationType,
    /// Present on transaction notifications.
    pub transaction_id: Option<String>,
    pub transaction_status: Option<TransactionStatus>,
    pub status_code: Option<String>,
    pub status_message: Option<String>,
    pub operation: Option<IpnOperation>,
    pub caller_reference: Option<String>,
    /// A refund names the transaction it refunds.
    pub parent_transaction_id: Option<String>,
    signed: bool,
    /// The body exactly as received.
    pub raw_body: String,
}

impl Ipn {
    /// Reads a form body. A transaction notification must name its transaction and status.
    pub fn parse(raw_body: &str) -> Result<Self, IpnParseError> {
        if raw_body.is_empty() {
            return Err(IpnParseError::Empty);
        }
        if raw_body.len() > MAX_IPN_LEN {
            return Err(IpnParseError::TooLong);
        }
        let params = parse_query(raw_body)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let notification_type = match get("notificationType").as_deref() {
            Some("TransactionStatus") => NotificationType::TransactionStatus,
            Some("TokenCancellation") => NotificationType::TokenCancellation,
            Some(other) => NotificationType::Other(other.to_owned()),
            None => return Err(IpnParseError::Missing("notificationType")),
        };
        let transaction_status = match get("transactionStatus") {
            None => None,
            Some(text) => Some(parse_status(&text).ok_or(IpnParseError::Status(text))?),
        };
        let transaction_id = get("transactionId");
        if notification_type == NotificationType::TransactionStatus {
            if transaction_id.is_none() {
                return Err(IpnParseError::Missing("transactionId"));
            }
            if transaction_status.is_none() {
                return Err(IpnParseError::Missing("transactionStatus"));
            }
        }
        let signed = [
            "signature",
            "signatureVersion",
            "signatureMethod",
            "certificateUrl",
        ]
        .iter()
        .all(|name| get(name).is_some());
        Ok(Self {
            notification_type,
            transaction_id,
            transaction_status,
            status_code: get("statusCode"),
            status_message: get("statusMessage"),
            operation: get("operation").map(|o| IpnOperation::parse(&o)),
            caller_reference: get("callerReference"),
            parent_transaction_id: get("parentTransactionId"),
            signed,
            raw_body: raw_body.to_owned(),
        })
    }

    /// Carries every field VerifySignature needs (without them it cannot be from FPS).
    pub fn has_signature_fields(&self) -> bool {
        self.signed
    }
}

/// The upper-case IPN form (`SUCCESS`), as `TransactionStatus::ipn_form` writes it.
fn parse_status(text: &str) -> Option<TransactionStatus> {
    use TransactionStatus as T;
    [
        T::Cancelled,
        T::Failure,
        T::Pending,
        T::Reserved,
        T::Success,
    ]
    .into_iter()
    .find(|s| s.ipn_form() == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "signatureVersion=2&signatureMethod=RSA-SHA1&certificateUrl=https%3A%2F%2Ffps.sandbox.amazonaws.com%2Fcerts%2F090911%2FPKICert.pem&signature=abc%3D";

    #[test]
    fn a_transaction_notification_reads_with_its_raw_body() {
        let body = format!(
            "notificationType=TransactionStatus&transactionId=14GK6BGKA7U6OU6SUTNLBI5SBBV9PGDJ6UL&transactionStatus=SUCCESS&statusCode=Success&statusMessage=The+transaction+was+successful&operation=PAY&callerReference=o-1&transactionAmount=USD+25.50&{SIGNED}"
        );
        let ipn = Ipn::parse(&body).expect("parse");
        assert_eq!(ipn.notification_type, NotificationType::TransactionStatus);
        assert_eq!(
            ipn.transaction_id.as_deref(),
            Some("14GK6BGKA7U6OU6SUTNLBI5SBBV9PGDJ6UL")
        );
        assert_eq!(ipn.transaction_status, Some(TransactionStatus::Success));
        assert_eq!(ipn.operation, Some(IpnOperation::Pay));
        assert_eq!(ipn.caller_reference.as_deref(), Some("o-1"));
        assert_eq!(
            ipn.status_message.as_deref(),
            Some("The transaction was successful")
        );
        assert!(ipn.has_signature_fields());
        assert_eq!(ipn.raw_body, body);
    }

    #[test]
    fn every_status_and_operation_fps_sends_is_read() {
        for status in [
            TransactionStatus::Cancelled,
            TransactionStatus::Failure,
            TransactionStatus::Pending,
            TransactionStatus::Reserved,
            TransactionStatus::Success,
        ] {
            assert_eq!(parse_status(status.ipn_form()), Some(status));
        }
        for (text, op) in [
            ("RESERVE", IpnOperation::Reserve),
            ("SETTLE", IpnOperation::Settle),
            ("REFUND", IpnOperation::Refund),
            ("CANCEL", IpnOperation::Cancel),
            ("CANCEL_TRANSACTION", IpnOperation::CancelTransaction),
            ("REAUTH", IpnOperation::Other("REAUTH".into())),
        ] {
            assert_eq!(IpnOperation::parse(text), op);
        }
    }

    #[test]
    fn malformed_or_incomplete_notifications_are_refused() {
        for (body, expected) in [
            ("", IpnParseError::Empty),
            (
                "transactionId=1",
                IpnParseError::Missing("notificationType"),
            ),
            (
                "notificationType=TransactionStatus&transactionStatus=SUCCESS",
                IpnParseError::Missing("transactionId"),
            ),
            (
                "notificationType=TransactionStatus&transactionId=1",
                IpnParseError::Missing("transactionStatus"),
            ),
            (
                "notificationType=TransactionStatus&transactionId=1&transactionStatus=Success",
                IpnParseError::Status("Success".into()),
            ),
            (
                "notificationType=A&notificationType=B",
                IpnParseError::Form(ReturnParseError::Repeated("notificationType".into())),
            ),
        ] {
            assert_eq!(Ipn::parse(body), Err(expected), "{body}");
        }
        assert_eq!(
            Ipn::parse(&"a".repeat(MAX_IPN_LEN + 1)),
            Err(IpnParseError::TooLong)
        );
        let token = Ipn::parse("notificationType=TokenCancellation&tokenId=T").expect("token");
        assert_eq!(token.notification_type, NotificationType::TokenCancellation);
        assert!(!token.has_signature_fields());
    }
}
