//! The Co-Branded UI: the page, the buyer's answers, the signed returns, the errors.

use fps_protocol::cbui::{parse_query, CbuiReturn, CbuiStatus};
use fps_protocol::signing::{self, Credentials, SignatureMethod, CBUI_PARAMS};
use fps_sandbox::keys::{outbound_string_to_sign, OutboundSigner, DEV_KEY_PEM};
use fps_sandbox::{Decision, Persona};
use url::Url;

use crate::support::*;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A CBUI URL with hand-picked parameters, signed by the development caller.
fn cbui_url(sandbox: &fps_sandbox::SandboxHandle, params: &[(&str, &str)]) -> Url {
    let mut p: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let endpoint = sandbox.cbui_url();
    signing::sign_params(
        &mut p,
        CBUI_PARAMS,
        &sandbox.credentials(),
        SignatureMethod::HmacSha256,
        "GET",
        &signing::signing_host(&endpoint),
        endpoint.path(),
    );
    let mut url = endpoint;
    url.set_query(Some(&signing::encode_params(&p)));
    url
}

#[tokio::test]
async fn the_page_is_accessible_self_contained_and_escapes_input() {
    let sandbox = start().await;
    let mut request = single_use("order-page", "25.50", false);
    request.payment_reason = Some("<script>alert('x')</script> & more".to_owned());
    let url = sandbox.single_use_url(&request).unwrap();
    let response = no_redirects().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"<html lang="en">"#));
    assert!(html.contains("<title>"));
    assert!(html.contains(r#"name="viewport""#));
    assert!(!html.contains("<script"), "user input must be text");
    assert!(html.contains("&lt;script&gt;alert("));
    assert!(!html.contains("src=\"http"), "no external assets");
    assert!(!html.contains("<link"));
    assert!(html.contains("$25.50"));
    assert!(html.contains("order-page"));
    for persona in Persona::ALL {
        let id = format!("persona-{}", persona.as_str());
        assert!(html.contains(&format!(r#"id="{id}""#)));
        assert!(
            html.contains(&format!(r#"<label for="{id}""#)),
            "label for {id}"
        );
    }
    assert!(html.contains(r#"value="authorize""#));
    assert!(html.contains(r#"value="cancel""#));
    // Decision 4: all three methods by default.
    assert!(html.contains("Credit card (CC)"));
    assert!(html.contains("Bank account (ACH)"));
    assert!(html.contains("Amazon Payments balance (ABT)"));
}

#[tokio::test]
async fn reserve_offers_only_the_card() {
    let sandbox = start().await;
    let url = sandbox
        .single_use_url(&single_use("order-res", "10.00", true))
        .unwrap();
    let html = no_redirects()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Credit card (CC)"));
    assert!(!html.contains("Bank account (ACH)"));
    assert!(html.contains(r#"id="persona-bank" name="persona" value="bank" required disabled"#));
    // A bank buyer on a card-only request ends with PE.
    let (_, back) = buyer(
        &sandbox,
        &single_use("order-res-2", "10.00", true),
        Persona::Bank,
        Decision::Authorize,
    )
    .await;
    assert_eq!(back.status, CbuiStatus::PaymentMethodMismatch);
    assert!(back.token_id.is_none());
}

#[tokio::test]
async fn authorise_mints_a_token_and_signs_the_return() {
    let sandbox = start().await;
    for (persona, status) in [
        (Persona::Card, CbuiStatus::SuccessCard),
        (Persona::Bank, CbuiStatus::SuccessBank),
        (Persona::Balance, CbuiStatus::SuccessBalance),
    ] {
        let reference = format!("order-{persona}");
        let (url, back) = buyer(
            &sandbox,
            &single_use(&reference, "25.50", false),
            persona,
            Decision::Authorize,
        )
        .await;
        assert_eq!(back.status, status);
        assert!(url
            .as_str()
            .starts_with("http://127.0.0.1:9/shop/return?order=1001&"));
        let token = back.token_id.clone().unwrap();
        assert_eq!(token.len(), 64);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert_eq!(back.caller_reference.as_deref(), Some(reference.as_str()));
        let expiry = back.expiry.clone().unwrap();
        assert!(expiry.len() == 7 && &expiry[2..3] == "/", "{expiry}");
        assert!(back.has_signature_fields());
        assert_eq!(
            back.certificate_url.as_deref(),
            Some(sandbox.certificate_url().as_str())
        );
        // The merchant's own parameter is kept.
        assert!(back
            .params
            .contains(&("order".to_owned(), "1001".to_owned())));

        // The signature checks out with the certificate the sandbox serves.
        let pem = reqwest::get(sandbox.certificate_url())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let verifier = OutboundSigner::from_pem(DEV_KEY_PEM, &pem, "x").unwrap();
        let sts = outbound_string_to_sign("GET", &url, back.params.iter());
        assert!(sts.starts_with("GET\n127.0.0.1:9\n/shop/return\n"));
        assert!(verifier.verify(&sts, back.signature.as_deref().unwrap()));

        let ledger = sandbox.control().ledger().await.unwrap();
        let minted = ledger.token(&token).unwrap();
        assert_eq!(minted.persona, persona);
        assert_eq!(minted.amount, amount("25.50"));
        assert_eq!(ledger.token_for(&reference).unwrap().token_id, token);
    }
}

#[tokio::test]
async fn cancel_pe_and_np_return_without_a_token() {
    let sandbox = start().await;
    let request = single_use("order-a", "5.00", false);
    let (_, back) = buyer(&sandbox, &request, Persona::Card, Decision::Cancel).await;
    assert_eq!(back.status, CbuiStatus::Abandoned);
    assert!(back.token_id.is_none());
    // As captured from the real sandbox: a cancel names no order (the merchant's return URL
    // has to).
    assert_eq!(back.caller_reference, None);
    assert!(back.has_signature_fields());
    for (persona, status) in [
        (
            Persona::PaymentMethodMismatch,
            CbuiStatus::PaymentMethodMismatch,
        ),
        (Persona::NotPermitted, CbuiStatus::NotPermitted),
    ] {
        let (_, back) = buyer(&sandbox, &request, persona, Decision::Authorize).await;
        assert_eq!(back.status, status);
        assert!(back.token_id.is_none());
        assert!(back.has_signature_fields());
        if status == CbuiStatus::NotPermitted {
            // Also as captured: `status=NP&errorMessage=…`, no callerReference.
            assert_eq!(back.caller_reference, None);
            assert!(back.error_message.is_some());
        }
    }
    assert!(sandbox.control().ledger().await.unwrap().tokens.is_empty());
}

#[tokio::test]
async fn a_bad_request_goes_back_with_ce() {
    let sandbox = start().await;
    let return_url = "http://127.0.0.1:9/shop/return";
    let url = cbui_url(
        &sandbox,
        &[
            ("callerReference", "order-ce"),
            ("pipelineName", "SingleUse"),
            ("returnURL", return_url),
            ("transactionAmount", "twelve"),
            ("version", "2009-01-09"),
        ],
    );
    let back = sandbox
        .control()
        .authorize(&url, Persona::Card, Decision::Authorize)
        .await
        .unwrap();
    assert!(back.as_str().starts_with(return_url));
    let parsed = CbuiReturn::parse(back.query().unwrap()).unwrap();
    assert_eq!(parsed.status, CbuiStatus::CallerException);
    assert_eq!(
        parsed.error_message.as_deref(),
        Some("The following input(s) are not well formed: [transactionAmount]")
    );
    assert!(parsed.has_signature_fields());
    assert!(parsed.token_id.is_none());

    // Missing inputs, and reserve with a method that is not a card.
    let url = cbui_url(
        &sandbox,
        &[
            ("pipelineName", "SingleUse"),
            ("returnURL", return_url),
            ("version", "2009-01-09"),
        ],
    );
    let back = sandbox
        .control()
        .authorize(&url, Persona::Card, Decision::Authorize)
        .await
        .unwrap();
    let parsed = CbuiReturn::parse(back.query().unwrap()).unwrap();
    assert_eq!(
        parsed.error_message.as_deref(),
        Some("The following input(s) are missing: [callerReference, transactionAmount]")
    );
    let url = cbui_url(
        &sandbox,
        &[
            ("callerReference", "order-ce"),
            ("paymentMethod", "ACH"),
            ("pipelineName", "SingleUse"),
            ("reserve", "True"),
            ("returnURL", return_url),
            ("transactionAmount", "5.00"),
            ("version", "2009-01-09"),
        ],
    );
    let back = sandbox
        .control()
        .authorize(&url, Persona::Card, Decision::Authorize)
        .await
        .unwrap();
    let parsed = CbuiReturn::parse(back.query().unwrap()).unwrap();
    assert_eq!(parsed.status, CbuiStatus::CallerException);
}

#[tokio::test]
async fn no_usable_return_url_or_signature_is_an_error_page() {
    let sandbox = start().await;
    let http = no_redirects();
    for (params, status) in [
        (
            vec![
                ("callerReference", "o"),
                ("pipelineName", "SingleUse"),
                ("transactionAmount", "1.00"),
                ("version", "2009-01-09"),
            ],
            400,
        ),
        (
            vec![
                ("callerReference", "o"),
                ("pipelineName", "SingleUse"),
                ("returnURL", "http://shop.example.com/return"),
                ("transactionAmount", "1.00"),
                ("version", "2009-01-09"),
            ],
            400,
        ),
        (
            vec![
                ("callerReference", "o"),
                ("pipelineName", "SingleUse"),
                ("returnURL", "not a url"),
                ("transactionAmount", "1.00"),
                ("version", "2009-01-09"),
            ],
            400,
        ),
    ] {
        let response = http.get(cbui_url(&sandbox, &params)).send().await.unwrap();
        assert_eq!(response.status(), status);
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"<html lang="en">"#));
        assert!(html.contains("role=\"alert\""));
    }
    // A request signed with the wrong secret: no redirect anywhere.
    let request = single_use("order-forged", "5.00", false);
    let forged = request
        .signed_url(
            &sandbox.cbui_url(),
            &Credentials::new(fps_sandbox::DEV_ACCESS_KEY_ID, "guess"),
            SignatureMethod::HmacSha256,
        )
        .unwrap();
    let response = http.get(forged).send().await.unwrap();
    assert_eq!(response.status(), 403);
    // The authorise step refuses unknown sessions.
    let response = http
        .post(
            sandbox
                .base_url()
                .join("cobranded-ui/actions/authorize")
                .unwrap(),
        )
        .form(&[
            ("session", "nope"),
            ("persona", "card"),
            ("decision", "authorize"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 410);
}

#[tokio::test]
async fn a_session_is_answered_once() {
    let sandbox = start().await;
    let http = no_redirects();
    let url = sandbox
        .single_use_url(&single_use("order-once", "5.00", false))
        .unwrap();
    let html = http.get(url).send().await.unwrap().text().await.unwrap();
    let session = between(&html, r#"name="session" value=""#, "\"").unwrap();
    let target = sandbox
        .base_url()
        .join("cobranded-ui/actions/authorize")
        .unwrap();
    let form = [
        ("session", session.as_str()),
        ("persona", "card"),
        ("decision", "authorize"),
    ];
    let first = http.post(target.clone()).form(&form).send().await.unwrap();
    assert_eq!(first.status(), 302);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let query = parse_query(Url::parse(&location).unwrap().query().unwrap()).unwrap();
    assert!(query.iter().any(|(k, v)| k == "status" && v == "SC"));
    let second = http.post(target).form(&form).send().await.unwrap();
    assert_eq!(second.status(), 410);
}

/// Issue 16 (7): a callerReference that already has a token cannot open a second
/// authorisation; it goes back with `CE`, and no second token is minted.
#[tokio::test]
async fn a_caller_reference_authorised_once_is_a_caller_exception_the_second_time() {
    let sandbox = start().await;
    let request = single_use("order-twice", "12.00", false);
    let (_, first) = buyer(&sandbox, &request, Persona::Card, Decision::Authorize).await;
    assert_eq!(first.status, CbuiStatus::SuccessCard);
    // Opening the page (not answering it) is not an authorisation: the buyer may reload it.
    let (_, again) = buyer(&sandbox, &request, Persona::Card, Decision::Authorize).await;
    assert_eq!(again.status, CbuiStatus::CallerException);
    assert!(again
        .error_message
        .as_deref()
        .is_some_and(|m| m.contains("order-twice")));
    assert!(again.token_id.is_none());
    let ledger = sandbox.control().ledger().await.unwrap();
    assert_eq!(ledger.activity("order-twice").unwrap().tokens.len(), 1);

    // Two pages opened before either is answered: the second answer is the caller exception.
    let twice = single_use("order-two-tabs", "12.00", false);
    let http = no_redirects();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let url = sandbox.single_use_url(&twice).unwrap();
        let html = http.get(url).send().await.unwrap().text().await.unwrap();
        sessions.push(between(&html, r#"name="session" value=""#, "\"").unwrap());
    }
    let target = sandbox
        .base_url()
        .join("cobranded-ui/actions/authorize")
        .unwrap();
    let mut statuses = Vec::new();
    for session in &sessions {
        let form = [
            ("session", session.as_str()),
            ("persona", "card"),
            ("decision", "authorize"),
        ];
        let answer = http.post(target.clone()).form(&form).send().await.unwrap();
        let location = Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
        statuses.push(CbuiReturn::parse(location.query().unwrap()).unwrap().status);
    }
    assert_eq!(
        statuses,
        [CbuiStatus::SuccessCard, CbuiStatus::CallerException]
    );
    let ledger = sandbox.control().ledger().await.unwrap();
    assert_eq!(ledger.activity("order-two-tabs").unwrap().tokens.len(), 1);

    let fresh = single_use("order-reloaded", "12.00", false);
    let url = sandbox.single_use_url(&fresh).unwrap();
    let page = no_redirects().get(url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200, "opened once");
    let (_, answered) = buyer(&sandbox, &fresh, Persona::Card, Decision::Authorize).await;
    assert_eq!(
        answered.status,
        CbuiStatus::SuccessCard,
        "reloaded, then answered"
    );
}
