//! Every lifecycle, through fps_protocol's FpsClient.

use std::time::Duration;

use fps_protocol::api::{
    Cancel, CancelToken, GetTokenByCaller, GetTransactionStatus, Pay, Refund, Reserve, Settle,
};
use fps_protocol::client::{CallError, FpsClient, HttpVerb};
use fps_protocol::error::ErrorCode;
use fps_protocol::xml::{TokenStatus, TransactionStatus};
use fps_sandbox::{Persona, SandboxConfig};

use crate::support::*;

fn pay(token: &str, amount_text: &str, reference: &str) -> Pay {
    Pay {
        sender_token_id: token.to_owned(),
        amount: amount(amount_text),
        caller_reference: reference.to_owned(),
        caller_description: Some("Order 1001".to_owned()),
        sender_description: None,
        override_ipn_url: None,
    }
}

fn reserve(token: &str, amount_text: &str, reference: &str) -> Reserve {
    Reserve {
        sender_token_id: token.to_owned(),
        amount: amount(amount_text),
        caller_reference: reference.to_owned(),
        caller_description: None,
        sender_description: None,
        override_ipn_url: None,
    }
}

async fn status(fps: &FpsClient, id: &str) -> (TransactionStatus, Option<String>) {
    let r = fps
        .call(&GetTransactionStatus {
            transaction_id: id.to_owned(),
        })
        .await
        .unwrap();
    (r.result.transaction_status, r.result.status_code)
}

/// Polls GetTransactionStatus (the sandbox's pending delay is 100 ms in these tests).
async fn wait_status(fps: &FpsClient, id: &str, want: TransactionStatus) {
    for _ in 0..200 {
        if status(fps, id).await.0 == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} never became {want:?}");
}

fn rejected(e: CallError) -> ErrorCode {
    match e {
        CallError::Rejected(e) => e.code,
        other => panic!("expected an FPS error, got {other:?}"),
    }
}

#[tokio::test]
async fn card_pay_is_pending_then_success() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let token = token(&sandbox, "order-card", "25.50", Persona::Card).await;
    let answer = fps.call(&pay(&token, "25.50", "order-card")).await.unwrap();
    assert_eq!(answer.result.transaction_status, TransactionStatus::Pending);
    let id = answer.result.transaction_id;
    assert_eq!(id.len(), 35);
    assert!(id.starts_with('1'));
    assert!(answer.metadata.request_id.ends_with(":0"));
    wait_status(&fps, &id, TransactionStatus::Success).await;
    let (_, code) = status(&fps, &id).await;
    assert_eq!(code.as_deref(), Some("Success"));

    let ledger = sandbox.control().ledger().await.unwrap();
    let tx = &ledger.transactions[&id];
    assert_eq!(
        tx.statuses(),
        [TransactionStatus::Pending, TransactionStatus::Success]
    );
    assert_eq!(tx.payment_method, fps_sandbox::Instrument::Cc);
    assert_eq!(ledger.requests("order-card", "Pay"), 1);
    assert_eq!(ledger.transactions_for("order-card").len(), 1);
}

#[tokio::test]
async fn bank_pay_over_get_is_pending_then_success() {
    let sandbox = start().await;
    let mut config = sandbox.client_config();
    config.verb = HttpVerb::Get;
    let fps = sandbox.fps_client_with(config).unwrap();
    let token = token(&sandbox, "order-bank", "10.00", Persona::Bank).await;
    let answer = fps.call(&pay(&token, "10.00", "order-bank")).await.unwrap();
    assert_eq!(answer.result.transaction_status, TransactionStatus::Pending);
    wait_status(
        &fps,
        &answer.result.transaction_id,
        TransactionStatus::Success,
    )
    .await;
}

#[tokio::test]
async fn balance_pay_succeeds_at_once() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let token = token(&sandbox, "order-abt", "3.00", Persona::Balance).await;
    let answer = fps.call(&pay(&token, "3.00", "order-abt")).await.unwrap();
    assert_eq!(answer.result.transaction_status, TransactionStatus::Success);
}

#[tokio::test]
async fn pending_resolves_exactly_at_the_delay_on_the_emulator_clock() {
    let config = SandboxConfig::for_tests().with_pending_delay(Duration::from_secs(3600));
    let sandbox = start_with(config).await;
    let fps = client(&sandbox);
    let token = token(&sandbox, "order-slow", "12.00", Persona::Card).await;
    let id = fps
        .call(&pay(&token, "12.00", "order-slow"))
        .await
        .unwrap()
        .result
        .transaction_id;
    let control = sandbox.control();
    // The emulator clock also runs in real time: stop 30 s short, so a slow machine cannot
    // cross the line between the two calls.
    control
        .advance_clock(Duration::from_secs(3570))
        .await
        .unwrap();
    assert_eq!(status(&fps, &id).await.0, TransactionStatus::Pending);
    control
        .advance_clock(Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(status(&fps, &id).await.0, TransactionStatus::Success);
}

#[tokio::test]
async fn reserve_then_settle_keeps_the_transaction_id() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let token = reserve_token(&sandbox, "order-reserve", "40.00").await;
    let reserved = fps
        .call(&reserve(&token, "40.00", "order-reserve"))
        .await
        .unwrap();
    assert_eq!(
        reserved.result.transaction_status,
        TransactionStatus::Pending
    );
    let id = reserved.result.transaction_id;
    wait_status(&fps, &id, TransactionStatus::Reserved).await;

    let settled = fps
        .call(&Settle {
            reserve_transaction_id: id.clone(),
            amount: Some(amount("35.00")),
            override_ipn_url: None,
        })
        .await
        .unwrap();
    assert_eq!(settled.result.transaction_id, id, "decision 1");
    assert_eq!(
        settled.result.transaction_status,
        TransactionStatus::Pending
    );
    wait_status(&fps, &id, TransactionStatus::Success).await;

    let ledger = sandbox.control().ledger().await.unwrap();
    let tx = &ledger.transactions[&id];
    assert_eq!(
        tx.statuses(),
        [
            TransactionStatus::Pending,
            TransactionStatus::Reserved,
            TransactionStatus::Pending,
            TransactionStatus::Success
        ]
    );
    assert_eq!(tx.settle_amount, Some(amount("35.00")));
    assert_eq!(ledger.requests("order-reserve", "Reserve"), 1);
    assert_eq!(ledger.requests("order-reserve", "Settle"), 1);
}

#[tokio::test]
async fn refunds_are_new_transactions_up_to_the_amount_paid() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let token = token(&sandbox, "order-refund", "10.00", Persona::Balance).await;
    let paid = fps
        .call(&pay(&token, "10.00", "order-refund"))
        .await
        .unwrap()
        .result
        .transaction_id;
    let refund = |reference: &str, a: Option<&str>| Refund {
        transaction_id: paid.clone(),
        caller_reference: reference.to_owned(),
        amount: a.map(amount),
        caller_description: None,
        override_ipn_url: None,
    };
    let first = fps.call(&refund("refund-1", Some("4.00"))).await.unwrap();
    assert_ne!(first.result.transaction_id, paid);
    assert_eq!(first.result.transaction_status, TransactionStatus::Pending);
    wait_status(
        &fps,
        &first.result.transaction_id,
        TransactionStatus::Success,
    )
    .await;

    let too_much = fps
        .call(&refund("refund-2", Some("6.01")))
        .await
        .unwrap_err();
    assert_eq!(rejected(too_much), ErrorCode::RefundAmountExceeded);
    let rest = fps.call(&refund("refund-3", None)).await.unwrap();
    let ledger = sandbox.control().ledger().await.unwrap();
    assert_eq!(
        ledger.transactions[&rest.result.transaction_id].amount,
        amount("6.00")
    );
    let again = fps.call(&refund("refund-4", None)).await.unwrap_err();
    assert_eq!(rejected(again), ErrorCode::TransactionFullyRefundedAlready);
}

#[tokio::test]
async fn cancel_reserved_and_pending_but_not_completed() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let reserve_tok = reserve_token(&sandbox, "order-cancel", "20.00").await;
    let id = fps
        .call(&reserve(&reserve_tok, "20.00", "order-cancel"))
        .await
        .unwrap()
        .result
        .transaction_id;
    wait_status(&fps, &id, TransactionStatus::Reserved).await;
    let cancelled = fps
        .call(&Cancel {
            transaction_id: id.clone(),
            description: Some("out of stock".to_owned()),
            override_ipn_url: None,
        })
        .await
        .unwrap();
    assert_eq!(cancelled.result.transaction_id, id);
    assert_eq!(
        cancelled.result.transaction_status,
        TransactionStatus::Cancelled
    );
    let settle = fps
        .call(&Settle {
            reserve_transaction_id: id.clone(),
            amount: None,
            override_ipn_url: None,
        })
        .await
        .unwrap_err();
    assert_eq!(rejected(settle), ErrorCode::InvalidTransactionState);

    // A Pending card payment can be cancelled; a completed one cannot.
    let slow =
        start_with(SandboxConfig::for_tests().with_pending_delay(Duration::from_secs(60))).await;
    let slow_fps = client(&slow);
    let t = token(&slow, "order-cancel-pending", "5.00", Persona::Card).await;
    let pending = slow_fps
        .call(&pay(&t, "5.00", "order-cancel-pending"))
        .await
        .unwrap()
        .result
        .transaction_id;
    let c = slow_fps
        .call(&Cancel {
            transaction_id: pending.clone(),
            description: None,
            override_ipn_url: None,
        })
        .await
        .unwrap();
    assert_eq!(c.result.transaction_status, TransactionStatus::Cancelled);
    let b = token(&slow, "order-done", "5.00", Persona::Balance).await;
    let done = slow_fps
        .call(&pay(&b, "5.00", "order-done"))
        .await
        .unwrap()
        .result
        .transaction_id;
    let refused = slow_fps
        .call(&Cancel {
            transaction_id: done,
            description: None,
            override_ipn_url: None,
        })
        .await
        .unwrap_err();
    assert_eq!(rejected(refused), ErrorCode::InvalidTransactionState);
}

#[tokio::test]
async fn reserves_expire_after_seven_days_on_the_emulator_clock() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let token = reserve_token(&sandbox, "order-expire", "15.00").await;
    let id = fps
        .call(&reserve(&token, "15.00", "order-expire"))
        .await
        .unwrap()
        .result
        .transaction_id;
    wait_status(&fps, &id, TransactionStatus::Reserved).await;
    let control = sandbox.control();
    control
        .advance_clock(Duration::from_secs(7 * 24 * 3600 - 60))
        .await
        .unwrap();
    assert_eq!(status(&fps, &id).await.0, TransactionStatus::Reserved);
    control
        .advance_clock(Duration::from_secs(61))
        .await
        .unwrap();
    // The client stamps requests with the emulator clock, so it is not RequestExpired.
    let (now, code) = status(&fps, &id).await;
    assert_eq!(now, TransactionStatus::Cancelled);
    assert_eq!(code.as_deref(), Some("Expired"));
    let settle = fps
        .call(&Settle {
            reserve_transaction_id: id,
            amount: None,
            override_ipn_url: None,
        })
        .await
        .unwrap_err();
    assert_eq!(rejected(settle), ErrorCode::InvalidTransactionState);
}

#[tokio::test]
async fn idempotent_replay_returns_the_same_transaction_and_counts_both() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let token = token(&sandbox, "order-replay", "8.00", Persona::Card).await;
    let first = fps
        .call(&pay(&token, "8.00", "order-replay"))
        .await
        .unwrap();
    wait_status(
        &fps,
        &first.result.transaction_id,
        TransactionStatus::Success,
    )
    .await;
    let again = fps
        .call(&pay(&token, "8.00", "order-replay"))
        .await
        .unwrap();
    assert_eq!(again.result.transaction_id, first.result.transaction_id);
    assert_eq!(
        again.result.transaction_status,
        TransactionStatus::Success,
        "the current status, not the original"
    );
    let ledger = sandbox.control().ledger().await.unwrap();
    assert_eq!(ledger.requests("order-replay", "Pay"), 2);
    assert_eq!(ledger.transactions_for("order-replay").len(), 1);
}

#[tokio::test]
async fn tokens_can_be_recovered_and_cancelled() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let token = token(&sandbox, "order-token", "9.00", Persona::Card).await;
    let found = fps
        .call(&GetTokenByCaller::CallerReference("order-token".to_owned()))
        .await
        .unwrap();
    assert_eq!(found.result.token.token_id, token);
    assert_eq!(found.result.token.token_status, TokenStatus::Active);
    assert_eq!(found.result.token.token_type.as_deref(), Some("SingleUse"));
    let unknown = fps
        .call(&GetTokenByCaller::CallerReference("nobody".to_owned()))
        .await
        .unwrap_err();
    assert_eq!(rejected(unknown), ErrorCode::InvalidCallerReference);

    fps.call(&CancelToken {
        token_id: token.clone(),
        reason_text: Some("buyer changed their mind".to_owned()),
    })
    .await
    .unwrap();
    let by_id = fps
        .call(&GetTokenByCaller::TokenId(token.clone()))
        .await
        .unwrap();
    assert_eq!(by_id.result.token.token_status, TokenStatus::Inactive);
    let refused = fps
        .call(&pay(&token, "9.00", "order-token"))
        .await
        .unwrap_err();
    assert_eq!(rejected(refused), ErrorCode::TokenNotActiveSender);
}

#[tokio::test]
async fn tokens_expire_after_three_hours() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let token = token(&sandbox, "order-late", "9.00", Persona::Card).await;
    sandbox
        .control()
        .advance_clock(Duration::from_secs(3 * 3600))
        .await
        .unwrap();
    let refused = fps
        .call(&pay(&token, "9.00", "order-late"))
        .await
        .unwrap_err();
    assert_eq!(rejected(refused), ErrorCode::TokenNotActiveSender);
}

#[tokio::test]
async fn decline_amounts_follow_the_table() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let control = sandbox.control();
    for (cents, code) in [
        ("7.61", ErrorCode::TransactionDenied),
        ("7.62", ErrorCode::InsufficientBalance),
        ("7.65", ErrorCode::InvalidAccountStateSender),
        ("7.66", ErrorCode::AccountLimitsExceeded),
    ] {
        let reference = format!("order-decline-{cents}");
        let t = token(&sandbox, &reference, cents, Persona::Card).await;
        let e = fps.call(&pay(&t, cents, &reference)).await.unwrap_err();
        assert_eq!(rejected(e), code, "{cents}");
        // Nothing was recorded: the token is still usable.
        assert!(control
            .ledger()
            .await
            .unwrap()
            .transactions_for(&reference)
            .is_empty());
    }
    let t = token(&sandbox, "order-63", "7.63", Persona::Card).await;
    let failing = fps.call(&pay(&t, "7.63", "order-63")).await.unwrap();
    assert_eq!(
        failing.result.transaction_status,
        TransactionStatus::Pending
    );
    wait_status(
        &fps,
        &failing.result.transaction_id,
        TransactionStatus::Failure,
    )
    .await;

    let t = token(&sandbox, "order-64", "7.64", Persona::Card).await;
    let stuck = fps.call(&pay(&t, "7.64", "order-64")).await.unwrap();
    control
        .advance_clock(Duration::from_secs(24 * 3600))
        .await
        .unwrap();
    let (s, code) = status(&fps, &stuck.result.transaction_id).await;
    assert_eq!(s, TransactionStatus::Pending);
    assert_eq!(code.as_deref(), Some("PendingVerification"));
}
