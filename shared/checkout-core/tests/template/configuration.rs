//! The configuration each function reads, against what `template.yaml` declares for it. What
//! the code reads is found by running each function's own init (the wiring call its `main.rs`
//! makes) on a recording environment, not from a list kept here.

use std::collections::{BTreeMap, BTreeSet};

use checkout_core::config::Recording;
use checkout_core::wiring;
use serde_json::{json, Value};

use crate::support::*;

/// Declared for every function, read by none of the code's loaders: the AWS SDK reads it.
const READ_BY_THE_AWS_SDK: &[&str] = &["AWS_ENDPOINT_URL_DYNAMODB"];

/// Runs `logical_id`'s init as its `main.rs` does, on `env`; the error, if it cannot start.
async fn init(logical_id: &str, crate_dir: &str, env: &Recording<BTreeMap<String, String>>) {
    let main_rs = std::fs::read_to_string(
        repo_root()
            .join("functions")
            .join(crate_dir)
            .join("src/main.rs"),
    )
    .expect("the function's main.rs");
    let called = |call: &str| main_rs.contains(call);
    let started = if called("wiring::web_service(&ProcessEnv)") {
        wiring::web_service(env).await.map(drop)
    } else if called("wiring::settlement(&ProcessEnv)") {
        wiring::settlement(env).await.map(drop)
    } else if called("wiring::notifications(&ProcessEnv)") {
        wiring::notifications(env).await.map(drop)
    } else if called("wiring::event_publisher(&ProcessEnv)") {
        wiring::event_publisher(env).await.map(drop)
    } else {
        panic!(
            "{crate_dir}/src/main.rs builds its service with a wiring call this test does not know"
        )
    };
    if let Err(error) = started {
        panic!("{logical_id} cannot start with only what template.yaml declares: {error}");
    }
    // Its metrics' namespace, read as `telemetry::init` reads it.
    assert!(
        called(&format!("telemetry::init(\"{crate_dir}\", &ProcessEnv)")),
        "{crate_dir} installs its metrics from the environment"
    );
    checkout_core::telemetry::namespace(env);
}

/// A declared value as a deployment gets it: a literal, or a parameter's default.
fn deployed_value(template: &Value, declared: &Value) -> Option<String> {
    let value = match declared {
        Value::Object(reference) => {
            &template["Parameters"][reference.get("Ref")?.as_str()?]["Default"]
        }
        literal => literal,
    };
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Every variable a function declares is read by its init, every Global is read by some
/// function, and each init starts with the declared variables alone (their local values from
/// `infra/events/env.json`): nothing the code needs is missing, nothing declared is dead.
#[tokio::test]
async fn each_function_reads_what_it_declares_and_starts_on_nothing_else() {
    let template = template();
    let env_json = read_json(&events_dir().join("env.json"));
    let globals: BTreeSet<String> = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .map(|vars| vars.keys().cloned().collect())
        .unwrap_or_default();
    let mut read_by_some = BTreeSet::new();
    for (logical_id, crate_dir, _) in FUNCTIONS {
        let declared = function_environment(&template, logical_id);
        let local: BTreeMap<String, String> = declared
            .iter()
            .map(|(name, declared)| {
                let value = env_json[logical_id][name]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| deployed_value(&template, declared))
                    .unwrap_or_else(|| {
                        panic!("{logical_id}: {name} has no value in env.json or the template")
                    });
                (name.clone(), value)
            })
            .collect();
        let env = Recording::new(local);
        init(logical_id, crate_dir, &env).await;
        let read = env.asked();
        for name in declared.keys().filter(|name| !globals.contains(*name)) {
            assert!(
                read.contains(name),
                "{logical_id} declares {name}, which its code never reads (it reads {read:?})"
            );
        }
        read_by_some.extend(read);
    }
    for name in &globals {
        assert!(
            read_by_some.contains(name) || READ_BY_THE_AWS_SDK.contains(&name.as_str()),
            "Globals declare {name}, which no function reads"
        );
    }
}

/// The URLs a function is given are the API's own routes.
#[test]
fn functions_are_given_the_apis_own_urls() {
    let template = template();
    let api_url = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}";
    for (logical_id, _, shop_pages) in FUNCTIONS {
        let vars = function_environment(&template, logical_id);
        // Issue 13: every function that calls Pay, Reserve or Settle names the notification
        // route as OverrideIPNURL, and the notification function verifies against it.
        if !matches!(logical_id, "StartCheckoutFunction" | "OrderEventsFunction") {
            assert_eq!(
                vars.get("IPN_URL"),
                Some(&json!({"Fn::Sub": format!("{api_url}/ipn")})),
                "{logical_id}"
            );
        }
        if shop_pages {
            assert_eq!(
                vars["RETURN_URL"],
                json!({"Fn::Sub": format!("{api_url}/return")})
            );
            assert_eq!(vars["SHOP_URL"], json!({"Fn::Sub": format!("{api_url}/")}));
        }
    }
}
