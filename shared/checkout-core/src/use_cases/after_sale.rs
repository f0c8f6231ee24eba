//! The merchant's after-sale use cases: refund captured money (in full or in parts), and cancel
//! (void) a reserve not yet settled. The same discipline as the charge path: a conditional
//! claim before the call, the answer recorded after; an answer that is lost leaves the claim
//! for the sweep, which resends the refund under the same CallerReference (FPS keeps it 7 days)
//! or looks the reserve up before cancelling again.

use std::sync::Arc;

use time::OffsetDateTime;
use tracing::{info, warn};

use crate::domain::money::Amount;
use crate::domain::order::{AfterSaleRefusal, Lease, Order, OrderState, TransitionError};
use crate::domain::payment::TransactionStatus;
use crate::ports::clock::Clock;
use crate::ports::gateway::{GatewayError, PaymentGateway, RefundCall, TransactionReport};
use crate::ports::store::{OrderStore, StoreError};
use crate::use_cases::checkout::StepError;

/// What someone asks to refund.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundRequest {
    /// The requester's key: repeating a request with it never refunds twice.
    pub request_id: String,
    /// What is left to refund when `None`.
    pub amount: Option<Amount>,
    pub reason: String,
    pub requested_by: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AfterSaleError {
    #[error("no order {0}")]
    UnknownOrder(String),
    #[error(transparent)]
    Refused(#[from] AfterSaleRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// FPS could not be asked (the order is unchanged).
    #[error("FPS unavailable: {0}")]
    Gateway(#[source] GatewayError),
}

pub struct AfterSale<S, G> {
    store: S,
    gateway: G,
    clock: Arc<dyn Clock>,
    /// How long a claim protects an in-flight Refund or Cancel.
    lease: time::Duration,
}

impl<S: OrderStore, G: PaymentGateway> AfterSale<S, G> {
    pub fn new(store: S, gateway: G, clock: Arc<dyn Clock>, lease: time::Duration) -> Self {
        Self {
            store,
            gateway,
            clock,
            lease,
        }
    }

    async fn read(&self, order_id: &str) -> Result<Order, AfterSaleError> {
        self.store
            .get(order_id)
            .await?
            .ok_or_else(|| AfterSaleError::UnknownOrder(order_id.to_owned()))
    }

    fn claim(&self, now: OffsetDateTime) -> Lease {
        Lease {
            owner: format!("after-sale-{}", uuid::Uuid::new_v4().simple()),
            expires_at: now + self.lease,
        }
    }

    /// Refunds (part of) what the order captured. A request repeated with the same
    /// `request_id` — a retry, a duplicate event, ten at once — reports the one refund.
    pub async fn refund(
        &self,
        order_id: &str,
        request: &RefundRequest,
    ) -> Result<Order, AfterSaleError> {
        for _ in 0..5 {
            let order = self.read(order_id).await?;
            if order.refund_for(&request.request_id).is_some() {
                return Ok(order);
            }
            let now = self.clock.now();
            let claimed = order.claim_refund(
                &request.request_id,
                request.amount,
                &request.reason,
                &request.requested_by,
                self.claim(now),
                now,
            )?;
            match self.store.transition(&order, &claimed).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            info!(order_id, amount = %claimed.refunds.last().map(|r| r.amount.to_string()).unwrap_or_default(), "refund claimed");
            return match run_refund(&self.store, &self.gateway, self.clock.as_ref(), claimed).await
            {
                Ok(order) => Ok(order),
                Err(StepError::Unresolved(e)) => {
                    warn!(error = %e, "refund outcome unknown; the sweep will resolve it");
                    self.read(order_id).await
                }
                Err(StepError::Store(StoreError::Conflict(_)) | StepError::Transition(_)) => {
                    self.read(order_id).await
                }
                Err(StepError::Store(e)) => Err(e.into()),
            };
        }
        Err(StoreError::Conflict(order_id.to_owned()).into())
    }

    /// Cancels (voids) a reserve not yet settled. Asking again once it is cancelled reports
    /// the cancelled order.
    pub async fn cancel(&self, order_id: &str, reason: &str) -> Result<Order, AfterSaleError> {
        for _ in 0..5 {
            let order = self.read(order_id).await?;
            if order.state == OrderState::Cancelled {
                return Ok(order);
            }
            let now = self.clock.now();
            let claimed = order.claim_cancel(self.claim(now), now)?;
            match self.store.transition(&order, &claimed).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            info!(order_id, reason, "cancel claimed");
            return match run_cancel(
                &self.store,
                &self.gateway,
                self.clock.as_ref(),
                claimed,
                Some(reason.to_owned()),
            )
            .await
            {
                Ok(order) => Ok(order),
                Err(StepError::Unresolved(e)) => {
                    warn!(error = %e, "cancel outcome unknown; the sweep will resolve it");
                    self.read(order_id).await
                }
                Err(StepError::Store(StoreError::Conflict(_)) | StepError::Transition(_)) => {
                    self.read(order_id).await
                }
                Err(StepError::Store(e)) => Err(e.into()),
            };
        }
        Err(StoreError::Conflict(order_id.to_owned()).into())
    }
}

impl<S: OrderStore, G: PaymentGateway> AfterSale<S, G> {
    /// The order and what FPS says of its transaction now (`None` when it has none).
    pub async fn status(
        &self,
        order_id: &str,
    ) -> Result<(Order, Option<Result<TransactionReport, GatewayError>>), AfterSaleError> {
        let order = self.read(order_id).await?;
        let live = match &order.transaction_id {
            Some(id) => Some(self.gateway.transaction_status(id).await),
            None => None,
        };
        Ok((order, live))
    }

    /// Puts an order that needs attention back in the sweep's hands (see `Order::redrive`).
    pub async fn redrive(&self, order_id: &str) -> Result<Order, AfterSaleError> {
        let order = self.read(order_id).await?;
        let report = match &order.transaction_id {
            Some(id) => Some(
                self.gateway
                    .transaction_status(id)
                    .await
                    .map_err(AfterSaleError::Gateway)?
                    .status,
            ),
            None => None,
        };
        let now = self.clock.now();
        let next = order.redrive(report, now, now)?;
        self.store.transition(&order, &next).await?;
        info!(
            order_id,
            state = next.state.as_str(),
            "order re-driven by an operator"
        );
        Ok(next)
    }
}

/// Sends the refund in flight (the order's newest) and records the answer. A refusal gives the
/// amount back to the refundable; an unknown outcome leaves the claim for the sweep.
pub(crate) async fn run_refund<S: OrderStore, G: PaymentGateway>(
    store: &S,
    gateway: &G,
    clock: &dyn Clock,
    claimed: Order,
) -> Result<Order, StepError> {
    let (Some(refund), Some(captured)) = (claimed.current_refund(), claimed.transaction_id.clone())
    else {
        return Err(TransitionError::IllegalState {
            caller_reference: claimed.caller_reference.clone(),
            state: claimed.state,
            action: "refund without a refund or a captured transaction",
        }
        .into());
    };
    let reference = refund.caller_reference(&claimed.caller_reference);
    let call = RefundCall {
        transaction_id: &captured,
        caller_reference: &reference,
        amount: refund.amount,
        reason: Some(refund.reason.clone()),
    };
    let next = match gateway.refund(call).await {
        Ok(accepted) => claimed.record_refund(
            &accepted.transaction_id,
            accepted.status,
            None,
            None,
            clock.now(),
        )?,
        Err(GatewayError::Refused { code, message, .. }) => {
            warn!(%code, "FPS refused the refund");
            claimed.refund_refused(&code, &message, clock.now())?
        }
        Err(e) => return Err(StepError::Unresolved(e)),
    };
    store.transition(&claimed, &next).await?;
    Ok(next)
}

/// Sends the Cancel and records the answer; an unknown outcome leaves the claim for the sweep.
pub(crate) async fn run_cancel<S: OrderStore, G: PaymentGateway>(
    store: &S,
    gateway: &G,
    clock: &dyn Clock,
    claimed: Order,
    reason: Option<String>,
) -> Result<Order, StepError> {
    let Some(reserve) = claimed.transaction_id.clone() else {
        return Err(TransitionError::IllegalState {
            caller_reference: claimed.caller_reference.clone(),
            state: claimed.state,
            action: "cancel without a reserve",
        }
        .into());
    };
    let next = match gateway.cancel(&reserve, reason).await {
        Ok(accepted) => claimed.record_cancel(accepted.status, None, None, clock.now())?,
        Err(GatewayError::Refused { code, message, .. }) => {
            // Cancel has no CallerReference: a refusal may mean an earlier Cancel did land.
            match gateway.transaction_status(&reserve).await {
                Ok(report) if report.status == TransactionStatus::Cancelled => claimed
                    .record_cancel(report.status, report.code, report.message, clock.now())?,
                Ok(_) => claimed.cancel_refused(&code, &message, clock.now())?,
                Err(e) => return Err(StepError::Unresolved(e)),
            }
        }
        Err(e) => return Err(StepError::Unresolved(e)),
    };
    store.transition(&claimed, &next).await?;
    Ok(next)
}

#[cfg(test)]
mod tests;
