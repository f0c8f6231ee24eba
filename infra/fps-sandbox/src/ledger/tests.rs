//! Unit tests of the ledger: charges, settlement, refunds, idempotency, the agenda and the JSON
//! round trip.

use fps_protocol::error::ErrorCode;
use fps_protocol::money::Amount;
use fps_protocol::xml::TransactionStatus;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::persona::{Instrument, Persona};

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

/// Issue 16 (4): a transaction that never leaves Pending times out: `Cancelled`, status code
/// `Expired`, with its IPN — for a Pay and a Reserve alike.
#[test]
fn a_transaction_stuck_in_pending_times_out_as_expired() {
    for op in [Operation::Pay, Operation::Reserve] {
        let mut l = Ledger::new();
        let t = token(&mut l, Persona::Card, "5.64");
        let o = l.charge(T0, DELAY, charge(op, &t, "5.64", "o1")).unwrap();
        l.advance(T0 + PENDING_TIMEOUT - Duration::seconds(1));
        assert_eq!(
            l.transactions[&o.transaction_id].status,
            TransactionStatus::Pending,
            "{op:?}"
        );
        l.take_notifications();
        l.advance(T0 + PENDING_TIMEOUT);
        let tx = &l.transactions[&o.transaction_id];
        assert_eq!(
            tx.statuses(),
            [TransactionStatus::Pending, TransactionStatus::Cancelled],
            "{op:?}"
        );
        assert_eq!(tx.status_code, "Expired", "{op:?}");
        assert_eq!(l.take_notifications().len(), 1, "{op:?}: its IPN");
    }
}
