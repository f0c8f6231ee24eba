//! Pay and Reserve with a single-use token: the validated request and the charge itself
//! (synchronous for ABT, Pending then the amount table's outcome otherwise).

use fps_protocol::error::ErrorCode;
use fps_protocol::money::Amount;
use fps_protocol::xml::TransactionStatus;
use time::{Duration, OffsetDateTime};

use super::status_code::{self, MSG_DENIED, MSG_RESERVED, MSG_SUCCESS};
use super::{amount_text, err, Fingerprint, Ledger, Operation, Outcome, TokenState, Transaction};
use crate::declines::{self, AmountBehaviour};
use crate::error::ApiError;
use crate::ids;
use crate::persona::Instrument;

/// §6.3: a reserve not settled within 7 days is cancelled (status code `Expired`).
pub const RESERVE_LIFETIME: Duration = Duration::days(7);

/// How long a transaction may stay Pending before FPS times it out (`Cancelled`, status code
/// `Expired`, §6.8). The real limit is not on record; this project takes the reserve's 7 days.
pub const PENDING_TIMEOUT: Duration = Duration::days(7);

/// A Pay or Reserve request, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ChargeRequest {
    pub caller_key: String,
    pub operation: Operation,
    pub sender_token_id: String,
    pub amount: Amount,
    pub currency: String,
    pub caller_reference: String,
    pub caller_description: Option<String>,
    pub sender_description: Option<String>,
    pub override_ipn_url: Option<String>,
}

impl Ledger {
    /// Pay or Reserve with a single-use token.
    pub fn charge(
        &mut self,
        now: OffsetDateTime,
        pending_delay: Duration,
        request: ChargeRequest,
    ) -> Result<Outcome, ApiError> {
        let action = request.operation.as_str();
        let fingerprint = Fingerprint {
            action: action.to_owned(),
            subject: request.sender_token_id.clone(),
            amount: Some(amount_text(&request.amount)),
            currency: Some(request.currency.clone()),
        };
        if let Some(replayed) = self.replay(
            now,
            &request.caller_key,
            &request.caller_reference,
            &fingerprint,
        )? {
            return Ok(replayed);
        }
        let token = self
            .tokens
            .get(&request.sender_token_id)
            .filter(|t| t.caller_key == request.caller_key)
            .ok_or_else(|| {
                err(
                    ErrorCode::InvalidTokenIdSender,
                    format!(
                        "Sender token is not valid: {} was not installed for this caller.",
                        request.sender_token_id
                    ),
                )
            })?
            .clone();
        match token.state(now) {
            TokenState::Active => {}
            TokenState::Used => {
                return Err(err(
                    ErrorCode::TokenUsageError,
                    format!(
                        "The token usage limit is exceeded: single-use token {} was already used by transaction {}.",
                        token.token_id,
                        token.used_by.as_deref().unwrap_or("?")
                    ),
                ))
            }
            TokenState::Cancelled => {
                return Err(err(
                    ErrorCode::TokenNotActiveSender,
                    format!("Sender token {} has been cancelled.", token.token_id),
                ))
            }
            TokenState::Expired => {
                return Err(err(
                    ErrorCode::TokenNotActiveSender,
                    format!(
                        "Sender token {} expired at {} (single-use tokens are valid for 3 hours).",
                        token.token_id,
                        fps_protocol::clock::fps_timestamp(token.expires_at)
                    ),
                ))
            }
        }
        if request.amount != token.amount {
            return Err(err(
                ErrorCode::IncompatibleTokens,
                format!(
                    "The amount {} does not match the {} the sender authorised with token {}.",
                    amount_text(&request.amount),
                    amount_text(&token.amount),
                    token.token_id
                ),
            ));
        }
        if request.operation == Operation::Reserve && token.payment_method != Instrument::Cc {
            return Err(err(
                ErrorCode::PaymentInstrumentNotCc,
                format!(
                    "Reserve needs a credit card; token {} pays by {}.",
                    token.token_id, token.payment_method
                ),
            ));
        }
        let behaviour = declines::behaviour(&request.amount);
        if let AmountBehaviour::Reject(e) = behaviour {
            return Err(e);
        }

        let id = ids::transaction_id();
        let seq = self.next_seq();
        let reserve = request.operation == Operation::Reserve;
        let tx = Transaction {
            transaction_id: id.clone(),
            seq,
            caller_key: request.caller_key.clone(),
            caller_reference: request.caller_reference.clone(),
            operation: request.operation,
            amount: request.amount,
            currency: request.currency.clone(),
            payment_method: token.payment_method,
            sender_token_id: Some(token.token_id.clone()),
            parent_transaction_id: None,
            refund_transaction_ids: Vec::new(),
            settled: false,
            settle_amount: None,
            status: TransactionStatus::Pending,
            status_code: String::new(),
            status_message: String::new(),
            created_at: now,
            reserve_expires_at: reserve.then_some(now + RESERVE_LIFETIME),
            scheduled: None,
            history: Vec::new(),
            ipn_url: request.override_ipn_url.clone(),
            caller_description: request.caller_description.clone(),
            sender_description: request.sender_description.clone(),
            payment_reason: token.payment_reason.clone(),
            persona: Some(token.persona),
            fingerprint: fingerprint.clone(),
        };
        self.transactions.insert(id.clone(), tx);
        if let Some(t) = self.tokens.get_mut(&token.token_id) {
            t.used_by = Some(id.clone());
        }
        self.remember(
            now,
            &request.caller_key,
            &request.caller_reference,
            &id,
            fingerprint,
        );

        let synchronous = !reserve && token.payment_method == Instrument::Abt;
        match (&behaviour, synchronous) {
            // ABT completes at once (§6.2), unless the amount table says otherwise.
            (AmountBehaviour::Normal, true) => self.change(
                &id,
                now,
                action,
                TransactionStatus::Success,
                status_code::SUCCESS,
                MSG_SUCCESS,
            ),
            (AmountBehaviour::FailAfterPending, true) => self.change(
                &id,
                now,
                action,
                TransactionStatus::Failure,
                status_code::DENIED,
                MSG_DENIED,
            ),
            _ => {
                let (code, message) = Self::pending_code(&behaviour);
                self.change(&id, now, action, TransactionStatus::Pending, code, message);
                let success = if reserve {
                    (
                        TransactionStatus::Reserved,
                        status_code::RESERVED,
                        MSG_RESERVED,
                    )
                } else {
                    (
                        TransactionStatus::Success,
                        status_code::SUCCESS,
                        MSG_SUCCESS,
                    )
                };
                self.schedule_after_pending(&id, now, pending_delay, action, &behaviour, success);
            }
        }
        let status = self
            .transactions
            .get(&id)
            .map(|t| t.status)
            .unwrap_or(TransactionStatus::Pending);
        Ok(Outcome {
            transaction_id: id,
            status,
        })
    }
}
