//! The sample events (`infra/events/`) and the local stack's `env.json` fit the template and the code.

use std::collections::{BTreeMap, BTreeSet};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use base64::Engine as _;
use checkout_core::config::{FpsConfig, FpsEnvironment, ShopConfig, StoreConfig};
use serde_json::{json, Value};

use crate::support::*;

#[test]
fn sample_http_events_parse_and_match_the_routes() {
    let order_url = "/return/o-5f0c2a9e8b7d4c6fa1e2d3c4b5a69788";
    // (file, method, the route's path, the request's path)
    let cases = [
        ("get-shop.json", "GET", "/", "/"),
        ("post-checkout-form.json", "POST", "/checkout", "/checkout"),
        ("post-checkout-json.json", "POST", "/checkout", "/checkout"),
        ("get-return.json", "GET", "/return", "/return"),
        (
            "post-return-retry.json",
            "POST",
            "/return/{orderId}",
            order_url,
        ),
        ("post-ipn.json", "POST", "/ipn", "/ipn"),
    ];
    for (file, method, route, path) in cases {
        let raw = read_json(&events_dir().join(file));
        let event: ApiGatewayV2httpRequest = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{file} is not an HTTP API v2 event: {e}"));
        assert_eq!(raw["version"], "2.0", "{file}");
        assert_eq!(
            event.route_key.as_deref(),
            Some(format!("{method} {route}").as_str())
        );
        assert_eq!(event.raw_path.as_deref(), Some(path), "{file}");
        assert_eq!(event.request_context.http.method.as_str(), method, "{file}");
        assert_eq!(event.request_context.stage.as_deref(), Some("$default"));
    }

    let form = read_json(&events_dir().join("post-checkout-form.json"));
    assert_eq!(form["isBase64Encoded"], true);
    let body = base64::engine::general_purpose::STANDARD
        .decode(form["body"].as_str().unwrap())
        .expect("base64 body");
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    assert_eq!(
        pairs,
        [
            ("sku", "TEE-BLUE-L"),
            ("quantity", "2"),
            ("sku", "MUG"),
            ("quantity", "1")
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );

    let api = read_json(&events_dir().join("post-checkout-json.json"));
    assert_eq!(api["isBase64Encoded"], false);
    let body: Value = serde_json::from_str(api["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"items": [{"sku": "TEE-BLUE-L", "quantity": 2}]})
    );

    let ret = read_json(&events_dir().join("get-return.json"));
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(ret["rawQueryString"].as_str().unwrap().as_bytes())
            .into_owned()
            .collect();
    for name in [
        "signature",
        "signatureVersion",
        "signatureMethod",
        "certificateUrl",
        "tokenID",
        "status",
        "callerReference",
    ] {
        assert!(query.contains_key(name), "get-return.json lacks {name}");
    }
    assert_eq!(query["status"], "SC");
}

#[test]
fn sample_eventbridge_events_parse() {
    let scheduled: EventBridgeEvent =
        serde_json::from_value(read_json(&events_dir().join("scheduled.json")))
            .expect("scheduled.json is an EventBridge event");
    assert_eq!(scheduled.detail_type, "Scheduled Event");
    assert_eq!(scheduled.source, "aws.events");

    let fulfilled: EventBridgeEvent =
        serde_json::from_value(read_json(&events_dir().join("order-fulfilled.json")))
            .expect("order-fulfilled.json is an EventBridge event");
    assert_eq!(fulfilled.detail_type, "OrderFulfilled");
    assert_eq!(fulfilled.source, "shop.fulfilment");
    assert!(fulfilled.detail["callerReference"].is_string());
    assert!(
        fulfilled.detail["amount"].is_string(),
        "amounts are strings"
    );

    for (file, detail_type) in [
        ("refund-requested.json", "RefundRequested"),
        ("cancel-requested.json", "CancelRequested"),
    ] {
        let asked: EventBridgeEvent = serde_json::from_value(read_json(&events_dir().join(file)))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(asked.detail_type, detail_type);
        assert_eq!(
            asked.source, fulfilled.source,
            "the same producer, the same bus"
        );
        assert_eq!(
            asked.detail["callerReference"],
            fulfilled.detail["callerReference"]
        );
        assert!(asked.detail["reason"].is_string());
    }

    let ret = read_json(&events_dir().join("get-return.json"));
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(ret["rawQueryString"].as_str().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        fulfilled.detail["callerReference"], query["callerReference"],
        "the sample events tell one order's story"
    );
}

/// `sam local invoke --env-vars` passes a function only variables its template declares (under
/// FpsEnvironment=local), keyed by logical id; and the values must satisfy the config loaders.
#[test]
fn env_json_configures_every_function_for_the_local_stack() {
    let template = template();
    let env = read_json(&events_dir().join("env.json"));
    let env = env.as_object().expect("env.json is an object");
    let keys: BTreeSet<&str> = env.keys().map(String::as_str).collect();
    let ids: BTreeSet<&str> = FUNCTIONS.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(keys, ids);

    for (logical_id, _, shop_pages) in FUNCTIONS {
        let declared = function_environment(&template, logical_id);
        let vars: BTreeMap<String, String> = env[logical_id]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .unwrap_or_else(|| panic!("{logical_id}.{k} must be a string"));
                (k.clone(), v.to_owned())
            })
            .collect();
        for name in vars.keys() {
            assert!(
                declared.contains_key(name),
                "env.json sets {logical_id}.{name}, which template.yaml does not declare: \
                 sam local would drop it"
            );
        }
        let fps = FpsConfig::from_env(&vars)
            .unwrap_or_else(|e| panic!("{logical_id}: env.json's FPS configuration: {e}"));
        assert_eq!(fps.environment, FpsEnvironment::Local);
        StoreConfig::from_env(&vars).unwrap_or_else(|e| panic!("{logical_id}: {e}"));
        assert_eq!(
            vars.get("AWS_ENDPOINT_URL_DYNAMODB").map(String::as_str),
            Some("http://127.0.0.1:8000")
        );
        if shop_pages {
            ShopConfig::from_env(&vars).unwrap_or_else(|e| panic!("{logical_id}: {e}"));
        }
    }
}
