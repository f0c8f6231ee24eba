//! The sweep's lost-return recovery (issue 13) and its oldest-due figure (issue 18).

use super::*;

impl World {
    /// A new order awaiting authorisation, due for a lost-return look in 10 minutes.
    async fn awaiting(&self, id: &str, action: PaymentAction) -> Order {
        let s = settings(action);
        let cart = price_cart(&s.catalog, &s.pricing, &mugs(2)).expect("price");
        let mut order = Order::new(id.to_owned(), cart, action, self.now());
        order.retry_at = Some(self.now() + time::Duration::minutes(10));
        self.stored(order).await
    }
}

/// Issue 13: the buyer authorised and never came back; the sweep finds the token with
/// GetTokenByCaller and charges it once, as the return would have.
#[tokio::test]
async fn a_lost_return_is_found_and_charged_once() {
    for (action, charged) in [
        (PaymentAction::Pay, OrderState::Paid),
        (PaymentAction::Reserve, OrderState::Reserved),
    ] {
        let w = world();
        w.awaiting("o-1", action).await;
        let summary = w.sweep().await;
        assert_eq!(summary.examined, 0, "not due yet: {summary:?}");
        w.clock.advance(time::Duration::minutes(10));
        w.gateway.found_answers(Ok(Some("tok-found".into())));
        w.sweep().await;
        let order = w.store.order("o-1").await;
        assert_eq!(order.state, charged, "{action:?}");
        assert_eq!(order.token_id.as_deref(), Some("tok-found"));
        assert_eq!(order.retry_at, None);
        assert_eq!(order.due_at().is_some(), action == PaymentAction::Reserve);
        assert!(matches!(
            w.gateway.calls().as_slice(),
            [Call::FindAuthorization(id), Call::Charge { token, reference, .. }]
                if id == "o-1" && token == "tok-found" && reference == "o-1"
        ));
    }
}

/// Issue 13: no authorisation yet — look again later; none by the time the page expired —
/// abandoned, with nothing charged.
#[tokio::test]
async fn no_authorisation_is_looked_for_again_then_abandoned() {
    let w = world();
    let created = w.awaiting("o-1", PaymentAction::Pay).await;
    w.clock.advance(time::Duration::minutes(10));
    w.sweep().await;
    let waiting = w.store.order("o-1").await;
    assert_eq!(waiting.state, OrderState::AwaitingAuthorization);
    assert_eq!(
        waiting.retry_at,
        Some(w.now() + time::Duration::minutes(15)),
        "looked for again later"
    );
    // A lookup FPS cannot answer changes nothing: the order stays due.
    w.clock.advance(time::Duration::minutes(15));
    w.gateway.found_answers(Err(()));
    let summary = w.sweep().await;
    assert_eq!(summary.unresolved, 1, "{summary:?}");
    w.clock.set(created.created_at + time::Duration::hours(1));
    let summary = w.sweep().await;
    assert_eq!(summary.abandoned, 1, "{summary:?}");
    let abandoned = w.store.order("o-1").await;
    assert_eq!(abandoned.state, OrderState::Abandoned);
    assert_eq!(abandoned.status_code.as_deref(), Some("NotAuthorized"));
    assert_eq!(abandoned.due_at(), None);
    assert!(w
        .gateway
        .calls()
        .iter()
        .all(|c| matches!(c, Call::FindAuthorization(_))));
}

/// Issue 18 (1): the sweep reports how long its longest-waiting order had been due.
#[tokio::test]
async fn the_sweep_reports_how_long_the_oldest_due_order_waited() {
    let w = world();
    assert_eq!(w.sweep().await.oldest_due_seconds, 0, "nothing due");
    for (id, minutes_ago) in [("o-1", 3), ("o-2", 9)] {
        let pending = w
            .claimed(id, PaymentAction::Pay)
            .record_transaction(
                &format!("TX-{id}"),
                TransactionStatus::Pending,
                None,
                None,
                w.now(),
            )
            .expect("pending");
        w.stored(pending).await;
        w.clock.advance(time::Duration::minutes(9 - minutes_ago));
    }
    w.clock.advance(time::Duration::minutes(3));
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Pending));
    let summary = w.sweep().await;
    assert_eq!(summary.examined, 2, "{summary:?}");
    assert_eq!(summary.oldest_due_seconds, 9 * 60, "{summary:?}");
}
