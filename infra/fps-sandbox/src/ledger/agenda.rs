//! Time-driven changes: the agenda of what comes due (Pending resolutions, reserve expiry, the
//! end of CBUI sessions) and `advance`, which applies it as the emulator clock moves.

use std::collections::BTreeSet;

use fps_protocol::xml::TransactionStatus;
use time::OffsetDateTime;

use super::status_code::{self, MSG_EXPIRED};
use super::{CbuiSession, Ledger, Transaction, CBUI_SESSION_LIFETIME};

/// What `advance` has to do next, in time order, so a request costs O(log n) instead of a scan
/// over every transaction. Entries may go stale (a reserve settled, a session closed): each is
/// checked against the books when it comes due. A cache, not part of the books: rebuilt after a
/// ledger is loaded, and never makes two ledgers unequal.
#[derive(Debug, Clone, Default)]
pub(super) struct Agenda {
    built: bool,
    entries: BTreeSet<(OffsetDateTime, u64, Due)>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    /// A transaction's `scheduled` change (Pending → its outcome).
    Change(String),
    /// A Reserved transaction reaching `reserve_expires_at`.
    ReserveExpiry(String),
    /// A CBUI session reaching the end of its lifetime.
    SessionEnd(String),
}

impl Agenda {
    /// What a transaction is waiting for: its scheduled change, and expiry while it is an
    /// unsettled reserve. Adding an entry again is harmless (a set).
    pub(super) fn note_transaction(&mut self, tx: &Transaction) {
        if let Some(change) = &tx.scheduled {
            self.entries
                .insert((change.at, tx.seq, Due::Change(tx.transaction_id.clone())));
        }
        if let (TransactionStatus::Reserved, false, Some(expires)) =
            (tx.status, tx.settled, tx.reserve_expires_at)
        {
            self.entries.insert((
                expires,
                tx.seq,
                Due::ReserveExpiry(tx.transaction_id.clone()),
            ));
        }
    }

    pub(super) fn note_session(&mut self, id: &str, session: &CbuiSession) {
        self.entries.insert((
            session.created_at + CBUI_SESSION_LIFETIME,
            0,
            Due::SessionEnd(id.to_owned()),
        ));
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    fn pop_due(&mut self, now: OffsetDateTime) -> Option<(OffsetDateTime, Due)> {
        if self.entries.first()?.0 > now {
            return None;
        }
        self.entries.pop_first().map(|(at, _, due)| (at, due))
    }
}

impl PartialEq for Agenda {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Ledger {
    /// Applies every change due at `now` (in time order): Pending resolutions, reserve expiry
    /// and the end of CBUI sessions. Called on every request and by the background tick.
    pub fn advance(&mut self, now: OffsetDateTime) {
        if !self.agenda.built {
            self.rebuild_agenda();
        }
        while let Some((at, due)) = self.agenda.pop_due(now) {
            match due {
                Due::Change(id) => {
                    let Some(change) = self
                        .transactions
                        .get_mut(&id)
                        .and_then(|t| t.scheduled.take_if(|s| s.at == at))
                    else {
                        continue;
                    };
                    self.change(
                        &id,
                        at,
                        &change.operation,
                        change.status,
                        &change.status_code,
                        &change.status_message,
                    );
                }
                Due::ReserveExpiry(id) => {
                    let still_held = self.transactions.get(&id).is_some_and(|t| {
                        t.status == TransactionStatus::Reserved
                            && !t.settled
                            && t.reserve_expires_at == Some(at)
                    });
                    if still_held {
                        self.change(
                            &id,
                            at,
                            "Expire",
                            TransactionStatus::Cancelled,
                            status_code::EXPIRED,
                            MSG_EXPIRED,
                        );
                    }
                }
                Due::SessionEnd(id) => {
                    self.cbui_sessions.remove(&id);
                }
            }
        }
    }

    /// The agenda from the books (a ledger loaded from its state file has none).
    fn rebuild_agenda(&mut self) {
        let mut agenda = Agenda {
            built: true,
            ..Agenda::default()
        };
        for tx in self.transactions.values() {
            agenda.note_transaction(tx);
        }
        for (id, session) in &self.cbui_sessions {
            agenda.note_session(id, session);
        }
        self.agenda = agenda;
    }
}
