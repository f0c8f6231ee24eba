//! Issue 4's guarantees, against moto's DynamoDB server and the FPS emulator over HTTP: each
//! checked in the emulator's ledger and in the table.

use std::time::Duration;

use checkout_core::domain::order::{OrderState, PaymentAction};
use checkout_core::use_cases::checkout::CompleteError;
use e2e_tests::{Stack, StackOptions};
use fps_sandbox::{Decision, FaultKind, Persona};
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_returns_charge_once_and_agree() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    // FPS holds the one Pay for 1.5 s, so the race is certain: every other request arrives
    // while the winner's claim is live and must take the lost-race branch (wait for the
    // winner's outcome), not charge and not report the claim as if it were an outcome.
    stack
        .control
        .inject_fault("Pay", FaultKind::Latency { ms: 1_500 }, 1)
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let checkout = stack.checkout.clone();
        let query = query.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = checkout.complete(&query).await;
            (outcome, started.elapsed())
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        let (outcome, took) = t.await.expect("task");
        let outcome = outcome.expect("complete");
        // Nobody answered before FPS did: the losers waited for the winner.
        assert!(
            took >= Duration::from_millis(1_400),
            "answered after {took:?}"
        );
        assert!(
            outcome.order.transaction_id.is_some(),
            "{:?}",
            outcome.order
        );
        outcomes.push(outcome);
    }
    let first = &outcomes[0].order;
    assert!(first.transaction_id.is_some());
    for o in &outcomes {
        assert_eq!(o.order.state, first.state);
        assert_eq!(o.order.transaction_id, first.transaction_id);
    }
    assert_eq!(
        outcomes.iter().filter(|o| !o.repeat).count(),
        1,
        "exactly one caller did the work"
    );
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(
        ledger.requests(&cr, "Pay"),
        1,
        "exactly one Pay reached FPS"
    );
    assert_eq!(ledger.transactions_for(&cr).len(), 1);
    let stored = stack.order(&cr).await;
    assert_eq!(stored.transaction_id, first.transaction_id);
    assert_eq!(stored.state, OrderState::PaymentPending);
    assert_eq!(stored.attempts, 1);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_overlapping_sweeps_settle_two_hundred_reservations_once_each() {
    let stack = Stack::start(PaymentAction::Reserve).await;
    let orders: Vec<String> = futures::stream::iter(0..200)
        .map(|_| {
            let stack = &stack;
            async move {
                let (cr, query) = stack.authorised(Persona::Card).await;
                let done = stack.checkout.complete(&query).await.expect("complete");
                assert_eq!(done.order.state, OrderState::ReservePending);
                cr
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    // Let the emulator finish the reserves (Pending → Reserved), and see them confirmed: only a
    // confirmed reserve is shipped against.
    stack.advance_emulator(Duration::from_secs(2)).await;
    let confirmed = stack.sweep().await;
    assert_eq!(confirmed.reserved, 200, "{confirmed:?}");
    // Shipped, with the Settles left to the sweeps (an OrderFulfilled event would settle at once).
    futures::stream::iter(&orders)
        .for_each_concurrent(16, |cr| stack.mark_fulfilled(cr))
        .await;
    // Three sweeps as three tasks (three concurrent invocations), not interleaved on one.
    let sweeps: Vec<_> = (0..3)
        .map(|_| {
            let settle = stack.settle.clone();
            tokio::spawn(async move {
                let scheduled = e2e_tests::event("Scheduled Event", serde_json::json!({}));
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                match settle.handle(scheduled, deadline).await {
                    Ok(settle_reservations::Outcome::Swept(summary)) => summary,
                    other => panic!("sweep: {other:?}"),
                }
            })
        })
        .collect();
    let mut summaries = Vec::new();
    for sweep in sweeps {
        summaries.push(sweep.await.expect("sweep task"));
    }
    let (a, b, c) = (&summaries[0], &summaries[1], &summaries[2]);
    // They really overlapped: some sweep lost a conditional write to another.
    assert!(
        a.contended + b.contended + c.contended > 0,
        "no contention: {a:?} {b:?} {c:?}"
    );
    // Every order moves at least once. It may move again in another sweep: pages are read
    // lazily, so a sweep that reads a page late finds orders another sweep already settled
    // and reconciles them (SettlePending → SettlePending or Settled), at most once per sweep.
    // The exact checks are the Settle count per order and the final states below.
    let moved = |s: &checkout_core::use_cases::settle::SweepSummary| s.settled + s.pending;
    let total = moved(a) + moved(b) + moved(c);
    assert!((200..=600).contains(&total), "{a:?} {b:?} {c:?}");
    assert_eq!(a.errors + b.errors + c.errors, 0, "{a:?} {b:?} {c:?}");
    let ledger = stack.control.ledger().await.unwrap();
    for cr in &orders {
        assert_eq!(ledger.requests(cr, "Settle"), 1, "{cr} settled once");
        let order = stack.order(cr).await;
        assert!(
            matches!(order.state, OrderState::Settled | OrderState::SettlePending),
            "{cr}: {:?}",
            order.state
        );
    }
    // A further sweep after the emulator completes the settles moves every order to Settled.
    stack.advance_emulator(Duration::from_secs(2)).await;
    let last = stack.sweep().await;
    assert_eq!(last.errors, 0);
    for cr in &orders {
        assert_eq!(stack.order(cr).await.state, OrderState::Settled);
    }
    let ledger = stack.control.ledger().await.unwrap();
    assert!(orders.iter().all(|cr| ledger.requests(cr, "Settle") == 1));
    stack.shutdown().await;
}

/// The transaction is recorded at FPS but the answer is lost; the order stays claimed until
/// its lease runs out, then the sweep repeats the call with the same CallerReference.
async fn drop_after_commit_on_charge(action: PaymentAction, fps_action: &str, settled: OrderState) {
    let stack = Stack::start(action).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack
        .control
        .inject_fault(fps_action, FaultKind::DropAfterCommit, 1)
        .await
        .unwrap();
    let done = stack.checkout.complete(&query).await.expect("complete");
    assert!(
        done.order.state.is_claimed(),
        "outcome unknown keeps the claim: {:?}",
        done.order.state
    );
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(
        ledger.transactions_for(&cr).len(),
        1,
        "FPS committed the first {fps_action}"
    );
    // A refresh while the lease is live charges nothing.
    let again = stack.checkout.complete(&query).await.expect("refresh");
    assert!(again.repeat);
    let early = stack.sweep().await;
    assert_eq!(early.examined, 0, "a live lease is not due yet: {early:?}");
    assert!(stack.order(&cr).await.state.is_claimed());
    stack.clock.advance(time::Duration::seconds(61));
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, settled, "{order:?}");
    let ledger = stack.control.ledger().await.unwrap();
    let txs = ledger.transactions_for(&cr);
    assert_eq!(txs.len(), 1, "charged exactly once");
    assert_eq!(
        order.transaction_id.as_deref(),
        Some(txs[0].transaction_id.as_str())
    );
    assert_eq!(
        ledger.requests(&cr, fps_action),
        2,
        "the sweep repeated the same request"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_then_drop_on_pay_is_resolved_by_the_sweep() {
    drop_after_commit_on_charge(PaymentAction::Pay, "Pay", OrderState::Paid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_then_drop_on_reserve_is_resolved_by_the_sweep() {
    drop_after_commit_on_charge(PaymentAction::Reserve, "Reserve", OrderState::Reserved).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_then_drop_on_settle_is_resolved_without_a_second_settle() {
    let stack = Stack::start(PaymentAction::Reserve).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack.checkout.complete(&query).await.expect("complete");
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    assert_eq!(stack.order(&cr).await.state, OrderState::Reserved);
    stack
        .control
        .inject_fault("Settle", FaultKind::DropAfterCommit, 1)
        .await
        .unwrap();
    // The fulfilment's own Settle commits and its answer is lost: the order stays claimed.
    let first = stack.fulfil(&cr).await;
    assert!(
        matches!(&first, settle_reservations::Outcome::Fulfilled { state, .. } if state == "Settling"),
        "{first:?}"
    );
    assert_eq!(stack.order(&cr).await.state, OrderState::Settling);
    stack.clock.advance(time::Duration::seconds(61));
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Settled, "{order:?}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(
        ledger.requests(&cr, "Settle"),
        1,
        "GetTransactionStatus showed the settle landed"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_return_changes_nothing_and_charges_nothing() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    let token = query
        .split('&')
        .find(|p| p.starts_with("tokenID="))
        .unwrap()
        .to_owned();
    // A different last character (tokens are upper-case alphanumerics, so one may end in X).
    let changed_last = if token.ends_with('X') { 'Y' } else { 'X' };
    let forgeries = [
        query.replace(
            &token,
            &format!("{}{changed_last}", &token[..token.len() - 1]),
        ),
        format!("{query}&extra=1"),
        query
            .split('&')
            .filter(|p| !p.starts_with("expiry="))
            .collect::<Vec<_>>()
            .join("&"),
        query.replace("status=SC", "status=SA"),
    ];
    for forged in &forgeries {
        assert_ne!(forged, &query);
        match stack.checkout.complete(forged).await {
            Err(CompleteError::Forged) => {}
            other => panic!("forged return accepted: {other:?}"),
        }
    }
    assert_eq!(
        stack.order(&cr).await.state,
        OrderState::AwaitingAuthorization
    );
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Pay"), 0);
    // The genuine return still works afterwards.
    let done = stack
        .checkout
        .complete(&query)
        .await
        .expect("genuine return");
    assert_eq!(done.order.state, OrderState::PaymentPending);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_older_than_seven_days_is_expired_not_settled() {
    let stack = Stack::start(PaymentAction::Reserve).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack.checkout.complete(&query).await.expect("complete");
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    assert_eq!(stack.order(&cr).await.state, OrderState::Reserved);
    let week = time::Duration::days(7) + time::Duration::hours(1);
    stack.clock.advance(week);
    stack
        .advance_emulator(Duration::from_secs(7 * 24 * 3600 + 3600))
        .await;
    // Shipping against a dead reserve is refused, with a reason the fulfilment system can act on.
    let refused = stack.try_fulfil(&cr).await.expect_err("a dead reserve");
    assert_eq!(
        lambda_runtime::Diagnostic::from(refused).error_type,
        "ReserveExpiring"
    );
    let summary = stack.sweep().await;
    assert_eq!(summary.expired, 1, "{summary:?}");
    assert_eq!(stack.order(&cr).await.state, OrderState::Expired);
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Settle"), 0, "never settled");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserve_with_a_bank_account_is_refused_without_charging() {
    let stack = Stack::start(PaymentAction::Reserve).await;
    let started = stack
        .checkout
        .start(&e2e_tests::sample_cart())
        .await
        .unwrap();
    // The CBUI offers only cards for reserve=True; a bank persona is turned away by FPS itself.
    let back = stack
        .authorize(&started.cbui_url, Persona::Bank, Decision::Authorize)
        .await;
    let done = stack
        .checkout
        .complete(back.query().unwrap())
        .await
        .expect("complete");
    assert_eq!(done.order.state, OrderState::Failed);
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(
        ledger.requests(&started.order.caller_reference, "Reserve"),
        0
    );
    stack.shutdown().await;
}

/// A stack whose store talks to moto through a fault-free proxy that can record or lag.
async fn proxied(action: PaymentAction) -> Stack {
    Stack::start_with(StackOptions {
        dynamodb_proxy: true,
        ..StackOptions::new(action)
    })
    .await
}

/// Issue 17 (5): every read of an order by its key asks DynamoDB for a strongly consistent read,
/// so a request never acts on an order as it was before another request moved it. moto's reads
/// are always current (dropping `ConsistentRead` would pass every other test): this one reads
/// the requests themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_of_an_order_by_key_is_strongly_consistent() {
    let stack = proxied(PaymentAction::Reserve).await;
    let proxy = stack.dynamodb_proxy.as_ref().expect("proxy");
    proxy.record();
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack.checkout.complete(&query).await.expect("complete");
    let again = stack.checkout.complete(&query).await.expect("refresh");
    assert!(again.repeat);
    stack.advance_emulator(Duration::from_secs(2)).await;
    stack.sweep().await;
    stack.mark_fulfilled(&cr).await;
    stack.sweep().await;
    assert!(matches!(
        stack.order(&cr).await.state,
        OrderState::Settled | OrderState::SettlePending
    ));
    let seen = proxy.seen();
    let body = |raw: &str| serde_json::from_str::<serde_json::Value>(raw).expect("JSON body");
    let by_key: Vec<_> = seen
        .iter()
        .filter(|r| r.target.ends_with(".GetItem"))
        .collect();
    assert!(by_key.len() >= 4, "{} reads by key", by_key.len());
    for read in by_key {
        assert_eq!(body(&read.body)["ConsistentRead"], true, "{}", read.body);
    }
    // A Query of the table itself (not of an index, which cannot be consistent) is too.
    for query in seen.iter().filter(|r| r.target.ends_with(".Query")) {
        let query = body(&query.body);
        if query.get("IndexName").is_none() {
            assert_eq!(query["ConsistentRead"], true, "{query}");
        }
    }
    stack.shutdown().await;
}

/// Issue 17 (5): the due index is a global index, eventually consistent: a sweep can be handed
/// an order as it was before another sweep moved it. Here the index lags for good (every due
/// query gets the first answer it got): the second sweep sees the fulfilled reserve again,
/// still unsettled, and must neither settle it again nor change it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_due_index_moves_no_order_twice() {
    let stack = proxied(PaymentAction::Reserve).await;
    let proxy = stack.dynamodb_proxy.as_ref().expect("proxy");
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack.checkout.complete(&query).await.expect("complete");
    stack.advance_emulator(Duration::from_secs(2)).await;
    assert_eq!(stack.sweep().await.reserved, 1);
    stack.mark_fulfilled(&cr).await;

    proxy.lag_indexes();
    let first = stack.sweep().await;
    assert_eq!(first.settled + first.pending, 1, "{first:?}");
    let after_first = stack.order(&cr).await;
    assert!(matches!(
        after_first.state,
        OrderState::Settled | OrderState::SettlePending
    ));

    let second = stack.sweep().await;
    assert_eq!(second.settled + second.pending, 0, "{second:?}");
    assert_eq!(
        second.contended, 1,
        "the stale copy lost its write: {second:?}"
    );
    assert_eq!(stack.order(&cr).await, after_first, "unchanged");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Settle"), 1);
    stack.shutdown().await;
}
