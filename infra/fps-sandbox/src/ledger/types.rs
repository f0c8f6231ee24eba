//! The shared transaction records: the operation, its history, its scheduled change, the
//! transaction itself and what a money-moving action answers.

use fps_protocol::money::Amount;
use fps_protocol::xml::TransactionStatus;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Fingerprint;
use crate::persona::{Instrument, Persona};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    Pay,
    Reserve,
    Refund,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pay => "Pay",
            Self::Reserve => "Reserve",
            Self::Refund => "Refund",
        }
    }
}

/// One step of a transaction's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What moved it: `Pay`, `Reserve`, `Settle`, `Refund`, `Cancel` or `Expire`.
    pub operation: String,
    pub status: TransactionStatus,
    pub status_code: String,
    pub status_message: String,
}

/// A change the emulator clock will bring (Pending → Success, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledChange {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub operation: String,
    pub status: TransactionStatus,
    pub status_code: String,
    pub status_message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub transaction_id: String,
    /// Creation order across the ledger.
    pub seq: u64,
    /// The access key id of the caller that owns it.
    pub caller_key: String,
    pub caller_reference: String,
    pub operation: Operation,
    /// Pay/Reserve: the amount charged or held. Refund: the amount refunded.
    pub amount: Amount,
    pub currency: String,
    pub payment_method: Instrument,
    pub sender_token_id: Option<String>,
    /// Refunds: the transaction refunded.
    pub parent_transaction_id: Option<String>,
    /// Pay / settled Reserve: the refunds made against it.
    #[serde(default)]
    pub refund_transaction_ids: Vec<String>,
    /// Reserve: whether Settle was accepted (it can be, once) and for how much.
    #[serde(default)]
    pub settled: bool,
    pub settle_amount: Option<Amount>,
    pub status: TransactionStatus,
    pub status_code: String,
    pub status_message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub reserve_expires_at: Option<OffsetDateTime>,
    pub scheduled: Option<ScheduledChange>,
    pub history: Vec<StatusChange>,
    pub ipn_url: Option<String>,
    pub caller_description: Option<String>,
    pub sender_description: Option<String>,
    pub payment_reason: Option<String>,
    pub persona: Option<Persona>,
    pub fingerprint: Fingerprint,
}

impl Transaction {
    /// The statuses it went through, in order.
    pub fn statuses(&self) -> Vec<TransactionStatus> {
        self.history.iter().map(|c| c.status).collect()
    }
}

/// What a money-moving action answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub transaction_id: String,
    pub status: TransactionStatus,
}
