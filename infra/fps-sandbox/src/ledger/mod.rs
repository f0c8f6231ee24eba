//! The sandbox's books: tokens, transactions, CallerReference records and per-reference request
//! counts, with FPS's rules (§6–§8 and the project decisions). Pure state: no I/O; every time
//! comes from the caller (the emulator clock), so moving that clock drives every transition.
//!
//! The same type is the control API's `GET /_sandbox/ledger` answer and the `--state-file`
//! content, so tests read exactly what the emulator keeps.

mod activity;
mod agenda;
mod cancel;
mod charge;
mod idempotency;
mod ipn;
mod queries;
mod refund;
mod sessions;
mod settle;
pub mod status_code;
mod tokens;
mod transitions;
mod types;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use fps_protocol::error::ErrorCode;
use fps_protocol::money::Amount;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use agenda::Agenda;

pub use activity::CallerReferenceActivity;
pub use charge::{ChargeRequest, PENDING_TIMEOUT, RESERVE_LIFETIME};
pub use idempotency::{Fingerprint, IdempotencyRecord, IDEMPOTENCY_WINDOW};
pub use ipn::{IpnDelivery, IpnState, Notification, MAX_IPN_RECORDS};
pub use refund::RefundRequest;
pub use sessions::{CbuiSession, CBUI_SESSION_LIFETIME};
pub use tokens::{Token, TokenState, TOKEN_LIFETIME};
pub use types::{Operation, Outcome, ScheduledChange, StatusChange, Transaction};

/// The sandbox's books.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    #[serde(default)]
    pub transactions: BTreeMap<String, Transaction>,
    #[serde(default)]
    pub tokens: BTreeMap<String, Token>,
    #[serde(default)]
    pub caller_references: BTreeMap<String, CallerReferenceActivity>,
    /// Authenticated requests per Action, all references together (faulted ones included).
    #[serde(default)]
    pub requests_by_action: BTreeMap<String, u64>,
    #[serde(default)]
    pub ipn_deliveries: Vec<IpnDelivery>,
    #[serde(default)]
    pub cbui_sessions: BTreeMap<String, CbuiSession>,
    #[serde(default)]
    next_seq: u64,
    #[serde(skip)]
    outbox: Vec<Notification>,
    #[serde(skip)]
    agenda: Agenda,
}

fn err(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn amount_text(amount: &Amount) -> String {
    amount.to_fps_string()
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}
