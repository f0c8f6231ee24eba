//! The order table: keys and indexes as the code defines them, and its durability settings.

use checkout_core::adapters::dynamodb::{table_definition, TableDefinition};

use crate::support::*;

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

/// Issue 13 (3): abandoned and failed orders expire by TTL on the attribute the store writes,
/// after a retention the template passes to every function and the code accepts.
#[test]
fn abandoned_and_failed_orders_expire_by_ttl_after_the_retention_parameter() {
    use checkout_core::adapters::dynamodb::attr;
    use checkout_core::config::StoreConfig;
    use std::collections::BTreeMap;
    let template = template();
    let ttl = &resource(&template, "OrderTable")["Properties"]["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"], attr::EXPIRES_AT);
    assert_eq!(ttl["Enabled"], true);
    let retention = &template["Parameters"]["RetentionDays"];
    for days in [
        retention["Default"].clone(),
        retention["MinValue"].clone(),
        retention["MaxValue"].clone(),
    ] {
        let env: BTreeMap<String, String> = [
            ("TABLE_NAME".to_owned(), "t".to_owned()),
            ("RETENTION_DAYS".to_owned(), days.to_string()),
        ]
        .into();
        StoreConfig::from_env(&env).unwrap_or_else(|e| panic!("{days}: {e}"));
    }
    assert_eq!(
        template["Globals"]["Function"]["Environment"]["Variables"]["RETENTION_DAYS"],
        serde_json::json!({"Ref": "RetentionDays"})
    );
}
