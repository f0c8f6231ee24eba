//! CBUI sessions: a buyer on the authorisation page, from `start` until the decision or the end
//! of the session's lifetime.

use fps_protocol::money::Amount;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::Ledger;
use crate::ids;
use crate::persona::Instrument;

/// How long the buyer has to answer the authorisation page.
pub const CBUI_SESSION_LIFETIME: Duration = Duration::hours(1);

/// A buyer on the authorisation page, between `start` and the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CbuiSession {
    pub caller_key: String,
    pub caller_reference: String,
    pub return_url: String,
    pub amount: Amount,
    pub currency: String,
    pub payment_reason: Option<String>,
    pub payment_methods: Vec<Instrument>,
    pub reserve: bool,
    pub merchant: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Ledger {
    pub fn open_session(&mut self, session: CbuiSession) -> String {
        let id = ids::session_id();
        self.agenda.note_session(&id, &session);
        self.cbui_sessions.insert(id.clone(), session);
        id
    }

    /// The session, if it exists and the buyer is still in time.
    pub fn session(&self, id: &str, now: OffsetDateTime) -> Option<&CbuiSession> {
        self.cbui_sessions
            .get(id)
            .filter(|s| now - s.created_at < CBUI_SESSION_LIFETIME)
    }

    pub fn close_session(&mut self, id: &str) -> Option<CbuiSession> {
        self.cbui_sessions.remove(id)
    }
}
