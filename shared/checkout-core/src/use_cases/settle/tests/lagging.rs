//! Orders the sweep is handed that are not due, as a lagging due index can hand them out: the
//! sweep decides from the order itself, and leaves each alone.

use super::*;

async fn left_alone(w: &World, order: Order) {
    let order = w.stored(order).await;
    let step = w.settlement.process(order.clone(), "sweep").await;
    assert!(matches!(step, Ok(Step::Skipped)), "{order:?}");
    assert_eq!(w.store.order(&order.caller_reference).await, order);
    assert!(w.gateway.calls().is_empty(), "{:?}", w.gateway.calls());
}

/// An order awaiting authorisation with no look scheduled: FPS is not asked for its token.
#[tokio::test]
async fn an_awaiting_order_with_no_look_scheduled_is_not_looked_up() {
    let w = world();
    let s = settings(PaymentAction::Pay);
    let cart = price_cart(&s.catalog, &s.pricing, &mugs(2)).expect("price");
    let order = Order::new("o-1".to_owned(), cart, PaymentAction::Pay, w.now());
    assert_eq!(order.retry_at, None);
    left_alone(&w, order).await;
}

/// A charge declined for now, while the buyer may still retry it: not failed early.
#[tokio::test]
async fn a_decline_for_now_before_its_deadline_is_not_failed() {
    let w = world();
    let declined = w
        .claimed("o-1", PaymentAction::Pay)
        .decline_for_now("InsufficientBalance", "Not now", w.now())
        .expect("declined");
    assert!(w.now() < declined.retry_deadline());
    left_alone(&w, declined).await;
}
