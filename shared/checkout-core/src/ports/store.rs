//! The order store port: every write is conditional, so two racing invocations cannot both
//! win. The DynamoDB adapter is `adapters::dynamodb`; `adapters::memory` is a fake for fast unit tests.

use std::future::Future;

use time::OffsetDateTime;

use crate::domain::order::Order;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create` found an order with that CallerReference.
    #[error("order {0} already exists")]
    AlreadyExists(String),
    /// The order changed since it was read (another invocation won the race), or is gone.
    #[error("order {0} was changed by someone else")]
    Conflict(String),
    /// The database could not be reached or refused the call; worth retrying later.
    #[error("order store unavailable: {context}")]
    Unavailable {
        /// What was being done, and the database's own words.
        context: String,
        #[source]
        source: crate::ports::BoxError,
    },
    /// A stored item does not decode into an order.
    #[error("order {caller_reference} is corrupt: {source}")]
    Corrupt {
        caller_reference: String,
        #[source]
        source: crate::ports::BoxError,
    },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// One page of orders the sweep should look at, oldest due first.
#[derive(Debug, Clone, Default)]
pub struct DuePage {
    pub orders: Vec<Order>,
    /// Pass back to read the next page; `None` at the end.
    pub next: Option<String>,
}

pub trait OrderStore: Send + Sync {
    /// Stores a new order; never overwrites (`AlreadyExists`).
    fn create(&self, order: &Order) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Reads an order by CallerReference (strongly consistent).
    fn get(
        &self,
        caller_reference: &str,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    /// Writes `next` only if the stored order is still `previous` (same version and state);
    /// otherwise `Conflict`. `next.version` must be `previous.version + 1`. A call whose write
    /// committed is never told `Conflict`, even when its transport retried it.
    fn transition(
        &self,
        previous: &Order,
        next: &Order,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The seed's mapping the other way: which order has this FPS TransactionId.
    fn find_by_transaction_id(
        &self,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;

    /// Orders whose due time is at or before `now`, from the sparse due index (never a Scan).
    fn due(
        &self,
        now: OffsetDateTime,
        page_size: u32,
        cursor: Option<String>,
    ) -> impl Future<Output = Result<DuePage, StoreError>> + Send;
}

/// One store shared by several use cases (e.g. an in-memory store seen by checkout and the
/// sweep alike).
impl<S: OrderStore> OrderStore for std::sync::Arc<S> {
    fn create(&self, order: &Order) -> impl Future<Output = Result<(), StoreError>> + Send {
        S::create(self, order)
    }

    fn get(
        &self,
        caller_reference: &str,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send {
        S::get(self, caller_reference)
    }

    fn transition(
        &self,
        previous: &Order,
        next: &Order,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        S::transition(self, previous, next)
    }

    fn find_by_transaction_id(
        &self,
        transaction_id: &str,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send {
        S::find_by_transaction_id(self, transaction_id)
    }

    fn due(
        &self,
        now: OffsetDateTime,
        page_size: u32,
        cursor: Option<String>,
    ) -> impl Future<Output = Result<DuePage, StoreError>> + Send {
        S::due(self, now, page_size, cursor)
    }
}
