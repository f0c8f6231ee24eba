//! Hearing from FPS: an Instant Payment Notification moves the order it names forward, exactly
//! as the sweep's GetTransactionStatus would, but minutes sooner. The sweep stays the backstop:
//! a notification that is lost, late or refused here changes nothing it would not fix.

use std::sync::Arc;

use tracing::{info, warn, Instrument};
use url::Url;

use crate::domain::order::{Order, OrderState, Refund};
use crate::domain::payment::TransactionStatus;
use crate::ports::clock::Clock;
use crate::ports::gateway::{
    GatewayError, InvalidNotice, Notice, NoticeSubject, PaymentGateway, PaymentNotice,
};
use crate::ports::store::{OrderStore, StoreError};

/// What became of a notification. Each is answered 200: FPS need not send it again.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// The order moved as the notification says.
    Applied(Box<Order>),
    /// The order already stands where the notification puts it, or further (a duplicate, or
    /// one that arrived out of order).
    Unchanged(&'static str),
    /// Nothing here to apply it to (no such order, another transaction, not about a payment).
    Ignored(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error(transparent)]
    Malformed(#[from] InvalidNotice),
    /// VerifySignature said no (or the signature fields are missing): not from FPS.
    #[error("the notification is not signed by FPS")]
    Forged,
    /// The notification could not be verified or applied now; FPS sends it again.
    #[error("temporarily unavailable: {0}")]
    GatewayUnavailable(#[source] GatewayError),
    #[error("temporarily unavailable: {0}")]
    StoreUnavailable(#[from] StoreError),
}

pub struct Notifications<S, G> {
    store: S,
    gateway: G,
    clock: Arc<dyn Clock>,
    /// The URL FPS posts to: what VerifySignature is asked about.
    ipn_url: Url,
}

impl<S: OrderStore, G: PaymentGateway> Notifications<S, G> {
    pub fn new(store: S, gateway: G, clock: Arc<dyn Clock>, ipn_url: Url) -> Self {
        Self {
            store,
            gateway,
            clock,
            ipn_url,
        }
    }

    /// Handles one notification body. VerifySignature is asked only when the notification would
    /// change an order: a duplicate, or one about an order this shop does not have, costs no
    /// FPS call (an unauthenticated URL must not spend the merchant's quota).
    pub async fn receive(&self, raw_body: &str) -> Result<Received, NoticeError> {
        let notice = match self.gateway.read_notice(raw_body)? {
            Notice::Payment(notice) => notice,
            Notice::Other { what } => {
                info!(what, "notification not about a payment; nothing to do");
                return Ok(Received::Ignored("not about a payment"));
            }
        };
        if !notice.signed {
            warn!("notification without FPS signature fields");
            crate::telemetry::forged_notification();
            return Err(NoticeError::Forged);
        }
        let span = tracing::info_span!("notification", caller_reference = notice.order_id.as_deref().unwrap_or(""), transaction_id = %notice.transaction_id, status = notice.status.as_str());
        self.apply(&notice).instrument(span).await
    }

    async fn apply(&self, notice: &PaymentNotice) -> Result<Received, NoticeError> {
        let mut verified = false;
        // A conflict means the order moved meanwhile (a return, the sweep): look again.
        for _ in 0..3 {
            let Some(order) = self.find(notice).await? else {
                warn!("notification for an order this shop does not have");
                return Ok(Received::Ignored("no such order"));
            };
            let next = match next_state(&order, notice, self.clock.now()) {
                Ok(Some(next)) => next,
                Ok(None) => return Ok(Received::Unchanged("already recorded")),
                Err(why) => {
                    info!(
                        state = order.state.as_str(),
                        why, "notification not applied"
                    );
                    return Ok(Received::Ignored(why));
                }
            };
            if !verified {
                match self.gateway.verify_notice(&self.ipn_url, notice).await {
                    Ok(true) => verified = true,
                    Ok(false) => {
                        warn!("VerifySignature: Failure");
                        crate::telemetry::forged_notification();
                        return Err(NoticeError::Forged);
                    }
                    Err(e) => return Err(NoticeError::GatewayUnavailable(e)),
                }
            }
            match self.store.transition(&order, &next).await {
                Ok(()) => {
                    info!(
                        from = order.state.as_str(),
                        to = next.state.as_str(),
                        "notification applied"
                    );
                    return Ok(Received::Applied(Box::new(next)));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Received::Unchanged(
            "the order kept moving; the sweep reconciles it",
        ))
    }

    /// The order the notification names (its CallerReference), or else the one holding its
    /// transaction.
    async fn find(&self, notice: &PaymentNotice) -> Result<Option<Order>, StoreError> {
        if let Some(reference) = &notice.order_id {
            // A refund's CallerReference is `<order id>-refund-<n>`.
            let id = Refund::order_id_of(reference).unwrap_or(reference);
            if let Some(order) = self.store.get(id).await? {
                return Ok(Some(order));
            }
        }
        self.store
            .find_by_transaction_id(&notice.transaction_id)
            .await
    }
}

/// The order after `notice`: `Ok(None)` when it adds nothing, `Err(why)` when it is not about
/// the call the order is waiting on. Only forward moves: a notification about an earlier step
/// (a reordered `PENDING` after `SUCCESS`, a reserve's `RESERVED` once a Settle is under way)
/// never takes the order back.
pub fn next_state(
    order: &Order,
    notice: &PaymentNotice,
    now: time::OffsetDateTime,
) -> Result<Option<Order>, &'static str> {
    use NoticeSubject as N;
    use OrderState as S;
    if notice.about == N::Refund {
        return next_for_refund(order, notice, now);
    }
    if order.state == S::Cancelling && notice.about == N::Cancellation {
        if order.transaction_id.as_deref() != Some(notice.transaction_id.as_str()) {
            return Err("about another transaction");
        }
        return order
            .record_cancel(
                notice.status,
                notice.code.clone(),
                notice.message.clone(),
                now,
            )
            .map(Some)
            .map_err(|_| "not a move this order can make");
    }
    if let Some(known) = &order.transaction_id {
        if *known != notice.transaction_id {
            return Err("about another transaction");
        }
    }
    let awaited = matches!(
        (order.state, notice.about),
        (S::Charging | S::PaymentPending, N::Charge | N::Cancellation)
            | (
                S::Reserving | S::ReservePending,
                N::Reserve | N::Cancellation
            )
            | (S::Reserved, N::Cancellation)
            | (S::Settling | S::SettlePending, N::Settle | N::Cancellation)
    );
    if !awaited {
        return Err("not about the call this order waits on");
    }
    let next = order
        .record_transaction(
            &notice.transaction_id,
            notice.status,
            notice.code.clone(),
            notice.message.clone(),
            now,
        )
        .map_err(|_| "not a move this order can make")?;
    let same = next.state == order.state
        && order.transaction_status == Some(notice.status)
        && order.transaction_id.is_some();
    Ok((!same).then_some(next))
}

/// A refund's notification moves the refund in flight, if it is that refund.
fn next_for_refund(
    order: &Order,
    notice: &PaymentNotice,
    now: time::OffsetDateTime,
) -> Result<Option<Order>, &'static str> {
    let Some(refund) = order.current_refund() else {
        return Err("no refund in flight");
    };
    let ours = match &refund.transaction_id {
        Some(id) => *id == notice.transaction_id,
        None => {
            notice.order_id.as_deref() == Some(&refund.caller_reference(&order.caller_reference))
        }
    };
    if !ours {
        return Err("about another refund");
    }
    if notice.status == TransactionStatus::Pending && order.state == OrderState::RefundPending {
        return Ok(None);
    }
    order
        .record_refund(
            &notice.transaction_id,
            notice.status,
            notice.code.clone(),
            notice.message.clone(),
            now,
        )
        .map(Some)
        .map_err(|_| "not a move this refund can make")
}

#[cfg(test)]
mod tests;
