//! The order events port: where the shop announces its orders' changes. The EventBridge
//! adapter is `adapters::eventbridge`.

use std::future::Future;

use crate::domain::events::OrderEvent;
use crate::ports::BoxError;

#[derive(Debug, thiserror::Error)]
#[error("publishing order events failed: {0}")]
pub struct PublishError(#[source] pub BoxError);

pub trait EventPublisher: Send + Sync {
    /// Publishes `events` in order; returns how many, from the first, were accepted (all of
    /// them, or up to the first the bus refused). `Err`: none is known to be accepted.
    fn publish(
        &self,
        events: &[OrderEvent],
    ) -> impl Future<Output = Result<usize, PublishError>> + Send;
}
