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
/// because the token is used. The order is not failed: FPS says the authorisation is no longer
/// usable, so an earlier attempt may have charged, and a person resolves it.
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

/// The CBUI answered with a failure `status` for an authorisation (issue 16, 5): the order's
/// own return URL finds the order, the buyer's page says nothing was charged, and FPS was never
/// asked to move money.
async fn cbui_failure(kind: FaultKind, status: &str, action: PaymentAction, persona: Persona) {
    let stack = Stack::start(action).await;
    stack
        .control
        .inject_fault(fps_sandbox::CBUI_ACTION, kind, 1)
        .await
        .unwrap();
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), persona)
        .await;
    assert!(
        back.query_pairs()
            .any(|(k, v)| k == "status" && v == status),
        "{kind:?}: {back}"
    );
    let (code, page) = stack.page(&back).await;
    assert_eq!(code, 200, "{kind:?}: {page}");
    assert!(
        page.contains("Payment not completed") && page.contains("Nothing was charged"),
        "{kind:?}: {page}"
    );
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Failed, "{kind:?}: {order:?}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, action.as_str()), 0, "{kind:?}");
    assert!(ledger.transactions_for(&cr).is_empty(), "{kind:?}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cbui_system_error_fails_the_order_without_a_charge() {
    cbui_failure(
        FaultKind::SystemError,
        "SE",
        PaymentAction::Pay,
        Persona::Card,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cbui_not_marketplace_answer_fails_the_order_without_a_charge() {
    cbui_failure(
        FaultKind::NotMarketplace,
        "NM",
        PaymentAction::Pay,
        Persona::Card,
    )
    .await;
}

/// A success status with no token to charge: nothing can be charged; the order fails (the
/// token FPS installed lapses unused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_return_without_a_token_fails_the_order_without_a_charge() {
    cbui_failure(
        FaultKind::ReturnWithoutToken,
        "SC",
        PaymentAction::Pay,
        Persona::Card,
    )
    .await;
}

/// FPS answered `SB` (a bank account) for a reserve request: the merchant does not send a
/// Reserve it knows FPS refuses for anything but a card.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bank_authorisation_for_a_reserve_fails_without_a_reserve_call() {
    cbui_failure(
        FaultKind::ReserveAnyMethod,
        "SB",
        PaymentAction::Reserve,
        Persona::Bank,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_balance_authorisation_for_a_reserve_fails_without_a_reserve_call() {
    cbui_failure(
        FaultKind::ReserveAnyMethod,
        "SA",
        PaymentAction::Reserve,
        Persona::Balance,
    )
    .await;
}

/// FPS's errors in the WSDL's `<ErrorResponse>` shape (issue 16, 5) are read like the REST
/// ones: a decline fails the order with FPS's code, and nothing is charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_in_the_wsdl_error_shape_is_read_as_a_decline() {
    let mut options = e2e_tests::StackOptions::new(PaymentAction::Pay);
    options.pricing = e2e_tests::NO_EXTRAS;
    let stack = Stack::start_with(options).await;
    stack
        .control
        .inject_fault("Pay", FaultKind::ErrorResponseShape, 1)
        .await
        .unwrap();
    // 10.61: the emulator's TransactionDenied amount.
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::one_of("DECLINE"), Persona::Card)
        .await;
    let (code, page) = stack.page(&back).await;
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("Nothing was charged"), "{page}");
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Failed, "{order:?}");
    assert_eq!(order.status_code.as_deref(), Some("TransactionDenied"));
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Pay"), 1);
    assert!(ledger.transactions_for(&cr).is_empty());
    stack.shutdown().await;
}

async fn no_extras(action: PaymentAction) -> Stack {
    let mut options = e2e_tests::StackOptions::new(action);
    options.pricing = e2e_tests::NO_EXTRAS;
    Stack::start_with(options).await
}

/// Both clocks a week and a minute on: the functions' and the emulator's.
async fn a_week_later(stack: &Stack) {
    let week = Duration::from_secs(7 * 86_400 + 60);
    stack.clock.advance(time::Duration::try_from(week).unwrap());
    stack.advance_emulator(week).await;
}

/// Issue 16 (4): a Pay that FPS keeps Pending and then times out (Cancelled, Expired) ends the
/// order as failed, and the buyer's page, looked at again, says nothing was charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_pending_until_fps_times_it_out_ends_failed_not_charged() {
    let stack = no_extras(PaymentAction::Pay).await;
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::one_of("REVIEW"), Persona::Card)
        .await;
    let (_, page) = stack.page(&back).await;
    assert!(page.contains("still processing"), "{page}");
    assert_eq!(stack.order(&cr).await.state, OrderState::PaymentPending);
    stack.sweep().await;
    assert_eq!(stack.order(&cr).await.state, OrderState::PaymentPending);
    a_week_later(&stack).await;
    stack.sweep().await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Failed, "{order:?}");
    assert_eq!(order.status_code.as_deref(), Some("Expired"));
    let (_, page) = stack.page(&back).await;
    assert!(
        page.contains("Payment not completed") && page.contains("Nothing was charged"),
        "{page}"
    );
    let ledger = stack.control.ledger().await.unwrap();
    let txs = ledger.transactions_for(&cr);
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].status_code, "Expired");
    stack.shutdown().await;
}

/// Issue 16 (4): a Reserve that stays Pending cannot be shipped against, and its 7-day clock
/// (from the Reserve request) ends it as expired; no Settle is ever sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserve_pending_until_fps_times_it_out_expires_unsettled() {
    let stack = no_extras(PaymentAction::Reserve).await;
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::one_of("REVIEW"), Persona::Card)
        .await;
    let (_, page) = stack.page(&back).await;
    assert!(page.contains("confirming the authorisation"), "{page}");
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::ReservePending);
    assert!(order.reserved_at.is_some(), "the 7-day clock runs");
    let refused = stack.try_fulfil(&cr).await;
    assert!(refused.is_err(), "{refused:?}");
    a_week_later(&stack).await;
    stack.sweep().await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Expired, "{order:?}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Settle"), 0);
    let txs = ledger.transactions_for(&cr);
    assert_eq!(txs[0].status_code, "Expired", "FPS timed it out too");
    stack.shutdown().await;
}

/// Issue 16 (6): FPS's retriable declines at Pay (`.62` InsufficientBalance, `.65`
/// InvalidAccountState_Sender, `.66` AccountLimitsExceeded) keep the order open for the buyer's
/// retry with the same authorisation; nothing is charged, and a retry the emulator declines
/// again changes nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_declines_at_pay_wait_for_the_buyers_retry() {
    let stack = no_extras(PaymentAction::Pay).await;
    for (sku, code) in [
        ("SHORT", "InsufficientBalance"),
        ("FROZEN", "InvalidAccountState_Sender"),
        ("LIMIT", "AccountLimitsExceeded"),
    ] {
        let (cr, back) = stack
            .returned_from_cbui(&e2e_tests::one_of(sku), Persona::Card)
            .await;
        let (status, page) = stack.page(&back).await;
        assert_eq!(status, 200, "{sku}: {page}");
        assert!(
            page.contains("declined the payment for now") && page.contains("Nothing was charged"),
            "{sku}: {page}"
        );
        assert!(page.contains("Pay another way"), "{sku}: {page}");
        let order = stack.order(&cr).await;
        assert_eq!(order.state, OrderState::DeclinedForNow, "{sku}");
        assert_eq!(order.status_code.as_deref(), Some(code));
        // "Try again": the amount still declines, and the order still waits.
        let response = stack.http.post(back.clone()).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 303, "{sku}");
        assert_eq!(
            stack.order(&cr).await.state,
            OrderState::DeclinedForNow,
            "{sku}"
        );
        let ledger = stack.control.ledger().await.unwrap();
        assert_eq!(ledger.requests(&cr, "Pay"), 2, "{sku}");
        assert!(ledger.transactions_for(&cr).is_empty(), "{sku}");
    }
    stack.shutdown().await;
}

/// Issue 16 (6): the buyer's account could not cover the Pay at first; their retry from the
/// page, with the same authorisation, charges once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_decline_for_now_charges_once() {
    let stack = Stack::start(PaymentAction::Pay).await;
    stack
        .control
        .inject_fault("Pay", FaultKind::InsufficientBalance, 1)
        .await
        .unwrap();
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Balance)
        .await;
    let (_, page) = stack.page(&back).await;
    assert!(page.contains("declined the payment for now"), "{page}");
    let response = stack.http.post(back.clone()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let outcome = back.join(&location).unwrap();
    assert_eq!(outcome, back, "back to the very return URL");
    let (_, page) = stack.page(&outcome).await;
    assert!(page.contains("Your payment was successful"), "{page}");
    // A second click on the stale form changes nothing.
    let response = stack.http.post(back.clone()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Paid);
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.faulted(&cr, "Pay"), 1, "the decline");
    assert_eq!(ledger.requests(&cr, "Pay"), 1, "the retry");
    assert_eq!(ledger.transactions_for(&cr).len(), 1, "charged once");
    stack.shutdown().await;
}

/// Issue 16 (7): the buyer goes back to the CBUI link of an order already paid; the CBUI
/// refuses the reused callerReference (`CE`), and the shop's page says the payment stands —
/// never "nothing charged" — and charges nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_the_cbui_link_of_a_paid_order_keeps_the_one_payment() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let started = stack
        .checkout
        .start(&e2e_tests::sample_cart())
        .await
        .unwrap();
    let cr = started.order.caller_reference.clone();
    let back = stack
        .authorize(
            &started.cbui_url,
            Persona::Balance,
            fps_sandbox::Decision::Authorize,
        )
        .await;
    let (_, page) = stack.page(&back).await;
    assert!(page.contains("Your payment was successful"), "{page}");
    let again = stack
        .authorize(
            &started.cbui_url,
            Persona::Balance,
            fps_sandbox::Decision::Authorize,
        )
        .await;
    assert!(
        again.query_pairs().any(|(k, v)| k == "status" && v == "CE"),
        "{again}"
    );
    let (status, page) = stack.page(&again).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("that payment stands"), "{page}");
    assert!(!page.contains("Nothing was charged"), "{page}");
    assert_eq!(stack.order(&cr).await.state, OrderState::Paid);
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Pay"), 1);
    assert_eq!(ledger.transactions_for(&cr).len(), 1);
    stack.shutdown().await;
}
