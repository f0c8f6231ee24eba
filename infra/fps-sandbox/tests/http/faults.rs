//! Injected faults: 503, 500, latency, and commit-then-drop.

use std::time::{Duration, Instant};

use fps_protocol::api::{GetTransactionStatus, Pay};
use fps_protocol::client::CallError;
use fps_protocol::error::ErrorCode;
use fps_sandbox::{FaultKind, FaultSpec, Persona};

use crate::support::*;

fn pay(token: &str, reference: &str) -> Pay {
    Pay {
        sender_token_id: token.to_owned(),
        amount: amount("5.00"),
        caller_reference: reference.to_owned(),
        caller_description: None,
        sender_description: None,
        override_ipn_url: None,
    }
}

async fn card_token(sandbox: &fps_sandbox::SandboxHandle, reference: &str) -> String {
    sandbox
        .control()
        .token(reference, amount("5.00"), Persona::Card)
        .await
        .unwrap()
        .token_id
}

#[tokio::test]
async fn service_unavailable_is_503_and_the_client_retries() {
    let sandbox = start().await;
    let control = sandbox.control();
    let token = card_token(&sandbox, "order-503").await;
    control
        .inject_fault("Pay", FaultKind::ServiceUnavailable, 1)
        .await
        .unwrap();
    // Raw: the 503 body, nothing processed.
    let raw = Raw::new(&sandbox);
    let p = [
        ("SenderTokenId", token.as_str()),
        ("TransactionAmount.Value", "5.00"),
        ("TransactionAmount.CurrencyCode", "USD"),
        ("CallerReference", "order-503"),
    ];
    let answer = raw.call("Pay", &p).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.code(), "ServiceUnavailable");
    let ledger = control.ledger().await.unwrap();
    assert!(ledger.transactions.is_empty());
    assert_eq!(ledger.faulted("order-503", "Pay"), 1);
    assert_eq!(ledger.requests("order-503", "Pay"), 0);
    assert!(control.faults().await.unwrap().is_empty());

    // The real client retries through two 503s and succeeds on the third attempt.
    control
        .inject_fault("Pay", FaultKind::ServiceUnavailable, 2)
        .await
        .unwrap();
    let fps = client(&sandbox);
    let answer = fps.call(&pay(&token, "order-503")).await.unwrap();
    assert_eq!(answer.result.transaction_id.len(), 35);
    let ledger = control.ledger().await.unwrap();
    assert_eq!(ledger.faulted("order-503", "Pay"), 3);
    assert_eq!(
        ledger.requests("order-503", "Pay"),
        1,
        "exactly one Pay reached FPS"
    );
    assert_eq!(ledger.transactions_for("order-503").len(), 1);
}

#[tokio::test]
async fn internal_error_is_500() {
    let sandbox = start().await;
    let control = sandbox.control();
    control
        .inject_fault("GetTransactionStatus", FaultKind::InternalError, 1)
        .await
        .unwrap();
    let raw = Raw::new(&sandbox);
    let answer = raw
        .call(
            "GetTransactionStatus",
            &[("TransactionId", "14GK6BGKA7U6OU6SUTNLBI5SBBV9PGDJ6UL")],
        )
        .await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.code(), "InternalError");
    // Used up: the next one is answered normally.
    let answer = raw
        .call(
            "GetTransactionStatus",
            &[("TransactionId", "14GK6BGKA7U6OU6SUTNLBI5SBBV9PGDJ6UL")],
        )
        .await;
    assert_eq!(answer.code(), "InvalidTransactionId");

    // With retries exhausted the client reports the 500 (transient: may have committed).
    control
        .inject_fault("*", FaultKind::InternalError, 10)
        .await
        .unwrap();
    let mut config = sandbox.client_config();
    config.retry.max_attempts = 2;
    let fps = sandbox.fps_client_with(config).unwrap();
    let e = fps
        .call(&GetTransactionStatus {
            transaction_id: "14GK6BGKA7U6OU6SUTNLBI5SBBV9PGDJ6UL".into(),
        })
        .await
        .unwrap_err();
    match e {
        CallError::Rejected(e) => {
            assert_eq!(e.code, ErrorCode::InternalError);
            assert_eq!(e.http_status, 500);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        control.faults().await.unwrap(),
        vec![FaultSpec::new("*", FaultKind::InternalError, 8)]
    );
    control.clear_faults().await.unwrap();
    assert!(control.faults().await.unwrap().is_empty());
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let sandbox = start().await;
    let control = sandbox.control();
    control
        .inject_fault("GetTokenByCaller", FaultKind::Latency { ms: 300 }, 1)
        .await
        .unwrap();
    let raw = Raw::new(&sandbox);
    let started = Instant::now();
    let answer = raw
        .call("GetTokenByCaller", &[("CallerReference", "nobody")])
        .await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(answer.code(), "InvalidCallerReference");
    // Used up.
    assert!(control.faults().await.unwrap().is_empty());

    // A client whose attempt timeout is shorter than the latency cannot know the outcome.
    let token = card_token(&sandbox, "order-slow").await;
    control
        .inject_fault("Pay", FaultKind::Latency { ms: 500 }, 1)
        .await
        .unwrap();
    let mut config = sandbox.client_config();
    config.attempt_timeout = Duration::from_millis(100);
    let fps = sandbox.fps_client_with(config).unwrap();
    let e = fps.call(&pay(&token, "order-slow")).await.unwrap_err();
    assert!(matches!(e, CallError::OutcomeUnknown { .. }), "{e:?}");
}

#[tokio::test]
async fn commit_then_drop_leaves_the_outcome_unknown_but_recorded() {
    let sandbox = start().await;
    let control = sandbox.control();
    let fps = client(&sandbox);
    let token = card_token(&sandbox, "order-drop").await;
    control
        .inject_fault("Pay", FaultKind::DropAfterCommit, 1)
        .await
        .unwrap();
    let e = fps.call(&pay(&token, "order-drop")).await.unwrap_err();
    assert!(matches!(e, CallError::OutcomeUnknown { .. }), "{e:?}");
    assert!(e.may_have_committed());

    let ledger = control.ledger().await.unwrap();
    let created = ledger.transactions_for("order-drop");
    assert_eq!(created.len(), 1, "the transaction was recorded");
    let id = created[0].transaction_id.clone();
    assert_eq!(ledger.requests("order-drop", "Pay"), 1);

    // Resending the same request (same CallerReference) finds it: decision 2.
    let again = fps.call(&pay(&token, "order-drop")).await.unwrap();
    assert_eq!(again.result.transaction_id, id);
    let ledger = control.ledger().await.unwrap();
    assert_eq!(ledger.requests("order-drop", "Pay"), 2);
    assert_eq!(ledger.transactions_for("order-drop").len(), 1);
}

#[tokio::test]
async fn bad_fault_specs_are_refused() {
    let sandbox = start().await;
    let control = sandbox.control();
    let e = control
        .inject_fault("Fly", FaultKind::InternalError, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(e, fps_sandbox::ControlError::Status { status: 400, .. }),
        "{e:?}"
    );
    let http = reqwest::Client::new();
    let r = http
        .post(sandbox.base_url().join("_sandbox/faults").unwrap())
        .body(r#"{"action":"Pay","kind":"meteor"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

/// A 503 after FPS processed the Pay: the client resends the same request, and the replay of
/// the CallerReference answers with the one transaction (decision 2).
#[tokio::test]
async fn a_503_after_commit_is_resent_and_replayed() {
    let sandbox = start().await;
    let control = sandbox.control();
    let token = card_token(&sandbox, "order-c503").await;
    control
        .inject_fault("Pay", FaultKind::UnavailableAfterCommit, 1)
        .await
        .unwrap();
    let fps = client(&sandbox);
    let answer = fps
        .call(&pay(&token, "order-c503"))
        .await
        .expect("replayed");
    let ledger = control.ledger().await.unwrap();
    let transactions = ledger.transactions_for("order-c503");
    assert_eq!(transactions.len(), 1, "processed once");
    assert_eq!(answer.result.transaction_id, transactions[0].transaction_id);
    assert_eq!(ledger.requests("order-c503", "Pay"), 2, "sent twice");
}

/// Issue 12 (9): when the resend is refused instead (the token is used), the refusal is not
/// trusted: the first attempt may have gone through.
#[tokio::test]
async fn a_refusal_after_a_committed_503_is_an_unknown_outcome() {
    let sandbox = start().await;
    let control = sandbox.control();
    let token = card_token(&sandbox, "order-c503r").await;
    control
        .inject_fault("Pay", FaultKind::UnavailableAfterCommit, 1)
        .await
        .unwrap();
    control
        .inject_fault("Pay", FaultKind::TokenUsageError, 1)
        .await
        .unwrap();
    let fps = client(&sandbox);
    let e = fps.call(&pay(&token, "order-c503r")).await.unwrap_err();
    assert!(matches!(e, CallError::OutcomeUnknown { .. }), "{e:?}");
    assert!(e.may_have_committed());
    // Without the earlier 503, the same refusal is final.
    control
        .inject_fault("Pay", FaultKind::TokenUsageError, 1)
        .await
        .unwrap();
    let e = fps.call(&pay(&token, "order-other")).await.unwrap_err();
    match e {
        CallError::Rejected(error) => assert_eq!(error.code, ErrorCode::TokenUsageError),
        other => panic!("{other:?}"),
    }
}
