//! The published and derived SigV2 test vectors TV-1 … TV-7 (protocol reference §2.4).

use fps_protocol::signing::{
    canonical_query, encode, sign, string_to_sign, verify, SignatureMethod,
};

const AWS_EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn check(secret: &str, method: SignatureMethod, sts: &str, expected: &str) {
    assert_eq!(
        sign(secret, method, sts),
        expected,
        "string to sign:\n{sts}"
    );
    assert!(verify(secret, method, sts, expected));
    assert!(!verify(secret, method, &format!("{sts}x"), expected));
}

fn describe_job_flows() -> String {
    canonical_query([
        ("Action", "DescribeJobFlows"),
        ("Version", "2009-03-31"),
        ("AWSAccessKeyId", "AKIAIOSFODNN7EXAMPLE"),
        ("SignatureVersion", "2"),
        ("SignatureMethod", "HmacSHA256"),
        ("Timestamp", "2011-10-03T15:19:30"),
    ])
}

#[test]
fn tv1_aws_published_example_get() {
    let q = describe_job_flows();
    assert_eq!(q, "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Action=DescribeJobFlows&SignatureMethod=HmacSHA256&SignatureVersion=2&Timestamp=2011-10-03T15%3A19%3A30&Version=2009-03-31");
    let sts = string_to_sign("GET", "elasticmapreduce.amazonaws.com", "/", &q);
    check(
        AWS_EXAMPLE_SECRET,
        SignatureMethod::HmacSha256,
        &sts,
        "i91nKc4PWAt0JJIdXwz9HxZCJDdiy6cf/Mj6vPxyYIs=",
    );
    assert_eq!(
        encode("i91nKc4PWAt0JJIdXwz9HxZCJDdiy6cf/Mj6vPxyYIs="),
        "i91nKc4PWAt0JJIdXwz9HxZCJDdiy6cf%2FMj6vPxyYIs%3D"
    );
}

#[test]
fn tv2_same_parameters_post() {
    let sts = string_to_sign(
        "POST",
        "elasticmapreduce.amazonaws.com",
        "/",
        &describe_job_flows(),
    );
    check(
        AWS_EXAMPLE_SECRET,
        SignatureMethod::HmacSha256,
        &sts,
        "wseguMzBRgA/4/fan8ZwEa0PIF+ws4WFbTJcG1ts5RY=",
    );
}

#[test]
fn tv3_amazon_flex_pay_regression() {
    let sts = string_to_sign(
        "GET",
        "example.com",
        "/api",
        &canonical_query([("hello", "world")]),
    );
    assert_eq!(sts, "GET\nexample.com\n/api\nhello=world");
    check(
        "bar",
        SignatureMethod::HmacSha256,
        &sts,
        "Ro7iH0M+1hIR/SXGvT1kmF6Tg5uUKRSUd1AWaJHOcpE=",
    );
}

#[test]
fn tv4_amazon_flex_pay_cbui_pipeline() {
    let q = canonical_query([
        ("pipelineName", "TestPipeline"),
        ("foo", "bar"),
        ("returnURL", "http://example.com/return"),
        ("version", "2009-01-09"),
        ("callerKey", "foo"),
        ("signatureMethod", "HmacSHA256"),
        ("signatureVersion", "2"),
    ]);
    let sts = string_to_sign(
        "GET",
        "authorize.payments-sandbox.amazon.com",
        "/cobranded-ui/actions/start",
        &q,
    );
    let expected = "OuUJQqFBJhezmcWOAhDGcsD/6OXpOLVlcbF3XMIZO3U=";
    check("bar", SignatureMethod::HmacSha256, &sts, expected);
    assert_eq!(
        encode(expected),
        "OuUJQqFBJhezmcWOAhDGcsD%2F6OXpOLVlcbF3XMIZO3U%3D"
    );
}

#[test]
fn tv5_amazon_flex_pay_api_request_dotted_names_sort_as_strings() {
    let q = canonical_query([
        ("Foo", "bar"),
        ("Action", "TestRequest"),
        ("Amount.Value", "3.14"),
        ("Amount.CurrencyCode", "USD"),
        ("AWSAccessKeyId", "foo"),
        ("SignatureMethod", "HmacSHA256"),
        ("SignatureVersion", "2"),
        ("Timestamp", "2011-01-01T05:00:00Z"),
        ("Version", "2011-09-20"),
    ]);
    let sts = string_to_sign("GET", "fps.sandbox.amazonaws.com", "/", &q);
    let expected = "WVrkmK7qt/T+gtHWcdzqtkLRH8c06l/mPv3ZfxyvNyg=";
    check("bar", SignatureMethod::HmacSha256, &sts, expected);
    assert_eq!(
        encode(expected),
        "WVrkmK7qt%2FT%2BgtHWcdzqtkLRH8c06l%2FmPv3ZfxyvNyg%3D"
    );
}

const TV6_QUERY: &str = "callerKey=AKIAIOSFODNN7EXAMPLE&callerReference=order-1001&currencyCode=USD&paymentMethod=CC&paymentReason=Order%20%231001%3A%202%20x%20T-shirt%20%28blue%2FL%29&pipelineName=SingleUse&reserve=True&returnURL=https%3A%2F%2Fshop.example.com%2Fcbui%2Freturn%3Fo%3D1001&signatureMethod=HmacSHA256&signatureVersion=2&transactionAmount=25.50&version=2009-01-09";

#[test]
fn tv6_cbui_single_use_with_reserve_sha256_and_sha1() {
    use fps_protocol::cbui::{SingleUseRequest, SANDBOX_CBUI_URL};
    use fps_protocol::money::Amount;
    use fps_protocol::signing::Credentials;

    // The builder must produce exactly the published canonical query and signature.
    let request = SingleUseRequest {
        caller_reference: "order-1001".into(),
        return_url: url::Url::parse("https://shop.example.com/cbui/return?o=1001").unwrap(),
        amount: Amount::parse("25.50").unwrap(),
        payment_reason: Some("Order #1001: 2 x T-shirt (blue/L)".into()),
        payment_methods: vec![],
        reserve: true,
    };
    let creds = Credentials::new("AKIAIOSFODNN7EXAMPLE", AWS_EXAMPLE_SECRET);
    let endpoint = url::Url::parse(SANDBOX_CBUI_URL).unwrap();
    let url = request
        .signed_url(&endpoint, &creds, SignatureMethod::HmacSha256)
        .unwrap();
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let unsigned: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(canonical_query(unsigned.clone()), TV6_QUERY);
    let signature = params.iter().find(|(k, _)| k == "signature").unwrap();
    assert_eq!(signature.1, "dXom6T1K2ZTRceTW8guB1W2+3fjLqu2dZ2JQWwvqdzc=");

    let sts = string_to_sign(
        "GET",
        "authorize.payments-sandbox.amazon.com",
        "/cobranded-ui/actions/start",
        &TV6_QUERY.replace("HmacSHA256", "HmacSHA1"),
    );
    check(
        AWS_EXAMPLE_SECRET,
        SignatureMethod::HmacSha1,
        &sts,
        "u8dHm/YhJZW0RAPrpKic0ZLeuS8=",
    );
}

#[test]
fn tv7_pay_get_and_post() {
    let q = canonical_query([
        ("AWSAccessKeyId", "AKIAIOSFODNN7EXAMPLE"),
        ("Action", "Pay"),
        ("CallerReference", "order-1001-pay"),
        (
            "SenderTokenId",
            "A5BB3HUNAZFJ5CRXIPH72LIODZUNAUZIVP7UB74QNFQDSQ9MN4HPIKISQZWPLJXF",
        ),
        ("SignatureMethod", "HmacSHA256"),
        ("SignatureVersion", "2"),
        ("Timestamp", "2011-10-03T15:19:30Z"),
        ("TransactionAmount.CurrencyCode", "USD"),
        ("TransactionAmount.Value", "25.50"),
        ("Version", "2010-08-28"),
    ]);
    for (verb, expected) in [
        ("GET", "Gy157d5zZcSrBNirRaqyCBzaXnM5acDAWJrxu1XGeuM="),
        ("POST", "yYZNzE+U6Gz9h1d9d09B4Z7VZDfSL748jHPhm+1zqMc="),
    ] {
        let sts = string_to_sign(verb, "fps.sandbox.amazonaws.com", "/", &q);
        check(
            AWS_EXAMPLE_SECRET,
            SignatureMethod::HmacSha256,
            &sts,
            expected,
        );
    }
}

/// The client's own signing of a typed Pay must equal TV-7 when its clock reads the vector's time.
#[test]
fn tv7_through_the_client() {
    use fps_protocol::api::Pay;
    use fps_protocol::clock::ManualClock;
    use fps_protocol::money::Amount;
    use fps_protocol::signing::Credentials;
    use fps_protocol::{ClientConfig, FpsClient, HttpVerb};
    use std::sync::Arc;

    let clock = ManualClock::new(time::macros::datetime!(2011-10-03 15:19:30 UTC));
    let config = ClientConfig::new(
        url::Url::parse("https://fps.sandbox.amazonaws.com/").unwrap(),
        Credentials::new("AKIAIOSFODNN7EXAMPLE", AWS_EXAMPLE_SECRET),
    );
    let client = FpsClient::new(config, Arc::new(clock)).unwrap();
    let pay = Pay {
        sender_token_id: "A5BB3HUNAZFJ5CRXIPH72LIODZUNAUZIVP7UB74QNFQDSQ9MN4HPIKISQZWPLJXF".into(),
        amount: Amount::parse("25.50").unwrap(),
        caller_reference: "order-1001-pay".into(),
        caller_description: None,
        sender_description: None,
        override_ipn_url: None,
    };
    for (verb, expected) in [
        (
            HttpVerb::Get,
            "Gy157d5zZcSrBNirRaqyCBzaXnM5acDAWJrxu1XGeuM=",
        ),
        (
            HttpVerb::Post,
            "yYZNzE+U6Gz9h1d9d09B4Z7VZDfSL748jHPhm+1zqMc=",
        ),
    ] {
        let params = client.signed_params(&pay, verb);
        let sig = params.iter().find(|(k, _)| k == "Signature").unwrap();
        assert_eq!(sig.1, expected, "{verb:?}");
    }
}
