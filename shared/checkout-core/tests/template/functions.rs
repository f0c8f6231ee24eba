//! The functions: builds, IAM that mirrors what each one calls, and the configuration each reads.

use checkout_core::adapters::dynamodb::BY_TRANSACTION_ID;
use checkout_core::domain::catalog::{Catalog, PricingRule};
use checkout_core::domain::order::PaymentAction;
use serde_json::{json, Value};

use crate::support::*;

#[test]
fn functions_are_arm64_cargo_lambda_builds_of_the_workspace_binaries() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    for (logical_id, binary, _) in FUNCTIONS {
        let function = resource(&template, logical_id);
        assert_eq!(function["Type"], "AWS::Serverless::Function");
        let props = &function["Properties"];
        let get = |name: &str| {
            if props[name].is_null() {
                globals[name].clone()
            } else {
                props[name].clone()
            }
        };
        assert_eq!(get("Runtime"), "provided.al2023", "{logical_id}");
        assert_eq!(get("Architectures"), json!(["arm64"]), "{logical_id}");
        assert_eq!(get("Handler"), "bootstrap", "{logical_id}");
        assert_eq!(get("CodeUri"), "./", "{logical_id}");
        assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
        assert_eq!(function["Metadata"]["BuildProperties"]["Binary"], binary);
        assert_eq!(
            props["FunctionName"],
            json!({ "Fn::Sub": format!("${{AWS::StackName}}-{binary}") }),
            "{logical_id}: the API's integrations name the function by this name"
        );
        let manifest = repo_root()
            .join("functions")
            .join(binary)
            .join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest)
            .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "functions/{binary} is the package {binary}"
        );
        let timeout = get("Timeout").as_u64().expect("a timeout");
        let memory = get("MemorySize").as_u64().expect("a memory size");
        assert!((128..=256).contains(&memory), "{logical_id}: {memory} MB");
        let serves_http = props["Events"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, e)| e["Type"] == "HttpApi");
        if serves_http {
            assert!(
                timeout <= 29,
                "{logical_id}: API Gateway waits 30 s at most"
            );
        }
    }
}

#[test]
fn parameter_defaults_and_allowed_values_are_accepted_by_the_code() {
    let template = template();
    let params = &template["Parameters"];
    let default = |name: &str| {
        params[name]["Default"]
            .as_str()
            .unwrap_or_else(|| panic!("parameter {name} has a string default"))
            .to_owned()
    };
    let catalog = Catalog::from_json(&default("CatalogJson")).expect("default catalog");
    assert!((3..=4).contains(&catalog.products.len()));
    PricingRule::from_json(&default("PricingJson")).expect("default pricing");
    for action in params["PaymentAction"]["AllowedValues"].as_array().unwrap() {
        let action = action.as_str().unwrap();
        assert!(PaymentAction::parse(action).is_some(), "{action}");
    }
    let environments: Vec<&str> = params["FpsEnvironment"]["AllowedValues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(environments, ["sandbox", "production", "local"]);
    assert_eq!(default("FpsEnvironment"), "sandbox");
    assert_eq!(default("SettleSchedule"), "rate(15 minutes)");
    assert_eq!(default("FulfilmentEventSource"), "shop.fulfilment");
    for name in [
        "Stage",
        "FpsEnvironment",
        "PaymentAction",
        "SettleSchedule",
        "FulfilmentEventSource",
        "CatalogJson",
        "PricingJson",
        "MerchantName",
        "FpsCredentialsSecretArn",
    ] {
        assert!(params[name].is_object(), "parameter {name}");
    }
    for name in [
        "ShopUrl",
        "ReturnUrl",
        "OrderTableName",
        "OrderTableStreamArn",
    ] {
        assert!(template["Outputs"][name].is_object(), "output {name}");
    }
}

/// Issue 12 (10): a burst of events must not take the account's concurrency; overlapping
/// sweeps stay safe, so a small fixed share is enough.
#[test]
fn the_settle_function_has_reserved_concurrency_from_a_parameter() {
    let template = template();
    let reserved = &resource(&template, "SettleReservationsFunction")["Properties"]
        ["ReservedConcurrentExecutions"];
    assert_eq!(reserved, &json!({"Ref": "SettleReservedConcurrency"}));
    let parameter = &template["Parameters"]["SettleReservedConcurrency"];
    assert_eq!(parameter["Type"], "Number");
    let default = parameter["Default"]
        .as_u64()
        .or_else(|| parameter["Default"].as_str().and_then(|d| d.parse().ok()))
        .expect("a default");
    assert!((1..=50).contains(&default), "{default}");
    assert_eq!(parameter["MinValue"], json!(1));
}

/// Issue 15: the operators' policy grants exactly what checkout-admin calls — it reads orders
/// and invokes the function that holds the FPS keys, and nothing touches the FPS secret.
#[test]
fn the_operator_policy_is_what_checkout_admin_calls() {
    let template = template();
    let policy = resource(&template, "OperatorPolicy");
    assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements");
    let found: Vec<(Vec<String>, Value)> = statements
        .iter()
        .map(|st| {
            let mut actions: Vec<String> = match &st["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
                other => panic!("Action {other}"),
            };
            actions.sort();
            (actions, st["Resource"].clone())
        })
        .collect();
    let transaction_index =
        json!({ "Fn::Sub": format!("${{OrderTable.Arn}}/index/{BY_TRANSACTION_ID}") });
    assert_eq!(
        found,
        vec![
            (
                vec!["dynamodb:GetItem".to_owned(), "dynamodb:Scan".to_owned()],
                json!({"Fn::GetAtt": ["OrderTable", "Arn"]})
            ),
            (vec!["dynamodb:Query".to_owned()], transaction_index),
            (
                vec!["lambda:InvokeFunction".to_owned()],
                json!({"Fn::GetAtt": ["SettleReservationsFunction", "Arn"]})
            ),
        ]
    );
}
