//! Every error, with raw requests signed by the core crate's SigV2 code.

use std::time::Duration;

use fps_protocol::clock::fps_timestamp;
use fps_protocol::signing::{self, SignatureMethod, API_PARAMS};
use fps_sandbox::{InstallToken, Persona};

use crate::support::*;

async fn installed(
    sandbox: &fps_sandbox::SandboxHandle,
    reference: &str,
    a: &str,
    p: Persona,
) -> String {
    sandbox
        .control()
        .token(reference, amount(a), p)
        .await
        .unwrap()
        .token_id
}

fn pay_params<'a>(token: &'a str, a: &'a str, reference: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("SenderTokenId", token),
        ("TransactionAmount.Value", a),
        ("TransactionAmount.CurrencyCode", "USD"),
        ("CallerReference", reference),
    ]
}

#[tokio::test]
async fn host_is_accepted_with_or_without_port_for_both_verbs() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    for verb in ["GET", "POST"] {
        for host in [raw.host_with_port(), raw.host_without_port()] {
            let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "nobody")]);
            raw.sign(&mut p, verb, &host);
            let answer = raw.send(verb, &p).await;
            // Authenticated: the answer is about the reference, not the signature.
            assert_eq!(answer.status, 400, "{verb} {host}: {}", answer.body);
            assert_eq!(answer.code(), "InvalidCallerReference");
        }
    }
    // Signed for one verb, sent with the other: refused.
    let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "nobody")]);
    raw.sign(&mut p, "GET", &raw.host_with_port());
    let answer = raw.send("POST", &p).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "SignatureDoesNotMatch");
}

#[tokio::test]
async fn bad_signature_is_403_signature_does_not_match() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let token = installed(&sandbox, "order-sig", "5.00", Persona::Card).await;
    let mut p = raw.params("Pay", &pay_params(&token, "5.00", "order-sig"));
    raw.sign(&mut p, "POST", &raw.host_with_port());
    // Tamper with the amount after signing.
    for (k, v) in p.iter_mut() {
        if k == "TransactionAmount.Value" {
            *v = "500.00".to_owned();
        }
    }
    let answer = raw.send("POST", &p).await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(answer.code(), "SignatureDoesNotMatch");
    assert!(answer.body.contains("<RequestID>"));
    // Nothing happened, and nothing was counted.
    let ledger = sandbox.control().ledger().await.unwrap();
    assert!(ledger.transactions.is_empty());
    assert_eq!(ledger.requests("order-sig", "Pay"), 0);

    // Wrong secret, and a missing signature.
    let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "x")]);
    signing::sign_params(
        &mut p,
        API_PARAMS,
        &signing::Credentials::new(fps_sandbox::DEV_ACCESS_KEY_ID, "wrong"),
        SignatureMethod::HmacSha1,
        "POST",
        &raw.host_with_port(),
        "/",
    );
    assert_eq!(raw.send("POST", &p).await.code(), "SignatureDoesNotMatch");
    let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "x")]);
    raw.sign(&mut p, "POST", &raw.host_with_port());
    p.retain(|(k, _)| k != "Signature");
    let answer = raw.send("POST", &p).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
}

#[tokio::test]
async fn unknown_access_key_is_403_invalid_client_token_id() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "x")]);
    signing::sign_params(
        &mut p,
        API_PARAMS,
        &signing::Credentials::new("AKIANOBODY", "secret"),
        SignatureMethod::HmacSha256,
        "POST",
        &raw.host_with_port(),
        "/",
    );
    let answer = raw.send("POST", &p).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "InvalidClientTokenId");
}

#[tokio::test]
async fn stale_or_malformed_timestamp_is_refused() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let now = sandbox.control().now().await.unwrap();
    for (offset, ok) in [
        (-16 * 60, false),
        (16 * 60, false),
        (-14 * 60, true),
        (14 * 60, true),
    ] {
        let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "x")]);
        p.retain(|(k, _)| k != "Timestamp");
        p.push((
            "Timestamp".into(),
            fps_timestamp(now + time::Duration::seconds(offset)),
        ));
        raw.sign(&mut p, "POST", &raw.host_with_port());
        let answer = raw.send("POST", &p).await;
        if ok {
            assert_eq!(answer.code(), "InvalidCallerReference", "{offset}");
        } else {
            assert_eq!(answer.status, 400, "{offset}");
            assert_eq!(answer.code(), "RequestExpired", "{offset}");
            assert!(answer
                .body
                .contains("Request has expired. Timestamp date is"));
        }
    }
    let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "x")]);
    p.retain(|(k, _)| k != "Timestamp");
    p.push(("Timestamp".into(), "2010-02-26 T19:48:05.000Z".into()));
    raw.sign(&mut p, "POST", &raw.host_with_port());
    let answer = raw.send("POST", &p).await;
    assert_eq!(answer.code(), "InvalidParameterValue");
    assert!(answer.body.contains("Must be in ISO8601 format."));
}

/// Issue 16 (7): `Expires` instead of `Timestamp` is accepted only up to the same 15 minutes
/// ahead (decision 6): a signature valid for days is not.
#[tokio::test]
async fn expires_must_be_ahead_but_not_far_ahead() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let now = sandbox.control().now().await.unwrap();
    for (offset, code) in [
        (-60, "RequestExpired"),
        (14 * 60, "InvalidCallerReference"),
        (16 * 60, "InvalidParameterValue"),
        (7 * 86_400, "InvalidParameterValue"),
    ] {
        let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "x")]);
        p.retain(|(k, _)| k != "Timestamp");
        p.push((
            "Expires".into(),
            fps_timestamp(now + time::Duration::seconds(offset)),
        ));
        raw.sign(&mut p, "POST", &raw.host_with_port());
        let answer = raw.send("POST", &p).await;
        assert_eq!(answer.code(), code, "{offset}: {}", answer.body);
    }
}

#[tokio::test]
async fn version_and_action_are_checked() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "x")]);
    for (k, v) in p.iter_mut() {
        if k == "Version" {
            *v = "2011-09-20".into();
        }
    }
    raw.sign(&mut p, "POST", &raw.host_with_port());
    assert_eq!(raw.send("POST", &p).await.code(), "InvalidParameterValue");

    // The 2008 version is answered, in its own namespace.
    let mut p = raw.params("GetTokenByCaller", &[("CallerReference", "x")]);
    for (k, v) in p.iter_mut() {
        if k == "Version" {
            *v = "2008-09-17".into();
        }
    }
    raw.sign(&mut p, "POST", &raw.host_with_port());
    assert_eq!(raw.send("POST", &p).await.code(), "InvalidCallerReference");

    let answer = raw.call("Fly", &[]).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "InvalidAction")
    );

    // Repeated parameters are ambiguous.
    let answer = raw.send_encoded("POST", "Action=Pay&Action=Reserve").await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (400, "InvalidParams")
    );
}

#[tokio::test]
async fn unknown_transaction() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let answer = raw
        .call(
            "GetTransactionStatus",
            &[("TransactionId", "14GK6BGKA7U6OU6SUTNLBI5SBBV9PGDJ6UL")],
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "InvalidTransactionId");
    let answer = raw
        .call("GetTransactionStatus", &[("TransactionId", "FAKE-1")])
        .await;
    assert_eq!(answer.code(), "InvalidParams");
    assert!(answer
        .body
        .contains("TransactionId has to be a valid transaction ID. Specified value: FAKE-1"));
    let answer = raw.call("GetTransactionStatus", &[]).await;
    assert_eq!(answer.code(), "InvalidParams");
}

#[tokio::test]
async fn reusing_a_token_is_refused() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let token = installed(&sandbox, "order-1", "5.00", Persona::Balance).await;
    let first = raw
        .call("Pay", &pay_params(&token, "5.00", "order-1"))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = raw
        .call("Pay", &pay_params(&token, "5.00", "order-2"))
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.code(), "TokenUsageError");
    let unknown = raw
        .call("Pay", &pay_params("NOSUCHTOKEN", "5.00", "order-3"))
        .await;
    assert_eq!(unknown.code(), "InvalidTokenId_Sender");
    // Pay must use the amount the buyer authorised.
    let t = installed(&sandbox, "order-4", "5.00", Persona::Card).await;
    let wrong = raw.call("Pay", &pay_params(&t, "6.00", "order-4")).await;
    assert_eq!(wrong.code(), "IncompatibleTokens");
}

async fn reserved(
    sandbox: &fps_sandbox::SandboxHandle,
    raw: &Raw,
    reference: &str,
    a: &str,
) -> String {
    let token = installed(sandbox, reference, a, Persona::Card).await;
    let answer = raw.call("Reserve", &pay_params(&token, a, reference)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let id = answer.element("TransactionId").unwrap();
    sandbox
        .control()
        .wait_for_status(
            &id,
            fps_protocol::TransactionStatus::Reserved,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn settle_twice_is_refused() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let id = reserved(&sandbox, &raw, "order-settle", "30.00").await;
    let first = raw.call("Settle", &[("ReserveTransactionId", &id)]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.element("TransactionId").as_deref(), Some(id.as_str()));
    let second = raw.call("Settle", &[("ReserveTransactionId", &id)]).await;
    assert_eq!(second.status, 400);
    assert_eq!(second.code(), "InvalidTransactionState");
    assert!(second.body.contains("already been settled"));
    // Both reached FPS, under the reserve's CallerReference.
    let ledger = sandbox.control().ledger().await.unwrap();
    assert_eq!(ledger.requests("order-settle", "Settle"), 2);
}

#[tokio::test]
async fn settle_more_than_reserved_is_refused() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let id = reserved(&sandbox, &raw, "order-over", "30.00").await;
    let answer = raw
        .call(
            "Settle",
            &[
                ("ReserveTransactionId", &id),
                ("TransactionAmount.Value", "30.01"),
                ("TransactionAmount.CurrencyCode", "USD"),
            ],
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "SettleAmountGreaterThanReserveAmount");
    // Still settleable for the full amount.
    let ok = raw.call("Settle", &[("ReserveTransactionId", &id)]).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn settle_before_reserved_and_on_a_payment_is_refused() {
    let sandbox = start_with(
        fps_sandbox::SandboxConfig::for_tests().with_pending_delay(Duration::from_secs(60)),
    )
    .await;
    let raw = Raw::new(&sandbox);
    let token = installed(&sandbox, "order-early", "30.00", Persona::Card).await;
    let answer = raw
        .call("Reserve", &pay_params(&token, "30.00", "order-early"))
        .await;
    let id = answer.element("TransactionId").unwrap();
    let early = raw.call("Settle", &[("ReserveTransactionId", &id)]).await;
    assert_eq!(early.code(), "InvalidTransactionState");
    let t = installed(&sandbox, "order-paid", "3.00", Persona::Balance).await;
    let paid = raw.call("Pay", &pay_params(&t, "3.00", "order-paid")).await;
    let pid = paid.element("TransactionId").unwrap();
    let on_pay = raw.call("Settle", &[("ReserveTransactionId", &pid)]).await;
    assert_eq!(on_pay.code(), "InvalidTransactionId");
}

#[tokio::test]
async fn reserve_on_a_bank_token_is_payment_instrument_not_cc() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    for persona in [Persona::Bank, Persona::Balance] {
        let reference = format!("order-{persona}");
        let token = installed(&sandbox, &reference, "12.00", persona).await;
        let answer = raw
            .call("Reserve", &pay_params(&token, "12.00", &reference))
            .await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.code(), "PaymentInstrumentNotCC", "{persona}");
    }
}

#[tokio::test]
async fn duplicate_request_for_a_different_request_on_the_same_reference() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let token = installed(&sandbox, "order-dup", "5.00", Persona::Card).await;
    let first = raw
        .call("Pay", &pay_params(&token, "5.00", "order-dup"))
        .await;
    assert_eq!(first.status, 200);
    let id = first.element("TransactionId").unwrap();
    // Same request: same transaction (decision 2).
    let same = raw
        .call("Pay", &pay_params(&token, "5.00", "order-dup"))
        .await;
    assert_eq!(same.element("TransactionId"), Some(id.clone()));
    // Different amount, token or action: DuplicateRequest.
    let other = installed(&sandbox, "order-dup-2", "5.00", Persona::Card).await;
    for (action, t, a) in [
        ("Pay", token.as_str(), "4.00"),
        ("Pay", other.as_str(), "5.00"),
        ("Reserve", token.as_str(), "5.00"),
    ] {
        let answer = raw.call(action, &pay_params(t, a, "order-dup")).await;
        assert_eq!(answer.status, 400, "{action} {a}");
        assert_eq!(answer.code(), "DuplicateRequest");
    }
    // After the 7-day window the reference is free again (the token is spent by then).
    sandbox
        .control()
        .advance_clock(Duration::from_secs(7 * 24 * 3600))
        .await
        .unwrap();
    let fresh = raw
        .call("Pay", &pay_params(&other, "5.00", "order-dup"))
        .await;
    assert_eq!(fresh.code(), "TokenNotActive_Sender");
}

#[tokio::test]
async fn invalid_amounts_and_parameters() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let token = installed(&sandbox, "order-amt", "5.00", Persona::Card).await;
    for (a, code) in [
        ("0.00", "AmountOutOfRange"),
        ("1.234", "InvalidParams"),
        ("abc", "InvalidParams"),
        ("10000.01", "AmountOutOfRange"),
    ] {
        let answer = raw.call("Pay", &pay_params(&token, a, "order-amt")).await;
        assert_eq!(answer.code(), code, "{a}");
    }
    let answer = raw
        .call(
            "Pay",
            &[
                ("SenderTokenId", token.as_str()),
                ("TransactionAmount.Value", "5.00"),
                ("TransactionAmount.CurrencyCode", "EUR"),
                ("CallerReference", "order-amt"),
            ],
        )
        .await;
    assert_eq!(answer.code(), "InvalidParams");
    let long = "x".repeat(129);
    let answer = raw.call("Pay", &pay_params(&token, "5.00", &long)).await;
    assert_eq!(answer.code(), "InvalidParams");
}

#[tokio::test]
async fn tokens_of_another_caller_are_not_usable() {
    let other = fps_protocol::signing::Credentials::new("AKIAOTHERCALLER", "other-secret");
    let sandbox =
        start_with(fps_sandbox::SandboxConfig::for_tests().with_caller(other.clone())).await;
    let token = sandbox
        .control()
        .install_token(&InstallToken {
            token_id: None,
            caller_reference: "order-x".into(),
            amount: amount("5.00"),
            persona: Persona::Card,
            caller_key: Some("AKIAOTHERCALLER".into()),
            payment_reason: None,
            reserve: false,
        })
        .await
        .unwrap();
    let raw = Raw::new(&sandbox);
    let answer = raw
        .call("Pay", &pay_params(&token.token_id, "5.00", "order-x"))
        .await;
    assert_eq!(answer.code(), "InvalidTokenId_Sender");
}

/// Issue 16 (3): a name outside the action's interface is refused as FPS refused it, and
/// nothing is processed (the token stays unused).
#[tokio::test]
async fn a_misspelt_parameter_is_an_invalid_request_and_changes_nothing() {
    let sandbox = start().await;
    let raw = Raw::new(&sandbox);
    let token = installed(&sandbox, "order-strict", "5.00", Persona::Card).await;
    let mut params = pay_params(&token, "5.00", "order-strict");
    params.push(("CallerRefrence", "order-strict"));
    let answer = raw.call("Pay", &params).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.code(), "InvalidRequest");
    assert!(answer.body.contains("CallerRefrence"), "{}", answer.body);
    let ledger = sandbox.control().ledger().await.unwrap();
    assert!(ledger.transactions.is_empty());
    assert!(ledger.token(&token).unwrap().used_by.is_none());
    // The same request without the stray name goes through.
    let answer = raw
        .call("Pay", &pay_params(&token, "5.00", "order-strict"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}
