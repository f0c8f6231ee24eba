//! Settle: a Reserved transaction settled once, for at most the reserved amount, under the same
//! TransactionId (Reserved → Pending → Success).

use fps_protocol::error::ErrorCode;
use fps_protocol::money::Amount;
use fps_protocol::xml::TransactionStatus;
use time::{Duration, OffsetDateTime};

use super::status_code::{self, MSG_SUCCESS};
use super::{amount_text, err, Ledger, Operation, Outcome};
use crate::declines::{self, AmountBehaviour};
use crate::error::ApiError;

impl Ledger {
    /// Settle a reserve once, for at most the reserved amount (decision 1: same TransactionId,
    /// Reserved → Pending → Success).
    pub fn settle(
        &mut self,
        now: OffsetDateTime,
        pending_delay: Duration,
        caller_key: &str,
        reserve_transaction_id: &str,
        amount: Option<Amount>,
        override_ipn_url: Option<String>,
    ) -> Result<Outcome, ApiError> {
        let tx =
            self.owned_transaction(caller_key, reserve_transaction_id, "ReserveTransactionId")?;
        if tx.operation != Operation::Reserve {
            return Err(err(
                ErrorCode::InvalidTransactionId,
                format!(
                    "Transaction {reserve_transaction_id} is a {}, not a Reserve.",
                    tx.operation.as_str()
                ),
            ));
        }
        if tx.settled {
            return Err(err(
                ErrorCode::InvalidTransactionState,
                format!(
                    "Reserve {reserve_transaction_id} has already been settled; a reserve can be settled only once."
                ),
            ));
        }
        if tx.status != TransactionStatus::Reserved {
            return Err(err(
                ErrorCode::InvalidTransactionState,
                format!(
                    "Reserve {reserve_transaction_id} is {} ({}); only a Reserved transaction can be settled.",
                    tx.status.as_str(),
                    tx.status_code
                ),
            ));
        }
        let reserved = tx.amount;
        let amount = amount.unwrap_or(reserved);
        if amount > reserved {
            return Err(err(
                ErrorCode::SettleAmountGreaterThanReserveAmount,
                format!(
                    "The settle amount {} is greater than the reserved amount {}.",
                    amount_text(&amount),
                    amount_text(&reserved)
                ),
            ));
        }
        let behaviour = declines::behaviour(&amount);
        if let AmountBehaviour::Reject(e) = behaviour {
            return Err(e);
        }
        if let Some(t) = self.transactions.get_mut(reserve_transaction_id) {
            t.settled = true;
            t.settle_amount = Some(amount);
            if override_ipn_url.is_some() {
                t.ipn_url = override_ipn_url;
            }
        }
        let (code, message) = Self::pending_code(&behaviour);
        self.change(
            reserve_transaction_id,
            now,
            "Settle",
            TransactionStatus::Pending,
            code,
            message,
        );
        self.schedule_after_pending(
            reserve_transaction_id,
            now,
            pending_delay,
            "Settle",
            &behaviour,
            (
                TransactionStatus::Success,
                status_code::SUCCESS,
                MSG_SUCCESS,
            ),
        );
        Ok(Outcome {
            transaction_id: reserve_transaction_id.to_owned(),
            status: TransactionStatus::Pending,
        })
    }
}
