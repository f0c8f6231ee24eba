//! Reading the template: CloudFormation short forms turned into JSON, and small lookups.
//!
//! The template is read with `serde_norway`, which keeps CloudFormation's short-form tags
//! (`!Ref`, `!Sub`, `!GetAtt`, `!If`, …) as tagged values; they are turned into the long form
//! (`{"Ref": …}`, `{"Fn::Sub": …}`) so that the rest is plain JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The three functions: logical id in the template, Cargo package/binary, and whether it serves
/// HTTP (and so needs the shop configuration).
/// (logical id, binary, serves the shop's pages)
pub const FUNCTIONS: [(&str, &str, bool); 5] = [
    ("StartCheckoutFunction", "start-checkout", true),
    ("CbuiReturnFunction", "cbui-return", true),
    ("SettleReservationsFunction", "settle-reservations", false),
    ("FpsNotificationsFunction", "fps-notifications", false),
    ("OrderEventsFunction", "order-events", false),
];

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// CloudFormation short form → long form: `!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` →
/// `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` → `{"Fn::Sub": s}`, `!Condition c` →
/// `{"Condition": c}`.
pub fn to_json(value: serde_norway::Value) -> Value {
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

pub fn template() -> Value {
    let path = repo_root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let yaml: serde_norway::Value =
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    to_json(yaml)
}

pub fn resource<'a>(template: &'a Value, logical_id: &str) -> &'a Value {
    let resource = &template["Resources"][logical_id];
    assert!(
        resource.is_object(),
        "template.yaml has no resource {logical_id}"
    );
    resource
}

/// The function's environment variables, Globals merged in (function values win).
pub fn function_environment(template: &Value, logical_id: &str) -> BTreeMap<String, Value> {
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

pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

pub fn events_dir() -> PathBuf {
    repo_root().join("infra/events")
}
