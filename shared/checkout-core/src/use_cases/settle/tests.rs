//! Settlement against the in-memory store, the fake gateway and a manual clock: fulfilment,
//! and every branch of the sweep (settle, reconcile, re-drive, leases, the 7-day line).

use std::sync::Arc;

use super::*;
use crate::domain::catalog::price_cart;
use crate::domain::order::{PaymentAction, RESERVE_LIFETIME};
use crate::ports::clock::ManualClock;
use crate::testing::{clock, mugs, settings, Answer, Call, CuedStore, FakeGateway};

type TestSettlement = Settlement<Arc<CuedStore>, Arc<FakeGateway>>;

struct World {
    store: Arc<CuedStore>,
    gateway: Arc<FakeGateway>,
    clock: ManualClock,
    settlement: TestSettlement,
}

fn world() -> World {
    let store = CuedStore::new();
    let gateway = FakeGateway::new();
    let clock = clock();
    let settlement = Settlement::new(
        store.clone(),
        gateway.clone(),
        Arc::new(clock.clone()),
        SweepSettings {
            stop_before_deadline: std::time::Duration::from_millis(10),
            // These tests settle parts of orders; the default (whole orders only) is tested
            // in `tests/limits.rs` and by the settle-reservations handler.
            partial_settlement: true,
            ..SweepSettings::default()
        },
    );
    World {
        store,
        gateway,
        clock,
        settlement,
    }
}

fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(30)
}

fn lease(owner: &str, expires_at: OffsetDateTime) -> Lease {
    Lease {
        owner: owner.to_owned(),
        expires_at,
    }
}

impl World {
    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// A new order for two mugs ($16.20), claimed for its charge now.
    fn claimed(&self, id: &str, action: PaymentAction) -> Order {
        let s = settings(action);
        let cart = price_cart(&s.catalog, &s.pricing, &mugs(2)).expect("price");
        let order = Order::new(id.to_owned(), cart, action, self.now());
        let expires = self.now() + time::Duration::seconds(60);
        order
            .claim_for_charge("tok", None, lease("return", expires), self.now())
            .expect("claim")
    }

    /// A reserve made now, as the return records it.
    fn reserved(&self, id: &str) -> Order {
        self.claimed(id, PaymentAction::Reserve)
            .record_transaction(
                &format!("TX-{id}"),
                TransactionStatus::Reserved,
                None,
                None,
                self.now(),
            )
            .expect("reserved")
    }

    /// A stored reserve, shipped for its whole amount and left for the sweep to settle.
    async fn shipped(&self, id: &str) -> Order {
        self.stored(self.reserved(id)).await;
        self.settlement
            .mark_fulfilled(id, None)
            .await
            .expect("fulfil")
    }

    /// A second settlement over the same store, gateway and clock, with the default settings
    /// (whole orders only, the default safety margin).
    fn with_default_settings(&self) -> TestSettlement {
        Settlement::new(
            self.store.clone(),
            self.gateway.clone(),
            Arc::new(self.clock.clone()),
            SweepSettings::default(),
        )
    }

    async fn stored(&self, order: Order) -> Order {
        self.store.put(order.clone()).await;
        self.store.order(&order.caller_reference).await
    }

    async fn sweep(&self) -> SweepSummary {
        self.settlement.sweep(deadline()).await
    }
}

fn settle_calls(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|c| matches!(c, Call::Settle { .. }))
        .count()
}

#[tokio::test]
async fn fulfilment_marks_a_reserve_due_once_and_refuses_what_cannot_settle() {
    let w = world();
    w.stored(w.reserved("o-1")).await;
    let amount = Amount::parse("10.00").expect("amount");
    let marked = w
        .settlement
        .mark_fulfilled("o-1", Some(amount))
        .await
        .expect("fulfil");
    assert_eq!(marked.fulfilled_at, Some(w.now()));
    assert_eq!(marked.settle_amount, Some(amount));
    // Repeating it changes nothing.
    let again = w
        .settlement
        .mark_fulfilled("o-1", Some(amount))
        .await
        .expect("again");
    assert_eq!(again, marked);
    assert_eq!(w.store.order("o-1").await, marked);
    // A different amount after the fact, more than the reserve, a Pay order, no order.
    assert!(matches!(
        w.settlement
            .mark_fulfilled("o-1", Some(Amount::parse("11.00").expect("amount")))
            .await,
        Err(FulfilError::Invalid(_))
    ));
    w.stored(w.reserved("o-2")).await;
    assert!(matches!(
        w.settlement
            .mark_fulfilled("o-2", Some(Amount::parse("99.00").expect("amount")))
            .await,
        Err(FulfilError::Invalid(
            TransitionError::SettleAmountTooLarge { .. }
        ))
    ));
    let paid = w
        .claimed("o-3", PaymentAction::Pay)
        .record_transaction("TX-3", TransactionStatus::Success, None, None, w.now())
        .expect("paid");
    w.stored(paid).await;
    assert!(matches!(
        w.settlement.mark_fulfilled("o-3", None).await,
        Err(FulfilError::Invalid(_))
    ));
    assert!(matches!(
        w.settlement.mark_fulfilled("o-none", None).await,
        Err(FulfilError::UnknownOrder(_))
    ));
    assert!(
        w.gateway.calls().is_empty(),
        "fulfilment alone calls no FPS API"
    );
}

#[tokio::test]
async fn the_sweep_settles_fulfilled_reserves_for_the_fulfilled_amount() {
    let w = world();
    w.stored(w.reserved("o-1")).await;
    let amount = Amount::parse("12.00").expect("amount");
    w.settlement
        .mark_fulfilled("o-1", Some(amount))
        .await
        .expect("fulfil");
    let summary = w.sweep().await;
    assert_eq!((summary.examined, summary.settled), (1, 1), "{summary:?}");
    let order = w.store.order("o-1").await;
    assert_eq!(order.state, OrderState::Settled);
    assert_eq!(order.settled_at, Some(w.now()));
    assert_eq!(
        w.gateway.calls(),
        vec![Call::Settle {
            transaction_id: "TX-o-1".into(),
            amount: Some(amount)
        }]
    );
    // Settled orders are no longer due.
    let summary = w.sweep().await;
    assert_eq!(summary.examined, 0);
    assert_eq!(settle_calls(&w.gateway.calls()), 1);
}

#[tokio::test]
async fn unfulfilled_reserves_wait_and_dead_ones_expire_unsettled() {
    let w = world();
    w.stored(w.reserved("o-waiting")).await;
    w.stored(w.reserved("o-shipped-late")).await;
    w.settlement
        .mark_fulfilled("o-shipped-late", None)
        .await
        .expect("fulfil");
    w.stored(w.reserved("o-old")).await;
    // Seven days after the reserves, before any sweep ran: the fulfilled-but-unsettled one is
    // as dead as the others.
    w.clock.advance(RESERVE_LIFETIME);
    let summary = w.sweep().await;
    assert_eq!(summary.expired, 3, "{summary:?}");
    for id in ["o-waiting", "o-shipped-late", "o-old"] {
        assert_eq!(w.store.order(id).await.state, OrderState::Expired, "{id}");
    }
    assert_eq!(
        settle_calls(&w.gateway.calls()),
        0,
        "never settle a dead reserve"
    );
}

#[tokio::test]
async fn a_reserve_is_skipped_until_it_is_fulfilled() {
    let w = world();
    let mut reserved = w.reserved("o-1");
    // Due on its own only at the 7-day line; make it due now to see the sweep skip it.
    reserved.reserved_at = None;
    w.stored(reserved).await;
    let summary = w.sweep().await;
    assert_eq!((summary.examined, summary.skipped), (1, 1), "{summary:?}");
    assert!(w.gateway.calls().is_empty());
    assert_eq!(w.store.order("o-1").await.state, OrderState::Reserved);
}

#[tokio::test]
async fn pending_orders_are_reconciled_with_the_gateway() {
    let cases = [
        (
            PaymentAction::Pay,
            TransactionStatus::Pending,
            TransactionStatus::Success,
            OrderState::Paid,
        ),
        (
            PaymentAction::Pay,
            TransactionStatus::Pending,
            TransactionStatus::Failure,
            OrderState::Failed,
        ),
        (
            PaymentAction::Pay,
            TransactionStatus::Pending,
            TransactionStatus::Pending,
            OrderState::PaymentPending,
        ),
        (
            PaymentAction::Reserve,
            TransactionStatus::Pending,
            TransactionStatus::Reserved,
            OrderState::Reserved,
        ),
    ];
    for (action, first, then, expected) in cases {
        let w = world();
        let pending = w
            .claimed("o-1", action)
            .record_transaction("TX-1", first, None, None, w.now())
            .expect("pending");
        w.stored(pending).await;
        w.gateway.status_answers(Answer::Accept(then));
        let summary = w.sweep().await;
        assert_eq!(summary.examined, 1);
        assert_eq!(
            w.store.order("o-1").await.state,
            expected,
            "{action:?} {then:?}"
        );
        assert_eq!(w.gateway.calls(), vec![Call::Status("TX-1".into())]);
    }
}

#[tokio::test]
async fn a_reconcile_the_gateway_cannot_answer_leaves_the_order_due() {
    let w = world();
    let pending = w
        .claimed("o-1", PaymentAction::Pay)
        .record_transaction("TX-1", TransactionStatus::Pending, None, None, w.now())
        .expect("pending");
    let pending = w.stored(pending).await;
    w.gateway.status_answers(Answer::Unknown);
    let summary = w.sweep().await;
    assert_eq!(summary.unresolved, 1, "{summary:?}");
    assert_eq!(w.store.order("o-1").await, pending);
}

#[tokio::test]
async fn a_refused_settle_asks_before_failing() {
    // FPS refuses and the reserve is still there: the settle failed.
    let w = world();
    w.shipped("o-1").await;
    w.gateway
        .settle_answers(Answer::Refuse("InvalidTransactionState"));
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Reserved));
    let summary = w.sweep().await;
    assert_eq!(summary.failed, 1, "{summary:?}");
    let order = w.store.order("o-1").await;
    assert_eq!(order.state, OrderState::SettleFailed);
    assert_eq!(
        order.status_code.as_deref(),
        Some("InvalidTransactionState")
    );

    // FPS refuses because an earlier settle already landed: the order is settled.
    let w = world();
    w.stored(w.reserved("o-2")).await;
    w.settlement
        .mark_fulfilled("o-2", None)
        .await
        .expect("fulfil");
    w.gateway
        .settle_answers(Answer::Refuse("InvalidTransactionState"));
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Success));
    w.sweep().await;
    assert_eq!(w.store.order("o-2").await.state, OrderState::Settled);
    assert_eq!(settle_calls(&w.gateway.calls()), 1);
    // …or one is still being processed: the order waits for it.
    let w = world();
    w.stored(w.reserved("o-3")).await;
    w.settlement
        .mark_fulfilled("o-3", None)
        .await
        .expect("fulfil");
    w.gateway
        .settle_answers(Answer::Refuse("InvalidTransactionState"));
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Pending));
    w.sweep().await;
    assert_eq!(w.store.order("o-3").await.state, OrderState::SettlePending);
}

#[tokio::test]
async fn a_settle_with_an_unknown_outcome_stays_claimed_then_is_looked_up_not_repeated() {
    let w = world();
    w.shipped("o-1").await;
    w.gateway.settle_answers(Answer::Unknown);
    let summary = w.sweep().await;
    assert_eq!(summary.unresolved, 1, "{summary:?}");
    let claimed = w.store.order("o-1").await;
    assert_eq!(claimed.state, OrderState::Settling);
    assert!(claimed.lease_is_live(w.now()));

    // While the lease holds, the sweep leaves it alone.
    let summary = w.sweep().await;
    assert_eq!(
        summary.examined, 0,
        "not due while its lease holds: {summary:?}"
    );

    // The lease runs out; the settle had landed: the sweep reads that, and does not settle
    // again.
    w.clock.advance(time::Duration::seconds(61));
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Success));
    w.sweep().await;
    let order = w.store.order("o-1").await;
    assert_eq!(order.state, OrderState::Settled);
    assert_eq!(order.attempts, claimed.attempts + 1);
    assert_eq!(settle_calls(&w.gateway.calls()), 1);
}

#[tokio::test]
async fn an_expired_settle_claim_whose_settle_never_arrived_settles_once() {
    let w = world();
    w.shipped("o-1").await;
    w.gateway.settle_answers(Answer::NotSent);
    w.sweep().await;
    w.clock.advance(time::Duration::seconds(61));
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Reserved));
    w.sweep().await;
    assert_eq!(w.store.order("o-1").await.state, OrderState::Settled);
    assert_eq!(settle_calls(&w.gateway.calls()), 2);
}

#[tokio::test]
async fn an_abandoned_charge_claim_is_redriven_with_the_same_reference() {
    let w = world();
    let claimed = w.stored(w.claimed("o-1", PaymentAction::Pay)).await;
    // Its lease is live: a return may still be charging it.
    let summary = w.sweep().await;
    assert_eq!(summary.examined, 0, "{summary:?}");
    w.clock.advance(time::Duration::seconds(61));
    let summary = w.sweep().await;
    assert_eq!(summary.paid, 1, "{summary:?}");
    let order = w.store.order("o-1").await;
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.attempts, claimed.attempts + 1);
    assert!(matches!(
        w.gateway.calls().as_slice(),
        [Call::Charge { reference, token, .. }] if reference == "o-1" && token == "tok"
    ));
}

#[tokio::test]
async fn a_sweep_that_loses_a_race_counts_it_as_contended() {
    let w = world();
    w.shipped("o-1").await;
    let now = w.now();
    w.store
        .cue(crate::testing::Cue::RaceBeforeTransition(Box::new(
            move |stored: &Order| {
                stored
                    .claim_for_settle(lease("other-sweep", now + time::Duration::seconds(60)), now)
                    .expect("the other sweep claims")
            },
        )));
    let summary = w.sweep().await;
    assert_eq!(summary.contended, 1, "{summary:?}");
    assert_eq!(settle_calls(&w.gateway.calls()), 0);
    assert_eq!(
        w.store.order("o-1").await.lease.map(|l| l.owner).as_deref(),
        Some("other-sweep")
    );
}

#[tokio::test]
async fn a_sweep_out_of_time_takes_no_order() {
    let w = world();
    w.shipped("o-1").await;
    let summary = w.settlement.sweep(tokio::time::Instant::now()).await;
    assert!(summary.out_of_time);
    assert_eq!(summary.examined, 0);
    assert!(w.gateway.calls().is_empty());
}

#[tokio::test]
async fn fulfilment_settles_at_once_and_leaves_an_unknown_settle_to_the_sweep() {
    let w = world();
    w.stored(w.reserved("o-1")).await;
    let settled = w.settlement.fulfil("o-1", None).await.expect("fulfil");
    assert_eq!(settled.state, OrderState::Settled);
    assert_eq!(settle_calls(&w.gateway.calls()), 1);

    w.stored(w.reserved("o-2")).await;
    w.gateway.settle_answers(Answer::Unknown);
    let claimed = w.settlement.fulfil("o-2", None).await.expect("fulfil");
    assert_eq!(claimed.state, OrderState::Settling);
    assert!(claimed.fulfilled_at.is_some());
    w.clock.advance(time::Duration::seconds(61));
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Success));
    w.sweep().await;
    assert_eq!(w.store.order("o-2").await.state, OrderState::Settled);
    assert_eq!(settle_calls(&w.gateway.calls()), 2, "one Settle per order");
}

#[tokio::test]
async fn a_reserve_close_to_expiry_is_not_shipped_against() {
    let w = world();
    w.stored(w.reserved("o-1")).await;
    w.clock.advance(RESERVE_LIFETIME - time::Duration::hours(1));
    assert!(matches!(
        w.settlement.fulfil("o-1", None).await,
        Err(FulfilError::Invalid(
            TransitionError::ReserveExpiring { .. }
        ))
    ));
    assert!(w.gateway.calls().is_empty());
}

/// Issue 12 (3): a Settle refusal FPS marks retriable keeps the shipped order due, with
/// backoff, instead of failing it.
#[tokio::test]
async fn a_retriable_settle_refusal_is_tried_again_later() {
    let w = world();
    w.stored(w.reserved("o-1")).await;
    w.gateway
        .settle_answers(Answer::RefuseForNow("InsufficientBalance"));
    w.gateway
        .settle_answers(Answer::RefuseForNow("InsufficientBalance"));
    let order = w.settlement.fulfil("o-1", None).await.expect("fulfil");
    assert_eq!(order.state, OrderState::Reserved, "{order:?}");
    assert_eq!(order.status_code.as_deref(), Some("InsufficientBalance"));
    let retry_at = order.retry_at.expect("a time to try again");
    assert!(retry_at > w.now(), "with backoff");
    // Not before its time…
    let summary = w.sweep().await;
    assert_eq!(summary.examined, 0, "{summary:?}");
    // …then one try per sweep, each after its wait…
    w.clock.advance(retry_at - w.now());
    w.sweep().await;
    assert_eq!(settle_calls(&w.gateway.calls()), 2, "one Settle per sweep");
    let order = w.store.order("o-1").await;
    let next = order.retry_at.expect("refused again: a longer wait");
    assert!(next - w.now() > retry_at - order.fulfilled_at.expect("fulfilled"));
    // …until FPS takes it.
    w.clock.advance(next - w.now());
    let summary = w.sweep().await;
    assert_eq!(summary.settled, 1, "{summary:?}");
    assert_eq!(settle_calls(&w.gateway.calls()), 3);
}

/// Issue 12 (3): when the next try would come too close to the reserve's end, the order needs
/// a person, with the reason.
#[tokio::test]
async fn a_retriable_refusal_near_expiry_needs_attention() {
    let w = world();
    w.stored(w.reserved("o-1")).await;
    w.clock
        .advance(RESERVE_LIFETIME - time::Duration::hours(2) - time::Duration::minutes(5));
    w.gateway
        .settle_answers(Answer::RefuseForNow("AccountLimitsExceeded"));
    let order = w.settlement.fulfil("o-1", None).await.expect("fulfil");
    assert_eq!(order.state, OrderState::NeedsAttention, "{order:?}");
    assert_eq!(order.status_code.as_deref(), Some("AccountLimitsExceeded"));
    assert!(order.due_at().is_none(), "the sweep leaves it to a person");
}

/// Issue 12 (3): re-driving a lapsed claim is bounded.
#[tokio::test]
async fn a_claim_that_keeps_lapsing_ends_needing_attention() {
    let w = world();
    w.stored(w.claimed("o-1", PaymentAction::Pay)).await;
    for _ in 0..20 {
        w.gateway.charge_answers(Answer::Unknown);
        w.clock.advance(time::Duration::seconds(61));
        w.sweep().await;
    }
    let order = w.store.order("o-1").await;
    assert_eq!(order.state, OrderState::NeedsAttention, "{order:?}");
    assert!(order.attempts <= SweepSettings::default().max_attempts);
    let charges = w
        .gateway
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Charge { .. }))
        .count();
    assert!(charges < 20, "{charges} re-drives");
}

/// Issue 12 (9): a re-driven charge refused because the authorisation is used is resolved by
/// asking whether it is spent, before anything is called failed.
#[tokio::test]
async fn a_redriven_charge_refused_as_used_asks_whether_the_authorisation_is_spent() {
    for (spent, expected) in [
        (Ok(true), OrderState::NeedsAttention),
        (Ok(false), OrderState::Failed),
        (Err(()), OrderState::Charging),
    ] {
        let w = world();
        w.stored(w.claimed("o-1", PaymentAction::Pay)).await;
        w.clock.advance(time::Duration::seconds(61));
        w.gateway
            .charge_answers(Answer::RefuseUsed("TokenUsageError"));
        w.gateway.spent_answers(spent);
        w.sweep().await;
        let order = w.store.order("o-1").await;
        assert_eq!(order.state, expected, "{spent:?}");
        assert!(w.gateway.calls().contains(&Call::Spent("o-1".into())));
        if expected == OrderState::NeedsAttention {
            // FPS said the token is no longer usable, not that it was charged: a token that
            // expired or was cancelled unused reads the same. The reason says only that.
            let reason = order.status_message.unwrap_or_default();
            assert!(reason.starts_with("TokenUsageError message"), "{reason}");
            assert!(reason.contains("may have"), "{reason}");
            assert!(!reason.contains("probably"), "{reason}");
            assert!(reason.contains("CallerReference o-1"), "{reason}");
        }
    }
    // The first attempt's refusal is taken as it is: nothing earlier could have used it.
    let w = world();
    let claimed = w.claimed("o-2", PaymentAction::Pay);
    assert_eq!(claimed.attempts, 1);
    w.gateway
        .charge_answers(Answer::RefuseUsed("TokenUsageError"));
    let done = crate::use_cases::checkout::run_charge(
        &w.store,
        &w.gateway,
        &w.clock,
        w.stored(claimed).await,
    )
    .await
    .expect("charged");
    assert_eq!(done.state, OrderState::Failed);
    assert!(!w.gateway.calls().contains(&Call::Spent("o-2".into())));
}

/// Issue 16 (6): a re-driven charge declined for now waits for the buyer; once the buyer's
/// authorisation lapses unused, the sweep fails the order without asking FPS anything.
#[tokio::test]
async fn a_decline_for_now_waits_for_the_buyer_then_lapses_into_failure() {
    let w = world();
    w.stored(w.claimed("o-1", PaymentAction::Pay)).await;
    w.gateway
        .charge_answers(Answer::RefuseForNow("InsufficientBalance"));
    w.clock.advance(time::Duration::seconds(61));
    w.sweep().await;
    let declined = w.store.order("o-1").await;
    assert_eq!(declined.state, OrderState::DeclinedForNow);
    let calls = w.gateway.calls().len();
    w.clock.advance(time::Duration::hours(1));
    let summary = w.sweep().await;
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert_eq!(w.store.order("o-1").await.state, OrderState::DeclinedForNow);
    w.clock.set(declined.retry_deadline());
    let summary = w.sweep().await;
    assert_eq!(summary.failed, 1, "{summary:?}");
    let failed = w.store.order("o-1").await;
    assert_eq!(failed.state, OrderState::Failed);
    assert_eq!(failed.status_code.as_deref(), Some("InsufficientBalance"));
    assert_eq!(w.gateway.calls().len(), calls, "FPS is not asked again");
}

mod after_sale;
mod lagging;
mod limits;
mod recovery;
