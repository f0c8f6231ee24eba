//! After the sale (issue 15): refunds and cancelled reservations asked for with events on the
//! shop's bus, through settle-reservations, the emulator over HTTP and moto.

use std::time::Duration;

use checkout_core::domain::order::{OrderState, PaymentAction, RefundStatus};
use e2e_tests::{event, Stack};
use fps_sandbox::{FaultKind, Persona};
use settle_reservations::{HandlerError, Outcome};

async fn ask(
    stack: &Stack,
    detail_type: &str,
    detail: serde_json::Value,
) -> Result<Outcome, HandlerError> {
    stack
        .settle
        .handle(
            event(detail_type, detail),
            tokio::time::Instant::now() + Duration::from_secs(10),
        )
        .await
}

async fn refund(
    stack: &Stack,
    order: &str,
    amount: Option<&str>,
    request_id: &str,
) -> Result<Outcome, HandlerError> {
    let mut detail = serde_json::json!({
        "callerReference": order, "reason": "damaged in transit",
        "requestedBy": "ops@shop.test", "requestId": request_id
    });
    if let Some(amount) = amount {
        detail["amount"] = serde_json::json!(amount);
    }
    ask(stack, "RefundRequested", detail).await
}

/// Lets FPS finish its pending refunds, then the sweep records them.
async fn refunds_complete(stack: &Stack) {
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
}

/// A paid order ($41.87 for the sample cart, by balance: paid at once).
async fn paid(stack: &Stack) -> String {
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Balance)
        .await;
    stack.page(&back).await;
    assert_eq!(stack.order(&cr).await.state, OrderState::Paid);
    cr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partial_refunds_then_an_over_refund_is_refused() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let cr = paid(&stack).await;
    let total = stack.order(&cr).await.amount();
    refund(&stack, &cr, Some("10.00"), "r-1")
        .await
        .expect("first");
    refunds_complete(&stack).await;
    refund(&stack, &cr, Some("20.00"), "r-2")
        .await
        .expect("second");
    refunds_complete(&stack).await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Paid, "{order:?}");
    assert!(order
        .refunds
        .iter()
        .all(|r| r.status == RefundStatus::Refunded));
    assert_eq!(order.refunded(), rust_decimal::Decimal::new(3000, 2));
    let over = refund(&stack, &cr, Some("15.00"), "r-3").await;
    assert!(
        matches!(&over, Err(HandlerError::AfterSale(e)) if e.to_string().contains("more than")),
        "{over:?}"
    );
    let ledger = stack.control.ledger().await.unwrap();
    for (seq, amount) in [(1, "10.00"), (2, "20.00")] {
        let txs = ledger.transactions_for(&format!("{cr}-refund-{seq}"));
        assert_eq!(txs.len(), 1, "refund {seq}");
        assert_eq!(txs[0].amount.to_fps_string(), amount);
    }
    assert!(ledger
        .transactions_for(&format!("{cr}-refund-3"))
        .is_empty());
    // The rest, with no amount: the order is refunded in full.
    refund(&stack, &cr, None, "r-4").await.expect("the rest");
    refunds_complete(&stack).await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Refunded);
    assert_eq!(order.refunded(), total.value());
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_duplicate_refund_requests_refund_once() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let cr = paid(&stack).await;
    let asks = (0..10).map(|_| refund(&stack, &cr, Some("5.00"), "dup-1"));
    let outcomes = futures::future::join_all(asks).await;
    for outcome in &outcomes {
        assert!(matches!(outcome, Ok(Outcome::Refund { .. })), "{outcome:?}");
    }
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&format!("{cr}-refund-1"), "Refund"), 1);
    assert_eq!(ledger.transactions_for(&format!("{cr}-refund-1")).len(), 1);
    assert_eq!(ledger.requests(&format!("{cr}-refund-2"), "Refund"), 0);
    assert_eq!(stack.order(&cr).await.refunds.len(), 1);
    stack.shutdown().await;
}

/// FPS made the refund and the answer was lost: the order keeps the claim, and the sweep's
/// resend under the same CallerReference finds the one refund.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_whose_answer_is_dropped_after_commit_is_recorded_once() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let cr = paid(&stack).await;
    stack
        .control
        .inject_fault("Refund", FaultKind::DropAfterCommit, 1)
        .await
        .unwrap();
    refund(&stack, &cr, Some("7.00"), "r-1")
        .await
        .expect("asked");
    assert_eq!(stack.order(&cr).await.state, OrderState::Refunding);
    stack.clock.advance(time::Duration::seconds(61));
    stack.sweep().await;
    refunds_complete(&stack).await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Paid, "{order:?}");
    assert_eq!(order.refunds[0].status, RefundStatus::Refunded);
    let ledger = stack.control.ledger().await.unwrap();
    let refund_ref = format!("{cr}-refund-1");
    assert_eq!(
        ledger.requests(&refund_ref, "Refund"),
        2,
        "sent, then resent"
    );
    assert_eq!(
        ledger.transactions_for(&refund_ref).len(),
        1,
        "refunded once"
    );
    assert_eq!(
        order.refunds[0].transaction_id.as_deref(),
        Some(
            ledger.transactions_for(&refund_ref)[0]
                .transaction_id
                .as_str()
        )
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_reserve_cannot_be_fulfilled() {
    let stack = Stack::start(PaymentAction::Reserve).await;
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Card)
        .await;
    stack.page(&back).await;
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    assert_eq!(stack.order(&cr).await.state, OrderState::Reserved);
    let outcome = ask(
        &stack,
        "CancelRequested",
        serde_json::json!({"callerReference": cr, "reason": "out of stock"}),
    )
    .await
    .expect("cancel");
    assert!(
        matches!(outcome, Outcome::Cancel { ref state, .. } if state == "Cancelled"),
        "{outcome:?}"
    );
    let refused = stack.try_fulfil(&cr).await;
    assert!(refused.is_err(), "{refused:?}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Settle"), 0);
    assert_eq!(ledger.transactions_for(&cr)[0].status_code, "Canceled");
    // A refund of a reserve never captured is refused, naming why.
    let nothing = refund(&stack, &cr, None, "r-1").await;
    assert!(
        matches!(nothing, Err(HandlerError::AfterSale(_))),
        "{nothing:?}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_reserve_is_refunded() {
    let stack = Stack::start(PaymentAction::Reserve).await;
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Card)
        .await;
    stack.page(&back).await;
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    stack.fulfil(&cr).await;
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    assert_eq!(stack.order(&cr).await.state, OrderState::Settled);
    refund(&stack, &cr, None, "r-1").await.expect("refund");
    refunds_complete(&stack).await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Refunded, "{order:?}");
    let ledger = stack.control.ledger().await.unwrap();
    let refunds = ledger.transactions_for(&format!("{cr}-refund-1"));
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].amount, order.amount());
    stack.shutdown().await;
}

/// A reserved order (the sample cart, $41.87, by card), confirmed by the sweep.
async fn reserved(stack: &Stack) -> String {
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Card)
        .await;
    stack.page(&back).await;
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    assert_eq!(stack.order(&cr).await.state, OrderState::Reserved);
    cr
}

/// What FPS settled for the order's reserve.
async fn settled_at_fps(stack: &Stack, cr: &str) -> Option<String> {
    let ledger = stack.control.ledger().await.unwrap();
    let reserve = ledger.transactions_for(cr)[0].clone();
    assert!(reserve.settled == reserve.settle_amount.is_some());
    reserve.settle_amount.map(|a| a.to_fps_string())
}

/// Issue 17 (5): the amount an `OrderFulfilled` names is what FPS settles, checked in the
/// ledger (a dropped or altered amount fails here); without partial settlement, only the total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settled_amount_at_fps_is_the_one_asked_for() {
    let stack = Stack::start(PaymentAction::Reserve).await;
    let cr = reserved(&stack).await;
    let total = stack.order(&cr).await.amount().to_fps_string();
    assert_eq!(total, "41.87");
    let less = ask(
        &stack,
        "OrderFulfilled",
        serde_json::json!({"callerReference": cr, "amount": "40.00"}),
    )
    .await;
    assert!(less.is_err(), "partial settlement is off: {less:?}");
    assert_eq!(settled_at_fps(&stack, &cr).await, None, "nothing settled");
    ask(
        &stack,
        "OrderFulfilled",
        serde_json::json!({"callerReference": cr, "amount": total}),
    )
    .await
    .expect("the total settles");
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    assert_eq!(stack.order(&cr).await.state, OrderState::Settled);
    assert_eq!(settled_at_fps(&stack, &cr).await.as_deref(), Some("41.87"));
    stack.shutdown().await;
}

/// With partial settlement on, FPS settles exactly the amount asked for, the order records it,
/// and refunds are bounded by it, not by the reserve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_settlement_settles_and_bounds_refunds_by_that_amount() {
    let stack = Stack::start_with(e2e_tests::StackOptions {
        partial_settlement: true,
        ..e2e_tests::StackOptions::new(PaymentAction::Reserve)
    })
    .await;
    let cr = reserved(&stack).await;
    ask(
        &stack,
        "OrderFulfilled",
        serde_json::json!({"callerReference": cr, "amount": "30.05"}),
    )
    .await
    .expect("a partial settle");
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Settled, "{order:?}");
    assert_eq!(settled_at_fps(&stack, &cr).await.as_deref(), Some("30.05"));
    assert_eq!(
        order.captured().map(|a| a.to_fps_string()).as_deref(),
        Some("30.05")
    );
    let over = refund(&stack, &cr, Some("30.06"), "r-over").await;
    assert!(matches!(over, Err(HandlerError::AfterSale(_))), "{over:?}");
    refund(&stack, &cr, None, "r-all")
        .await
        .expect("refund the rest");
    refunds_complete(&stack).await;
    let ledger = stack.control.ledger().await.unwrap();
    let refunds = ledger.transactions_for(&format!("{cr}-refund-1"));
    assert_eq!(refunds.len(), 1, "the refused one never reached FPS");
    assert_eq!(refunds[0].amount.to_fps_string(), "30.05");
    stack.shutdown().await;
}
