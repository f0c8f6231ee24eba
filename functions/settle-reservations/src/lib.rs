//! `settle-reservations`: an EventBridge schedule runs the sweep within the invocation's
//! deadline; an `OrderFulfilled` event marks one order shipped.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use checkout_core::domain::money::Amount;
use checkout_core::ports::gateway::PaymentGateway;
use checkout_core::ports::store::OrderStore;
use checkout_core::use_cases::settle::{FulfilError, Settlement, SweepSummary};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub struct Service<S, G> {
    pub settlement: Settlement<S, G>,
}

pub const ORDER_FULFILLED: &str = "OrderFulfilled";
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// `detail` of an `OrderFulfilled` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderFulfilled {
    pub caller_reference: String,
    /// What to settle; the whole reserve when absent.
    #[serde(default)]
    pub amount: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Outcome {
    Swept(SweepSummary),
    #[serde(rename_all = "camelCase")]
    Fulfilled {
        caller_reference: String,
        state: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A malformed event will never succeed: the error says why (EventBridge does not retry
    /// asynchronous invocations that fail this way forever; see the DLQ in template.yaml).
    #[error("unsupported event: {0}")]
    BadEvent(String),
    #[error(transparent)]
    Fulfil(#[from] FulfilError),
}

impl<S: OrderStore, G: PaymentGateway> Service<S, G> {
    /// `deadline` is the invocation's own (from the Lambda context).
    pub async fn handle(
        &self,
        event: EventBridgeEvent<serde_json::Value>,
        deadline: tokio::time::Instant,
    ) -> Result<Outcome, HandlerError> {
        match event.detail_type.as_str() {
            SCHEDULED_EVENT => {
                let summary = self.settlement.sweep(deadline).await;
                info!(?summary, "scheduled sweep done");
                Ok(Outcome::Swept(summary))
            }
            ORDER_FULFILLED => {
                let detail: OrderFulfilled = serde_json::from_value(event.detail)
                    .map_err(|e| HandlerError::BadEvent(format!("OrderFulfilled detail: {e}")))?;
                let order = self
                    .settlement
                    .mark_fulfilled(&detail.caller_reference, detail.amount)
                    .await
                    .inspect_err(|e| warn!(caller_reference = %detail.caller_reference, error = %e, "fulfilment not recorded"))?;
                info!(caller_reference = %order.caller_reference, transaction_id = order.transaction_id.as_deref().unwrap_or(""), "fulfilment recorded");
                Ok(Outcome::Fulfilled {
                    caller_reference: order.caller_reference,
                    state: order.state.as_str().to_owned(),
                })
            }
            other => Err(HandlerError::BadEvent(format!("detail-type {other:?}"))),
        }
    }
}

/// The Lambda deadline (epoch milliseconds) as a tokio instant.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    if deadline_ms <= now_ms {
        // AWS always sends a future deadline; local emulators (cargo lambda watch) may not.
        // Without one the sweep would stop before starting, so give it a modest budget.
        warn!(
            deadline_ms,
            now_ms, "invocation deadline is not in the future; using 30 s"
        );
        return tokio::time::Instant::now() + FALLBACK_BUDGET;
    }
    tokio::time::Instant::now() + std::time::Duration::from_millis(deadline_ms - now_ms)
}

/// Time given to a sweep whose invocation carries no usable deadline.
pub const FALLBACK_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::BadEvent(_) => "BadEvent",
            HandlerError::Fulfil(FulfilError::UnknownOrder(_)) => "UnknownOrder",
            HandlerError::Fulfil(FulfilError::Invalid(_)) => "InvalidFulfilment",
            HandlerError::Fulfil(FulfilError::Store(_)) => "StoreUnavailable",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deadlines_in_the_past_fall_back_to_a_budget() {
        let now = tokio::time::Instant::now();
        assert!(deadline_from_epoch_ms(1_000) >= now + FALLBACK_BUDGET);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let soon = deadline_from_epoch_ms(now_ms + 10_000);
        assert!(soon <= tokio::time::Instant::now() + std::time::Duration::from_secs(10));
        assert!(soon >= now + std::time::Duration::from_secs(9));
    }
}
