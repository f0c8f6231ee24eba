//! FPS failing the way it failed (issues 12 and 16): answers after a processed request, refusals
//! of resends, a proxy in front of FPS, garbled answers — each through the merchant's code, the
//! emulator over HTTP and moto, checked in the ledger and the table.

use std::time::Duration;

use checkout_core::domain::order::{OrderState, PaymentAction};
use e2e_tests::Stack;
use fps_sandbox::{FaultKind, Persona};

/// FPS answered the Pay with a service failure it recovers from; the client resends at once
/// and the buyer's page shows the outcome (charged once).
async fn resent_once(kind: FaultKind) {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack.control.inject_fault("Pay", kind, 1).await.unwrap();
    let done = stack.checkout.complete(&query).await.expect("complete");
    assert!(
        matches!(
            done.order.state,
            OrderState::Paid | OrderState::PaymentPending
        ),
        "{kind:?}: {:?}",
        done.order
    );
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.faulted(&cr, "Pay"), 1, "{kind:?}");
    assert_eq!(
        ledger.transactions_for(&cr).len(),
        1,
        "{kind:?}: charged once"
    );
    stack.shutdown().await;
}

/// Issue 16 (5): `ConcurrentModification` is FPS's "try again".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_modification_is_resent_and_charges_once() {
    resent_once(FaultKind::ConcurrentModification).await;
}

/// Issue 16 (5): a proxy's 502 with an HTML body is a service failure like FPS's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxys_502_is_resent_and_charges_once() {
    resent_once(FaultKind::BadGateway).await;
}

/// Issue 16 (5): FPS processed the Pay and the answer came back unreadable: outcome unknown,
/// the order stays claimed, and the sweep's resend under the same CallerReference finds the
/// one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbled_answer_after_commit_is_resolved_by_the_sweep() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack
        .control
        .inject_fault("Pay", FaultKind::GarbledAfterCommit, 1)
        .await
        .unwrap();
    let done = stack.checkout.complete(&query).await.expect("complete");
    assert_eq!(done.order.state, OrderState::Charging, "{:?}", done.order);
    stack.clock.advance(time::Duration::seconds(61));
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    let order = stack.order(&cr).await;
    assert!(
        matches!(order.state, OrderState::Paid | OrderState::PaymentPending),
        "{order:?}"
    );
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.transactions_for(&cr).len(), 1, "one Pay in all");
    stack.shutdown().await;
}

/// Issue 12 (9): FPS processed the Pay and answered 503; the resend is refused as a used
/// token. That refusal says nothing about the first attempt: the order is not failed (the
/// buyer is not invited to pay again) but left claimed, and the sweep's resend under the same
/// CallerReference finds the Pay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_after_a_committed_5xx_is_resolved_not_failed() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack
        .control
        .inject_fault("Pay", FaultKind::UnavailableAfterCommit, 1)
        .await
        .unwrap();
    stack
        .control
        .inject_fault("Pay", FaultKind::TokenUsageError, 1)
        .await
        .unwrap();
    let done = stack.checkout.complete(&query).await.expect("complete");
    assert_eq!(done.order.state, OrderState::Charging, "{:?}", done.order);
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.transactions_for(&cr).len(), 1, "FPS took the Pay");
    stack.clock.advance(time::Duration::seconds(61));
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    let order = stack.order(&cr).await;
    assert!(
        matches!(order.state, OrderState::Paid | OrderState::PaymentPending),
        "{order:?}"
    );
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.transactions_for(&cr).len(), 1, "one Pay in all");
    assert_eq!(
        order.transaction_id.as_deref(),
        Some(ledger.transactions_for(&cr)[0].transaction_id.as_str())
    );
    stack.shutdown().await;
}

/// Issue 12 (9), the other order: the Pay's answer was lost; the sweep's resend is refused
/// because the token is used. The order is not failed: FPS says the authorisation was spent,
/// so the charge probably went through, and a person resolves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_refused_for_a_used_token_needs_attention_not_failure() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack
        .control
        .inject_fault("Pay", FaultKind::DropAfterCommit, 1)
        .await
        .unwrap();
    let done = stack.checkout.complete(&query).await.expect("complete");
    assert_eq!(done.order.state, OrderState::Charging);
    stack
        .control
        .inject_fault("Pay", FaultKind::TokenUsageError, 1)
        .await
        .unwrap();
    stack.clock.advance(time::Duration::seconds(61));
    stack.sweep().await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::NeedsAttention, "{order:?}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(
        ledger.transactions_for(&cr).len(),
        1,
        "FPS took the first Pay"
    );
    stack.shutdown().await;
}
