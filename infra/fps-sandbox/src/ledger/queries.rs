//! Reading the books: transactions, tokens and activity by id or CallerReference, and the
//! GetTransactionStatus / GetTokenByCaller lookups, scoped to the caller.

use fps_protocol::error::ErrorCode;

use super::{err, CallerReferenceActivity, IpnDelivery, Ledger, Token, Transaction};
use crate::error::ApiError;
use crate::ids;

impl Ledger {
    // ----- reading -------------------------------------------------------------------------

    pub fn transaction(&self, id: &str) -> Option<&Transaction> {
        self.transactions.get(id)
    }

    pub fn token(&self, id: &str) -> Option<&Token> {
        self.tokens.get(id)
    }

    /// Transactions in creation order.
    pub fn transactions_in_order(&self) -> Vec<&Transaction> {
        let mut all: Vec<&Transaction> = self.transactions.values().collect();
        all.sort_by_key(|t| t.seq);
        all
    }

    pub fn activity(&self, caller_reference: &str) -> Option<&CallerReferenceActivity> {
        self.caller_references.get(caller_reference)
    }

    /// How many `action` requests reached the ledger under `caller_reference` (idempotent
    /// replays included, injected 500/503 faults excluded).
    pub fn requests(&self, caller_reference: &str, action: &str) -> u32 {
        self.activity(caller_reference)
            .and_then(|a| a.requests.get(action).copied())
            .unwrap_or(0)
    }

    /// How many `action` requests under `caller_reference` an injected 500/503 answered.
    pub fn faulted(&self, caller_reference: &str, action: &str) -> u32 {
        self.activity(caller_reference)
            .and_then(|a| a.faulted.get(action).copied())
            .unwrap_or(0)
    }

    /// The transactions created under `caller_reference`, oldest first.
    pub fn transactions_for(&self, caller_reference: &str) -> Vec<&Transaction> {
        self.activity(caller_reference)
            .map(|a| {
                a.transactions_created
                    .iter()
                    .filter_map(|id| self.transactions.get(id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The newest token the CBUI minted for `caller_reference`.
    pub fn token_for(&self, caller_reference: &str) -> Option<&Token> {
        self.activity(caller_reference)
            .and_then(|a| a.tokens.last())
            .and_then(|id| self.tokens.get(id))
    }

    /// IPN deliveries about one transaction, oldest first.
    pub fn ipns_for(&self, transaction_id: &str) -> Vec<&IpnDelivery> {
        self.ipn_deliveries
            .iter()
            .filter(|d| d.transaction_id.as_deref() == Some(transaction_id))
            .collect()
    }

    /// The CallerReference a request is about: its own, or that of the transaction or token
    /// it names.
    pub fn subject_reference(&self, params: &[(String, String)]) -> Option<String> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        if let Some(r) = get("CallerReference") {
            return Some(r.to_owned());
        }
        for name in ["ReserveTransactionId", "TransactionId"] {
            if let Some(t) = get(name).and_then(|id| self.transactions.get(id)) {
                return Some(t.caller_reference.clone());
            }
        }
        get("TokenId")
            .and_then(|id| self.tokens.get(id))
            .map(|t| t.caller_reference.clone())
    }

    pub(super) fn owned_transaction(
        &self,
        caller_key: &str,
        id: &str,
        parameter: &str,
    ) -> Result<&Transaction, ApiError> {
        if !ids::is_transaction_id_shaped(id) {
            return Err(ApiError::invalid_params(format!(
                "{parameter} has to be a valid transaction ID. Specified value: {id}"
            )));
        }
        self.transactions
            .get(id)
            .filter(|t| t.caller_key == caller_key)
            .ok_or_else(|| {
                err(
                    ErrorCode::InvalidTransactionId,
                    format!("Transaction {id} does not exist or does not belong to this caller."),
                )
            })
    }

    pub fn transaction_status(
        &self,
        caller_key: &str,
        transaction_id: &str,
    ) -> Result<&Transaction, ApiError> {
        self.owned_transaction(caller_key, transaction_id, "TransactionId")
    }

    /// GetTokenByCaller: the newest token of the caller for a CallerReference, or by id.
    pub fn token_by_caller(
        &self,
        caller_key: &str,
        caller_reference: Option<&str>,
        token_id: Option<&str>,
    ) -> Result<&Token, ApiError> {
        match (caller_reference, token_id) {
            (Some(reference), None) => self
                .caller_references
                .get(reference)
                .and_then(|a| {
                    a.tokens
                        .iter()
                        .rev()
                        .filter_map(|id| self.tokens.get(id))
                        .find(|t| t.caller_key == caller_key)
                })
                .ok_or_else(|| {
                    err(
                        ErrorCode::InvalidCallerReference,
                        format!("No token was installed with callerReference {reference}."),
                    )
                }),
            (None, Some(id)) => self
                .tokens
                .get(id)
                .filter(|t| t.caller_key == caller_key)
                .ok_or_else(|| {
                    err(
                        ErrorCode::InvalidTokenId,
                        format!("Token {id} was not installed by this caller."),
                    )
                }),
            _ => Err(ApiError::invalid_params(
                "Exactly one of CallerReference and TokenId is required.",
            )),
        }
    }
}
