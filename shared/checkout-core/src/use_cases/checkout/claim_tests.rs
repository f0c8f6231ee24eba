//! Which order a return names, and the claims a return or a retry leaves behind: the lease the
//! sweep honours, the time from which it looks for a lost return, and a dead claim nobody waits
//! for.

use std::sync::Arc;

use super::tests::world;
use super::*;
use crate::domain::payment::PaymentMethod;
use crate::testing::{settings, Answer};

#[tokio::test]
async fn a_new_order_is_due_for_recovery_once_its_return_could_be_lost() {
    let w = world(PaymentAction::Pay);
    let started = w
        .checkout
        .start(&crate::testing::mugs(1))
        .await
        .expect("start");
    let due = w.clock.now() + settings(PaymentAction::Pay).recover_after;
    assert_eq!(started.order.retry_at, Some(due));
    assert_eq!(
        w.store
            .order(&started.order.caller_reference)
            .await
            .retry_at,
        Some(due)
    );
}

/// A return to one order's URL whose signed callerReference names another is refused and
/// changes neither; the same return at its own order's URL pays that order.
#[tokio::test]
async fn a_return_at_another_orders_url_is_refused_and_changes_nothing() {
    let w = world(PaymentAction::Pay);
    let (first, query) = w.started(PaymentMethod::CreditCard).await;
    let (second, _) = w.started(PaymentMethod::CreditCard).await;
    let before = (w.store.order(&first).await, w.store.order(&second).await);
    let refused = w
        .checkout
        .complete_at(ReturnedTo::OrderUrl(Some(&second)), &query)
        .await;
    assert!(
        matches!(refused, Err(CompleteError::MismatchedOrder)),
        "{refused:?}"
    );
    let after = (w.store.order(&first).await, w.store.order(&second).await);
    assert_eq!(after, before);
    assert_eq!(w.gateway.charges(), 0);
    let paid = w
        .checkout
        .complete_at(ReturnedTo::OrderUrl(Some(&first)), &query)
        .await
        .expect("its own URL");
    assert_eq!(paid.order.caller_reference, first);
    assert_eq!(paid.order.state, OrderState::Paid);
    assert_eq!(w.store.order(&second).await, before.1);
}

/// A buyer's retry whose charge answer is lost keeps its claim, live for a lease, for the
/// sweep to resolve.
#[tokio::test]
async fn a_retry_whose_answer_is_lost_keeps_a_live_claim() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    w.gateway
        .charge_answers(Answer::RefuseForNow("InsufficientBalance"));
    w.checkout.complete(&query).await.expect("complete");
    w.clock.advance(time::Duration::minutes(10));
    w.gateway.charge_answers(Answer::Unknown);
    let retried = w.checkout.retry(&query).await.expect("retry");
    assert_eq!(retried.order.state, OrderState::Charging);
    let lease = retried.order.lease.clone().expect("claimed");
    assert_eq!(
        lease.expires_at,
        w.clock.now() + settings(PaymentAction::Pay).lease
    );
    assert_eq!(w.store.order(&id).await, retried.order);
}

/// A claim whose lease ran out has no winner to wait for (its holder died): a return reports
/// the order at once, however long it would wait for a live claim, and charges nothing.
#[tokio::test]
async fn a_return_facing_a_dead_claim_does_not_wait_for_it() {
    let w = world(PaymentAction::Pay);
    let mut patient = settings(PaymentAction::Pay);
    patient.wait_for_winner = std::time::Duration::from_secs(120);
    let checkout = Checkout::new(
        w.store.clone(),
        w.gateway.clone(),
        Arc::new(w.clock.clone()),
        patient,
    );
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    w.claimed_by_another(&id, time::Duration::seconds(60)).await;
    w.clock.advance(time::Duration::seconds(61));
    let done = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        checkout.complete(&query),
    )
    .await
    .expect("no wait for a claim whose lease ran out")
    .expect("complete");
    assert!(done.repeat);
    assert_eq!(done.order.state, OrderState::Charging);
    assert_eq!(w.gateway.charges(), 0);
}

/// FPS declines for now, but the authorisation ends as it answers: no retry can follow, so the
/// order fails (with FPS's reason) instead of waiting for a buyer who cannot retry.
#[tokio::test]
async fn a_decline_for_now_as_the_authorisation_ends_fails_the_order() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    w.clock
        .advance(crate::domain::order::AUTHORIZATION_LIFETIME);
    w.gateway
        .charge_answers(Answer::RefuseForNow("InsufficientBalance"));
    let done = w.checkout.complete(&query).await.expect("complete");
    assert_eq!(done.order.state, OrderState::Failed);
    assert_eq!(
        done.order.status_code.as_deref(),
        Some("InsufficientBalance")
    );
    assert_eq!(w.store.order(&id).await, done.order);
    assert_eq!(w.gateway.charges(), 1);
}
