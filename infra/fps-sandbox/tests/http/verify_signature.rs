//! VerifySignature (§5.1): Success for an untouched return, Failure for any change.

use fps_protocol::api::VerifySignature;
use fps_protocol::signing;
use fps_protocol::xml::VerificationStatus;
use fps_sandbox::{Decision, Persona};

use crate::support::*;

async fn verify(
    fps: &fps_protocol::FpsClient,
    end_point: &str,
    http_parameters: &str,
) -> VerificationStatus {
    fps.call(&VerifySignature {
        url_end_point: end_point.to_owned(),
        http_parameters: http_parameters.to_owned(),
    })
    .await
    .unwrap()
    .result
    .verification_status
}

/// Replaces `name=value` in a raw query (value given decoded).
fn with_param(raw: &str, name: &str, value: &str) -> String {
    raw.split('&')
        .map(|pair| {
            if pair.split('=').next() == Some(name) {
                format!("{name}={}", signing::encode(value))
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn without_param(raw: &str, name: &str) -> String {
    raw.split('&')
        .filter(|pair| pair.split('=').next() != Some(name))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn untouched_return_verifies_and_every_change_fails() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let (url, back) = buyer(
        &sandbox,
        &single_use("order-verify", "25.50", false),
        Persona::Card,
        Decision::Authorize,
    )
    .await;
    let end_point = end_point(&url);
    assert_eq!(end_point, "http://127.0.0.1:9/shop/return");
    let raw = back.raw_query.clone();
    assert_eq!(
        verify(&fps, &end_point, &raw).await,
        VerificationStatus::Success
    );

    // Changed.
    for (name, value) in [
        ("status", "SA"),
        (
            "tokenID",
            "A5BB3HUNAZFJ5CRXIPH72LIODZUNAUZIVP7UB74QNFQDSQ9MN4HPIKISQZWPLJXF",
        ),
        ("callerReference", "order-other"),
        ("expiry", "01/2099"),
        ("order", "1002"),
        ("signatureMethod", "RSA-SHA256"),
    ] {
        let changed = with_param(&raw, name, value);
        assert_ne!(changed, raw);
        assert_eq!(
            verify(&fps, &end_point, &changed).await,
            VerificationStatus::Failure,
            "changed {name}"
        );
    }
    // Added (as a framework might: `id`, `controller`).
    for extra in ["id=7", "controller=orders"] {
        let added = format!("{raw}&{extra}");
        assert_eq!(
            verify(&fps, &end_point, &added).await,
            VerificationStatus::Failure,
            "added {extra}"
        );
    }
    // Removed.
    for name in [
        "status",
        "tokenID",
        "expiry",
        "order",
        "callerReference",
        "signature",
    ] {
        let removed = without_param(&raw, name);
        assert_ne!(removed, raw);
        assert_eq!(
            verify(&fps, &end_point, &removed).await,
            VerificationStatus::Failure,
            "removed {name}"
        );
    }
    // UrlEndPoint: trailing slash, other path, other port, with the query.
    for other in [
        "http://127.0.0.1:9/shop/return/",
        "http://127.0.0.1:9/shop/Return",
        "http://127.0.0.1:10/shop/return",
        "http://127.0.0.1:9/shop/return?order=1001",
    ] {
        assert_eq!(
            verify(&fps, other, &raw).await,
            VerificationStatus::Failure,
            "{other}"
        );
    }
    // Parameter order does not matter.
    let mut pairs: Vec<&str> = raw.split('&').collect();
    pairs.reverse();
    assert_eq!(
        verify(&fps, &end_point, &pairs.join("&")).await,
        VerificationStatus::Success
    );
}

#[tokio::test]
async fn missing_certificate_url_is_invalid_params() {
    let sandbox = start().await;
    let raw_client = Raw::new(&sandbox);
    let (url, back) = buyer(
        &sandbox,
        &single_use("order-nocert", "5.00", false),
        Persona::Balance,
        Decision::Authorize,
    )
    .await;
    let stripped = without_param(&back.raw_query, "certificateUrl");
    let answer = raw_client
        .call(
            "VerifySignature",
            &[
                ("UrlEndPoint", &end_point(&url)),
                ("HttpParameters", &stripped),
            ],
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "InvalidParams");
    assert!(answer
        .body
        .contains("certificateUrl is missing in 'HttpParameters'."));
}

#[tokio::test]
async fn unsigned_get_like_amazons_own_utilities() {
    let sandbox = start().await;
    let raw_client = Raw::new(&sandbox);
    let (url, back) = buyer(
        &sandbox,
        &single_use("order-unsigned", "5.00", false),
        Persona::Card,
        Decision::Cancel,
    )
    .await;
    // Only Action, UrlEndPoint, HttpParameters, Version: no key, no Timestamp, no signature.
    let params = vec![
        ("Action".to_owned(), "VerifySignature".to_owned()),
        ("UrlEndPoint".to_owned(), end_point(&url)),
        ("HttpParameters".to_owned(), back.raw_query.clone()),
        ("Version".to_owned(), "2010-08-28".to_owned()),
    ];
    let answer = raw_client.send("GET", &params).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.element("VerificationStatus").as_deref(),
        Some("Success")
    );
    assert!(answer.body.starts_with(
        r#"<VerifySignatureResponse xmlns="http://fps.amazonaws.com/doc/2010-08-28/">"#
    ));
}

#[tokio::test]
async fn ce_returns_verify_too() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let mut request = single_use("order-ce-verify", "5.00", false);
    request.payment_methods = vec![];
    let mut url = sandbox.single_use_url(&request).unwrap();
    // Break the version after signing? No: sign a bad request instead.
    let mut params: Vec<(String, String)> = fps_protocol::cbui::parse_query(url.query().unwrap())
        .unwrap()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("signature") && k != "callerKey")
        .map(|(k, v)| {
            if k == "version" {
                (k, "2000-01-01".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    signing::sign_params(
        &mut params,
        signing::CBUI_PARAMS,
        &sandbox.credentials(),
        signing::SignatureMethod::HmacSha1,
        "GET",
        &signing::signing_host(&url),
        url.path(),
    );
    url.set_query(Some(&signing::encode_params(&params)));
    let back = sandbox
        .control()
        .authorize(&url, Persona::Card, Decision::Authorize)
        .await
        .unwrap();
    let query = back.query().unwrap();
    assert!(query.contains("status=CE"));
    assert_eq!(
        verify(&fps, &end_point(&back), query).await,
        VerificationStatus::Success
    );
}

/// Signs `params` with the emulator's development key for `verb` on `target`, naming
/// `certificate_url`; returns the encoded parameters as received.
fn signed(verb: &str, target: &url::Url, params: &[(&str, &str)], certificate_url: &str) -> String {
    let signer = fps_sandbox::keys::OutboundSigner::development().unwrap();
    let mut appended: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    signer
        .sign_outbound(verb, target, &[], &mut appended, certificate_url)
        .unwrap();
    signing::encode_params(&appended)
}

/// The certificate URL this emulator puts in what it signs.
fn certificate_url(sandbox: &fps_sandbox::SandboxHandle) -> String {
    sandbox
        .base_url()
        .join("certs/sandbox01/PKICert.pem")
        .unwrap()
        .to_string()
}

/// Issue 16 (7): FPS's key signs, and the data must name FPS's certificate; a signature made
/// with the right key but pointing its verifier elsewhere is refused.
#[tokio::test]
async fn a_certificate_url_on_another_host_fails() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let target = url::Url::parse("http://127.0.0.1:9/shop/return").unwrap();
    let ours = certificate_url(&sandbox);
    let params = [("status", "A")];
    let good = signed("GET", &target, &params, &ours);
    assert_eq!(
        verify(&fps, target.as_str(), &good).await,
        VerificationStatus::Success
    );
    let elsewhere = signed(
        "GET",
        &target,
        &params,
        "https://fps.attacker.example/certs/x/PKICert.pem",
    );
    assert_eq!(
        verify(&fps, target.as_str(), &elsewhere).await,
        VerificationStatus::Failure
    );
}

/// Issue 16 (7): a return is verified as a GET and an IPN (it carries `notificationType`) as a
/// POST, never either way round.
#[tokio::test]
async fn returns_verify_as_get_and_notifications_as_post_only() {
    let sandbox = start().await;
    let fps = client(&sandbox);
    let target = url::Url::parse("http://127.0.0.1:9/ipn").unwrap();
    let cert = certificate_url(&sandbox);
    let ipn = [
        ("notificationType", "TransactionStatus"),
        ("transactionId", "1X"),
    ];
    let ret = [("status", "SC"), ("tokenID", "T")];
    for (verb, params, expected) in [
        ("POST", &ipn[..], VerificationStatus::Success),
        ("GET", &ipn[..], VerificationStatus::Failure),
        ("GET", &ret[..], VerificationStatus::Success),
        ("POST", &ret[..], VerificationStatus::Failure),
    ] {
        let body = signed(verb, &target, params, &cert);
        assert_eq!(
            verify(&fps, target.as_str(), &body).await,
            expected,
            "{verb} {params:?}"
        );
    }
}

/// `infra/events/post-ipn.json` carries an IPN as the emulator signs it for the local stack's
/// `IPN_URL` (`infra/events/env.json`): the sample verifies with the development key.
#[test]
fn the_sample_ipn_event_is_signed_by_the_development_key() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/events");
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(name)).unwrap()).unwrap()
    };
    let env = read("env.json");
    let ipn_url =
        url::Url::parse(env["FpsNotificationsFunction"]["IPN_URL"].as_str().unwrap()).unwrap();
    let event = read("post-ipn.json");
    let body = event["body"].as_str().unwrap();
    let params = fps_protocol::cbui::parse_query(body).unwrap();
    let signature = &params.iter().find(|(k, _)| k == "signature").unwrap().1;
    let signer = fps_sandbox::keys::OutboundSigner::development().unwrap();
    let sts = fps_sandbox::keys::outbound_string_to_sign("POST", &ipn_url, params.iter());
    let expected = signer.sign(&sts).unwrap();
    assert!(
        signer.verify(&sts, signature),
        "expected signature: {expected}"
    );
}
