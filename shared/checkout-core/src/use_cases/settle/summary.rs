//! What one sweep reports: counts by outcome, whether it ran out of time, and how long its
//! oldest due order had waited (the figures the sweep's metrics and alarms read).

use serde::Serialize;

use super::{Step, StepError};
use crate::domain::order::OrderState;
use crate::ports::store::StoreError;

/// What one sweep did. `errors` counts orders that could not be processed this time (they stay
/// due and are retried by the next sweep).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    pub examined: u32,
    pub settled: u32,
    pub paid: u32,
    pub reserved: u32,
    pub pending: u32,
    pub failed: u32,
    /// A re-driven charge FPS declined for now: it waits for the buyer's retry.
    pub declined_for_now: u32,
    pub expired: u32,
    /// Nobody authorised the payment while the page was open.
    pub abandoned: u32,
    /// Handed to a person (retries ran out, or a retry would outlive the reserve).
    pub needs_attention: u32,
    pub unresolved: u32,
    pub skipped: u32,
    /// Another sweep or request moved the order first (a lost conditional write): not an error.
    pub contended: u32,
    pub errors: u32,
    /// The sweep stopped early to stay inside its deadline.
    pub out_of_time: bool,
    /// How long the longest-waiting order it saw had been due, in seconds (0: none was due).
    /// The due index hands out each shard's oldest first, so this is the oldest of them all.
    pub oldest_due_seconds: u64,
}

impl SweepSummary {
    pub(super) fn count(&mut self, outcome: &Result<Step, StepError>) {
        self.examined += 1;
        match outcome {
            Ok(Step::Done(order)) => match order.state {
                OrderState::Settled => self.settled += 1,
                OrderState::Paid => self.paid += 1,
                OrderState::Reserved => self.reserved += 1,
                OrderState::PaymentPending
                | OrderState::ReservePending
                | OrderState::SettlePending => self.pending += 1,
                OrderState::Failed | OrderState::SettleFailed => self.failed += 1,
                OrderState::DeclinedForNow => self.declined_for_now += 1,
                OrderState::Expired => self.expired += 1,
                OrderState::Abandoned => self.abandoned += 1,
                OrderState::NeedsAttention => self.needs_attention += 1,
                _ => self.skipped += 1,
            },
            Ok(Step::Skipped) => self.skipped += 1,
            Err(StepError::Unresolved(_)) => self.unresolved += 1,
            Err(StepError::Store(StoreError::Conflict(_))) | Err(StepError::Transition(_)) => {
                self.contended += 1
            }
            Err(_) => self.errors += 1,
        }
    }
}
