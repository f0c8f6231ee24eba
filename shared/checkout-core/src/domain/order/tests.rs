//! The state machine as a table: every event tried from every state, for both payment
//! actions. A move the table does not list must be refused.

use rust_decimal_macros::dec;
use time::macros::datetime;

use super::*;
use crate::domain::catalog::{PricedCart, PricedLine};

const NOW: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

const ALL: &[OrderState] = OrderState::ALL;

fn cart() -> PricedCart {
    let total = Amount::new(dec!(10.00)).expect("amount");
    PricedCart {
        lines: vec![PricedLine {
            sku: "MUG".into(),
            name: "Mug".into(),
            unit_price: dec!(10.00),
            quantity: 1,
            line_total: dec!(10.00),
        }],
        items_total: dec!(10.00),
        tax: dec!(0),
        shipping: dec!(0),
        fees: dec!(0),
        total,
    }
}

fn lease(expires_at: OffsetDateTime) -> Lease {
    Lease {
        owner: "test".into(),
        expires_at,
    }
}

/// An order of `action` standing in `state`, as the code's own transitions leave it: a
/// transaction id once FPS has one, a reserve date on reserves, a lease (already expired, so
/// a reclaim is possible) on claims.
fn order_in(state: OrderState, action: PaymentAction) -> Order {
    let mut order = Order::new("o-1".into(), cart(), action, NOW);
    order.state = state;
    if state != OrderState::AwaitingAuthorization {
        order.token_id = Some("tok".into());
    }
    if !matches!(
        state,
        OrderState::AwaitingAuthorization
            | OrderState::Charging
            | OrderState::Reserving
            | OrderState::Abandoned
            | OrderState::Failed
    ) {
        order.transaction_id = Some("TX-1".into());
    }
    if state.is_claimed() {
        order.lease = Some(lease(NOW - Duration::seconds(1)));
    }
    if action == PaymentAction::Reserve && order.transaction_id.is_some() {
        order.reserved_at = Some(NOW);
    }
    order
}

type Event = fn(&Order) -> Result<Order, TransitionError>;

/// Checks `event` from every state: `Some(to)` where the table allows it, an error elsewhere.
fn check(name: &str, action: PaymentAction, event: Event, table: &[(OrderState, OrderState)]) {
    for &from in ALL {
        let order = order_in(from, action);
        let result = event(&order);
        match table.iter().find(|(f, _)| *f == from) {
            Some((_, to)) => {
                let next = result
                    .unwrap_or_else(|e| panic!("{name} from {from:?} ({action:?}): refused: {e}"));
                assert_eq!(next.state, *to, "{name} from {from:?} ({action:?})");
                assert_eq!(
                    next.version,
                    order.version + 1,
                    "{name}: one version per write"
                );
                assert_eq!(next.updated_at, NOW + Duration::minutes(1));
            }
            None => assert!(
                result.is_err(),
                "{name} from {from:?} ({action:?}) must be refused, got {:?}",
                result.map(|o| o.state)
            ),
        }
    }
}

const LATER: OffsetDateTime = datetime!(2026-12-01 10:01 UTC);

fn claim_for_charge(o: &Order) -> Result<Order, TransitionError> {
    o.claim_for_charge("tok", None, lease(LATER + Duration::minutes(1)), LATER)
}
fn reclaim(o: &Order) -> Result<Order, TransitionError> {
    o.reclaim(lease(LATER + Duration::minutes(1)), LATER)
}
fn claim_for_settle(o: &Order) -> Result<Order, TransitionError> {
    let mut fulfilled = o.clone();
    fulfilled.fulfilled_at = Some(NOW);
    fulfilled.claim_for_settle(lease(LATER + Duration::minutes(1)), LATER)
}
fn fail(o: &Order) -> Result<Order, TransitionError> {
    o.fail("X", "refused", LATER)
}
fn abandon(o: &Order) -> Result<Order, TransitionError> {
    o.abandon(LATER)
}
fn expire(o: &Order) -> Result<Order, TransitionError> {
    o.expire(LATER)
}
fn settle_later(o: &Order) -> Result<Order, TransitionError> {
    o.settle_later(
        "InsufficientBalance",
        "later",
        LATER + Duration::hours(1),
        LATER,
    )
}
fn decline_for_now(o: &Order) -> Result<Order, TransitionError> {
    o.decline_for_now("InsufficientBalance", "later", LATER)
}
fn claim_retry(o: &Order) -> Result<Order, TransitionError> {
    o.claim_retry(lease(LATER + Duration::minutes(1)), LATER)
}
fn needs_attention(o: &Order) -> Result<Order, TransitionError> {
    o.needs_attention("TooManyAttempts", "retries ran out", LATER)
}
fn record(status: TransactionStatus) -> impl Fn(&Order) -> Result<Order, TransitionError> {
    move |o| o.record_transaction("TX-1", status, None, None, LATER)
}

#[test]
fn claims_failures_and_expiry_follow_the_table() {
    use OrderState::*;
    check(
        "claim_for_charge",
        PaymentAction::Pay,
        claim_for_charge,
        &[(AwaitingAuthorization, Charging)],
    );
    check(
        "claim_for_charge",
        PaymentAction::Reserve,
        claim_for_charge,
        &[(AwaitingAuthorization, Reserving)],
    );
    check(
        "claim_retry",
        PaymentAction::Pay,
        claim_retry,
        &[(DeclinedForNow, Charging)],
    );
    check(
        "claim_retry",
        PaymentAction::Reserve,
        claim_retry,
        &[(DeclinedForNow, Reserving)],
    );
    for action in [PaymentAction::Pay, PaymentAction::Reserve] {
        check(
            "decline_for_now",
            action,
            decline_for_now,
            &[(Charging, DeclinedForNow), (Reserving, DeclinedForNow)],
        );
        check(
            "reclaim",
            action,
            reclaim,
            &[
                (Charging, Charging),
                (Reserving, Reserving),
                (Settling, Settling),
                (Refunding, Refunding),
                (Cancelling, Cancelling),
            ],
        );
        check(
            "claim_for_settle",
            action,
            claim_for_settle,
            &[(Reserved, Settling)],
        );
        check(
            "fail",
            action,
            fail,
            &[
                (AwaitingAuthorization, Failed),
                (Charging, Failed),
                (Reserving, Failed),
                (DeclinedForNow, Failed),
                (Settling, SettleFailed),
            ],
        );
        check(
            "abandon",
            action,
            abandon,
            &[(AwaitingAuthorization, Abandoned)],
        );
        check(
            "expire",
            action,
            expire,
            &[(Reserved, Expired), (ReservePending, Expired)],
        );
        check(
            "settle_later",
            action,
            settle_later,
            &[(Settling, Reserved)],
        );
        check(
            "needs_attention",
            action,
            needs_attention,
            &[
                (Charging, NeedsAttention),
                (Reserving, NeedsAttention),
                (Settling, NeedsAttention),
                (Refunding, NeedsAttention),
                (RefundPending, NeedsAttention),
                (Cancelling, NeedsAttention),
                (Reserved, NeedsAttention),
                (PaymentPending, NeedsAttention),
                (ReservePending, NeedsAttention),
                (SettlePending, NeedsAttention),
            ],
        );
    }
}

#[test]
fn what_fps_reports_moves_the_order_as_the_table_says() {
    use OrderState::*;
    use TransactionStatus as T;
    let table: [(T, &[(OrderState, OrderState)]); 5] = [
        (
            T::Success,
            &[
                (Charging, Paid),
                (PaymentPending, Paid),
                (Reserving, Reserved),
                (ReservePending, Reserved),
                (Settling, Settled),
                (SettlePending, Settled),
            ],
        ),
        (
            T::Pending,
            &[
                (Charging, PaymentPending),
                (PaymentPending, PaymentPending),
                (Reserving, ReservePending),
                (ReservePending, ReservePending),
                (Settling, SettlePending),
                (SettlePending, SettlePending),
            ],
        ),
        (
            T::Failure,
            &[
                (Charging, Failed),
                (PaymentPending, Failed),
                (Reserving, Failed),
                (ReservePending, Failed),
                (Reserved, Failed),
                (Settling, SettleFailed),
                (SettlePending, SettleFailed),
            ],
        ),
        (
            T::Reserved,
            &[
                (Charging, Failed),
                (PaymentPending, Failed),
                (Reserving, Reserved),
                (ReservePending, Reserved),
                (Reserved, Reserved),
                // Decision 1: still Reserved means the Settle never arrived.
                (Settling, Reserved),
                (SettlePending, Reserved),
            ],
        ),
        (
            T::Cancelled,
            &[
                (Charging, Failed),
                (PaymentPending, Failed),
                (Reserving, Expired),
                (ReservePending, Expired),
                (Reserved, Expired),
                (Settling, Expired),
                (SettlePending, Expired),
            ],
        ),
    ];
    for (status, moves) in table {
        let event = record(status);
        for action in [PaymentAction::Pay, PaymentAction::Reserve] {
            for &from in ALL {
                let result = event(&order_in(from, action));
                match moves.iter().find(|(f, _)| *f == from) {
                    Some((_, to)) => assert_eq!(
                        result.map(|o| o.state).ok(),
                        Some(*to),
                        "{status:?} from {from:?}"
                    ),
                    None => assert!(result.is_err(), "{status:?} from {from:?} must be refused"),
                }
            }
        }
    }
}

#[test]
fn recording_keeps_the_dates_and_drops_the_lease_when_the_call_is_over() {
    let reserving = order_in(OrderState::Reserving, PaymentAction::Reserve);
    let reserved = record(TransactionStatus::Reserved)(&reserving).expect("reserved");
    assert_eq!(
        reserved.reserved_at,
        Some(LATER),
        "the reserve's age starts here"
    );
    assert_eq!(reserved.lease, None);
    let settling = claim_for_settle(&reserved).expect("settling");
    assert!(settling.lease.is_some());
    let settled = record(TransactionStatus::Success)(&settling).expect("settled");
    assert_eq!(settled.settled_at, Some(LATER));
    assert_eq!(settled.reserved_at, Some(LATER), "kept");
    assert_eq!(settled.lease, None);
}

#[test]
fn a_live_lease_cannot_be_reclaimed() {
    let mut charging = order_in(OrderState::Charging, PaymentAction::Pay);
    charging.lease = Some(lease(LATER + Duration::seconds(1)));
    assert!(reclaim(&charging).is_err());
    assert!(charging.lease_is_live(LATER));
    assert!(!charging.lease_is_live(LATER + Duration::seconds(1)));
}

#[test]
fn fulfilment_is_for_reserves_once_and_never_above_the_reserve() {
    use OrderState::*;
    let accepted = [Reserved];
    for &from in ALL {
        let order = order_in(from, PaymentAction::Reserve);
        let result = order.fulfil(None, Duration::ZERO, LATER);
        if accepted.contains(&from) {
            let next = result.expect("fulfil").expect("a change");
            assert_eq!(next.fulfilled_at, Some(LATER));
            assert_eq!(next.state, from, "fulfilment does not move the state");
            assert_eq!(
                next.fulfil(None, Duration::ZERO, LATER),
                Ok(None),
                "repeating changes nothing"
            );
            let other = Amount::new(dec!(5.00)).expect("amount");
            assert!(next.fulfil(Some(other), Duration::ZERO, LATER).is_err());
        } else {
            assert!(result.is_err(), "fulfil from {from:?} must be refused");
        }
        let pay = order_in(from, PaymentAction::Pay);
        assert!(
            pay.fulfil(None, Duration::ZERO, LATER).is_err(),
            "a Pay order from {from:?}"
        );
    }
    let reserved = order_in(Reserved, PaymentAction::Reserve);
    assert!(matches!(
        reserved.fulfil(
            Some(Amount::new(dec!(10.01)).expect("amount")),
            Duration::ZERO,
            LATER
        ),
        Err(TransitionError::SettleAmountTooLarge { .. })
    ));
}

#[test]
fn a_reserve_dies_seven_days_after_it_was_made() {
    let reserved = order_in(OrderState::Reserved, PaymentAction::Reserve);
    assert!(!reserved.reserve_expired(NOW + RESERVE_LIFETIME - Duration::seconds(1)));
    assert!(reserved.reserve_expired(NOW + RESERVE_LIFETIME));
}

#[test]
fn the_sweep_looks_at_an_order_when_it_can_next_move() {
    use OrderState::*;
    for &from in ALL {
        let order = order_in(from, PaymentAction::Reserve);
        let due = order.due_at();
        let expected = match from {
            Charging | Reserving | Settling | Refunding | Cancelling => {
                Some(NOW - Duration::seconds(1))
            }
            PaymentPending | ReservePending | SettlePending | RefundPending => Some(NOW),
            Reserved => Some(NOW + RESERVE_LIFETIME),
            DeclinedForNow => Some(NOW + AUTHORIZATION_LIFETIME),
            _ => None,
        };
        assert_eq!(due, expected, "{from:?}");
    }
    let mut fulfilled = order_in(Reserved, PaymentAction::Reserve);
    fulfilled.fulfilled_at = Some(LATER);
    assert_eq!(fulfilled.due_at(), Some(LATER));
    // A Settle refused for now waits for its retry time.
    fulfilled.retry_at = Some(LATER + Duration::hours(1));
    assert_eq!(fulfilled.due_at(), Some(LATER + Duration::hours(1)));
}

/// Issue 12 (1): FPS's 7-day clock starts at the Reserve request, not when we first see it
/// reserved.
#[test]
fn a_reserve_ages_from_the_reserve_request() {
    let order = Order::new("o-1".into(), cart(), PaymentAction::Reserve, NOW);
    let claimed = order
        .claim_for_charge("tok", None, lease(NOW + Duration::minutes(1)), NOW)
        .expect("claim");
    let reserved = claimed
        .record_transaction(
            "TX-1",
            TransactionStatus::Pending,
            None,
            None,
            NOW + Duration::hours(1),
        )
        .and_then(|p| {
            p.record_transaction(
                "TX-1",
                TransactionStatus::Reserved,
                None,
                None,
                NOW + Duration::hours(5),
            )
        })
        .expect("reserved");
    assert_eq!(reserved.reserved_at, Some(NOW));
    assert!(reserved.reserve_expired(NOW + RESERVE_LIFETIME));
    // A re-driven claim does not restart the clock: the first Reserve may have landed.
    let reclaimed = claimed
        .reclaim(lease(NOW + Duration::hours(2)), NOW + Duration::hours(1))
        .expect("reclaim");
    assert_eq!(reclaimed.reserved_at, Some(NOW));
}

/// Issue 12 (1): only a confirmed reserve with time to spare can be shipped against.
#[test]
fn fulfilment_needs_a_confirmed_reserve_with_time_to_spare() {
    let margin = Duration::hours(2);
    for state in [OrderState::Reserving, OrderState::ReservePending] {
        let order = order_in(state, PaymentAction::Reserve);
        assert!(
            matches!(
                order.fulfil(None, margin, LATER),
                Err(TransitionError::ReserveNotConfirmed { .. })
            ),
            "{state:?}"
        );
    }
    let reserved = order_in(OrderState::Reserved, PaymentAction::Reserve);
    let expires = NOW + RESERVE_LIFETIME;
    assert!(reserved
        .fulfil(None, margin, expires - margin - Duration::seconds(1))
        .is_ok());
    for late in [expires - margin, expires, expires + Duration::days(1)] {
        assert!(
            matches!(
                reserved.fulfil(None, margin, late),
                Err(TransitionError::ReserveExpiring { .. })
            ),
            "{late}"
        );
    }
}

/// Issue 16 (6): a charge declined for now keeps the buyer's authorisation, and may be tried
/// again with it only while it is valid; a retried Reserve's 7 days start again.
#[test]
fn a_declined_for_now_charge_can_be_retried_until_the_authorisation_lapses() {
    let reserving = order_in(OrderState::Reserving, PaymentAction::Reserve);
    let declined = decline_for_now(&reserving).expect("declined");
    assert_eq!(
        declined.token_id.as_deref(),
        Some("tok"),
        "kept for the retry"
    );
    assert_eq!(declined.lease, None);
    assert_eq!(declined.status_code.as_deref(), Some("InsufficientBalance"));
    let deadline = declined.retry_deadline();
    assert_eq!(deadline, NOW + AUTHORIZATION_LIFETIME);
    let retry_at = deadline - Duration::seconds(1);
    let retried = declined
        .claim_retry(lease(retry_at + Duration::minutes(1)), retry_at)
        .expect("retry in time");
    assert_eq!(retried.reserved_at, Some(retry_at));
    assert_eq!(retried.attempts, declined.attempts + 1);
    assert!(declined
        .claim_retry(lease(deadline + Duration::minutes(1)), deadline)
        .is_err());
}

/// Issue 13: an order awaiting authorisation is due when the sweep should look for a lost
/// return; the look moves that time, a claim or an abandon ends it.
#[test]
fn an_order_awaiting_authorisation_is_due_for_a_look_until_charged_or_abandoned() {
    let mut order = order_in(OrderState::AwaitingAuthorization, PaymentAction::Pay);
    assert_eq!(order.due_at(), None, "no look planned");
    order.retry_at = Some(NOW + Duration::minutes(10));
    assert_eq!(order.due_at(), Some(NOW + Duration::minutes(10)));
    let later = order
        .look_again_at(NOW + Duration::minutes(30), LATER)
        .expect("look later");
    assert_eq!(later.state, OrderState::AwaitingAuthorization);
    assert_eq!(later.due_at(), Some(NOW + Duration::minutes(30)));
    let claimed = claim_for_charge(&later).expect("claim");
    assert_eq!(claimed.retry_at, None);
    let abandoned = later
        .abandon_unauthorised("NotAuthorized", "nobody authorised it", LATER)
        .expect("abandon");
    assert_eq!(abandoned.state, OrderState::Abandoned);
    assert_eq!(abandoned.due_at(), None);
    assert_eq!(abandoned.status_code.as_deref(), Some("NotAuthorized"));
    for &from in ALL {
        if from != OrderState::AwaitingAuthorization {
            let o = order_in(from, PaymentAction::Pay);
            assert!(o.look_again_at(LATER, LATER).is_err(), "{from:?}");
            assert!(o.abandon_unauthorised("x", "y", LATER).is_err(), "{from:?}");
        }
    }
}

/// Issue 13 (3): only orders that ended without moving money may be deleted, `retention`
/// after their last change.
#[test]
fn only_orders_that_moved_no_money_are_deletable() {
    let retention = Duration::days(30);
    for &state in ALL {
        let order = order_in(state, PaymentAction::Pay);
        let expected =
            matches!(state, OrderState::Abandoned | OrderState::Failed).then(|| NOW + retention);
        assert_eq!(order.deletable_after(retention), expected, "{state:?}");
    }
}

/// `settled_at` is stamped when a Settle succeeds and at no other answer: not on a Pending
/// Settle, not when the reserve is found still unsettled, not on a Pay (found by cargo-mutants:
/// an `||` for the `&&` passed every test).
#[test]
fn only_a_successful_settle_stamps_settled_at() {
    let record = |order: &Order, status| {
        order
            .record_transaction("TX-1", status, None, None, LATER)
            .expect("a legal answer")
    };
    let settling = order_in(OrderState::Settling, PaymentAction::Reserve);
    let pending = record(&settling, TransactionStatus::Pending);
    assert_eq!(pending.state, OrderState::SettlePending);
    assert_eq!(pending.settled_at, None);
    let never_arrived = record(&settling, TransactionStatus::Reserved);
    assert_eq!(never_arrived.state, OrderState::Reserved);
    assert_eq!(never_arrived.settled_at, None);
    let settled = record(&pending, TransactionStatus::Success);
    assert_eq!(settled.state, OrderState::Settled);
    assert_eq!(settled.settled_at, Some(LATER));
    let paid = record(
        &order_in(OrderState::Charging, PaymentAction::Pay),
        TransactionStatus::Success,
    );
    assert_eq!(paid.state, OrderState::Paid);
    assert_eq!(paid.settled_at, None);
}

/// Fulfilment with the Settle's claim in one write: the whole reserve may be asked for (only
/// more is refused), and the claim counts as an attempt. Both found by cargo-mutants (`>=` for
/// `>` and `*=` for `+=` passed every test).
#[test]
fn fulfil_and_claim_may_settle_the_whole_reserve_and_counts_an_attempt() {
    let reserved = order_in(OrderState::Reserved, PaymentAction::Reserve);
    let whole = reserved.amount();
    let claim = lease(LATER + Duration::minutes(1));
    let next = reserved
        .fulfil_and_claim(Some(whole), Duration::ZERO, claim.clone(), LATER)
        .expect("the whole reserve may be settled")
        .expect("a change");
    assert_eq!(next.state, OrderState::Settling);
    assert_eq!(next.settle_amount, Some(whole));
    assert_eq!(next.fulfilled_at, Some(LATER));
    assert_eq!(next.lease, Some(claim));
    assert_eq!(next.attempts, reserved.attempts + 1);
    let more = Amount::new(whole.value() + dec!(0.01)).expect("amount");
    assert!(matches!(
        reserved.fulfil(Some(more), Duration::ZERO, LATER),
        Err(TransitionError::SettleAmountTooLarge { .. })
    ));
}
