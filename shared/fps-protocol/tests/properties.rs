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

/// A verbatim Pay answer from the protocol reference.
const PAY_SAMPLE: &str = include_str!("fixtures/xml/pay_2008.xml");

/// The fields of a return as the CBUI sends them.
#[derive(Debug, Clone)]
struct ReturnFields {
    status: String,
    token_id: Option<String>,
    caller_reference: Option<String>,
    expiry: Option<String>,
    error_message: Option<String>,
    signature: Option<String>,
    signature_method: Option<String>,
    signature_version: Option<String>,
    certificate_url: Option<String>,
}

fn status() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["SA", "SB", "SC", "SE", "A", "CE", "PE", "NP", "NM"])
            .prop_map(str::to_owned),
        "[A-Z]{1,3}",
    ]
}

prop_compose! {
    fn cbui_return()(
        status in status(),
        token_id in proptest::option::of("[A-Z0-9]{1,65}"),
        caller_reference in proptest::option::of("[ -~]{1,128}"),
        expiry in proptest::option::of("[0-9]{2}/[0-9]{4}"),
        error_message in proptest::option::of("\\PC{0,80}"),
        signature in proptest::option::of("[A-Za-z0-9+/]{1,172}={0,2}"),
        signature_method in proptest::option::of(Just("RSA-SHA1".to_owned())),
        signature_version in proptest::option::of(Just("2".to_owned())),
        certificate_url in proptest::option::of(
            "https://fps\\.sandbox\\.amazonaws\\.com/certs/[0-9]{6}/PKICert\\.pem",
        ),
    ) -> ReturnFields {
        ReturnFields {
            status,
            token_id,
            caller_reference,
            expiry,
            error_message,
            signature,
            signature_method,
            signature_version,
            certificate_url,
        }
    }
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
        (params, shuffled) in proptest::collection::vec(("[A-Za-z]{1,6}", "[ -~]{0,10}"), 0..8)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
    ) {
        let a = canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let b = canonical_query(shuffled.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        prop_assert_eq!(a, b);
    }

    /// A return built the way the CBUI builds one, its parameters in any order, parses back to
    /// exactly the values sent.
    #[test]
    fn structured_returns_parse_to_what_was_sent(
        ret in cbui_return(),
        seed in any::<u64>(),
    ) {
        let mut pairs: Vec<(&str, &String)> = vec![("status", &ret.status)];
        for (name, value) in [
            ("tokenID", &ret.token_id),
            ("callerReference", &ret.caller_reference),
            ("expiry", &ret.expiry),
            ("errorMessage", &ret.error_message),
            ("signature", &ret.signature),
            ("signatureMethod", &ret.signature_method),
            ("signatureVersion", &ret.signature_version),
            ("certificateUrl", &ret.certificate_url),
        ] {
            if let Some(value) = value {
                pairs.push((name, value));
            }
        }
        // A deterministic shuffle from the seed (FPS's order was never documented).
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        let mut state = seed | 1;
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let query = order
            .iter()
            .map(|&i| format!("{}={}", pairs[i].0, encode(pairs[i].1)))
            .collect::<Vec<_>>()
            .join("&");
        let parsed = CbuiReturn::parse(&query).unwrap();
        prop_assert_eq!(parsed.status.code(), ret.status.as_str());
        prop_assert_eq!(&parsed.token_id, &ret.token_id);
        prop_assert_eq!(&parsed.caller_reference, &ret.caller_reference);
        prop_assert_eq!(&parsed.expiry, &ret.expiry);
        prop_assert_eq!(&parsed.error_message, &ret.error_message);
        prop_assert_eq!(&parsed.signature, &ret.signature);
        prop_assert_eq!(&parsed.signature_method, &ret.signature_method);
        prop_assert_eq!(&parsed.signature_version, &ret.signature_version);
        prop_assert_eq!(&parsed.certificate_url, &ret.certificate_url);
        prop_assert_eq!(parsed.params.len(), pairs.len());
    }

    /// A real FPS answer with bytes deleted, inserted or replaced anywhere: never a panic, and
    /// what still parses is a Pay answer with a transaction id and a known status.
    #[test]
    fn mutated_real_answers_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..4, "[ -~]{0,6}"), 1..4),
    ) {
        let mut body = PAY_SAMPLE.to_owned();
        for (at, cut, insert) in edits {
            let at = at.index(body.len() + 1);
            let end = (at + cut).min(body.len());
            body.replace_range(at..end, &insert);
        }
        if let Ok(pay) = parse_response::<PayResponse>(200, &body) {
            prop_assert!(!pay.result.transaction_id.is_empty());
        }
    }

    /// Renaming a required element of a real answer (both of its tags) makes it an error: the
    /// parser does not guess.
    #[test]
    fn a_renamed_required_element_is_an_error(
        element in prop::sample::select(vec!["PayResult", "TransactionId", "TransactionStatus"]),
        at in any::<prop::sample::Index>(),
        letter in "[a-z]",
    ) {
        let at = at.index(element.len());
        let mut renamed = element.to_owned();
        renamed.replace_range(at..at + 1, &letter);
        prop_assume!(renamed != element);
        let body = PAY_SAMPLE
            .replace(&format!("<{element}>"), &format!("<{renamed}>"))
            .replace(&format!("</{element}>"), &format!("</{renamed}>"));
        prop_assert!(parse_response::<PayResponse>(200, &body).is_err(), "{}", body);
    }

    /// Money as people and config files write it: leading zeros, missing or extra trailing
    /// zeros, surrounding spaces. Each means the same cents.
    #[test]
    fn non_canonical_amounts_mean_the_same_cents(
        cents in 1u64..=1_000_000,
        leading in 0usize..3,
        trailing in 0usize..4,
        spaced in any::<bool>(),
    ) {
        let canonical = format!("{}.{:02}", cents / 100, cents % 100);
        let mut text = format!("{}{}{}", "0".repeat(leading), canonical, "0".repeat(trailing));
        if cents % 100 == 0 && trailing == 0 {
            text.truncate(text.len() - 3);
        }
        if spaced {
            text = format!(" {text}\t");
        }
        prop_assert_eq!(Amount::parse(&text).unwrap().to_fps_string(), canonical);
    }

    /// Whatever amount text is accepted denotes exactly its decimal value, in cents; signs,
    /// exponents, separators and sub-cent digits are refused.
    #[test]
    fn accepted_amount_text_is_its_decimal_value(text in "[0-9.+eE_, -]{1,10}") {
        if let Ok(amount) = Amount::parse(&text) {
            let value: rust_decimal::Decimal = text.trim().parse().unwrap();
            prop_assert_eq!(amount.value(), value);
            prop_assert!(text.trim().chars().all(|c| c.is_ascii_digit() || c == '.'), "{:?}", text);
            prop_assert_eq!(amount.to_fps_string().split('.').nth(1).map(str::len), Some(2));
        }
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
