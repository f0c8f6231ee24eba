//! What a function's IAM role allows, read from `template.yaml`, and what the function was seen
//! calling (its AWS requests, recorded by a proxy in front of moto), in the same terms: an
//! action on one of the stack's resources, named by its logical id (`OrderTable`,
//! `OrderTable/index/byDue`, `ShopEventBus`, `FpsCredentialsSecret`). The deployed test runs
//! each function's binary and checks the two sets are equal: no call without its permission,
//! no permission its code never uses.

use std::collections::BTreeSet;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

use crate::chaos::proxy::SeenRequest;

/// One permission, or one call: an IAM action on a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub action: String,
    pub resource: String,
}

impl Grant {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
        }
    }
}

/// What the local stand-ins are called, to name a call's resource by the template's logical id.
pub struct LocalNames<'a> {
    pub table: &'a str,
    pub event_bus: &'a str,
    pub credentials_secret: &'a str,
}

/// Every `Allow` in `logical_id`'s inline policies, one grant per action and resource.
/// A statement that is not a plain `Allow` is an error: the check below would not see it.
pub fn granted(template: &Yaml, logical_id: &str) -> Result<BTreeSet<Grant>, String> {
    let mut grants = BTreeSet::new();
    let policies = template["Resources"][logical_id]["Properties"]["Policies"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    for policy in &policies {
        let statements = policy["Statement"]
            .as_sequence()
            .ok_or_else(|| format!("{logical_id}: a policy that is not an inline document"))?;
        for statement in statements {
            if statement["Effect"].as_str() != Some("Allow") || statement.get("Condition").is_some()
            {
                return Err(format!("{logical_id}: not a plain Allow: {statement:?}"));
            }
            let actions: Vec<String> = match &statement["Action"] {
                Yaml::String(action) => vec![action.clone()],
                Yaml::Sequence(actions) => actions
                    .iter()
                    .map(|a| a.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| format!("{logical_id}: an action that is not text"))?,
                other => return Err(format!("{logical_id}: Action {other:?}")),
            };
            let resource = template_resource(&statement["Resource"]);
            grants.extend(actions.into_iter().map(|a| Grant::new(a, resource.clone())));
        }
    }
    Ok(grants)
}

/// A policy's `Resource` as a logical id: `!GetAtt X.Arn` is `X`, `!Sub "${X.Arn}/index/I"` is
/// `X/index/I`, `!Ref X` is `X`, and `!If [created, a, b]` is what the stack creates (`a`).
fn template_resource(value: &Yaml) -> String {
    let Yaml::Tagged(tagged) = value else {
        return format!("{value:?}");
    };
    match (
        tagged.tag.to_string().trim_start_matches('!'),
        &tagged.value,
    ) {
        ("GetAtt", Yaml::String(at)) => at.trim_end_matches(".Arn").to_owned(),
        ("Ref", Yaml::String(name)) => name.clone(),
        ("Sub", Yaml::String(text)) => text.replace("${", "").replace(".Arn}", ""),
        ("If", Yaml::Sequence(branches)) if branches.len() == 3 => template_resource(&branches[1]),
        _ => format!("{value:?}"),
    }
}

/// The calls a recording proxy saw, as grants: the action from `X-Amz-Target`, the resource
/// from the request's body, named by the logical id of the stand-in it names.
pub fn called(seen: &[SeenRequest], names: &LocalNames) -> BTreeSet<Grant> {
    seen.iter()
        .flat_map(|request| call(request, names))
        .collect()
}

fn call(request: &SeenRequest, names: &LocalNames) -> Vec<Grant> {
    let (service, operation) = request
        .target
        .split_once('.')
        .unwrap_or((request.target.as_str(), ""));
    let body: Json = serde_json::from_str(&request.body).unwrap_or(Json::Null);
    let text = |field: &str| body[field].as_str().unwrap_or_default().to_owned();
    let unknown = |what: &str| format!("unknown {what}");
    match service {
        "DynamoDB_20120810" => {
            let table = if text("TableName") == names.table {
                "OrderTable".to_owned()
            } else {
                unknown(&format!("table {}", text("TableName")))
            };
            let resource = match body["IndexName"].as_str() {
                Some(index) => format!("{table}/index/{index}"),
                None => table,
            };
            vec![Grant::new(format!("dynamodb:{operation}"), resource)]
        }
        "AWSEvents" => {
            let entries = body["Entries"].as_array().cloned().unwrap_or_default();
            entries
                .iter()
                .map(|entry| {
                    let bus = entry["EventBusName"].as_str().unwrap_or("default");
                    let resource = if bus == names.event_bus
                        || bus.ends_with(&format!("/{}", names.event_bus))
                    {
                        "ShopEventBus".to_owned()
                    } else {
                        unknown(&format!("bus {bus}"))
                    };
                    Grant::new(format!("events:{operation}"), resource)
                })
                .collect()
        }
        "secretsmanager" => {
            let resource = if text("SecretId") == names.credentials_secret {
                "FpsCredentialsSecret".to_owned()
            } else {
                unknown(&format!("secret {}", text("SecretId")))
            };
            vec![Grant::new(format!("secretsmanager:{operation}"), resource)]
        }
        other => vec![Grant::new(
            format!("{other}:{operation}"),
            unknown("service"),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(target: &str, body: Json) -> SeenRequest {
        SeenRequest {
            target: target.to_owned(),
            body: body.to_string(),
        }
    }

    const NAMES: LocalNames<'static> = LocalNames {
        table: "orders-1",
        event_bus: "shop-1",
        credentials_secret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:fps-AbCdEf",
    };

    #[test]
    fn calls_are_named_by_the_templates_logical_ids() {
        let calls = called(
            &[
                seen(
                    "DynamoDB_20120810.Query",
                    serde_json::json!({"TableName": "orders-1", "IndexName": "byDue"}),
                ),
                seen(
                    "DynamoDB_20120810.GetItem",
                    serde_json::json!({"TableName": "orders-1"}),
                ),
                seen(
                    "DynamoDB_20120810.GetItem",
                    serde_json::json!({"TableName": "other"}),
                ),
                seen(
                    "AWSEvents.PutEvents",
                    serde_json::json!({"Entries": [{"EventBusName": "shop-1"}]}),
                ),
                seen(
                    "secretsmanager.GetSecretValue",
                    serde_json::json!({"SecretId": NAMES.credentials_secret}),
                ),
            ],
            &NAMES,
        );
        let want: BTreeSet<Grant> = [
            Grant::new("dynamodb:Query", "OrderTable/index/byDue"),
            Grant::new("dynamodb:GetItem", "OrderTable"),
            Grant::new("dynamodb:GetItem", "unknown table other"),
            Grant::new("events:PutEvents", "ShopEventBus"),
            Grant::new("secretsmanager:GetSecretValue", "FpsCredentialsSecret"),
        ]
        .into();
        assert_eq!(calls, want);
    }

    #[test]
    fn grants_are_read_from_the_templates_tags() {
        let template: Yaml = serde_norway::from_str(
            r#"
Resources:
  Fn:
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt OrderTable.Arn
            - Effect: Allow
              Action: dynamodb:Query
              Resource: !Sub "${OrderTable.Arn}/index/byDue"
            - Effect: Allow
              Action: secretsmanager:GetSecretValue
              Resource: !If [Create, !Ref FpsCredentialsSecret, !Ref Given]
"#,
        )
        .expect("YAML");
        let want: BTreeSet<Grant> = [
            Grant::new("dynamodb:GetItem", "OrderTable"),
            Grant::new("dynamodb:PutItem", "OrderTable"),
            Grant::new("dynamodb:Query", "OrderTable/index/byDue"),
            Grant::new("secretsmanager:GetSecretValue", "FpsCredentialsSecret"),
        ]
        .into();
        assert_eq!(granted(&template, "Fn"), Ok(want));
        assert_eq!(granted(&template, "Other"), Ok(BTreeSet::new()));
        let deny: Yaml = serde_norway::from_str(
            "Resources: {Fn: {Properties: {Policies: [{Statement: [{Effect: Deny, Action: x, Resource: y}]}]}}}",
        )
        .expect("YAML");
        assert!(granted(&deny, "Fn").is_err());
    }
}
