//! HTTP routes and EventBridge triggers reach the functions that handle them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::support::*;

#[test]
fn http_routes_reach_the_functions_that_declare_them() {
    let template = template();
    let api = resource(&template, "HttpApi");
    assert_eq!(api["Type"], "AWS::Serverless::HttpApi");
    assert_eq!(
        api["Properties"]["StageName"], "$default",
        "a named stage would prefix every rawPath"
    );
    let paths = api["Properties"]["DefinitionBody"]["paths"]
        .as_object()
        .expect("the API has an inline OpenAPI body");

    let mut from_events = BTreeSet::new();
    for (logical_id, binary, _) in FUNCTIONS {
        let events = resource(&template, logical_id)["Properties"]["Events"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (name, event) in events {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let props = &event["Properties"];
            assert_eq!(
                props["ApiId"],
                json!({"Ref": "HttpApi"}),
                "{logical_id}.{name}"
            );
            let path = props["Path"].as_str().expect("a path");
            let method = props["Method"].as_str().expect("a method").to_lowercase();
            let integration = &paths
                .get(path)
                .unwrap_or_else(|| panic!("no {path} in the OpenAPI body"))[&method]
                ["x-amazon-apigateway-integration"];
            assert_eq!(integration["type"], "aws_proxy");
            assert_eq!(integration["payloadFormatVersion"], "2.0");
            let uri = integration["uri"]["Fn::Sub"].as_str().expect("uri is !Sub");
            assert!(
                uri.ends_with(&format!(
                    ":function:${{AWS::StackName}}-{binary}/invocations"
                )),
                "{method} {path} must invoke {binary}: {uri}"
            );
            from_events.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let in_body: BTreeSet<String> = paths
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(m, _)| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    assert_eq!(in_body, from_events);
    let expected: BTreeSet<String> = [
        "GET /",
        "POST /checkout",
        "GET /return",
        "GET /return/{orderId}",
        // Issue 16 (6): "Try again" on a charge FPS declined for now.
        "POST /return/{orderId}",
        // Issue 13: FPS's notifications.
        "POST /ipn",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(from_events, expected);
}

/// The IAM statements name exactly the calls each function makes.
#[test]
fn settle_reservations_runs_on_the_schedule_and_on_order_fulfilled() {
    let template = template();
    let events = &resource(&template, "SettleReservationsFunction")["Properties"]["Events"];
    assert_eq!(events["Sweep"]["Type"], "Schedule");
    assert_eq!(
        events["Sweep"]["Properties"]["Schedule"],
        json!({"Ref": "SettleSchedule"})
    );
    assert_eq!(events["OrderFulfilled"]["Type"], "EventBridgeRule");
    assert_eq!(
        events["OrderFulfilled"]["Properties"]["Pattern"],
        json!({"source": [{"Ref": "FulfilmentEventSource"}], "detail-type": ["OrderFulfilled"]})
    );
    // Issue 15: refunds and cancels from the merchant's systems, on the same bus.
    let after_sale = &events["AfterSaleRequested"];
    assert_eq!(after_sale["Type"], "EventBridgeRule");
    assert_eq!(
        after_sale["Properties"]["EventBusName"],
        json!({"Ref": "FulfilmentEventBus"})
    );
    assert_eq!(
        after_sale["Properties"]["Pattern"],
        json!({"source": [{"Ref": "FulfilmentEventSource"}],
               "detail-type": [settle_reservations_detail::REFUND, settle_reservations_detail::CANCEL]})
    );
}

/// The detail-types settle-reservations dispatches on (kept in step with its code by hand:
/// this crate does not depend on the function).
mod settle_reservations_detail {
    pub const REFUND: &str = "RefundRequested";
    pub const CANCEL: &str = "CancelRequested";
}

/// Issue 12 (4): only the fulfilment system may put events where the settle function listens:
/// a dedicated bus whose policy allows that one principal and denies every other.
#[test]
fn order_fulfilled_comes_only_from_the_fulfilment_systems_bus() {
    let template = template();
    let events = &resource(&template, "SettleReservationsFunction")["Properties"]["Events"];
    assert_eq!(
        events["OrderFulfilled"]["Properties"]["EventBusName"],
        json!({"Ref": "FulfilmentEventBus"})
    );
    let bus = resource(&template, "FulfilmentEventBus");
    assert_eq!(bus["Type"], "AWS::Events::EventBus");
    let statements = bus["Properties"]["Policy"]["Statement"]
        .as_array()
        .expect("a policy with statements");
    let principal = json!({"Ref": "FulfilmentPrincipalArn"});
    let allow = statements
        .iter()
        .find(|s| s["Effect"] == "Allow")
        .expect("an Allow");
    assert_eq!(allow["Principal"]["AWS"], principal);
    assert_eq!(allow["Action"], "events:PutEvents");
    let deny = statements
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .expect("a Deny for everyone else");
    assert_eq!(deny["Principal"], "*");
    assert_eq!(deny["Action"], "events:PutEvents");
    assert_eq!(
        deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"],
        principal
    );
    assert_eq!(
        template["Parameters"]["FulfilmentPrincipalArn"]["Type"],
        "String"
    );
}

/// Issue 12 (1, 4): the settle function is told its safety margin and whether partial
/// settlement is enabled, and the defaults are what the code accepts.
#[test]
fn the_settle_function_gets_its_settlement_rules() {
    use checkout_core::config::SettleConfig;
    let template = template();
    let vars = function_environment(&template, "SettleReservationsFunction");
    assert_eq!(
        vars["RESERVE_SAFETY_MARGIN_MINUTES"],
        json!({"Ref": "ReserveSafetyMarginMinutes"})
    );
    assert_eq!(
        vars["PARTIAL_SETTLEMENT"],
        json!({"Ref": "PartialSettlement"})
    );
    let params = &template["Parameters"];
    let default = |name: &str| match &params[name]["Default"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let env: BTreeMap<String, String> = [
        (
            "RESERVE_SAFETY_MARGIN_MINUTES".to_owned(),
            default("ReserveSafetyMarginMinutes"),
        ),
        (
            "PARTIAL_SETTLEMENT".to_owned(),
            default("PartialSettlement"),
        ),
    ]
    .into();
    let config = SettleConfig::from_env(&env).expect("the defaults are accepted");
    assert!(!config.partial_settlement, "whole orders unless enabled");
    for allowed in params["PartialSettlement"]["AllowedValues"]
        .as_array()
        .expect("allowed values")
    {
        let env: BTreeMap<String, String> = [(
            "PARTIAL_SETTLEMENT".to_owned(),
            allowed.as_str().unwrap().to_owned(),
        )]
        .into();
        SettleConfig::from_env(&env).expect("every allowed value is accepted");
    }
}

/// Issue 12 (5): the return route, reachable by anyone, has its own throttle below the API's.
#[test]
fn the_return_route_is_throttled_below_the_api() {
    let template = template();
    let api = &resource(&template, "HttpApi")["Properties"];
    for key in [
        "GET /return",
        "GET /return/{orderId}",
        "POST /return/{orderId}",
        "POST /ipn",
    ] {
        let route = &api["RouteSettings"][key];
        assert_eq!(
            route["ThrottlingRateLimit"],
            json!({"Ref": "ReturnRateLimit"}),
            "{key}"
        );
        assert_eq!(
            route["ThrottlingBurstLimit"],
            json!({"Ref": "ReturnBurstLimit"}),
            "{key}"
        );
    }
    let number = |v: &Value| v.as_f64().expect("a number");
    let default = |name: &str| number(&template["Parameters"][name]["Default"]);
    let api_rate = number(&api["DefaultRouteSettings"]["ThrottlingRateLimit"]);
    let api_burst = number(&api["DefaultRouteSettings"]["ThrottlingBurstLimit"]);
    assert!(default("ReturnRateLimit") > 0.0 && default("ReturnRateLimit") <= api_rate);
    assert!(default("ReturnBurstLimit") > 0.0 && default("ReturnBurstLimit") <= api_burst);
}

/// Issue 13 (4): the table's stream reaches order-events, which reports partial failures (so
/// Lambda retries from the first record not published) and puts on the shop's bus.
#[test]
fn the_order_stream_reaches_order_events_which_puts_on_the_shops_bus() {
    let template = template();
    let function = resource(&template, "OrderEventsFunction");
    let stream = &function["Properties"]["Events"]["OrderChanges"];
    assert_eq!(stream["Type"], "DynamoDB");
    let props = &stream["Properties"];
    assert_eq!(
        props["Stream"],
        json!({"Fn::GetAtt": ["OrderTable", "StreamArn"]})
    );
    assert_eq!(
        props["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert!(props["DestinationConfig"]["OnFailure"]["Destination"].is_object());
    let vars = function_environment(&template, "OrderEventsFunction");
    assert_eq!(vars["EVENT_BUS_NAME"], json!({"Ref": "ShopEventBus"}));
    assert_eq!(vars["EVENT_SOURCE"], json!({"Ref": "OrderEventSource"}));
    let env: BTreeMap<String, String> = [
        ("EVENT_BUS_NAME".to_owned(), "orders".to_owned()),
        (
            "EVENT_SOURCE".to_owned(),
            template["Parameters"]["OrderEventSource"]["Default"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
    ]
    .into();
    checkout_core::config::EventsConfig::from_env(&env).expect("the defaults are accepted");
}
