//! Refund: the validated request, and a new transaction against a succeeded Pay or settled
//! Reserve, all refunds together at most the amount charged.

use fps_protocol::error::ErrorCode;
use fps_protocol::money::{Amount, CURRENCY_CODE};
use fps_protocol::xml::TransactionStatus;
use rust_decimal::Decimal;
use time::{Duration, OffsetDateTime};

use super::status_code::{self, MSG_REFUNDED};
use super::{amount_text, err, Fingerprint, Ledger, Operation, Outcome, Transaction};
use crate::declines::{self, AmountBehaviour};
use crate::error::ApiError;
use crate::ids;

/// A Refund request, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundRequest {
    pub caller_key: String,
    pub transaction_id: String,
    pub caller_reference: String,
    pub amount: Option<Amount>,
    pub caller_description: Option<String>,
    pub override_ipn_url: Option<String>,
}

impl Ledger {
    /// Refund: a new transaction; all refunds together at most the amount charged.
    pub fn refund(
        &mut self,
        now: OffsetDateTime,
        pending_delay: Duration,
        request: RefundRequest,
    ) -> Result<Outcome, ApiError> {
        let fingerprint = Fingerprint {
            action: "Refund".to_owned(),
            subject: request.transaction_id.clone(),
            amount: request.amount.as_ref().map(amount_text),
            currency: request.amount.as_ref().map(|_| CURRENCY_CODE.to_owned()),
        };
        if let Some(replayed) = self.replay(
            now,
            &request.caller_key,
            &request.caller_reference,
            &fingerprint,
        )? {
            return Ok(replayed);
        }
        let original = self
            .owned_transaction(
                &request.caller_key,
                &request.transaction_id,
                "TransactionId",
            )?
            .clone();
        let charged = match original.operation {
            Operation::Refund => {
                return Err(err(
                    ErrorCode::TransactionTypeNotRefundable,
                    format!("Transaction {} is a refund; it cannot be refunded.", original.transaction_id),
                ))
            }
            Operation::Reserve if !original.settled => {
                return Err(err(
                    ErrorCode::InvalidTransactionState,
                    format!(
                        "Reserve {} has not been settled: settle it (or cancel it) instead of refunding.",
                        original.transaction_id
                    ),
                ))
            }
            Operation::Reserve => original.settle_amount.unwrap_or(original.amount),
            Operation::Pay => original.amount,
        };
        match original.status {
            TransactionStatus::Success => {}
            TransactionStatus::Pending | TransactionStatus::Reserved => {
                return Err(err(
                    ErrorCode::OriginalTransactionIncomplete,
                    format!(
                        "Transaction {} is still {}; refund it once it has succeeded.",
                        original.transaction_id,
                        original.status.as_str()
                    ),
                ))
            }
            TransactionStatus::Failure | TransactionStatus::Cancelled => {
                return Err(err(
                    ErrorCode::OriginalTransactionFailed,
                    format!(
                        "Transaction {} is {}; there is nothing to refund.",
                        original.transaction_id,
                        original.status.as_str()
                    ),
                ))
            }
        }
        let refunded: Decimal = original
            .refund_transaction_ids
            .iter()
            .filter_map(|id| self.transactions.get(id))
            .filter(|r| {
                !matches!(
                    r.status,
                    TransactionStatus::Failure | TransactionStatus::Cancelled
                )
            })
            .map(|r| r.amount.value())
            .sum();
        let remaining = charged.value() - refunded;
        if remaining <= Decimal::ZERO {
            return Err(err(
                ErrorCode::TransactionFullyRefundedAlready,
                format!(
                    "Transaction {} has already been fully refunded.",
                    original.transaction_id
                ),
            ));
        }
        let amount = match request.amount {
            Some(a) if a.value() > remaining => {
                return Err(err(
                    ErrorCode::RefundAmountExceeded,
                    format!(
                        "The refund amount {} exceeds the {} still refundable on transaction {}.",
                        amount_text(&a),
                        remaining,
                        original.transaction_id
                    ),
                ))
            }
            Some(a) => a,
            None => Amount::new(remaining).map_err(|e| ApiError::internal(e.to_string()))?,
        };
        let behaviour = declines::behaviour(&amount);
        if let AmountBehaviour::Reject(e) = behaviour {
            return Err(e);
        }
        let id = ids::transaction_id();
        let seq = self.next_seq();
        let tx = Transaction {
            transaction_id: id.clone(),
            seq,
            caller_key: request.caller_key.clone(),
            caller_reference: request.caller_reference.clone(),
            operation: Operation::Refund,
            amount,
            currency: CURRENCY_CODE.to_owned(),
            payment_method: original.payment_method,
            sender_token_id: original.sender_token_id.clone(),
            parent_transaction_id: Some(original.transaction_id.clone()),
            refund_transaction_ids: Vec::new(),
            settled: false,
            settle_amount: None,
            status: TransactionStatus::Pending,
            status_code: String::new(),
            status_message: String::new(),
            created_at: now,
            reserve_expires_at: None,
            scheduled: None,
            history: Vec::new(),
            ipn_url: request.override_ipn_url.clone(),
            caller_description: request.caller_description.clone(),
            sender_description: None,
            payment_reason: original.payment_reason.clone(),
            persona: original.persona,
            fingerprint: fingerprint.clone(),
        };
        self.transactions.insert(id.clone(), tx);
        if let Some(o) = self.transactions.get_mut(&original.transaction_id) {
            o.refund_transaction_ids.push(id.clone());
        }
        self.remember(
            now,
            &request.caller_key,
            &request.caller_reference,
            &id,
            fingerprint,
        );
        let (code, message) = Self::pending_code(&behaviour);
        self.change(
            &id,
            now,
            "Refund",
            TransactionStatus::Pending,
            code,
            message,
        );
        self.schedule_after_pending(
            &id,
            now,
            pending_delay,
            "Refund",
            &behaviour,
            (
                TransactionStatus::Success,
                status_code::SUCCESS,
                MSG_REFUNDED,
            ),
        );
        Ok(Outcome {
            transaction_id: id,
            status: TransactionStatus::Pending,
        })
    }
}
