//! Requests signed outside Rust (tests/fixtures/sign_requests.py) are accepted and answered.

use std::time::Duration;

use fps_protocol::cbui::parse_query;
use fps_protocol::signing;
use fps_protocol::xml::{
    parse_response, GetTokenByCallerResponse, PayResponse, TokenStatus, TransactionStatus,
};
use fps_sandbox::{parse_timestamp, InstallToken, Persona};
use serde_json::Value;

use crate::support::*;

const FIXTURE: &str = include_str!("../fixtures/signed_requests.json");

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap()
}

#[tokio::test]
async fn python_signed_requests_are_accepted_and_answered() {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let requests = fixture["requests"].as_array().unwrap();
    let by_name = |name: &str| requests.iter().find(|r| r["name"] == name).unwrap().clone();

    // The shared Rust signer computes the same string to sign from the decoded wire form.
    for r in requests {
        let params = parse_query(text(r, "wire")).unwrap();
        let canonical = signing::canonical_query(
            params
                .iter()
                .filter(|(k, _)| k != "Signature")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let sts = signing::string_to_sign(
            text(r, "verb"),
            text(r, "signed_host"),
            text(r, "path"),
            &canonical,
        );
        assert_eq!(sts, text(r, "string_to_sign"), "{}", text(r, "name"));
    }

    let sandbox = start().await;
    let control = sandbox.control();
    control
        .set_clock(parse_timestamp(text(&fixture, "timestamp")).unwrap())
        .await
        .unwrap();
    control
        .install_token(&InstallToken {
            token_id: Some(text(&fixture, "token_id").to_owned()),
            caller_reference: text(&fixture, "caller_reference").to_owned(),
            amount: amount(text(&fixture, "amount")),
            persona: Persona::Card,
            caller_key: None,
            payment_reason: None,
            reserve: false,
        })
        .await
        .unwrap();
    let raw = Raw::new(&sandbox);

    let lookup = by_name("get_token_by_caller_post_sha1");
    let answer = raw.send_encoded("POST", text(&lookup, "wire")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let token = parse_response::<GetTokenByCallerResponse>(answer.status, &answer.body).unwrap();
    assert_eq!(token.result.token.token_id, text(&fixture, "token_id"));
    assert_eq!(token.result.token.token_status, TokenStatus::Active);

    let pay = by_name("pay_get_sha256");
    let answer = raw.send_encoded("GET", text(&pay, "wire")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let paid = parse_response::<PayResponse>(answer.status, &answer.body).unwrap();
    assert_eq!(paid.result.transaction_status, TransactionStatus::Pending);
    let ledger = control.ledger().await.unwrap();
    let tx = &ledger.transactions[&paid.result.transaction_id];
    assert_eq!(tx.caller_reference, text(&fixture, "caller_reference"));
    assert_eq!(
        tx.caller_description.as_deref(),
        Some(text(&fixture, "caller_description"))
    );
    assert_eq!(tx.amount, amount(text(&fixture, "amount")));

    // A tampered copy is refused; so is the genuine one once its Timestamp is stale.
    let tampered = text(&lookup, "wire").replace("fixture-order-1001", "fixture-order-1002");
    let answer = raw.send_encoded("POST", &tampered).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    control
        .advance_clock(Duration::from_secs(16 * 60))
        .await
        .unwrap();
    let answer = raw.send_encoded("POST", text(&lookup, "wire")).await;
    assert_eq!(answer.code(), "RequestExpired");
}
