//! The order table's definition — keys, attribute types, indexes, billing, stream — in one
//! place, used to create the table (tests, local dev stack) and to check `template.yaml`.
//!
//! [`TableDefinition`] serialises with CloudFormation's `AWS::DynamoDB::Table` property names
//! (`AttributeDefinitions`, `KeySchema`, `GlobalSecondaryIndexes`, …), so a test can read the
//! table's `Properties` out of the SAM template and compare:
//!
//! ```ignore
//! let from_template: TableDefinition = serde_json::from_value(properties)?; // unknown keys ignored
//! assert!(from_template.same_keys_and_indexes(&table_definition()));
//! ```

use std::time::Duration;

use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{self as ddb, TableDescription};
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use super::item::attr;
use super::sdk_error_text;

/// Sparse index: FPS TransactionId → order (present once FPS gave a TransactionId).
pub const BY_TRANSACTION_ID: &str = "byTransactionId";
/// Sparse index of due orders: `dueBucket` (constant) + `dueAt` (RFC 3339 UTC, sortable).
pub const BY_DUE: &str = "byDue";

/// How long [`create_table`] waits for the table and its indexes to become ACTIVE.
pub const CREATE_TABLE_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    /// `PAY_PER_REQUEST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_mode: Option<String>,
    /// The stream that feeds the merchant's fulfilment workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_specification: Option<StreamSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpec {
    /// `NEW_AND_OLD_IMAGES`.
    pub stream_view_type: String,
}

fn key(name: &str, key_type: &str) -> KeyElement {
    KeyElement {
        attribute_name: name.to_owned(),
        key_type: key_type.to_owned(),
    }
}

fn string_attr(name: &str) -> AttributeDef {
    AttributeDef {
        attribute_name: name.to_owned(),
        attribute_type: "S".to_owned(),
    }
}

fn all(name: &str, keys: Vec<KeyElement>) -> IndexDef {
    IndexDef {
        index_name: name.to_owned(),
        key_schema: keys,
        projection: ProjectionDef {
            projection_type: "ALL".to_owned(),
        },
    }
}

/// The order table.
pub fn table_definition() -> TableDefinition {
    TableDefinition {
        attribute_definitions: vec![
            string_attr(attr::CALLER_REFERENCE),
            string_attr(attr::TRANSACTION_ID),
            string_attr(attr::DUE_BUCKET),
            string_attr(attr::DUE_AT),
        ],
        key_schema: vec![key(attr::CALLER_REFERENCE, "HASH")],
        global_secondary_indexes: vec![
            all(BY_TRANSACTION_ID, vec![key(attr::TRANSACTION_ID, "HASH")]),
            all(
                BY_DUE,
                vec![key(attr::DUE_BUCKET, "HASH"), key(attr::DUE_AT, "RANGE")],
            ),
        ],
        billing_mode: Some("PAY_PER_REQUEST".to_owned()),
        stream_specification: Some(StreamSpec {
            stream_view_type: "NEW_AND_OLD_IMAGES".to_owned(),
        }),
    }
}

impl TableDefinition {
    /// Sorted where order carries no meaning (attribute definitions, indexes), so two
    /// definitions written in a different order compare equal.
    pub fn normalized(mut self) -> Self {
        self.attribute_definitions.sort();
        self.global_secondary_indexes.sort();
        self
    }

    /// Same keys, attribute types and indexes (names, keys, projections): what the code relies
    /// on. Billing and stream settings are not compared.
    pub fn same_keys_and_indexes(&self, other: &TableDefinition) -> bool {
        let (a, b) = (self.clone().normalized(), other.clone().normalized());
        a.attribute_definitions == b.attribute_definitions
            && a.key_schema == b.key_schema
            && a.global_secondary_indexes == b.global_secondary_indexes
    }

    /// What an existing table looks like, from DescribeTable.
    pub fn from_description(table: &TableDescription) -> Self {
        let keys = |schema: &[ddb::KeySchemaElement]| {
            schema
                .iter()
                .map(|k| key(k.attribute_name(), k.key_type().as_str()))
                .collect::<Vec<_>>()
        };
        TableDefinition {
            attribute_definitions: table
                .attribute_definitions()
                .iter()
                .map(|a| AttributeDef {
                    attribute_name: a.attribute_name().to_owned(),
                    attribute_type: a.attribute_type().as_str().to_owned(),
                })
                .collect(),
            key_schema: keys(table.key_schema()),
            global_secondary_indexes: table
                .global_secondary_indexes()
                .iter()
                .map(|g| IndexDef {
                    index_name: g.index_name().unwrap_or_default().to_owned(),
                    key_schema: keys(g.key_schema()),
                    projection: ProjectionDef {
                        projection_type: g
                            .projection()
                            .and_then(|p| p.projection_type())
                            .map(|t| t.as_str().to_owned())
                            .unwrap_or_default(),
                    },
                })
                .collect(),
            billing_mode: table
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .map(|m| m.as_str().to_owned()),
            stream_specification: table
                .stream_specification()
                .filter(|s| s.stream_enabled())
                .and_then(|s| s.stream_view_type())
                .map(|t| StreamSpec {
                    stream_view_type: t.as_str().to_owned(),
                }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("DynamoDB {operation} on table {table}: {message}")]
    Sdk {
        operation: &'static str,
        table: String,
        message: String,
    },
    #[error(
        "table {table} exists but its keys or indexes differ from the definition: found {found}"
    )]
    Mismatch { table: String, found: String },
    #[error("table {table} did not become ACTIVE within {waited:?}")]
    NotActive { table: String, waited: Duration },
    #[error("invalid table definition: {0}")]
    Definition(String),
}

/// What [`create_table`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableCreation {
    Created,
    /// A table of that name was there already, with the same keys and indexes.
    AlreadyExisted,
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> TableError {
    TableError::Definition(e.to_string())
}

fn sdk_keys(keys: &[KeyElement]) -> Result<Vec<ddb::KeySchemaElement>, TableError> {
    keys.iter()
        .map(|k| {
            ddb::KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(ddb::KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(build_error)
        })
        .collect()
}

/// Creates the order table (on-demand billing, stream with new and old images) and waits until
/// it and its indexes are ACTIVE. Idempotent: an existing table with the same keys and indexes
/// is fine (`AlreadyExisted`); one with different keys is an error.
pub async fn create_table(client: &Client, name: &str) -> Result<TableCreation, TableError> {
    let def = table_definition();
    let mut request = client
        .create_table()
        .table_name(name)
        .set_key_schema(Some(sdk_keys(&def.key_schema)?));
    for a in &def.attribute_definitions {
        request = request.attribute_definitions(
            ddb::AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ddb::ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(build_error)?,
        );
    }
    for index in &def.global_secondary_indexes {
        request = request.global_secondary_indexes(
            ddb::GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(sdk_keys(&index.key_schema)?))
                .projection(
                    ddb::Projection::builder()
                        .projection_type(ddb::ProjectionType::from(
                            index.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()
                .map_err(build_error)?,
        );
    }
    if let Some(mode) = &def.billing_mode {
        request = request.billing_mode(ddb::BillingMode::from(mode.as_str()));
    }
    if let Some(stream) = &def.stream_specification {
        request = request.stream_specification(
            ddb::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(ddb::StreamViewType::from(stream.stream_view_type.as_str()))
                .build()
                .map_err(build_error)?,
        );
    }
    let created = match request.send().await {
        Ok(_) => TableCreation::Created,
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(CreateTableError::ResourceInUseException(_))
            ) =>
        {
            TableCreation::AlreadyExisted
        }
        Err(e) => {
            return Err(TableError::Sdk {
                operation: "CreateTable",
                table: name.to_owned(),
                message: sdk_error_text(&e),
            })
        }
    };
    let description = wait_until_active(client, name, CREATE_TABLE_WAIT).await?;
    let found = TableDefinition::from_description(&description);
    if !found.same_keys_and_indexes(&def) {
        return Err(TableError::Mismatch {
            table: name.to_owned(),
            found: serde_json::to_string(&found.normalized()).unwrap_or_default(),
        });
    }
    Ok(created)
}

/// Polls DescribeTable until the table and every global index are ACTIVE.
pub async fn wait_until_active(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> Result<TableDescription, TableError> {
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| TableError::Sdk {
                operation: "DescribeTable",
                table: name.to_owned(),
                message: sdk_error_text(&e),
            })?;
        if let Some(table) = described.table() {
            let active = table.table_status() == Some(&ddb::TableStatus::Active)
                && table.global_secondary_indexes().iter().all(|g| {
                    g.index_status()
                        .is_none_or(|s| *s == ddb::IndexStatus::Active)
                });
            if active {
                return Ok(table.clone());
            }
        }
        if started.elapsed() + pause > timeout {
            return Err(TableError::NotActive {
                table: name.to_owned(),
                waited: started.elapsed(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_is_cloudformation_shaped() {
        let json = serde_json::to_value(table_definition()).unwrap();
        assert_eq!(json["KeySchema"][0]["AttributeName"], "callerReference");
        assert_eq!(json["KeySchema"][0]["KeyType"], "HASH");
        assert_eq!(json["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(
            json["StreamSpecification"]["StreamViewType"],
            "NEW_AND_OLD_IMAGES"
        );
        let indexes = json["GlobalSecondaryIndexes"].as_array().unwrap();
        assert_eq!(indexes.len(), 2);
        assert_eq!(indexes[1]["IndexName"], "byDue");
        assert_eq!(indexes[1]["KeySchema"][1]["AttributeName"], "dueAt");
        assert_eq!(indexes[1]["KeySchema"][1]["KeyType"], "RANGE");
        assert_eq!(indexes[1]["Projection"]["ProjectionType"], "ALL");
    }

    #[test]
    fn a_template_written_in_another_order_with_extra_properties_matches() {
        let template = serde_json::json!({
            "TableName": "orders",
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true},
            "KeySchema": [{"AttributeName": "callerReference", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "dueAt", "AttributeType": "S"},
                {"AttributeName": "dueBucket", "AttributeType": "S"},
                {"AttributeName": "transactionId", "AttributeType": "S"},
                {"AttributeName": "callerReference", "AttributeType": "S"}
            ],
            "GlobalSecondaryIndexes": [
                {"IndexName": "byDue", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "dueBucket", "KeyType": "HASH"},
                               {"AttributeName": "dueAt", "KeyType": "RANGE"}]},
                {"IndexName": "byTransactionId", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": "transactionId", "KeyType": "HASH"}]}
            ],
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        });
        let parsed: TableDefinition = serde_json::from_value(template.clone()).unwrap();
        assert!(parsed.same_keys_and_indexes(&table_definition()));
        assert_eq!(parsed.normalized(), table_definition().normalized());

        let mut wrong = template;
        wrong["GlobalSecondaryIndexes"][0]["Projection"]["ProjectionType"] = "KEYS_ONLY".into();
        let parsed: TableDefinition = serde_json::from_value(wrong).unwrap();
        assert!(!parsed.same_keys_and_indexes(&table_definition()));
    }
}
