//! Where fulfilment and the sweep stop: the amount a shipment may settle, the FPS calls an
//! order may take, the time an invocation has, the 7-day line, and a due read that fails.

use super::*;

fn amount(text: &str) -> Amount {
    Amount::parse(text).expect("amount")
}

/// Ships `id` through `fulfil` (settles at once) or `mark_fulfilled` (leaves it to the sweep).
async fn ship(
    settlement: &TestSettlement,
    at_once: bool,
    id: &str,
    amount: Amount,
) -> Result<Order, FulfilError> {
    if at_once {
        settlement.fulfil(id, Some(amount)).await
    } else {
        settlement.mark_fulfilled(id, Some(amount)).await
    }
}

/// Partial settlement is off by default: a shipment settles the whole reserve or nothing. Less
/// is refused naming both amounts, more is the order's own refusal, and neither changes the
/// order; exactly the whole reserve ships.
#[tokio::test]
async fn without_partial_settlement_only_the_whole_reserve_ships() {
    for at_once in [true, false] {
        let w = world();
        let whole_only = w.with_default_settings();
        let reserved = w.stored(w.reserved("o-1")).await;
        assert_eq!(reserved.amount(), amount("16.20"));

        let less = ship(&whole_only, at_once, "o-1", amount("16.19")).await;
        assert!(
            matches!(
                &less,
                Err(FulfilError::PartialSettlementDisabled { caller_reference, requested, total })
                    if caller_reference == "o-1"
                        && *requested == amount("16.19")
                        && *total == amount("16.20")
            ),
            "{less:?}"
        );
        let more = ship(&whole_only, at_once, "o-1", amount("16.21")).await;
        assert!(
            matches!(
                &more,
                Err(FulfilError::Invalid(
                    TransitionError::SettleAmountTooLarge { .. }
                ))
            ),
            "{more:?}"
        );
        assert_eq!(
            w.store.order("o-1").await,
            reserved,
            "a refusal changes nothing"
        );
        assert!(w.gateway.calls().is_empty());

        let whole = ship(&whole_only, at_once, "o-1", amount("16.20"))
            .await
            .expect("the whole reserve ships");
        assert!(whole.fulfilled_at.is_some());
        assert_eq!(
            whole.state,
            if at_once {
                OrderState::Settled
            } else {
                OrderState::Reserved
            }
        );
    }
}

/// The sweep gives up on an order only when it would call FPS again for it. At the limit, a
/// claim whose holder is still working and a reserve not yet shipped are left alone, and a
/// pending order (FPS already has the call) is still asked about; a shipped reserve whose
/// Settle would be one call too many goes to a person.
#[tokio::test]
async fn only_an_order_about_to_call_fps_again_runs_out_of_attempts() {
    let w = world();
    let max = SweepSettings::default().max_attempts;
    let at_limit = |mut order: Order| {
        order.attempts = max;
        order
    };

    let live_claim = w
        .stored(at_limit(w.claimed("o-live", PaymentAction::Pay)))
        .await;
    let unshipped = w.stored(at_limit(w.reserved("o-unshipped"))).await;
    for order in [live_claim, unshipped] {
        let step = w.settlement.process(order.clone(), "sweep").await;
        assert!(
            matches!(step, Ok(Step::Skipped)),
            "{}",
            order.caller_reference
        );
        assert_eq!(w.store.order(&order.caller_reference).await, order);
    }

    let payment_pending = w
        .claimed("o-pay", PaymentAction::Pay)
        .record_transaction("TX-o-pay", TransactionStatus::Pending, None, None, w.now())
        .expect("pending");
    let mut shipped = w.reserved("o-settle");
    shipped.fulfilled_at = Some(w.now());
    let settle_pending = shipped
        .claim_for_settle(
            lease("sweep", w.now() + time::Duration::seconds(60)),
            w.now(),
        )
        .expect("claim")
        .record_transaction(
            "TX-o-settle",
            TransactionStatus::Pending,
            None,
            None,
            w.now(),
        )
        .expect("pending");
    for (order, reconciled) in [
        (payment_pending, OrderState::Paid),
        (settle_pending, OrderState::Settled),
    ] {
        let order = w.stored(at_limit(order)).await;
        w.gateway
            .status_answers(Answer::Accept(TransactionStatus::Success));
        let step = w.settlement.process(order.clone(), "sweep").await;
        assert!(
            matches!(&step, Ok(Step::Done(done)) if done.state == reconciled),
            "{}",
            order.caller_reference
        );
    }

    let mut shipped = w.reserved("o-shipped");
    shipped.fulfilled_at = Some(w.now());
    let shipped = w.stored(at_limit(shipped)).await;
    let step = w.settlement.process(shipped, "sweep").await;
    assert!(matches!(&step, Ok(Step::Done(done)) if done.state == OrderState::NeedsAttention));
    assert_eq!(settle_calls(&w.gateway.calls()), 0);
}

/// A Settle whose outcome is unknown, looked up after the reserve's 7 days: FPS still shows the
/// reserve (the Settle never arrived), and the sweep expires the order instead of settling it.
#[tokio::test]
async fn a_settle_claim_redriven_after_the_reserve_expired_never_settles() {
    let w = world();
    w.stored(w.reserved("o-1")).await;
    w.gateway.settle_answers(Answer::NotSent);
    let claimed = w.settlement.fulfil("o-1", None).await.expect("fulfil");
    assert_eq!(claimed.state, OrderState::Settling);
    w.clock.advance(RESERVE_LIFETIME);
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Reserved));
    w.sweep().await;
    assert_eq!(w.store.order("o-1").await.state, OrderState::Expired);
    assert_eq!(
        settle_calls(&w.gateway.calls()),
        1,
        "no Settle after expiry"
    );
}

/// However short the invocation, the sweep keeps at most half its time in reserve: a
/// 10-second invocation still settles, with the default 25-second margin.
#[tokio::test]
async fn a_short_invocation_still_does_some_work() {
    let w = world();
    let default_margin = w.with_default_settings();
    w.shipped("o-1").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let summary = default_margin.sweep(deadline).await;
    assert_eq!(summary.settled, 1, "{summary:?}");
    assert!(!summary.out_of_time);
}

/// The due index cannot be read: the sweep moves nothing and reports one error (the alarm's
/// figure), not a quiet empty sweep.
#[tokio::test]
async fn a_due_read_that_fails_is_counted_as_an_error() {
    let w = world();
    w.shipped("o-1").await;
    w.store.cue(crate::testing::Cue::DueFails);
    let summary = w.sweep().await;
    assert_eq!(summary.errors, 1, "{summary:?}");
    assert_eq!(summary.examined, 0);
    assert!(w.gateway.calls().is_empty());
    assert_eq!(w.sweep().await.settled, 1, "the next sweep settles it");
}
