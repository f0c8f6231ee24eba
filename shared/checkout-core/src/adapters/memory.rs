//! An in-memory [`OrderStore`] with the same conditional semantics, for fast unit tests of the
//! use cases. Never the only test: the DynamoDB adapter is tested against a real server.

use std::collections::BTreeMap;
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::domain::order::Order;
use crate::ports::store::{DuePage, OrderStore, StoreError};

#[derive(Debug, Default)]
pub struct MemoryStore {
    orders: Mutex<BTreeMap<String, Order>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Order>> {
        self.orders.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl OrderStore for MemoryStore {
    async fn create(&self, order: &Order) -> Result<(), StoreError> {
        let mut orders = self.lock();
        if orders.contains_key(&order.caller_reference) {
            return Err(StoreError::AlreadyExists(order.caller_reference.clone()));
        }
        orders.insert(order.caller_reference.clone(), order.clone());
        Ok(())
    }

    async fn get(&self, caller_reference: &str) -> Result<Option<Order>, StoreError> {
        Ok(self.lock().get(caller_reference).cloned())
    }

    async fn transition(&self, previous: &Order, next: &Order) -> Result<(), StoreError> {
        let mut orders = self.lock();
        match orders.get(&previous.caller_reference) {
            Some(stored)
                if stored.version == previous.version && stored.state == previous.state =>
            {
                orders.insert(next.caller_reference.clone(), next.clone());
                Ok(())
            }
            _ => Err(StoreError::Conflict(previous.caller_reference.clone())),
        }
    }

    async fn find_by_transaction_id(
        &self,
        transaction_id: &str,
    ) -> Result<Option<Order>, StoreError> {
        Ok(self
            .lock()
            .values()
            .find(|o| o.transaction_id.as_deref() == Some(transaction_id))
            .cloned())
    }

    async fn due(
        &self,
        now: OffsetDateTime,
        page_size: u32,
        cursor: Option<String>,
    ) -> Result<DuePage, StoreError> {
        let mut due: Vec<(OffsetDateTime, Order)> = self
            .lock()
            .values()
            .filter_map(|o| o.due_at().filter(|at| *at <= now).map(|at| (at, o.clone())))
            .collect();
        due.sort_by(|a, b| (a.0, &a.1.caller_reference).cmp(&(b.0, &b.1.caller_reference)));
        // Like DynamoDB's LastEvaluatedKey, the cursor is the position of the last order
        // returned (due time, CallerReference), not an offset: orders that leave the due set
        // between pages must not make the next page skip others.
        let after = cursor.as_deref().and_then(parse_cursor);
        let size = usize::try_from(page_size).unwrap_or(usize::MAX).max(1);
        let orders: Vec<(OffsetDateTime, Order)> = due
            .into_iter()
            .filter(|(at, o)| match &after {
                Some((after_at, after_ref)) => {
                    (*at, o.caller_reference.as_str()) > (*after_at, after_ref.as_str())
                }
                None => true,
            })
            .take(size + 1)
            .collect();
        let more = orders.len() > size;
        let page: Vec<(OffsetDateTime, Order)> = orders.into_iter().take(size).collect();
        let next = match page.last() {
            Some((at, o)) if more => Some(format!(
                "{}|{}",
                at.unix_timestamp_nanos(),
                o.caller_reference
            )),
            _ => None,
        };
        Ok(DuePage {
            orders: page.into_iter().map(|(_, o)| o).collect(),
            next,
        })
    }
}

fn parse_cursor(cursor: &str) -> Option<(OffsetDateTime, String)> {
    let (nanos, caller_reference) = cursor.split_once('|')?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
    Some((at, caller_reference.to_owned()))
}
