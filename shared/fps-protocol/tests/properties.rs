//! Property tests: encoding, sign→verify round trips, and no panics on hostile input.

use fps_protocol::cbui::{form_decode, CbuiReturn};
use fps_protocol::money::Amount;
use fps_protocol::signing::{
    canonical_query, encode, sign, string_to_sign, verify, SignatureMethod,
};
use fps_protocol::xml::{parse_response, GetTransactionStatusResponse, PayResponse};
use proptest::prelude::*;

fn method() -> impl Strategy<Value = SignatureMethod> {
    prop_oneof![
        Just(SignatureMethod::HmacSha256),
        Just(SignatureMethod::HmacSha1)
    ]
}

proptest! {
    #[test]
    fn encoding_uses_only_unreserved_and_upper_hex(s in any::<String>()) {
        let e = encode(&s);
        let mut chars = e.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '%' {
                let hex: String = chars.by_ref().take(2).collect();
                prop_assert_eq!(hex.len(), 2);
                prop_assert!(hex.chars().all(|h| h.is_ascii_digit() || ('A'..='F').contains(&h)));
            } else {
                prop_assert!(c.is_ascii_alphanumeric() || "-_.~".contains(c), "{c:?} in {e}");
            }
        }
        // Decoding gives the original back (no `+` ambiguity: spaces are %20).
        prop_assert_eq!(form_decode(&e).unwrap(), s);
    }

    #[test]
    fn sign_then_verify_round_trips(
        secret in ".{1,64}",
        params in proptest::collection::vec(("[A-Za-z.]{1,12}", any::<String>()), 0..8),
        verb in prop_oneof![Just("GET"), Just("POST")],
        m in method(),
    ) {
        let q = canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sts = string_to_sign(verb, "fps.sandbox.amazonaws.com", "/", &q);
        let sig = sign(&secret, m, &sts);
        prop_assert!(verify(&secret, m, &sts, &sig));
        let wrong_secret = format!("{}x", secret);
        let longer = format!("{}&", sts);
        prop_assert!(!verify(&wrong_secret, m, &sts, &sig));
        prop_assert!(!verify(&secret, m, &longer, &sig));
    }

    #[test]
    fn canonical_query_ignores_input_order(
        mut params in proptest::collection::vec(("[A-Za-z]{1,6}", "[ -~]{0,10}"), 0..8),
    ) {
        let a = canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        params.reverse();
        let b = canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn return_parser_never_panics(raw in any::<String>()) {
        let _ = CbuiReturn::parse(&raw);
    }

    #[test]
    fn return_parser_never_panics_on_percent_soup(raw in "[%0-9A-Fa-f&=+a-z]{0,200}") {
        let _ = CbuiReturn::parse(&raw);
    }

    #[test]
    fn xml_parser_never_panics(body in any::<String>(), status in 100u16..600) {
        let _ = parse_response::<PayResponse>(status, &body);
    }

    #[test]
    fn amount_parser_never_panics(text in any::<String>()) {
        let _ = Amount::parse(&text);
    }

    #[test]
    fn amount_text_round_trips(cents in 1u64..=1_000_000) {
        let text = format!("{}.{:02}", cents / 100, cents % 100);
        prop_assert_eq!(Amount::parse(&text).unwrap().to_fps_string(), text);
    }
}

#[test]
fn truncated_xml_is_an_error() {
    let body = r#"<PayResponse xmlns="http://fps.amazonaws.com/doc/2010-08-28/"><PayResult><TransactionId>1ABC</Transact"#;
    assert!(parse_response::<PayResponse>(200, body).is_err());
    for cut in 0..body.len() {
        assert!(
            parse_response::<PayResponse>(200, &body[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn unknown_root_namespace_or_status_is_an_error() {
    let wrong_root = r#"<Surprise xmlns="http://fps.amazonaws.com/doc/2010-08-28/"/>"#;
    assert!(parse_response::<PayResponse>(200, wrong_root).is_err());
    let wrong_ns = r#"<PayResponse xmlns="http://example.com/"><PayResult><TransactionId>1</TransactionId><TransactionStatus>Success</TransactionStatus></PayResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PayResponse>"#;
    assert!(parse_response::<PayResponse>(200, wrong_ns).is_err());
    let odd_status = r#"<PayResponse xmlns="http://fps.amazonaws.com/doc/2010-08-28/"><PayResult><TransactionId>1</TransactionId><TransactionStatus>Initiated</TransactionStatus></PayResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PayResponse>"#;
    assert!(parse_response::<PayResponse>(200, odd_status).is_err());
    let empty_errors = "<Response><Errors></Errors><RequestID>x</RequestID></Response>";
    assert!(parse_response::<PayResponse>(400, empty_errors).is_err());
    // Unknown child elements are tolerated (FPS added elements over the years).
    let extra = r#"<GetTransactionStatusResponse xmlns="http://fps.amazonaws.com/doc/2010-08-28/"><GetTransactionStatusResult><TransactionId>1</TransactionId><TransactionStatus>Success</TransactionStatus><Novel>x</Novel></GetTransactionStatusResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetTransactionStatusResponse>"#;
    assert!(parse_response::<GetTransactionStatusResponse>(200, extra).is_ok());
}

#[test]
fn huge_values_are_refused() {
    let huge = format!(
        r#"<PayResponse xmlns="http://fps.amazonaws.com/doc/2010-08-28/"><PayResult><TransactionId>{}</TransactionId></PayResult></PayResponse>"#,
        "1".repeat(1_000_000)
    );
    assert!(parse_response::<PayResponse>(200, &huge).is_err());
    assert!(Amount::parse(&"9".repeat(10_000)).is_err());
    assert!(CbuiReturn::parse(&format!("status=SC&tokenID={}", "A".repeat(100_000))).is_err());
}

#[test]
fn non_utf8_query_bytes_are_an_error() {
    assert!(CbuiReturn::parse("status=SC&callerReference=%C3%28").is_err());
    assert!(CbuiReturn::parse("status=%80").is_err());
}

#[derive(serde::Deserialize)]
struct PythonCase {
    secret: String,
    method: String,
    verb: String,
    host: String,
    path: String,
    params: std::collections::BTreeMap<String, String>,
    string_to_sign: String,
    signature: String,
}

/// Signatures computed by an independent implementation (Python's hmac + urllib.parse.quote,
/// `fixtures/python_sigv2.py`) must be reproduced exactly.
#[test]
fn python_cross_check() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/python_sigv2.json"
    );
    let cases: Vec<PythonCase> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let method = SignatureMethod::parse(&case.method).unwrap();
        let q = canonical_query(case.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let sts = string_to_sign(&case.verb, &case.host, &case.path, &q);
        assert_eq!(sts, case.string_to_sign);
        assert_eq!(
            sign(&case.secret, method, &sts),
            case.signature,
            "{}",
            case.host
        );
    }
}
