//! The status codes a transaction carries (public: `ledger::status_code::*`), and the messages
//! that go with them.

pub const PENDING: &str = "PendingNetworkResponse";
pub const PENDING_VERIFICATION: &str = "PendingVerification";
pub const SUCCESS: &str = "Success";
pub const RESERVED: &str = "Reserved";
pub const DENIED: &str = "TransactionDenied";
pub const CANCELED: &str = "Canceled";
pub const EXPIRED: &str = "Expired";

pub(super) const MSG_PENDING: &str =
    "The transaction is awaiting a response from the backend payment processor.";
pub(super) const MSG_PENDING_VERIFICATION: &str =
    "The transaction is under manual review (sandbox: amounts ending in .64 time out after 7 days).";
pub(super) const MSG_SUCCESS: &str =
    "The transaction was successful and the payment instrument was charged.";
pub(super) const MSG_RESERVED: &str =
    "The reserve was successful: the amount is held on the credit card.";
pub(super) const MSG_REFUNDED: &str = "The refund was successful.";
pub(super) const MSG_DENIED: &str =
    "The payment instrument was declined (sandbox: amounts ending in .63 fail after Pending).";
pub(super) const MSG_CANCELED: &str = "The transaction was cancelled by the caller.";
pub(super) const MSG_EXPIRED: &str = "The reserve expired: it was not settled within 7 days.";
pub(super) const MSG_TIMED_OUT: &str =
    "The transaction timed out: it was still pending after 7 days, and was cancelled.";
