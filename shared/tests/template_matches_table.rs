//! `template.yaml` (SAM) against the code: the order table's keys and indexes, the functions'
//! routes, permissions and configuration, and the sample events in `infra/events/`.
//!
//! The template is read with `serde_norway`, which keeps CloudFormation's short-form tags
//! (`!Ref`, `!Sub`, `!GetAtt`, `!If`, …) as tagged values; they are turned into the long form
//! (`{"Ref": …}`, `{"Fn::Sub": …}`) so that the rest is plain JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use base64::Engine as _;
use checkout_core::catalog::{Catalog, PricingRule};
use checkout_core::config::{FpsConfig, FpsEnvironment, ShopConfig, StoreConfig};
use checkout_core::order::PaymentAction;
use checkout_core::store::dynamodb::{table_definition, TableDefinition, BY_DUE};
use serde_json::{json, Value};

/// The three functions: logical id in the template, Cargo package/binary, and whether it serves
/// HTTP (and so needs the shop configuration).
const FUNCTIONS: [(&str, &str, bool); 3] = [
    ("StartCheckoutFunction", "start-checkout", true),
    ("CbuiReturnFunction", "cbui-return", true),
    ("SettleReservationsFunction", "settle-reservations", false),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("shared/ has a parent")
        .to_path_buf()
}

/// CloudFormation short form → long form: `!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` →
/// `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` → `{"Fn::Sub": s}`, `!Condition c` →
/// `{"Condition": c}`.
fn to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => panic!("template mapping key is not a string: {other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let name = tagged.tag.to_string().trim_start_matches('!').to_owned();
            let inner = to_json(tagged.value);
            let (key, inner) = match name.as_str() {
                "Ref" | "Condition" => (name.clone(), inner),
                "GetAtt" => {
                    let inner = match inner {
                        Value::String(s) => {
                            let (resource, attribute) = s
                                .split_once('.')
                                .unwrap_or_else(|| panic!("!GetAtt {s} has no attribute"));
                            json!([resource, attribute])
                        }
                        other => other,
                    };
                    ("Fn::GetAtt".to_owned(), inner)
                }
                _ => (format!("Fn::{name}"), inner),
            };
            json!({ key: inner })
        }
    }
}

fn template() -> Value {
    let path = repo_root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let yaml: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    to_json(yaml)
}

fn resource<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    let resource = &template["Resources"][logical_id];
    assert!(
        resource.is_object(),
        "template.yaml has no resource {logical_id}"
    );
    resource
}

/// The function's environment variables, Globals merged in (function values win).
fn function_environment(template: &Value, logical_id: &str) -> BTreeMap<String, Value> {
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    for source in [
        &template["Globals"]["Function"]["Environment"]["Variables"],
        &resource(template, logical_id)["Properties"]["Environment"]["Variables"],
    ] {
        if let Some(map) = source.as_object() {
            vars.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    vars
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn events_dir() -> PathBuf {
    repo_root().join("infra/events")
}

#[test]
fn order_table_keys_and_indexes_equal_the_code_definition() {
    let template = template();
    let table = resource(&template, "OrderTable");
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let from_template: TableDefinition = serde_json::from_value(table["Properties"].clone())
        .expect("the OrderTable properties have the shape of a table definition");
    let code = table_definition();
    let pretty = |d: &TableDefinition| {
        serde_json::to_string_pretty(&d.clone().normalized()).expect("serialisable")
    };
    assert!(
        from_template.same_keys_and_indexes(&code),
        "template.yaml's OrderTable differs from table_definition():\n--- template\n{}\n--- code\n{}",
        pretty(&from_template),
        pretty(&code)
    );
    // Billing mode and stream too: the whole definition, order aside.
    assert_eq!(from_template.normalized(), code.normalized());
}

#[test]
fn order_table_is_on_demand_streamed_recoverable_encrypted_and_retained() {
    let template = template();
    let table = resource(&template, "OrderTable");
    let props = &table["Properties"];
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        props["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(props["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
}

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

/// Every HTTP route in the API's OpenAPI body goes to the function that declares it as an
/// event, by that function's fixed name.
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
    let expected: BTreeSet<String> = ["GET /", "POST /checkout", "GET /return"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(from_events, expected);
}

/// The IAM statements name exactly the calls each function makes.
#[test]
fn each_function_may_do_only_what_it_calls() {
    let template = template();
    let table = json!({"Fn::GetAtt": ["OrderTable", "Arn"]});
    let due_index = json!({ "Fn::Sub": format!("${{OrderTable.Arn}}/index/{BY_DUE}") });
    let secret = json!({"Fn::If": ["CreateFpsCredentialsSecret",
        {"Ref": "FpsCredentialsSecret"}, {"Ref": "FpsCredentialsSecretArn"}]});
    let expected: BTreeMap<&str, Vec<(Vec<&str>, Value)>> = BTreeMap::from([
        (
            "StartCheckoutFunction",
            vec![
                (vec!["dynamodb:PutItem"], table.clone()),
                (vec!["secretsmanager:GetSecretValue"], secret.clone()),
            ],
        ),
        (
            "CbuiReturnFunction",
            vec![
                (vec!["dynamodb:GetItem", "dynamodb:PutItem"], table.clone()),
                (vec!["secretsmanager:GetSecretValue"], secret.clone()),
            ],
        ),
        (
            "SettleReservationsFunction",
            vec![
                (vec!["dynamodb:GetItem", "dynamodb:PutItem"], table.clone()),
                (vec!["dynamodb:Query"], due_index),
                (vec!["secretsmanager:GetSecretValue"], secret),
            ],
        ),
    ]);
    for (logical_id, grants) in expected {
        let policies = resource(&template, logical_id)["Properties"]["Policies"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut found = Vec::new();
        for policy in &policies {
            let statements = policy["Statement"]
                .as_array()
                .unwrap_or_else(|| panic!("{logical_id}: only inline policy documents"));
            for statement in statements {
                assert_eq!(statement["Effect"], "Allow");
                let mut actions: Vec<String> = match &statement["Action"] {
                    Value::String(a) => vec![a.clone()],
                    Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
                    other => panic!("{logical_id}: Action {other}"),
                };
                actions.sort();
                found.push((actions, statement["Resource"].clone()));
            }
        }
        let want: Vec<(Vec<String>, Value)> = grants
            .into_iter()
            .map(|(a, r)| (a.into_iter().map(String::from).collect(), r))
            .collect();
        assert_eq!(found, want, "{logical_id}'s IAM statements");
    }
}

#[test]
fn functions_get_the_configuration_their_code_reads() {
    let template = template();
    let common = [
        "TABLE_NAME",
        "FPS_ENVIRONMENT",
        "FPS_CREDENTIALS_SECRET_ARN",
        "RUST_LOG",
    ];
    let shop = [
        "PAYMENT_ACTION",
        "RETURN_URL",
        "SHOP_URL",
        "CATALOG_JSON",
        "PRICING_JSON",
        "MERCHANT_NAME",
    ];
    for (logical_id, _, serves_http) in FUNCTIONS {
        let vars = function_environment(&template, logical_id);
        for name in common {
            assert!(vars.contains_key(name), "{logical_id} lacks {name}");
        }
        for name in shop {
            assert_eq!(vars.contains_key(name), serves_http, "{logical_id}: {name}");
        }
        if serves_http {
            let api_url = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}";
            assert_eq!(
                vars["RETURN_URL"],
                json!({"Fn::Sub": format!("{api_url}/return")})
            );
            assert_eq!(vars["SHOP_URL"], json!({"Fn::Sub": format!("{api_url}/")}));
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
}

#[test]
fn sample_http_events_parse_and_match_the_routes() {
    let cases = [
        ("get-shop.json", "GET", "/"),
        ("post-checkout-form.json", "POST", "/checkout"),
        ("post-checkout-json.json", "POST", "/checkout"),
        ("get-return.json", "GET", "/return"),
    ];
    for (file, method, path) in cases {
        let raw = read_json(&events_dir().join(file));
        let event: ApiGatewayV2httpRequest = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{file} is not an HTTP API v2 event: {e}"));
        assert_eq!(raw["version"], "2.0", "{file}");
        assert_eq!(
            event.route_key.as_deref(),
            Some(format!("{method} {path}").as_str())
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

    for (logical_id, _, serves_http) in FUNCTIONS {
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
        if serves_http {
            ShopConfig::from_env(&vars).unwrap_or_else(|e| panic!("{logical_id}: {e}"));
        }
    }
}
