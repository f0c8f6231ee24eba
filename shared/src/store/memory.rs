//! An in-memory [`OrderStore`] with the same conditional semantics, for fast unit tests of the
//! use cases. Never the only test: the DynamoDB adapter is tested against a real server.

use std::collections::BTreeMap;
use std::sync::Mutex;

use time::OffsetDateTime;

use super::{DuePage, OrderStore, StoreError};
use crate::order::Order;

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
        let skip: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let size = usize::try_from(page_size).unwrap_or(usize::MAX).max(1);
        let orders: Vec<Order> = due
            .into_iter()
            .skip(skip)
            .take(size + 1)
            .map(|(_, o)| o)
            .collect();
        let more = orders.len() > size;
        Ok(DuePage {
            orders: orders.into_iter().take(size).collect(),
            next: more.then(|| (skip + size).to_string()),
        })
    }
}
