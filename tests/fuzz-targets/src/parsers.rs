//! Parsers of what arrives from outside: the CBUI's return, FPS's XML, signatures, the cart,
//! DynamoDB items, the emulator's API requests and IPN bodies.

use std::sync::OnceLock;

use checkout_core::adapters::dynamodb::{order_from_item, order_to_item};
use checkout_core::domain::catalog::price_cart;
use fps_protocol::cbui::CbuiReturn;
use fps_protocol::ipn::Ipn;
use fps_protocol::signing::{canonical_query, sign, string_to_sign, verify, SignatureMethod};
use fps_protocol::xml::{self, parse_response};

use crate::block_on;

/// The CBUI's return query: a parsed return keeps the raw query and names each parameter once.
pub fn cbui_return(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = CbuiReturn::parse(text) {
        assert_eq!(parsed.raw_query, text.strip_prefix('?').unwrap_or(text));
        let mut names: Vec<&str> = parsed.params.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a repeated parameter was accepted");
    }
}

/// FPS's answers: the first byte picks the HTTP status, the rest is the body, read as every
/// response type the client knows.
pub fn fps_xml(data: &[u8]) {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    let status = [200, 400, 500, 503][usize::from(first % 4)];
    let _ = parse_response::<xml::PayResponse>(status, body);
    let _ = parse_response::<xml::ReserveResponse>(status, body);
    let _ = parse_response::<xml::SettleResponse>(status, body);
    let _ = parse_response::<xml::RefundResponse>(status, body);
    let _ = parse_response::<xml::CancelResponse>(status, body);
    let _ = parse_response::<xml::GetTransactionStatusResponse>(status, body);
    let _ = parse_response::<xml::GetTokenByCallerResponse>(status, body);
    let _ = parse_response::<xml::VerifySignatureResponse>(status, body);
    let _ = parse_response::<xml::CancelTokenResponse>(status, body);
}

/// Signature version 2: fields split on NUL are verb, host, path, secret, then name/value
/// pairs. The canonical query does not depend on the pairs' order, a signature verifies over
/// what it signed, and not over anything else.
pub fn sigv2(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\0');
    let (verb, host, path, secret) = (
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
    );
    let rest: Vec<&str> = fields.collect();
    let pairs: Vec<(&str, &str)> = rest
        .chunks(2)
        .map(|c| (c[0], c.get(1).copied().unwrap_or_default()))
        .collect();
    let query = canonical_query(pairs.iter().copied());
    let reordered = canonical_query(pairs.iter().rev().copied());
    assert_eq!(
        query, reordered,
        "the canonical query depends on input order"
    );
    let signed = string_to_sign(verb, host, path, &query);
    for method in [SignatureMethod::HmacSha256, SignatureMethod::HmacSha1] {
        let signature = sign(secret, method, &signed);
        assert!(verify(secret, method, &signed, &signature));
        assert!(!verify(secret, method, &format!("{signed}x"), &signature));
        assert!(!verify(&format!("{secret}x"), method, &signed, &signature));
    }
}

/// The cart as a form and as JSON; whatever parses is priced without panicking, and a price
/// is the sum of its parts.
pub fn cart(data: &[u8]) {
    let settings =
        checkout_core::testing::settings(checkout_core::domain::order::PaymentAction::Pay);
    let parsed = [
        start_checkout::parse_form(data),
        start_checkout::parse_json(data),
    ];
    for lines in parsed.into_iter().flatten() {
        if let Ok(priced) = price_cart(&settings.catalog, &settings.pricing, &lines) {
            let parts = priced.items_total + priced.tax + priced.shipping + priced.fees;
            assert_eq!(priced.total.value(), parts, "{priced:?}");
        }
    }
}

/// A DynamoDB item (written as JSON, each value's type from its JSON type): decoding never
/// panics, and an item that decodes is written back to the same order.
pub fn dynamodb_item(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(item): Result<checkout_core::adapters::dynamodb::Item, _> =
        serde_dynamo::aws_sdk_dynamodb_1::to_item(value)
    else {
        return;
    };
    if let Ok(order) = order_from_item(&item) {
        let written = order_to_item(&order).expect("a decoded order encodes");
        let again = order_from_item(&written).expect("an encoded order decodes");
        assert_eq!(again, order, "the item did not round-trip");
    }
}

fn emulator() -> &'static fps_sandbox::SandboxHandle {
    static SANDBOX: OnceLock<fps_sandbox::SandboxHandle> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        block_on(fps_sandbox::Sandbox::start(
            fps_sandbox::SandboxConfig::for_tests(),
        ))
        .expect("start the emulator")
    })
}

/// The emulator's API: the first byte picks GET (the rest is the query) or POST (the form
/// body). Any request gets an answer, and never a 500.
pub fn emulator_api(data: &[u8]) {
    use lambda_http::Service as _;
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let sandbox = emulator();
    let request = if first % 2 == 0 {
        let Ok(query) = std::str::from_utf8(rest) else {
            return;
        };
        axum::http::Request::get(format!("/?{query}")).body(axum::body::Body::empty())
    } else {
        axum::http::Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(rest.to_vec()))
    };
    let Ok(request) = request else {
        return;
    };
    let response = block_on(sandbox.router().call(request)).expect("infallible");
    assert_ne!(response.status(), 500, "the emulator failed on its input");
}

/// An IPN body: a parsed notification keeps the body exactly as received.
pub fn ipn(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = Ipn::parse(text) {
        assert_eq!(parsed.raw_body, text);
    }
}
