//! CallerReference idempotency (decision 2): what makes two requests the same, the records kept
//! for 7 days, and replaying or refusing a repeated reference.

use fps_protocol::error::ErrorCode;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::{err, Ledger, Outcome};
use crate::error::ApiError;

/// §8: FPS remembers a CallerReference for 7 days.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::days(7);

/// What makes two requests "the same" for a CallerReference (decision 2): the action, its
/// subject (the token for Pay/Reserve, the original transaction for Refund), amount, currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub action: String,
    pub subject: String,
    pub amount: Option<String>,
    pub currency: Option<String>,
}

/// A CallerReference's answer within the 7-day window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub caller_key: String,
    pub transaction_id: String,
    pub fingerprint: Fingerprint,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl Ledger {
    /// Decision 2: the same request within 7 days gets the same transaction (current status);
    /// a different one gets `DuplicateRequest`. `Ok(None)`: the reference is free.
    pub(super) fn replay(
        &self,
        now: OffsetDateTime,
        caller_key: &str,
        caller_reference: &str,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Outcome>, ApiError> {
        let Some(activity) = self.caller_references.get(caller_reference) else {
            return Ok(None);
        };
        let live = activity
            .idempotency
            .iter()
            .rev()
            .find(|r| r.caller_key == caller_key && now - r.at < IDEMPOTENCY_WINDOW);
        let Some(record) = live else {
            return Ok(None);
        };
        if &record.fingerprint != fingerprint {
            return Err(err(
                ErrorCode::DuplicateRequest,
                format!(
                    "A different request associated with this caller reference already exists: {caller_reference}"
                ),
            ));
        }
        match self.transactions.get(&record.transaction_id) {
            Some(tx) => Ok(Some(Outcome {
                transaction_id: tx.transaction_id.clone(),
                status: tx.status,
            })),
            None => Ok(None),
        }
    }

    pub(super) fn remember(
        &mut self,
        now: OffsetDateTime,
        caller_key: &str,
        caller_reference: &str,
        transaction_id: &str,
        fingerprint: Fingerprint,
    ) {
        let activity = self
            .caller_references
            .entry(caller_reference.to_owned())
            .or_default();
        activity.idempotency.push(IdempotencyRecord {
            caller_key: caller_key.to_owned(),
            transaction_id: transaction_id.to_owned(),
            fingerprint,
            at: now,
        });
        activity
            .transactions_created
            .push(transaction_id.to_owned());
    }
}
