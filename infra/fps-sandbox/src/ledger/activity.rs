//! Per-CallerReference activity: request counts (faulted ones apart), the transactions and
//! tokens created under a reference, and its idempotency records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{IdempotencyRecord, Ledger};

/// Everything that happened under one CallerReference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerReferenceActivity {
    /// Requests per Action that passed authentication and reached the ledger: idempotent
    /// replays and rejected requests count; requests answered by an injected HTTP 500/503
    /// fault do not (see `faulted`). Settle, Cancel and GetTransactionStatus count under the
    /// CallerReference of the transaction they name.
    #[serde(default)]
    pub requests: BTreeMap<String, u32>,
    /// Requests per Action answered by an injected HTTP 500/503 fault (never processed).
    #[serde(default)]
    pub faulted: BTreeMap<String, u32>,
    /// Transactions created under this reference, oldest first.
    #[serde(default)]
    pub transactions_created: Vec<String>,
    /// Tokens the CBUI minted for this reference.
    #[serde(default)]
    pub tokens: Vec<String>,
    #[serde(default)]
    pub idempotency: Vec<IdempotencyRecord>,
}

impl Ledger {
    /// Counts an authenticated request (`faulted`: answered by an injected 500/503).
    pub fn count_request(&mut self, caller_reference: Option<&str>, action: &str, faulted: bool) {
        *self
            .requests_by_action
            .entry(action.to_owned())
            .or_default() += 1;
        if let Some(reference) = caller_reference {
            let activity = self
                .caller_references
                .entry(reference.to_owned())
                .or_default();
            let counts = if faulted {
                &mut activity.faulted
            } else {
                &mut activity.requests
            };
            *counts.entry(action.to_owned()).or_default() += 1;
        }
    }
}
