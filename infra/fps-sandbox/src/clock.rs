//! The emulator's clock: real time plus an offset that the control API moves.

use std::sync::{Arc, Mutex};

use checkout_core::clock::Clock;
use time::{Duration, OffsetDateTime};

/// Real UTC time shifted by an adjustable offset. Time keeps flowing (so a Pending payment
/// completes on its own), and tests can jump it forward (`advance`) or pin its reading to a
/// moment (`set`, which changes the offset; time flows on from there).
///
/// Cloning shares the offset: pass [`SandboxClock`] to an in-process
/// [`FpsClient`](checkout_core::fps::FpsClient) so its Timestamps follow the emulator's clock.
#[derive(Debug, Clone, Default)]
pub struct SandboxClock {
    offset: Arc<Mutex<Duration>>,
}

impl SandboxClock {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_offset<R>(&self, f: impl FnOnce(&mut Duration) -> R) -> R {
        let mut guard = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.with_offset(|o| *o += by);
    }

    /// Makes the clock read `to` now.
    pub fn set(&self, to: OffsetDateTime) {
        let offset = to - OffsetDateTime::now_utc();
        self.with_offset(|o| *o = offset);
    }

    /// How far the clock is from real time.
    pub fn offset(&self) -> Duration {
        self.with_offset(|o| *o)
    }

    pub fn set_offset(&self, offset: Duration) {
        self.with_offset(|o| *o = offset);
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_and_sets() {
        let c = SandboxClock::new();
        let before = c.now();
        c.advance(Duration::days(7));
        assert!(c.now() - before >= Duration::days(7));
        let target = time::macros::datetime!(2011-10-03 15:19:30 UTC);
        c.set(target);
        assert!((c.now() - target).abs() < Duration::seconds(1));
        let shared = c.clone();
        shared.advance(Duration::hours(1));
        assert!((c.now() - target - Duration::hours(1)).abs() < Duration::seconds(1));
    }
}
