//! Cancel (a Reserved or Pending transaction) and CancelToken (a token the caller installed, with
//! its TokenCancellation IPN).

use fps_protocol::error::ErrorCode;
use fps_protocol::xml::TransactionStatus;
use time::OffsetDateTime;

use super::status_code::{self, MSG_CANCELED};
use super::{err, Ledger, Notification, Outcome};
use crate::error::ApiError;

impl Ledger {
    /// Cancel a Reserved or Pending transaction.
    pub fn cancel(
        &mut self,
        now: OffsetDateTime,
        caller_key: &str,
        transaction_id: &str,
        override_ipn_url: Option<String>,
    ) -> Result<Outcome, ApiError> {
        let tx = self.owned_transaction(caller_key, transaction_id, "TransactionId")?;
        if !matches!(
            tx.status,
            TransactionStatus::Pending | TransactionStatus::Reserved
        ) {
            return Err(err(
                ErrorCode::InvalidTransactionState,
                format!(
                    "Transaction {transaction_id} is {}: only Reserved or Pending transactions can be cancelled{}.",
                    tx.status.as_str(),
                    if tx.status == TransactionStatus::Success { " (refund it instead)" } else { "" }
                ),
            ));
        }
        if let Some(t) = self.transactions.get_mut(transaction_id) {
            t.scheduled = None;
            if override_ipn_url.is_some() {
                t.ipn_url = override_ipn_url;
            }
        }
        self.change(
            transaction_id,
            now,
            "Cancel",
            TransactionStatus::Cancelled,
            status_code::CANCELED,
            MSG_CANCELED,
        );
        Ok(Outcome {
            transaction_id: transaction_id.to_owned(),
            status: TransactionStatus::Cancelled,
        })
    }

    /// Cancel a token the caller installed (idempotent).
    pub fn cancel_token(
        &mut self,
        now: OffsetDateTime,
        caller_key: &str,
        token_id: &str,
        reason: Option<&str>,
        override_ipn_url: Option<String>,
    ) -> Result<(), ApiError> {
        let token = self
            .tokens
            .get_mut(token_id)
            .filter(|t| t.caller_key == caller_key)
            .ok_or_else(|| {
                err(
                    ErrorCode::InvalidTokenId,
                    format!("Token {token_id} was not installed by this caller."),
                )
            })?;
        if token.cancelled_at.is_some() {
            return Ok(());
        }
        token.cancelled_at = Some(now);
        let mut params = vec![
            (
                "notificationType".to_owned(),
                "TokenCancellation".to_owned(),
            ),
            ("tokenId".to_owned(), token.token_id.clone()),
            ("tokenType".to_owned(), "SingleUse".to_owned()),
            ("callerReference".to_owned(), token.caller_reference.clone()),
            (
                "dateInstalled".to_owned(),
                token.installed_at.unix_timestamp().to_string(),
            ),
        ];
        if let Some(reason) = reason {
            params.push(("reasonText".to_owned(), reason.to_owned()));
        }
        self.outbox.push(Notification {
            override_url: override_ipn_url,
            notification_type: "TokenCancellation".to_owned(),
            transaction_id: None,
            transaction_status: None,
            params,
        });
        Ok(())
    }
}
