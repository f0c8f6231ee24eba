//! The back-office use cases: `mark_fulfilled` (the merchant shipped) and `sweep` (settle
//! fulfilled reservations, reconcile pending transactions, re-drive abandoned claims, expire
//! week-old reserves).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use time::OffsetDateTime;
use tracing::{info, warn, Instrument};

use crate::domain::money::Amount;
use crate::domain::order::{Lease, Order, OrderState, TransitionError};
use crate::domain::payment::TransactionStatus;
use crate::ports::clock::Clock;
use crate::ports::gateway::GatewayError;
use crate::ports::gateway::PaymentGateway;
use crate::ports::store::{OrderStore, StoreError};
use crate::use_cases::after_sale::{run_cancel, run_refund};
use crate::use_cases::checkout::{run_charge, StepError};

#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// FPS calls in flight at once.
    pub concurrency: usize,
    pub page_size: u32,
    /// Lease on an order while its Settle (or re-driven Pay/Reserve) is in flight.
    pub lease: time::Duration,
    /// Stop taking new orders this long before the deadline (one FPS call must still fit).
    pub stop_before_deadline: std::time::Duration,
    /// Fulfilment is refused for a reserve that dies within this margin.
    pub reserve_margin: time::Duration,
    /// Whether a fulfilment may settle less than the order's total.
    pub partial_settlement: bool,
    /// FPS calls an order may take (Pay/Reserve/Settle and their re-drives) before the sweep
    /// stops and hands it to a person.
    pub max_attempts: u32,
    /// First wait after a Settle refused for now; doubles per attempt, up to `max_retry_wait`.
    pub retry_wait: time::Duration,
    pub max_retry_wait: time::Duration,
    /// An order with no authorisation at FPS this long after checkout is abandoned.
    pub abandon_after: time::Duration,
    /// How often the sweep asks FPS again for an authorisation whose return was lost.
    pub look_again_after: time::Duration,
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            page_size: 100,
            lease: time::Duration::seconds(60),
            stop_before_deadline: std::time::Duration::from_secs(25),
            reserve_margin: time::Duration::hours(2),
            partial_settlement: false,
            max_attempts: 8,
            retry_wait: time::Duration::minutes(15),
            max_retry_wait: time::Duration::hours(6),
            abandon_after: time::Duration::hours(1),
            look_again_after: time::Duration::minutes(15),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FulfilError {
    #[error("no order {0}")]
    UnknownOrder(String),
    #[error(transparent)]
    Invalid(#[from] TransitionError),
    #[error("order {caller_reference}: settling {requested} of {total} needs partial settlement, which is not enabled")]
    PartialSettlementDisabled {
        caller_reference: String,
        requested: Amount,
        total: Amount,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

enum Step {
    Done(Box<Order>),
    Skipped,
}

pub struct Settlement<S, G> {
    store: S,
    gateway: G,
    clock: Arc<dyn Clock>,
    settings: SweepSettings,
}

impl<S: OrderStore, G: PaymentGateway> Settlement<S, G> {
    pub fn new(store: S, gateway: G, clock: Arc<dyn Clock>, settings: SweepSettings) -> Self {
        Self {
            store,
            gateway,
            clock,
            settings,
        }
    }

    /// Records that a reserved order shipped and settles it at once: `amount`, or the whole
    /// reserve when `None`. The fulfilment and the Settle's claim are one write; a Settle whose
    /// outcome is unknown is left claimed for the sweep. Idempotent: repeating it changes
    /// nothing.
    pub async fn fulfil(
        &self,
        caller_reference: &str,
        amount: Option<Amount>,
    ) -> Result<Order, FulfilError> {
        let owner = format!("fulfil-{}", uuid::Uuid::new_v4().simple());
        for _ in 0..5 {
            let order = self.read(caller_reference).await?;
            self.check_amount(&order, amount)?;
            let now = self.clock.now();
            let lease = self.lease(&owner, now);
            let margin = self.settings.reserve_margin;
            let Some(claimed) = order.fulfil_and_claim(amount, margin, lease, now)? else {
                return Ok(order);
            };
            match self.store.transition(&order, &claimed).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            info!(caller_reference, "order fulfilled; settling");
            return match self.run_settle(claimed.clone()).await {
                Ok(settled) => Ok(settled),
                Err(StepError::Unresolved(e)) => {
                    warn!(error = %e, "settle outcome unknown; the sweep will resolve it");
                    Ok(claimed)
                }
                // FPS's notification (or the sweep) recorded the Settle first.
                Err(StepError::Store(StoreError::Conflict(_))) => self.read(caller_reference).await,
                Err(StepError::Store(e)) => Err(e.into()),
                Err(StepError::Transition(e)) => Err(e.into()),
            };
        }
        Err(StoreError::Conflict(caller_reference.to_owned()).into())
    }

    async fn read(&self, caller_reference: &str) -> Result<Order, FulfilError> {
        self.store
            .get(caller_reference)
            .await?
            .ok_or_else(|| FulfilError::UnknownOrder(caller_reference.to_owned()))
    }

    /// Less than the total only when partial settlement is enabled (more than the total is
    /// the order's own refusal).
    fn check_amount(&self, order: &Order, amount: Option<Amount>) -> Result<(), FulfilError> {
        match amount {
            Some(requested) if requested < order.amount() && !self.settings.partial_settlement => {
                Err(FulfilError::PartialSettlementDisabled {
                    caller_reference: order.caller_reference.clone(),
                    requested,
                    total: order.amount(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Marks a reserved order shipped and leaves the Settle to the next sweep (seeding and
    /// back-office use; `fulfil` is what a fulfilment event does). Idempotent.
    pub async fn mark_fulfilled(
        &self,
        caller_reference: &str,
        amount: Option<Amount>,
    ) -> Result<Order, FulfilError> {
        for _ in 0..5 {
            let order = self.read(caller_reference).await?;
            self.check_amount(&order, amount)?;
            let margin = self.settings.reserve_margin;
            let Some(next) = order.fulfil(amount, margin, self.clock.now())? else {
                return Ok(order);
            };
            match self.store.transition(&order, &next).await {
                Ok(()) => {
                    info!(caller_reference, "order marked fulfilled");
                    return Ok(next);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(caller_reference.to_owned()).into())
    }

    /// Works through every due order until the work runs out or the deadline nears. One bad
    /// order never stops the batch.
    pub async fn sweep(&self, deadline: tokio::time::Instant) -> SweepSummary {
        let mut summary = SweepSummary::default();
        let owner = format!("sweep-{}", uuid::Uuid::new_v4().simple());
        // Keep the configured margin, but never more than half the time there is: a short
        // invocation still does some work.
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let margin = self.settings.stop_before_deadline.min(remaining / 2);
        let stop_at = deadline.checked_sub(margin).unwrap_or(deadline);
        info!(remaining_ms = remaining.as_millis() as u64, "sweep started");
        // What was due when the sweep started: orders it moves become due again later (a
        // Pending answer is due at once) and are left to the next sweep instead of being read
        // again page after page.
        let as_of = self.clock.now();
        let read_failed = AtomicBool::new(false);
        let read_failed = &read_failed;
        // Pages are read lazily as the workers need orders, so the next page's Query runs
        // while the previous page's last orders are still with FPS: no idle slots at page
        // boundaries. State: `Some(cursor)` = read that page next; `None` = no more pages.
        let pages = futures::stream::unfold(Some(None::<String>), move |state| async move {
            let cursor = state?;
            if tokio::time::Instant::now() >= stop_at {
                return None;
            }
            match self.store.due(as_of, self.settings.page_size, cursor).await {
                Ok(page) => Some((futures::stream::iter(page.orders), page.next.map(Some))),
                Err(e) => {
                    warn!(error = %e, "reading due orders failed");
                    read_failed.store(true, Ordering::Relaxed);
                    None
                }
            }
        })
        // Boxed as `Send` here, where the lifetimes are concrete: left to inference, rustc
        // cannot prove the sweep's future `Send` (so it could not be spawned on a task).
        .boxed();
        let owner = owner.as_str();
        // An order this sweep already moved can show up again on a later page (a Pending answer
        // makes it due at once): FPS gets asked about it by the next sweep, not seconds later.
        let seen = std::sync::Mutex::new(HashSet::new());
        let seen = &seen;
        let oldest_due = std::sync::Mutex::new(None::<OffsetDateTime>);
        let oldest_due = &oldest_due;
        let outcomes = pages
            .flatten()
            .filter(move |order| {
                if let (Some(due), Ok(mut oldest)) = (order.due_at(), oldest_due.lock()) {
                    *oldest = Some(oldest.map_or(due, |o| o.min(due)));
                }
                let first = seen
                    .lock()
                    .map(|mut seen| seen.insert(order.caller_reference.clone()))
                    .unwrap_or(true);
                futures::future::ready(first)
            })
            .map(|order| async move {
                if tokio::time::Instant::now() >= stop_at {
                    return None;
                }
                let span = tracing::info_span!("sweep_order", caller_reference = %order.caller_reference, transaction_id = order.transaction_id.as_deref().unwrap_or(""));
                Some(self.process(order, owner).instrument(span).await)
            })
            .buffer_unordered(self.settings.concurrency.max(1));
        let mut outcomes = std::pin::pin!(outcomes);
        while let Some(outcome) = outcomes.next().await {
            let Some(outcome) = outcome else { continue };
            match &outcome {
                Err(StepError::Store(StoreError::Conflict(_)) | StepError::Transition(_)) => {}
                Err(e) => warn!(error = %e, "order not processed"),
                Ok(_) => {}
            }
            summary.count(&outcome);
        }
        if read_failed.load(Ordering::Relaxed) {
            summary.errors += 1;
        }
        if tokio::time::Instant::now() >= stop_at {
            summary.out_of_time = true;
        }
        if let Some(due) = oldest_due.lock().ok().and_then(|o| *o) {
            summary.oldest_due_seconds = u64::try_from((as_of - due).whole_seconds()).unwrap_or(0);
        }
        info!(?summary, "sweep finished");
        summary
    }

    fn lease(&self, owner: &str, now: OffsetDateTime) -> Lease {
        Lease {
            owner: owner.to_owned(),
            expires_at: now + self.settings.lease,
        }
    }

    /// Takes one due order one step (or two, when a reconciled reserve is ready to settle).
    async fn process(&self, order: Order, owner: &str) -> Result<Step, StepError> {
        let mut order = order;
        for _ in 0..2 {
            let now = self.clock.now();
            let next = match order.state {
                OrderState::Reserved | OrderState::ReservePending if order.reserve_expired(now) => {
                    self.expire(&order, now).await?
                }
                _ if (order.state.is_claimed() && !order.lease_is_live(now)
                    || order.state == OrderState::Reserved && order.fulfilled_at.is_some())
                    && order.attempts >= self.settings.max_attempts =>
                {
                    self.give_up(
                        &order,
                        "TooManyAttempts",
                        "FPS calls for this order ran out of retries with the outcome still open.",
                        now,
                    )
                    .await?
                }
                OrderState::Reserved
                    if order.fulfilled_at.is_some()
                        && order.retry_at.is_none_or(|at| at <= now) =>
                {
                    let claimed = order.claim_for_settle(self.lease(owner, now), now)?;
                    self.store.transition(&order, &claimed).await?;
                    self.run_settle(claimed).await?
                }
                OrderState::AwaitingAuthorization if order.retry_at.is_some() => {
                    self.recover(&order, owner, now).await?
                }
                // The buyer did not try the declined charge again while they could.
                OrderState::DeclinedForNow if now >= order.retry_deadline() => {
                    self.lapse(&order, now).await?
                }
                OrderState::PaymentPending
                | OrderState::ReservePending
                | OrderState::SettlePending => self.reconcile(&order).await?,
                OrderState::RefundPending => self.reconcile_refund(&order).await?,
                OrderState::Refunding | OrderState::Cancelling => {
                    if order.lease_is_live(now) {
                        return Ok(Step::Skipped);
                    }
                    let claimed = order.reclaim(self.lease(owner, now), now)?;
                    self.store.transition(&order, &claimed).await?;
                    info!(
                        state = claimed.state.as_str(),
                        "re-driving an expired after-sale claim"
                    );
                    if claimed.state == OrderState::Refunding {
                        // The same refund, the same CallerReference: FPS answers a repeat with
                        // the refund it made.
                        run_refund(&self.store, &self.gateway, self.clock.as_ref(), claimed).await?
                    } else {
                        self.redrive_cancel(claimed).await?
                    }
                }
                OrderState::Charging | OrderState::Reserving | OrderState::Settling => {
                    if order.lease_is_live(now) {
                        return Ok(Step::Skipped);
                    }
                    let claimed = order.reclaim(self.lease(owner, now), now)?;
                    self.store.transition(&order, &claimed).await?;
                    info!(
                        state = claimed.state.as_str(),
                        attempts = claimed.attempts,
                        "re-driving an expired claim"
                    );
                    if claimed.state == OrderState::Settling {
                        self.redrive_settle(claimed).await?
                    } else {
                        run_charge(&self.store, &self.gateway, self.clock.as_ref(), claimed).await?
                    }
                }
                // An unshipped reserve waits for its fulfilment or its expiry; final states and
                // live claims are not the sweep's.
                _ => return Ok(Step::Skipped),
            };
            // A reconcile that finds the reserve confirmed and shipped settles it in the same
            // pass; a Settle refused for now waits for its retry time.
            let again = next.state == OrderState::Reserved
                && next.fulfilled_at.is_some()
                && next.retry_at.is_none();
            order = next;
            if !again {
                break;
            }
        }
        Ok(Step::Done(Box::new(order)))
    }

    /// Stops retrying: the order needs a person, with the reason.
    async fn give_up(
        &self,
        order: &Order,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<Order, StepError> {
        let next = order.needs_attention(code, message, now)?;
        self.store.transition(order, &next).await?;
        warn!(code, attempts = order.attempts, "order needs attention");
        Ok(next)
    }

    /// The buyer may have authorised and never come back (a closed tab, a lost network): ask
    /// FPS for the order's token. Found: charge it exactly as the return would (the claim is the
    /// same conditional write, so a late return and the sweep cannot both charge). Not found:
    /// look again later, and abandon the order once the authorisation page has expired.
    async fn recover(
        &self,
        order: &Order,
        owner: &str,
        now: OffsetDateTime,
    ) -> Result<Order, StepError> {
        let found = self
            .gateway
            .find_authorization(&order.caller_reference)
            .await
            .map_err(StepError::Unresolved)?;
        let next = match found {
            Some(token) => {
                let claimed = order.claim_for_charge(&token, None, self.lease(owner, now), now)?;
                self.store.transition(order, &claimed).await?;
                info!("the buyer authorised but never came back: charging the authorisation");
                return run_charge(&self.store, &self.gateway, self.clock.as_ref(), claimed).await;
            }
            None if now >= order.created_at + self.settings.abandon_after => order
                .abandon_unauthorised(
                "NotAuthorized",
                "The buyer did not authorise the payment while the authorisation page was open.",
                now,
            )?,
            None => {
                let at = (now + self.settings.look_again_after)
                    .min(order.created_at + self.settings.abandon_after);
                order.look_again_at(at, now)?
            }
        };
        self.store.transition(order, &next).await?;
        Ok(next)
    }

    /// A charge declined for now whose authorisation lapsed untried: the decline stands.
    async fn lapse(&self, order: &Order, now: OffsetDateTime) -> Result<Order, StepError> {
        let code = order.status_code.clone().unwrap_or_default();
        let message = format!(
            "{} (the authorisation lapsed before it was tried again)",
            order.status_message.as_deref().unwrap_or_default()
        );
        let next = order.fail(&code, &message, now)?;
        self.store.transition(order, &next).await?;
        info!(%code, "a charge declined for now lapsed untried");
        Ok(next)
    }

    /// When to try a Settle again after FPS refused it for now: doubling waits, capped.
    fn retry_at(&self, attempts: u32, now: OffsetDateTime) -> OffsetDateTime {
        let doubling = 1i32 << attempts.saturating_sub(1).min(16);
        let wait = (self.settings.retry_wait * doubling).min(self.settings.max_retry_wait);
        now + wait
    }

    /// FPS cancels a reserve after 7 days; it must never be settled after that.
    async fn expire(&self, order: &Order, now: OffsetDateTime) -> Result<Order, StepError> {
        let next = order.expire(now)?;
        self.store.transition(order, &next).await?;
        info!("reservation expired unsettled");
        Ok(next)
    }

    async fn reconcile(&self, order: &Order) -> Result<Order, StepError> {
        let Some(transaction_id) = order.transaction_id.as_deref() else {
            return Err(TransitionError::IllegalState {
                caller_reference: order.caller_reference.clone(),
                state: order.state,
                action: "reconcile without a TransactionId",
            }
            .into());
        };
        let status = self
            .gateway
            .transaction_status(transaction_id)
            .await
            .map_err(StepError::Unresolved)?;
        let next = order.record_transaction(
            transaction_id,
            status.status,
            status.code,
            status.message,
            self.clock.now(),
        )?;
        self.store.transition(order, &next).await?;
        Ok(next)
    }

    /// A refund FPS is still processing: ask about its own transaction.
    async fn reconcile_refund(&self, order: &Order) -> Result<Order, StepError> {
        let Some(transaction_id) = order
            .current_refund()
            .and_then(|r| r.transaction_id.clone())
        else {
            return Err(TransitionError::IllegalState {
                caller_reference: order.caller_reference.clone(),
                state: order.state,
                action: "reconcile a refund without a TransactionId",
            }
            .into());
        };
        let status = self
            .gateway
            .transaction_status(&transaction_id)
            .await
            .map_err(StepError::Unresolved)?;
        if status.status == TransactionStatus::Pending {
            return Ok(order.clone());
        }
        let next = order.record_refund(
            &transaction_id,
            status.status,
            status.code,
            status.message,
            self.clock.now(),
        )?;
        self.store.transition(order, &next).await?;
        Ok(next)
    }

    /// A Cancel that may or may not have reached FPS: look at the reserve before cancelling
    /// again (Cancel has no CallerReference).
    async fn redrive_cancel(&self, claimed: Order) -> Result<Order, StepError> {
        let Some(reserve) = claimed.transaction_id.clone() else {
            return run_cancel(
                &self.store,
                &self.gateway,
                self.clock.as_ref(),
                claimed,
                None,
            )
            .await;
        };
        let status = self
            .gateway
            .transaction_status(&reserve)
            .await
            .map_err(StepError::Unresolved)?;
        if status.status == TransactionStatus::Reserved {
            return run_cancel(
                &self.store,
                &self.gateway,
                self.clock.as_ref(),
                claimed,
                None,
            )
            .await;
        }
        let next =
            claimed.record_cancel(status.status, status.code, status.message, self.clock.now())?;
        self.store.transition(&claimed, &next).await?;
        Ok(next)
    }

    async fn run_settle(&self, claimed: Order) -> Result<Order, StepError> {
        let Some(transaction_id) = claimed.transaction_id.clone() else {
            let next = claimed.fail(
                "InvalidTransactionId",
                "No reserve to settle.",
                self.clock.now(),
            )?;
            self.store.transition(&claimed, &next).await?;
            return Ok(next);
        };
        let next = match self
            .gateway
            .settle(&transaction_id, claimed.settle_amount)
            .await
        {
            Ok(accepted) => claimed.record_transaction(
                &accepted.transaction_id,
                accepted.status,
                None,
                None,
                self.clock.now(),
            )?,
            Err(GatewayError::Refused {
                code,
                message,
                retry_later: true,
                ..
            }) => {
                // FPS may accept the same Settle later (balance, account limits, a temporarily
                // unavailable account): keep the shipped order due, with backoff, while the
                // reserve lives long enough.
                let now = self.clock.now();
                let retry_at = self.retry_at(claimed.attempts, now);
                let last_chance = claimed
                    .reserve_expires_at()
                    .map(|expires| expires - self.settings.reserve_margin);
                let out_of_time = last_chance.is_some_and(|last| retry_at >= last);
                if out_of_time || claimed.attempts >= self.settings.max_attempts {
                    let why = if out_of_time {
                        "FPS may accept it later, but not before the reservation expires"
                    } else {
                        "FPS refused every try so far"
                    };
                    warn!(%code, why, "FPS refused the settle for now; giving up");
                    claimed.needs_attention(&code, &format!("{message} ({why})"), now)?
                } else {
                    info!(%code, %retry_at, "FPS refused the settle for now; trying again later");
                    claimed.settle_later(&code, &message, retry_at, now)?
                }
            }
            Err(GatewayError::Refused { code, message, .. }) => {
                warn!(%code, "FPS refused the settle");
                // Settle has no CallerReference: a refusal may mean an earlier Settle did land.
                // Ask before declaring failure.
                match self.gateway.transaction_status(&transaction_id).await {
                    Ok(status) if status.status != TransactionStatus::Reserved => claimed
                        .record_transaction(
                            &transaction_id,
                            status.status,
                            status.code,
                            status.message,
                            self.clock.now(),
                        )?,
                    Ok(_) => claimed.fail(&code, &message, self.clock.now())?,
                    Err(unknown) => return Err(StepError::Unresolved(unknown)),
                }
            }
            Err(e) => return Err(StepError::Unresolved(e)),
        };
        self.store.transition(&claimed, &next).await?;
        Ok(next)
    }

    /// A Settle that may or may not have reached FPS: look before settling again, because
    /// Settle has no CallerReference to deduplicate it.
    async fn redrive_settle(&self, claimed: Order) -> Result<Order, StepError> {
        let Some(transaction_id) = claimed.transaction_id.clone() else {
            return self.run_settle(claimed).await;
        };
        let status = self
            .gateway
            .transaction_status(&transaction_id)
            .await
            .map_err(StepError::Unresolved)?;
        if status.status == TransactionStatus::Reserved
            && !claimed.reserve_expired(self.clock.now())
        {
            return self.run_settle(claimed).await;
        }
        let next = claimed.record_transaction(
            &transaction_id,
            status.status,
            status.code,
            status.message,
            self.clock.now(),
        )?;
        self.store.transition(&claimed, &next).await?;
        Ok(next)
    }
}

mod summary;
#[cfg(test)]
mod tests;

pub use summary::SweepSummary;
