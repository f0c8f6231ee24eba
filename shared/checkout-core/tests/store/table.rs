//! The table itself: its definition, idempotent creation, and a missing table.

use std::collections::BTreeSet;

use checkout_core::adapters::dynamodb::{
    client_from_env, create_table, table_definition, DynamoOrderStore, TableCreation,
    TableDefinition, BY_DUE, BY_TRANSACTION_ID,
};
use checkout_core::domain::order::PaymentAction;
use checkout_core::ports::store::{OrderStore, StoreError};

use crate::support::*;

#[tokio::test]
async fn the_table_matches_its_definition_and_creation_is_idempotent() {
    require_moto();
    let table = table_name();
    // from_env: the endpoint comes from AWS_ENDPOINT_URL_DYNAMODB alone.
    let store = DynamoOrderStore::from_env(table.clone()).await;
    assert_eq!(
        create_table(store.client(), &table).await.unwrap(),
        TableCreation::Created
    );
    assert_eq!(
        create_table(store.client(), &table).await.unwrap(),
        TableCreation::AlreadyExisted
    );
    let described = store
        .client()
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let found = TableDefinition::from_description(described.table().unwrap());
    assert!(
        found.same_keys_and_indexes(&table_definition()),
        "{found:#?}"
    );
    let names: BTreeSet<String> = found
        .global_secondary_indexes
        .iter()
        .map(|i| i.index_name.clone())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([BY_DUE.to_owned(), BY_TRANSACTION_ID.to_owned()])
    );
    assert_eq!(found.billing_mode.as_deref(), Some("PAY_PER_REQUEST"));
    if !second_opinion_lacks("Streams") {
        assert_eq!(
            found
                .stream_specification
                .map(|s| s.stream_view_type)
                .as_deref(),
            Some("NEW_AND_OLD_IMAGES")
        );
    }

    // The store works on it.
    let o = order("o-env", PaymentAction::Pay);
    store.create(&o).await.unwrap();
    assert_eq!(store.get("o-env").await.unwrap(), Some(o));
}

#[tokio::test]
async fn a_missing_table_is_unavailable_not_a_panic() {
    require_moto();
    let store = DynamoOrderStore::new(client_from_env().await, table_name());
    assert!(matches!(
        store.get("x").await,
        Err(StoreError::Unavailable { .. })
    ));
    assert!(matches!(
        store.create(&order("x", PaymentAction::Pay)).await,
        Err(StoreError::Unavailable { .. })
    ));
    let err = store.due(NOW, 10, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("ResourceNotFoundException"),
        "{err}"
    );
}
