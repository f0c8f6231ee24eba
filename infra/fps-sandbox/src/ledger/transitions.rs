//! Moving a transaction: recording a status change (and owing its IPN), scheduling what follows
//! Pending, and the Pending code the amount table calls for.

use fps_protocol::xml::TransactionStatus;
use time::{Duration, OffsetDateTime};

use super::ipn::transaction_notification;
use super::status_code::{self, MSG_DENIED, MSG_PENDING, MSG_PENDING_VERIFICATION, MSG_TIMED_OUT};
use super::{Ledger, ScheduledChange, StatusChange, PENDING_TIMEOUT};
use crate::declines::AmountBehaviour;

impl Ledger {
    /// Moves a transaction and owes an IPN for it.
    pub(super) fn change(
        &mut self,
        id: &str,
        at: OffsetDateTime,
        operation: &str,
        status: TransactionStatus,
        status_code: &str,
        status_message: &str,
    ) {
        let Some(tx) = self.transactions.get_mut(id) else {
            return;
        };
        tx.status = status;
        self.agenda.note_transaction(tx);
        tx.status_code = status_code.to_owned();
        tx.status_message = status_message.to_owned();
        tx.history.push(StatusChange {
            at,
            operation: operation.to_owned(),
            status,
            status_code: status_code.to_owned(),
            status_message: status_message.to_owned(),
        });
        let tx = tx.clone();
        self.outbox
            .push(transaction_notification(&tx, operation, at));
    }

    /// The next change for a Pending transaction, `delay` from `now`, following the amount table.
    pub(super) fn schedule_after_pending(
        &mut self,
        id: &str,
        now: OffsetDateTime,
        delay: Duration,
        operation: &str,
        behaviour: &AmountBehaviour,
        success: (TransactionStatus, &str, &str),
    ) {
        let scheduled = match behaviour {
            // FPS ended a transaction that stayed Pending too long (§6.8's `Expired`).
            AmountBehaviour::PendingUntilTimeout => Some(ScheduledChange {
                at: now + PENDING_TIMEOUT,
                operation: "Expire".to_owned(),
                status: TransactionStatus::Cancelled,
                status_code: status_code::EXPIRED.to_owned(),
                status_message: MSG_TIMED_OUT.to_owned(),
            }),
            AmountBehaviour::FailAfterPending => Some(ScheduledChange {
                at: now + delay,
                operation: operation.to_owned(),
                status: TransactionStatus::Failure,
                status_code: status_code::DENIED.to_owned(),
                status_message: MSG_DENIED.to_owned(),
            }),
            _ => Some(ScheduledChange {
                at: now + delay,
                operation: operation.to_owned(),
                status: success.0,
                status_code: success.1.to_owned(),
                status_message: success.2.to_owned(),
            }),
        };
        if let Some(tx) = self.transactions.get_mut(id) {
            tx.scheduled = scheduled;
            self.agenda.note_transaction(tx);
        }
    }

    pub(super) fn pending_code(behaviour: &AmountBehaviour) -> (&'static str, &'static str) {
        match behaviour {
            AmountBehaviour::PendingUntilTimeout => {
                (status_code::PENDING_VERIFICATION, MSG_PENDING_VERIFICATION)
            }
            _ => (status_code::PENDING, MSG_PENDING),
        }
    }
}
