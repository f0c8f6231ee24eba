//! Every sample payload of the protocol reference §10 (and the §6 captures), parsed into the
//! right values. Fixtures are verbatim copies under `tests/fixtures/`.

use fps_protocol::cbui::{CbuiReturn, CbuiStatus};
use fps_protocol::error::ErrorCode;
use fps_protocol::money::Amount;
use fps_protocol::xml::*;

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn ok<R: FpsResponse>(name: &str) -> R {
    parse_response::<R>(200, &fixture(&format!("xml/{name}.xml")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn tx(id: &str, status: TransactionStatus) -> TransactionResult {
    TransactionResult {
        transaction_id: id.into(),
        transaction_status: status,
    }
}

#[test]
fn pay_responses_in_both_namespaces() {
    let pay: PayResponse = ok("pay_2008");
    assert_eq!(
        pay.result,
        tx(
            "14GK6BGKA7U6OU6SUTNLBI5SBBV9PGDJ6UL",
            TransactionStatus::Pending
        )
    );
    assert_eq!(
        pay.metadata.request_id,
        "c21e7735-9c08-4cd8-99bf-535a848c79b4:0"
    );
    assert_eq!(pay.xmlns.as_deref(), Some(NAMESPACE_2008));
    let pay: PayResponse = ok("pay_2010");
    assert_eq!(
        pay.result,
        tx(
            "166K4LZGG66PUTQJSSNI3UMM51M6AG4DMH9",
            TransactionStatus::Pending
        )
    );
    assert_eq!(
        pay.metadata.request_id,
        "471ae5eb-3de0-4098-9fb6-1fbe9429396a:0"
    );
    assert_eq!(pay.xmlns.as_deref(), Some(NAMESPACE_2010));
}

#[test]
fn reserve_settle_refund_cancel() {
    let r: ReserveResponse = ok("reserve_2008");
    assert_eq!(
        r.result,
        tx(
            "14GKD9GE66FAA63E6O6B2JDPZKN53LZ7F22",
            TransactionStatus::Pending
        )
    );
    let s: SettleResponse = ok("settle_2008");
    // Decision 1: Settle answers with the reserve's own TransactionId.
    assert_eq!(s.result.transaction_id, r.result.transaction_id);
    assert_eq!(
        s.metadata.request_id,
        "9ed2008b-b230-4ed0-9210-095f77fc2359:0"
    );
    let f: RefundResponse = ok("refund_2008");
    assert_eq!(
        f.result,
        tx(
            "14GK6F2QU755ODS27SGHEURLKPG72Z54KMF",
            TransactionStatus::Pending
        )
    );
    let c: CancelResponse = ok("cancel_2008");
    assert_eq!(
        c.result,
        tx(
            "14GKI1SKSR1V6DO1RCCB32RBR6KLODMGQUD",
            TransactionStatus::Cancelled
        )
    );
    let t: CancelTokenResponse = ok("cancel_token_2008");
    assert_eq!(
        t.metadata.request_id,
        "a10e0ad6-148f-4afe-8bcd-e80a2680793d:0"
    );
}

#[test]
fn verify_signature_and_transaction_status() {
    let v: VerifySignatureResponse = ok("verify_signature_2008");
    assert_eq!(v.result.verification_status, VerificationStatus::Success);
    let g: GetTransactionStatusResponse = ok("get_transaction_status_2008");
    assert_eq!(
        g.result.transaction_id,
        "14GKE3B85HCMF1BTSH5C4PD2IHZL95RJ2LM"
    );
    assert_eq!(g.result.transaction_status, TransactionStatus::Success);
    assert_eq!(
        g.result.caller_reference.as_deref(),
        Some("CallerReference07")
    );
    assert_eq!(g.result.status_code.as_deref(), Some("Success"));
    assert_eq!(
        g.result.status_message.as_deref(),
        Some("The transaction was successful and the payment instrument was charged.")
    );
}

#[test]
fn get_transaction_is_not_mistaken_for_another_action() {
    // A GetTransaction body (an action this product does not use) must not parse as
    // GetTransactionStatus: the root element is checked.
    let body = fixture("xml/get_transaction_2008.xml");
    let err = parse_response::<GetTransactionStatusResponse>(200, &body).unwrap_err();
    assert!(matches!(err, ResponseError::Invalid { .. }), "{err:?}");
    // Its amounts carry six decimals, which Amount reads.
    assert_eq!(
        Amount::from_fps("1.000000").unwrap().to_fps_string(),
        "1.00"
    );
}

fn fps_error(name: &str, http_status: u16) -> fps_protocol::FpsError {
    match parse_response::<PayResponse>(http_status, &fixture(&format!("xml/{name}.xml"))) {
        Err(ResponseError::Fps(e)) => e,
        other => panic!("{name}: expected an FPS error, got {other:?}"),
    }
}

#[test]
fn error_bodies_carry_code_message_request_id_and_status() {
    let e = fps_error("error_invalid_params", 400);
    assert_eq!(e.code, ErrorCode::InvalidParams);
    assert_eq!(
        e.message,
        "transactionId has to be a valid transaction ID. Specified value: FAKE"
    );
    assert_eq!(
        e.request_id.as_deref(),
        Some("50ca0b2f-9435-4852-a889-89d144c07ff6")
    );
    assert_eq!(e.http_status, 400);
    assert_eq!(e.class(), fps_protocol::ErrorClass::Final);

    let e = fps_error("error_request_expired", 400);
    assert_eq!(e.code, ErrorCode::RequestExpired);
    assert_eq!(
        e.request_id.as_deref(),
        Some("465f3304-acc4-4831-9e58-bc07f80c8b50")
    );

    let e = fps_error("error_invalid_token", 400);
    assert_eq!(e.code, ErrorCode::InvalidTokenIdSender);
    assert_eq!(e.message, "Sender token is not valid.");

    let e = fps_error("error_certificate_url_missing", 400);
    assert_eq!(e.message, "certificateUrl is missing in 'HttpParameters'.");

    let e = fps_error("error_response_wsdl", 400);
    assert_eq!(e.code, ErrorCode::InvalidParams);
    assert_eq!(
        e.request_id.as_deref(),
        Some("b2f1a5cc-5f0a-4a4e-9d54-0c1e0e4a9e10")
    );

    // The same body with HTTP 503 is retryable whatever its code.
    assert_eq!(
        fps_error("error_invalid_params", 503).class(),
        fps_protocol::ErrorClass::Transient
    );
}

/// Turns a "name=value" per line fixture into a query string encoded like PHP's
/// http_build_query (space → `+`), which is how such returns arrive.
fn encode_decoded_set(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (k, v) = line.split_once('=').unwrap();
            let v = v.replace("\\n", "\n");
            format!(
                "{}={}",
                k,
                form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[test]
fn remit_real_return_url() {
    let url = fixture("returns/remit_single_use_url.txt");
    let query = url.trim().split_once('?').unwrap().1;
    let r = CbuiReturn::parse(query).unwrap();
    assert_eq!(r.raw_query, query, "the raw query is kept byte for byte");
    assert_eq!(r.status, CbuiStatus::SuccessCard);
    assert!(r.status.is_success());
    assert_eq!(
        r.token_id.as_deref(),
        Some("977B36S3GQ5VRXSNSZ4V2BHJEB9YB3A7MFQSF5GCK5ULGGDMNDJT6AMU1TU6A6XX")
    );
    assert_eq!(
        r.caller_reference.as_deref(),
        Some("OrderToken-a0fff5d468263da9672a4a939a5b28086764d049")
    );
    assert_eq!(r.expiry.as_deref(), Some("07/2015"));
    assert_eq!(
        r.certificate_url.as_deref(),
        Some("https://fps.sandbox.amazonaws.com/certs/090910/PKICert.pem?requestId=bjyoi7ibdlseql3rkc05z9rexucetcjqkdw8eneo5qlto7zp7aq")
    );
    let sig = r.signature.as_deref().unwrap();
    assert!(sig.starts_with(
        "gaumxsAIf4SoY9gp2KWpZK9JRhPhnQ/w+DgC/VWSgw/9pur/RDVlnzGt9Btr9iX6Goc7UNB3nso7\nmm8ocod"
    ));
    assert!(sig.ends_with("z8/50lViGvs="));
    assert!(r.has_signature_fields());
}

#[test]
fn remit_decoded_set_with_line_breaks_in_the_signature() {
    let query = encode_decoded_set(&fixture("returns/remit_decoded_set.txt"));
    let r = CbuiReturn::parse(&query).unwrap();
    assert_eq!(r.status, CbuiStatus::SuccessCard);
    assert_eq!(
        r.token_id.as_deref(),
        Some("F36RX66AJJF8S3QZ9MP656MAZD2CL3UH5HMIFT75D5ACN6Z9FKCHESAQQXNLVSBM")
    );
    let sig = r.signature.unwrap();
    assert_eq!(sig.matches('\n').count(), 2);
    assert!(sig.contains("+zAvB52JcyS2oYmUHltep\n3ifJb+eEciRDCP+T7GjocXG9LNuGpt76MUXxbV2CGGq+gVvTs/kE5oN5kH2/51skjiFkgwl9Qfao\nuGYK9uWVGuRvL9dmhxk="));
    assert_eq!(r.expiry.as_deref(), Some("08/2014"));
}

#[test]
fn boto_docs_example_query() {
    let r = CbuiReturn::parse(fixture("returns/boto_docs_query.txt").trim()).unwrap();
    assert_eq!(r.status, CbuiStatus::SuccessCard);
    assert_eq!(
        r.caller_reference.as_deref(),
        Some("callerReferenceMultiUse1")
    );
    assert_eq!(r.expiry.as_deref(), Some("08/2015"));
    assert_eq!(r.signature_method.as_deref(), Some("RSA-SHA1"));
    assert!(r.signature.unwrap().ends_with("K9m3gw=="));
}

#[test]
fn amazon_php_samples_2010_and_2008() {
    for (name, token, caller_reference, expiry) in [
        (
            "returns/php_2010_decoded.txt",
            "77H84MAUCME17HP5VVIC61KGHXSAX6KS7DJ6PXI5MC5C3LZ8X8RPRKQIAAE3TRP8",
            "callerReferenceMultiUse",
            "10/2016",
        ),
        (
            "returns/php_2008_decoded.txt",
            "Q5IG5ETFCEBU8KBLTI4JHINQVL6VAJVHICBRR49AKLPIEZH1KB1S8C7VHAJJMLJ3",
            "1253247023946cMcrTRrjtLjNrZGNKchWfDtUEIGuJfiOBAAJYPjbytBV",
            "10/2013",
        ),
    ] {
        let text = fixture(name);
        let r = CbuiReturn::parse(&encode_decoded_set(&text)).unwrap();
        assert_eq!(r.status, CbuiStatus::SuccessCard, "{name}");
        assert_eq!(r.token_id.as_deref(), Some(token));
        assert_eq!(r.caller_reference.as_deref(), Some(caller_reference));
        assert_eq!(r.expiry.as_deref(), Some(expiry));
        // `+` in the signature survives the form encoding round trip.
        let expected_sig = text
            .lines()
            .find_map(|l| l.strip_prefix("signature="))
            .unwrap();
        assert_eq!(r.signature.as_deref(), Some(expected_sig));
    }
}

#[test]
fn momeant_postpaid_success_and_caller_exception() {
    let url = fixture("returns/momeant_success_url.txt");
    let r = CbuiReturn::parse(url.trim().split_once('?').unwrap().1).unwrap();
    assert_eq!(r.status, CbuiStatus::SuccessCard);
    assert_eq!(r.token_id, None, "postpaid returns carry other token names");
    assert!(r.signature.unwrap().contains('\n'));
    assert_eq!(r.expiry.as_deref(), Some("02/2017"));

    let url = fixture("returns/momeant_ce_url.txt");
    let r = CbuiReturn::parse(url.trim().split_once('?').unwrap().1).unwrap();
    assert_eq!(r.status, CbuiStatus::CallerException);
    assert!(!r.status.is_success());
    assert_eq!(r.caller_reference, None);
    assert_eq!(
        r.error_message.as_deref(),
        Some("The following input(s) are not well formed:[callerReferenceSettlement]")
    );
}
