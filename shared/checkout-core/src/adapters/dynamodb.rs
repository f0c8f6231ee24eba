//! DynamoDB adapter for [`OrderStore`]: one item per order, every write conditional.
//!
//! - Table: partition key `callerReference`; see [`table::table_definition`].
//! - `create`: PutItem if `attribute_not_exists(callerReference)`.
//! - `transition`: PutItem of the whole next item if the stored `version` and `state` are still
//!   the previous ones. A condition failure is recognised by the SDK's typed
//!   `ConditionalCheckFailedException`, never by an error string.
//! - `get`: strongly consistent GetItem.
//! - `find_by_transaction_id`: Query on the sparse `byTransactionId` index (eventually
//!   consistent).
//! - `due`: Query on the sparse `byDue` index, `dueBucket = <shard> AND dueAt <= now` for every
//!   shard at once, merged oldest first (eventually consistent); never a Scan. See [`DueShards`].
//!
//! Index reads are eventually consistent: an order can show up in `due` (or be found by its
//! TransactionId) a moment after it changed. Callers act on such an order only through a
//! conditional `transition` on the version they read — after a consistent [`OrderStore::get`]
//! when they need the latest state — so a stale index entry costs a `Conflict`, never a
//! double charge.
//!
//! The endpoint comes from the standard AWS configuration: `AWS_ENDPOINT_URL_DYNAMODB` (or
//! `AWS_ENDPOINT_URL`) points it at moto's server locally.

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use time::OffsetDateTime;

use crate::domain::order::{Order, OrderState};
use crate::ports::store::{DuePage, OrderStore, StoreError};

mod cursor;
mod due;
pub mod item;
pub mod table;

pub use due::DueShards;
pub use item::{attr, order_from_item, order_to_item, Item};
pub use table::{
    create_table, table_definition, TableCreation, TableDefinition, TableError, BY_DUE,
    BY_TRANSACTION_ID,
};

/// Time to open a connection to DynamoDB.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One HTTP attempt (DynamoDB answers in milliseconds; a slow attempt is retried).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// The whole operation, retries included; well inside a Lambda invocation.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// The timeouts every DynamoDB call gets (the SDK sets none by default).
pub fn default_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// A DynamoDB client from the standard AWS configuration (environment, profile, Lambda
/// role), which honours `AWS_ENDPOINT_URL_DYNAMODB`, with [`default_timeouts`].
pub async fn client_from_env() -> Client {
    Client::new(&crate::adapters::aws::sdk_config(default_timeouts()).await)
}

/// One line about an SDK failure: the service's error code and message, or the transport
/// failure (timeout, connection refused) with its causes. Carries no credentials.
pub(crate) fn sdk_error_text<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("unknown error"),
                e.message().unwrap_or("no message")
            )
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

/// Whether the item a failed condition returned carries `write_id`: this very write (the
/// SDK's retry of an attempt that committed but whose answer was lost).
fn written_by(stored: Option<&HashMap<String, AttributeValue>>, write_id: &str) -> bool {
    matches!(
        stored.and_then(|item| item.get(attr::WRITE_ID)),
        Some(AttributeValue::S(id)) if id == write_id
    )
}

/// The order store on a DynamoDB table shaped by [`table_definition`].
#[derive(Debug, Clone)]
pub struct DynamoOrderStore {
    client: Client,
    table: String,
    /// How long abandoned and failed orders are kept (the table's TTL deletes them after).
    retention: Option<time::Duration>,
    /// How many partition-key values the `byDue` index is spread over.
    due_shards: DueShards,
}

impl DynamoOrderStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: None,
            due_shards: DueShards::ONE,
        }
    }

    /// Spreads due orders over `shards` partition-key values of the `byDue` index (the sweep
    /// reads them all); see `docs/scaling.md`.
    pub fn with_due_shards(mut self, shards: DueShards) -> Self {
        self.due_shards = shards;
        self
    }

    /// Abandoned and failed orders carry `expiresAt` = their last change + `retention`, which
    /// the table's TTL acts on; `None` keeps every order.
    pub fn with_retention(mut self, retention: Option<time::Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Orders in `state` (any when `None`) last changed at or after `since`, newest first, at
    /// most `limit`. A Scan of the whole table: for an operator's occasional question, never
    /// for a program's hot path (which uses the keys and the sparse indexes).
    pub async fn list(
        &self,
        state: Option<OrderState>,
        since: Option<OffsetDateTime>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let mut filters = Vec::new();
        let mut scan = self.client.scan().table_name(&self.table);
        if let Some(state) = state {
            filters.push("#state = :state");
            scan = scan
                .expression_attribute_names("#state", attr::STATE)
                .expression_attribute_values(":state", AttributeValue::S(state.as_str().into()));
        }
        if let Some(since) = since {
            let text = item::format_timestamp(since).map_err(|e| StoreError::Corrupt {
                caller_reference: "-".into(),
                source: Box::new(e),
            })?;
            filters.push("#updated >= :since");
            scan = scan
                .expression_attribute_names("#updated", attr::UPDATED_AT)
                .expression_attribute_values(":since", AttributeValue::S(text));
        }
        if !filters.is_empty() {
            scan = scan.filter_expression(filters.join(" AND "));
        }
        let mut orders = Vec::new();
        let mut pages = scan.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.unavailable("Scan", e))?;
            for item in page.items() {
                orders.push(order_from_item(item)?);
            }
        }
        orders.sort_by_key(|o| std::cmp::Reverse(o.updated_at));
        orders.truncate(limit);
        Ok(orders)
    }

    /// The item written for `order`, with its TTL attribute when it is deletable.
    fn item(&self, order: &Order) -> Result<Item, StoreError> {
        let mut item = order_to_item(order)?;
        if item.contains_key(attr::DUE_BUCKET) {
            item.insert(
                attr::DUE_BUCKET.into(),
                AttributeValue::S(self.due_shards.bucket_for(&order.caller_reference)),
            );
        }
        if let Some(at) = self.retention.and_then(|r| order.deletable_after(r)) {
            item.insert(
                attr::EXPIRES_AT.into(),
                AttributeValue::N(at.unix_timestamp().to_string()),
            );
        }
        Ok(item)
    }

    /// The store on `table`, with a client from [`client_from_env`].
    pub async fn from_env(table: impl Into<String>) -> Self {
        Self::new(client_from_env().await, table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn unavailable<E, R>(&self, operation: &str, err: SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: Debug + Send + Sync + 'static,
    {
        StoreError::Unavailable {
            context: format!(
                "DynamoDB {operation} on table {}: {}",
                self.table,
                sdk_error_text(&err)
            ),
            source: Box::new(err),
        }
    }

    /// Up to `share` due orders of one shard after `start`, oldest first, and whether it has
    /// more. Asks for one more than its share: if it comes, there is more, and an empty last
    /// page is never handed out.
    async fn query_due_shard(
        &self,
        shard: u16,
        now_text: &str,
        share: u32,
        start: Option<cursor::IndexKey>,
    ) -> Result<Option<due::ShardAnswer>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_DUE)
            .key_condition_expression("#bucket = :bucket AND #due <= :now")
            .expression_attribute_names("#bucket", attr::DUE_BUCKET)
            .expression_attribute_names("#due", attr::DUE_AT)
            .expression_attribute_values(":bucket", AttributeValue::S(DueShards::bucket(shard)))
            .expression_attribute_values(":now", AttributeValue::S(now_text.to_owned()))
            .scan_index_forward(true)
            .limit(i32::try_from(share.saturating_add(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| self.unavailable("Query", e))?;
        let share = usize::try_from(share).unwrap_or(usize::MAX);
        let mut items = output.items.unwrap_or_default();
        // Past its share, or stopped at DynamoDB's 1 MB page: the shard has more.
        let more = items.len() > share || output.last_evaluated_key.is_some();
        items.truncate(share);
        Ok(Some(due::ShardAnswer { items, more }))
    }

    /// PutItem under the condition `conditional` adds. `Ok(false)`: the condition failed on
    /// someone else's item. Every call stamps the item with a fresh write id, so when the SDK
    /// retries an attempt that committed but whose answer was lost, the retry's failed
    /// condition finds this write's id in the stored item (returned at no extra round trip)
    /// and the call reports what really happened: written.
    async fn put_if(
        &self,
        mut item: HashMap<String, AttributeValue>,
        conditional: impl FnOnce(PutItemFluentBuilder) -> PutItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        let write_id = uuid::Uuid::new_v4().simple().to_string();
        item.insert(
            attr::WRITE_ID.to_owned(),
            AttributeValue::S(write_id.clone()),
        );
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match conditional(put).send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(written_by(failed.item(), &write_id))
                }
                _ => Err(self.unavailable("PutItem", e)),
            },
        }
    }
}

impl OrderStore for DynamoOrderStore {
    async fn create(&self, order: &Order) -> Result<(), StoreError> {
        let written = self
            .put_if(self.item(order)?, |put| {
                put.condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", attr::CALLER_REFERENCE)
            })
            .await?;
        if written {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists(order.caller_reference.clone()))
        }
    }

    async fn get(&self, caller_reference: &str) -> Result<Option<Order>, StoreError> {
        if caller_reference.is_empty() {
            // DynamoDB refuses an empty key value; no order can have one.
            return Ok(None);
        }
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(
                attr::CALLER_REFERENCE,
                AttributeValue::S(caller_reference.to_owned()),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.unavailable("GetItem", e))?;
        output.item().map(order_from_item).transpose()
    }

    async fn transition(&self, previous: &Order, next: &Order) -> Result<(), StoreError> {
        // The write lands on next's key; the condition must be about the same order.
        if next.caller_reference != previous.caller_reference {
            return Err(StoreError::Conflict(previous.caller_reference.clone()));
        }
        let written = self
            .put_if(self.item(next)?, |put| {
                put.condition_expression("#version = :version AND #state = :state")
                    .expression_attribute_names("#version", attr::VERSION)
                    .expression_attribute_names("#state", attr::STATE)
                    .expression_attribute_values(
                        ":version",
                        AttributeValue::N(previous.version.to_string()),
                    )
                    .expression_attribute_values(
                        ":state",
                        AttributeValue::S(previous.state.as_str().to_owned()),
                    )
            })
            .await?;
        if written {
            Ok(())
        } else {
            // Changed by someone else, or gone.
            Err(StoreError::Conflict(previous.caller_reference.clone()))
        }
    }

    /// Eventually consistent (a global index): an order whose TransactionId was written a
    /// moment ago may not be found yet. If two orders ever carried the same TransactionId the
    /// first one found is returned and the duplicate is logged.
    async fn find_by_transaction_id(
        &self,
        transaction_id: &str,
    ) -> Result<Option<Order>, StoreError> {
        if transaction_id.is_empty() {
            return Ok(None);
        }
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_TRANSACTION_ID)
            .key_condition_expression("#tx = :tx")
            .expression_attribute_names("#tx", attr::TRANSACTION_ID)
            .expression_attribute_values(":tx", AttributeValue::S(transaction_id.to_owned()))
            .limit(2)
            .send()
            .await
            .map_err(|e| self.unavailable("Query", e))?;
        let items = output.items();
        if items.len() > 1 {
            tracing::warn!(
                table = %self.table,
                transaction_id,
                "more than one order carries this TransactionId; using the first"
            );
        }
        items.first().map(order_from_item).transpose()
    }

    /// Oldest due first, `page_size` at most (at least 1). Eventually consistent (a global
    /// index). An item in the index that does not decode is logged and skipped, so one bad
    /// order cannot stall the sweep; a malformed `cursor` is an error (`Corrupt`).
    async fn due(
        &self,
        now: OffsetDateTime,
        page_size: u32,
        cursor: Option<String>,
    ) -> Result<DuePage, StoreError> {
        let size = page_size.clamp(1, 10_000);
        let positions = match cursor.as_deref() {
            Some(cursor) => cursor::decode(cursor, self.due_shards)?,
            None => vec![cursor::ShardPosition::Start; usize::from(self.due_shards.count())],
        };
        let now_text = item::format_timestamp(now).map_err(|reason| StoreError::Unavailable {
            context: format!("the due index cannot be read as of {now}"),
            source: reason.into(),
        })?;
        let active = positions
            .iter()
            .filter(|p| **p != cursor::ShardPosition::Done)
            .count();
        let share = due::share(size, active);
        // Every shard that has more, at once: a page costs one round trip however many shards.
        let answers =
            futures::future::try_join_all((0_u16..).zip(&positions).map(|(shard, position)| {
                let start = match position {
                    cursor::ShardPosition::Done => {
                        return futures::future::Either::Left(futures::future::ready(Ok(None)))
                    }
                    cursor::ShardPosition::Start => None,
                    cursor::ShardPosition::After(key) => Some(key.clone()),
                };
                futures::future::Either::Right(self.query_due_shard(shard, &now_text, share, start))
            }))
            .await?;
        let page = due::merge(&positions, answers, size)?;
        let mut orders = Vec::with_capacity(page.items.len());
        for item in &page.items {
            match order_from_item(item) {
                Ok(order) => orders.push(order),
                Err(e) => {
                    tracing::error!(table = %self.table, error = %e, "skipping undecodable order in the due index")
                }
            }
        }
        Ok(DuePage {
            orders,
            next: cursor::encode(&page.next)?,
        })
    }
}
