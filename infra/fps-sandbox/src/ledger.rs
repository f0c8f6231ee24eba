//! The sandbox's books: tokens, transactions, CallerReference records and per-reference request
//! counts, with FPS's rules (§6–§8 and the project decisions). Pure state: no I/O; every time
//! comes from the caller (the emulator clock), so moving that clock drives every transition.
//!
//! The same type is the control API's `GET /_sandbox/ledger` answer and the `--state-file`
//! content, so tests read exactly what the emulator keeps.

use std::collections::{BTreeMap, BTreeSet};

use fps_protocol::error::ErrorCode;
use fps_protocol::money::{Amount, CURRENCY_CODE};
use fps_protocol::xml::TransactionStatus;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::declines::{self, AmountBehaviour};
use crate::error::ApiError;
use crate::ids;
use crate::persona::{Instrument, Persona};

/// Decision 8: a single-use token is valid for 3 hours after authorisation.
pub const TOKEN_LIFETIME: Duration = Duration::hours(3);
/// §6.3: a reserve not settled within 7 days is cancelled (status code `Expired`).
pub const RESERVE_LIFETIME: Duration = Duration::days(7);
/// §8: FPS remembers a CallerReference for 7 days.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::days(7);
/// How long the buyer has to answer the authorisation page.
pub const CBUI_SESSION_LIFETIME: Duration = Duration::hours(1);
/// The ledger keeps the most recent IPN deliveries only.
pub const MAX_IPN_RECORDS: usize = 1000;

pub mod status_code {
    pub const PENDING: &str = "PendingNetworkResponse";
    pub const PENDING_VERIFICATION: &str = "PendingVerification";
    pub const SUCCESS: &str = "Success";
    pub const RESERVED: &str = "Reserved";
    pub const DENIED: &str = "TransactionDenied";
    pub const CANCELED: &str = "Canceled";
    pub const EXPIRED: &str = "Expired";
}

const MSG_PENDING: &str =
    "The transaction is awaiting a response from the backend payment processor.";
const MSG_PENDING_VERIFICATION: &str =
    "The transaction is under manual review (sandbox: amounts ending in .64 never complete).";
const MSG_SUCCESS: &str = "The transaction was successful and the payment instrument was charged.";
const MSG_RESERVED: &str = "The reserve was successful: the amount is held on the credit card.";
const MSG_REFUNDED: &str = "The refund was successful.";
const MSG_DENIED: &str =
    "The payment instrument was declined (sandbox: amounts ending in .63 fail after Pending).";
const MSG_CANCELED: &str = "The transaction was cancelled by the caller.";
const MSG_EXPIRED: &str = "The reserve expired: it was not settled within 7 days.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operation {
    Pay,
    Reserve,
    Refund,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pay => "Pay",
            Self::Reserve => "Reserve",
            Self::Refund => "Refund",
        }
    }
}

/// One step of a transaction's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What moved it: `Pay`, `Reserve`, `Settle`, `Refund`, `Cancel` or `Expire`.
    pub operation: String,
    pub status: TransactionStatus,
    pub status_code: String,
    pub status_message: String,
}

/// A change the emulator clock will bring (Pending → Success, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledChange {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub operation: String,
    pub status: TransactionStatus,
    pub status_code: String,
    pub status_message: String,
}

/// What makes two requests "the same" for a CallerReference (decision 2): the action, its
/// subject (the token for Pay/Reserve, the original transaction for Refund), amount, currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub action: String,
    pub subject: String,
    pub amount: Option<String>,
    pub currency: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub transaction_id: String,
    /// Creation order across the ledger.
    pub seq: u64,
    /// The access key id of the caller that owns it.
    pub caller_key: String,
    pub caller_reference: String,
    pub operation: Operation,
    /// Pay/Reserve: the amount charged or held. Refund: the amount refunded.
    pub amount: Amount,
    pub currency: String,
    pub payment_method: Instrument,
    pub sender_token_id: Option<String>,
    /// Refunds: the transaction refunded.
    pub parent_transaction_id: Option<String>,
    /// Pay / settled Reserve: the refunds made against it.
    #[serde(default)]
    pub refund_transaction_ids: Vec<String>,
    /// Reserve: whether Settle was accepted (it can be, once) and for how much.
    #[serde(default)]
    pub settled: bool,
    pub settle_amount: Option<Amount>,
    pub status: TransactionStatus,
    pub status_code: String,
    pub status_message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub reserve_expires_at: Option<OffsetDateTime>,
    pub scheduled: Option<ScheduledChange>,
    pub history: Vec<StatusChange>,
    pub ipn_url: Option<String>,
    pub caller_description: Option<String>,
    pub sender_description: Option<String>,
    pub payment_reason: Option<String>,
    pub persona: Option<Persona>,
    pub fingerprint: Fingerprint,
}

impl Transaction {
    /// The statuses it went through, in order.
    pub fn statuses(&self) -> Vec<TransactionStatus> {
        self.history.iter().map(|c| c.status).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Active,
    Used,
    Expired,
    Cancelled,
}

/// A single-use sender token minted by the CBUI (or installed through the control API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub token_id: String,
    pub caller_key: String,
    pub caller_reference: String,
    pub persona: Persona,
    pub payment_method: Instrument,
    /// The amount the buyer authorised; Pay/Reserve must use exactly this amount.
    pub amount: Amount,
    pub currency: String,
    pub payment_reason: Option<String>,
    pub reserve: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub installed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The instrument's expiry as the return URL shows it (`MM/YYYY`).
    pub expiry: String,
    pub used_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
}

impl Token {
    pub fn state(&self, now: OffsetDateTime) -> TokenState {
        if self.cancelled_at.is_some() {
            TokenState::Cancelled
        } else if self.used_by.is_some() {
            TokenState::Used
        } else if now >= self.expires_at {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpnState {
    Pending,
    Delivered,
    Failed,
}

/// One IPN and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpnDelivery {
    pub id: u64,
    pub url: String,
    pub notification_type: String,
    pub transaction_id: Option<String>,
    pub transaction_status: Option<String>,
    /// The form body exactly as posted (pass it to VerifySignature as `HttpParameters`).
    pub body: String,
    pub attempts: u32,
    pub state: IpnState,
    pub last_http_status: Option<u16>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A status change that owes an IPN (drained by the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `OverrideIPNURL`, when the request gave one; else the configured URL applies.
    pub override_url: Option<String>,
    pub notification_type: String,
    pub transaction_id: Option<String>,
    pub transaction_status: Option<TransactionStatus>,
    /// Unsigned form parameters.
    pub params: Vec<(String, String)>,
}

/// The sandbox's books.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    #[serde(default)]
    pub transactions: BTreeMap<String, Transaction>,
    #[serde(default)]
    pub tokens: BTreeMap<String, Token>,
    #[serde(default)]
    pub caller_references: BTreeMap<String, CallerReferenceActivity>,
    /// Authenticated requests per Action, all references together (faulted ones included).
    #[serde(default)]
    pub requests_by_action: BTreeMap<String, u64>,
    #[serde(default)]
    pub ipn_deliveries: Vec<IpnDelivery>,
    #[serde(default)]
    pub cbui_sessions: BTreeMap<String, CbuiSession>,
    #[serde(default)]
    next_seq: u64,
    #[serde(skip)]
    outbox: Vec<Notification>,
    #[serde(skip)]
    agenda: Agenda,
}

/// What `advance` has to do next, in time order, so a request costs O(log n) instead of a scan
/// over every transaction. Entries may go stale (a reserve settled, a session closed): each is
/// checked against the books when it comes due. A cache, not part of the books: rebuilt after a
/// ledger is loaded, and never makes two ledgers unequal.
#[derive(Debug, Clone, Default)]
struct Agenda {
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
    fn note_transaction(&mut self, tx: &Transaction) {
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

    fn note_session(&mut self, id: &str, session: &CbuiSession) {
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

/// What a money-moving action answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub transaction_id: String,
    pub status: TransactionStatus,
}

fn err(code: ErrorCode, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message)
}

fn amount_text(amount: &Amount) -> String {
    amount.to_fps_string()
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

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

    // ----- bookkeeping ---------------------------------------------------------------------

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

    /// Takes the notifications owed since the last call.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.outbox)
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    // ----- CBUI ----------------------------------------------------------------------------

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

    /// Mints a single-use token (or installs one with a chosen id, for fixtures).
    #[allow(clippy::too_many_arguments)]
    pub fn mint_token(
        &mut self,
        now: OffsetDateTime,
        caller_key: &str,
        caller_reference: &str,
        persona: Persona,
        payment_method: Instrument,
        amount: Amount,
        payment_reason: Option<String>,
        reserve: bool,
        token_id: Option<String>,
    ) -> Token {
        let token_id = token_id.unwrap_or_else(ids::token_id);
        let expiry_date = now + Duration::days(3 * 365);
        let token = Token {
            token_id: token_id.clone(),
            caller_key: caller_key.to_owned(),
            caller_reference: caller_reference.to_owned(),
            persona,
            payment_method,
            amount,
            currency: CURRENCY_CODE.to_owned(),
            payment_reason,
            reserve,
            installed_at: now,
            expires_at: now + TOKEN_LIFETIME,
            expiry: format!(
                "{:02}/{}",
                u8::from(expiry_date.month()),
                expiry_date.year()
            ),
            used_by: None,
            cancelled_at: None,
        };
        self.tokens.insert(token_id.clone(), token.clone());
        self.caller_references
            .entry(caller_reference.to_owned())
            .or_default()
            .tokens
            .push(token_id);
        token
    }

    // ----- idempotency ---------------------------------------------------------------------

    /// Decision 2: the same request within 7 days gets the same transaction (current status);
    /// a different one gets `DuplicateRequest`. `Ok(None)`: the reference is free.
    fn replay(
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

    fn remember(
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

    // ----- transitions ---------------------------------------------------------------------

    /// Moves a transaction and owes an IPN for it.
    fn change(
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
    fn schedule_after_pending(
        &mut self,
        id: &str,
        now: OffsetDateTime,
        delay: Duration,
        operation: &str,
        behaviour: &AmountBehaviour,
        success: (TransactionStatus, &str, &str),
    ) {
        let scheduled = match behaviour {
            AmountBehaviour::PendingForever => None,
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

    fn pending_code(behaviour: &AmountBehaviour) -> (&'static str, &'static str) {
        match behaviour {
            AmountBehaviour::PendingForever => {
                (status_code::PENDING_VERIFICATION, MSG_PENDING_VERIFICATION)
            }
            _ => (status_code::PENDING, MSG_PENDING),
        }
    }

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

    // ----- actions -------------------------------------------------------------------------

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

    fn owned_transaction(
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

    // ----- IPN records ---------------------------------------------------------------------

    pub fn record_ipn(&mut self, delivery: IpnDelivery) {
        self.ipn_deliveries.push(delivery);
        if self.ipn_deliveries.len() > MAX_IPN_RECORDS {
            let excess = self.ipn_deliveries.len() - MAX_IPN_RECORDS;
            self.ipn_deliveries.drain(..excess);
        }
    }

    pub fn update_ipn(&mut self, id: u64, update: impl FnOnce(&mut IpnDelivery)) {
        if let Some(d) = self.ipn_deliveries.iter_mut().find(|d| d.id == id) {
            update(d);
        }
    }

    pub fn next_ipn_id(&mut self) -> u64 {
        self.next_seq()
    }
}

/// The IPN form for a transaction's status change (§9).
fn transaction_notification(tx: &Transaction, operation: &str, at: OffsetDateTime) -> Notification {
    let ipn_operation = match operation {
        "Pay" => "PAY",
        "Reserve" => "RESERVE",
        "Settle" => "SETTLE",
        "Refund" => "REFUND",
        "Cancel" => "CANCEL",
        "Expire" => "CANCEL_TRANSACTION",
        other => other,
    };
    let amount = if operation == "Settle" {
        tx.settle_amount.unwrap_or(tx.amount)
    } else {
        tx.amount
    };
    let mut params = vec![
        (
            "notificationType".to_owned(),
            "TransactionStatus".to_owned(),
        ),
        ("transactionId".to_owned(), tx.transaction_id.clone()),
        (
            "transactionStatus".to_owned(),
            tx.status.ipn_form().to_owned(),
        ),
        ("statusCode".to_owned(), tx.status_code.clone()),
        ("statusMessage".to_owned(), tx.status_message.clone()),
        ("operation".to_owned(), ipn_operation.to_owned()),
        ("callerReference".to_owned(), tx.caller_reference.clone()),
        (
            "transactionAmount".to_owned(),
            format!("{} {}", tx.currency, amount_text(&amount)),
        ),
        (
            "transactionDate".to_owned(),
            at.unix_timestamp().to_string(),
        ),
        (
            "paymentMethod".to_owned(),
            tx.payment_method.as_str().to_owned(),
        ),
        (
            "recipientName".to_owned(),
            format!("Sandbox merchant {}", tx.caller_key),
        ),
        (
            "recipientEmail".to_owned(),
            "merchant@seller.sandbox.invalid".to_owned(),
        ),
    ];
    if let Some(persona) = tx.persona {
        params.push(("buyerName".to_owned(), persona.buyer_name().to_owned()));
        params.push(("buyerEmail".to_owned(), persona.buyer_email().to_owned()));
    }
    if let Some(reason) = &tx.payment_reason {
        params.push(("paymentReason".to_owned(), reason.clone()));
    }
    if let Some(parent) = &tx.parent_transaction_id {
        params.push(("parentTransactionId".to_owned(), parent.clone()));
    }
    Notification {
        override_url: tx.ipn_url.clone(),
        notification_type: "TransactionStatus".to_owned(),
        transaction_id: Some(tx.transaction_id.clone()),
        transaction_status: Some(tx.status),
        params,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const KEY: &str = "AKID";
    const T0: OffsetDateTime = datetime!(2011-10-03 15:19:30 UTC);
    const DELAY: Duration = Duration::seconds(1);

    fn amount(s: &str) -> Amount {
        Amount::parse(s).unwrap()
    }

    fn token(l: &mut Ledger, persona: Persona, a: &str) -> String {
        l.mint_token(
            T0,
            KEY,
            "ref",
            persona,
            persona.instrument().unwrap(),
            amount(a),
            None,
            false,
            None,
        )
        .token_id
    }

    fn charge(op: Operation, token: &str, a: &str, reference: &str) -> ChargeRequest {
        ChargeRequest {
            caller_key: KEY.into(),
            operation: op,
            sender_token_id: token.into(),
            amount: amount(a),
            currency: "USD".into(),
            caller_reference: reference.into(),
            caller_description: None,
            sender_description: None,
            override_ipn_url: None,
        }
    }

    #[test]
    fn card_pay_goes_pending_then_success_at_the_delay() {
        let mut l = Ledger::new();
        let t = token(&mut l, Persona::Card, "10.00");
        let o = l
            .charge(T0, DELAY, charge(Operation::Pay, &t, "10.00", "o1"))
            .unwrap();
        assert_eq!(o.status, TransactionStatus::Pending);
        l.advance(T0 + Duration::milliseconds(999));
        assert_eq!(
            l.transactions[&o.transaction_id].status,
            TransactionStatus::Pending
        );
        l.advance(T0 + DELAY);
        let tx = &l.transactions[&o.transaction_id];
        assert_eq!(
            tx.statuses(),
            [TransactionStatus::Pending, TransactionStatus::Success]
        );
        assert_eq!(l.take_notifications().len(), 2);
    }

    #[test]
    fn reserve_expires_after_seven_days_but_not_once_settled() {
        let mut l = Ledger::new();
        let t = token(&mut l, Persona::Card, "5.00");
        let o = l
            .charge(T0, DELAY, charge(Operation::Reserve, &t, "5.00", "o1"))
            .unwrap();
        l.advance(T0 + RESERVE_LIFETIME);
        let tx = &l.transactions[&o.transaction_id];
        assert_eq!(
            tx.statuses(),
            [
                TransactionStatus::Pending,
                TransactionStatus::Reserved,
                TransactionStatus::Cancelled
            ]
        );
        assert_eq!(tx.status_code, "Expired");

        let t2 = token(&mut l, Persona::Card, "5.00");
        let o2 = l
            .charge(T0, DELAY, charge(Operation::Reserve, &t2, "5.00", "o2"))
            .unwrap();
        l.advance(T0 + DELAY);
        l.settle(T0 + DELAY, DELAY, KEY, &o2.transaction_id, None, None)
            .unwrap();
        l.advance(T0 + RESERVE_LIFETIME * 2);
        assert_eq!(
            l.transactions[&o2.transaction_id].status,
            TransactionStatus::Success
        );
    }

    /// `advance` works from its agenda, not a scan: everything scheduled after the ledger went
    /// quiet must still happen on time, and a loaded ledger (no agenda yet) must catch up.
    #[test]
    fn changes_scheduled_after_a_quiet_spell_still_happen_on_time() {
        let mut l = Ledger::new();
        l.advance(T0);
        let reserve_token = token(&mut l, Persona::Card, "5.00");
        let reserve = l
            .charge(
                T0,
                DELAY,
                charge(Operation::Reserve, &reserve_token, "5.00", "r1"),
            )
            .unwrap();
        let later = T0 + Duration::seconds(10);
        let pay_token = token(&mut l, Persona::Card, "7.00");
        let pay = l
            .charge(
                later,
                DELAY,
                charge(Operation::Pay, &pay_token, "7.00", "p1"),
            )
            .unwrap();
        let status = |l: &Ledger, id: &str| l.transactions[id].status;

        l.advance(T0 + Duration::milliseconds(500));
        assert_eq!(
            status(&l, &reserve.transaction_id),
            TransactionStatus::Pending
        );
        l.advance(T0 + DELAY);
        assert_eq!(
            status(&l, &reserve.transaction_id),
            TransactionStatus::Reserved
        );
        assert_eq!(status(&l, &pay.transaction_id), TransactionStatus::Pending);
        l.advance(later + DELAY);
        assert_eq!(status(&l, &pay.transaction_id), TransactionStatus::Success);
        l.advance(T0 + RESERVE_LIFETIME - Duration::seconds(1));
        assert_eq!(
            status(&l, &reserve.transaction_id),
            TransactionStatus::Reserved
        );

        // A ledger loaded from its state file has no agenda yet and must scan.
        l.take_notifications();
        let mut loaded: Ledger = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(loaded, l);
        for ledger in [&mut l, &mut loaded] {
            ledger.advance(T0 + RESERVE_LIFETIME);
            assert_eq!(
                status(ledger, &reserve.transaction_id),
                TransactionStatus::Cancelled
            );
        }
    }

    #[test]
    fn cbui_sessions_end_after_their_lifetime() {
        let mut l = Ledger::new();
        let session = CbuiSession {
            caller_key: KEY.into(),
            caller_reference: "o1".into(),
            return_url: "https://shop.example/return".into(),
            amount: amount("1.00"),
            currency: "USD".into(),
            payment_reason: None,
            payment_methods: vec![Instrument::Cc],
            reserve: false,
            merchant: "Shop".into(),
            created_at: T0,
        };
        let id = l.open_session(session);
        l.advance(T0 + CBUI_SESSION_LIFETIME - Duration::seconds(1));
        assert!(l.cbui_sessions.contains_key(&id));
        l.advance(T0 + CBUI_SESSION_LIFETIME);
        assert!(l.cbui_sessions.is_empty());
    }

    #[test]
    fn idempotency_follows_decision_2() {
        let mut l = Ledger::new();
        let t = token(&mut l, Persona::Balance, "3.00");
        let first = l
            .charge(T0, DELAY, charge(Operation::Pay, &t, "3.00", "o1"))
            .unwrap();
        assert_eq!(first.status, TransactionStatus::Success);
        let again = l
            .charge(T0, DELAY, charge(Operation::Pay, &t, "3.00", "o1"))
            .unwrap();
        assert_eq!(again, first);
        let different = l.charge(T0, DELAY, charge(Operation::Pay, &t, "2.00", "o1"));
        assert_eq!(different.unwrap_err().code, ErrorCode::DuplicateRequest);
        let other_action = l.charge(T0, DELAY, charge(Operation::Reserve, &t, "3.00", "o1"));
        assert_eq!(other_action.unwrap_err().code, ErrorCode::DuplicateRequest);
        let reuse = l.charge(T0, DELAY, charge(Operation::Pay, &t, "3.00", "o2"));
        assert_eq!(reuse.unwrap_err().code, ErrorCode::TokenUsageError);
        assert_eq!(l.transactions_for("o1").len(), 1);
    }

    #[test]
    fn refunds_never_exceed_the_charge() {
        let mut l = Ledger::new();
        let t = token(&mut l, Persona::Balance, "10.00");
        let pay = l
            .charge(T0, DELAY, charge(Operation::Pay, &t, "10.00", "o1"))
            .unwrap();
        let refund = |l: &mut Ledger, r: &str, a: Option<&str>| {
            l.refund(
                T0,
                DELAY,
                RefundRequest {
                    caller_key: KEY.into(),
                    transaction_id: pay.transaction_id.clone(),
                    caller_reference: r.into(),
                    amount: a.map(amount),
                    caller_description: None,
                    override_ipn_url: None,
                },
            )
        };
        refund(&mut l, "r1", Some("4.00")).unwrap();
        assert_eq!(
            refund(&mut l, "r2", Some("6.01")).unwrap_err().code,
            ErrorCode::RefundAmountExceeded
        );
        let rest = refund(&mut l, "r3", None).unwrap();
        assert_eq!(l.transactions[&rest.transaction_id].amount, amount("6.00"));
        assert_eq!(
            refund(&mut l, "r4", None).unwrap_err().code,
            ErrorCode::TransactionFullyRefundedAlready
        );
    }

    #[test]
    fn ledger_round_trips_through_json() {
        let mut l = Ledger::new();
        let t = token(&mut l, Persona::Card, "10.00");
        l.charge(T0, DELAY, charge(Operation::Reserve, &t, "10.00", "o1"))
            .unwrap();
        l.count_request(Some("o1"), "Reserve", false);
        let json = serde_json::to_string(&l).unwrap();
        let back: Ledger = serde_json::from_str(&json).unwrap();
        assert_eq!(back.transactions, l.transactions);
        assert_eq!(back.requests("o1", "Reserve"), 1);
    }
}
