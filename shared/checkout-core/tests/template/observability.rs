//! Issue 18: the alarms and the dashboard watch metrics the code really emits (names and
//! dimension sets from `checkout_core::telemetry::METRICS`), every alarm notifies the topic
//! parameter, and every function is traced and logs at the level the stack sets.

use checkout_core::domain::events::OrderEventKind;
use checkout_core::telemetry::METRICS;
use serde_json::{json, Value};

use crate::support::*;

const OUR_NAMESPACE: &str = "FpsCheckout/${Stage}";

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

fn known_dimensions(metric: &str) -> &'static [&'static str] {
    METRICS
        .iter()
        .find(|(name, _)| *name == metric)
        .map(|(_, dims)| *dims)
        .unwrap_or_else(|| panic!("{metric} is not a metric the code emits"))
}

fn check_dimension_value(metric: &str, name: &str, value: &str) {
    if metric == "OrderEvents" && name == "Type" {
        let kinds = [
            OrderEventKind::OrderPaid,
            OrderEventKind::OrderReserved,
            OrderEventKind::OrderSettled,
            OrderEventKind::PaymentFailed,
            OrderEventKind::OrderAbandoned,
            OrderEventKind::OrderExpired,
            OrderEventKind::OrderNeedsAttention,
            OrderEventKind::OrderRefunded,
            OrderEventKind::OrderCancelled,
        ];
        assert!(
            kinds.iter().any(|k| k.detail_type() == value),
            "OrderEvents Type {value} is not an event the code publishes"
        );
    }
}

#[test]
fn every_alarm_watches_a_metric_the_code_emits_and_notifies_the_topic() {
    let template = template();
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    let names: Vec<&str> = alarms.iter().map(|(id, _)| id.as_str()).collect();
    for wanted in [
        "OrderEventsFailureQueueAlarm",
        "SettleFailureQueueAlarm",
        "FunctionErrorsAlarm",
        "FunctionThrottlesAlarm",
        "OldestDueOrderAlarm",
        "OrdersNeedAttentionAlarm",
        "SweepOutOfTimeAlarm",
        "ForgedReturnsAlarm",
        "ForgedNotificationsAlarm",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing: {names:?}");
    }
    let notify =
        json!({"Fn::If": ["NotifyAlarms", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]});
    for (id, alarm) in alarms {
        let p = &alarm["Properties"];
        assert_eq!(p["AlarmActions"], notify, "{id}");
        assert_eq!(p["OKActions"], notify, "{id}");
        assert_eq!(p["TreatMissingData"], "notBreaching", "{id}");
        if p["Namespace"] == json!({"Fn::Sub": OUR_NAMESPACE}) {
            let metric = p["MetricName"].as_str().expect("MetricName");
            let mut dims: Vec<&str> = p["Dimensions"]
                .as_array()
                .map(|d| d.iter().filter_map(|d| d["Name"].as_str()).collect())
                .unwrap_or_default();
            let mut known = known_dimensions(metric).to_vec();
            dims.sort_unstable();
            known.sort_unstable();
            assert_eq!(dims, known, "{id}: {metric}'s dimensions");
            for d in p["Dimensions"].as_array().into_iter().flatten() {
                check_dimension_value(
                    metric,
                    d["Name"].as_str().unwrap_or_default(),
                    d["Value"].as_str().unwrap_or_default(),
                );
            }
        } else if let Some(ns) = p["Namespace"].as_str() {
            assert!(ns.starts_with("AWS/"), "{id}: namespace {ns}");
        }
    }
    // The functions write to the namespace the alarms read.
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(
        globals["METRICS_NAMESPACE"],
        json!({"Fn::Sub": OUR_NAMESPACE})
    );
}

#[test]
fn the_dashboard_shows_only_metrics_the_code_emits() {
    let template = template();
    let body = &resource(&template, "Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"];
    let text = body[0].as_str().expect("a Sub string");
    assert_eq!(body[1]["Ns"], json!({"Fn::Sub": OUR_NAMESPACE}));
    // Substitutions become plain strings so the body parses as the JSON CloudWatch receives.
    let text = text
        .replace("${Ns}", "NS")
        .replace("${AWS::Region}", "us-east-1");
    let text = regex_free_sub(&text);
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard body is JSON");
    let mut shown = 0;
    for widget in dashboard["widgets"].as_array().expect("widgets") {
        for metric in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let parts = metric.as_array().expect("a metric array");
            if let Some(expression) = parts[0]["expression"].as_str() {
                let name = expression
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .expect("a SEARCH by MetricName");
                known_dimensions(name);
                shown += 1;
                continue;
            }
            assert_eq!(parts[0], "NS", "{metric}");
            let name = parts[1].as_str().expect("a metric name");
            let dims: Vec<&str> = parts[2..]
                .iter()
                .filter_map(Value::as_str)
                .step_by(2)
                .collect();
            assert_eq!(dims, known_dimensions(name), "{name}");
            for pair in parts[2..].chunks(2) {
                if let [Value::String(n), Value::String(v)] = pair {
                    check_dimension_value(name, n, v);
                }
            }
            shown += 1;
        }
    }
    assert!(shown >= 15, "{shown} metrics on the dashboard");
}

/// `${Resource.Arn}` references (alarm ARNs) as plain strings.
fn regex_free_sub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e + 1)
            .unwrap_or(rest.len());
        out.push_str("ref");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_function_is_traced_and_logs_json_at_the_stacks_level() {
    let template = template();
    assert_eq!(template["Globals"]["Function"]["Tracing"], "Active");
    assert!(template["Parameters"]["LogLevel"].is_object());
    for (logical_id, _, _) in FUNCTIONS {
        let logging = &resource(&template, logical_id)["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{logical_id}");
        assert_eq!(
            logging["ApplicationLogLevel"],
            json!({"Ref": "LogLevel"}),
            "{logical_id}"
        );
    }
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(globals["DUE_SHARDS"], json!({"Ref": "DueIndexShards"}));
    assert!(globals.get("RUST_LOG").is_none(), "the level is LogLevel's");
}
