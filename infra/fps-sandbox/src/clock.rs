//! The emulator's clock: real time plus an offset that the control API moves.

use std::sync::{Arc, Mutex};

use fps_protocol::clock::Clock;
use time::{Duration, OffsetDateTime};

/// The emulator clock stays within these years, so that every date the ledger derives from it
/// (token and reserve expiry, instrument expiry) is representable.
pub const EARLIEST: OffsetDateTime = time::macros::datetime!(1970-01-01 0:00 UTC);
pub const LATEST: OffsetDateTime = time::macros::datetime!(2999-12-31 0:00 UTC);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the emulator clock must stay between 1970-01-01 and 2999-12-31")]
pub struct OutOfRange;

/// Real UTC time shifted by an adjustable offset. Time keeps flowing (so a Pending payment
/// completes on its own), and tests can jump it forward (`advance`) or pin its reading to a
/// moment (`set`, which changes the offset; time flows on from there).
///
/// Cloning shares the offset: pass [`SandboxClock`] to an in-process
/// [`FpsClient`](fps_protocol::FpsClient) so its Timestamps follow the emulator's clock.
#[derive(Debug, Clone, Default)]
pub struct SandboxClock {
    offset: Arc<Mutex<Duration>>,
}

fn in_range(offset: Duration) -> Result<Duration, OutOfRange> {
    match OffsetDateTime::now_utc().checked_add(offset) {
        Some(at) if (EARLIEST..=LATEST).contains(&at) => Ok(offset),
        _ => Err(OutOfRange),
    }
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
    pub fn advance(&self, by: Duration) -> Result<(), OutOfRange> {
        self.with_offset(|o| {
            *o = in_range(o.checked_add(by).ok_or(OutOfRange)?)?;
            Ok(())
        })
    }

    /// Makes the clock read `to` now.
    pub fn set(&self, to: OffsetDateTime) -> Result<(), OutOfRange> {
        self.set_offset(to - OffsetDateTime::now_utc())
    }

    /// How far the clock is from real time.
    pub fn offset(&self) -> Duration {
        self.with_offset(|o| *o)
    }

    pub fn set_offset(&self, offset: Duration) -> Result<(), OutOfRange> {
        let offset = in_range(offset)?;
        self.with_offset(|o| *o = offset);
        Ok(())
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> OffsetDateTime {
        let real = OffsetDateTime::now_utc();
        real.checked_add(self.offset()).unwrap_or(real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_and_sets() {
        let c = SandboxClock::new();
        let before = c.now();
        c.advance(Duration::days(7)).unwrap();
        assert!(c.now() - before >= Duration::days(7));
        let target = time::macros::datetime!(2011-10-03 15:19:30 UTC);
        c.set(target).unwrap();
        assert!((c.now() - target).abs() < Duration::seconds(1));
        let shared = c.clone();
        shared.advance(Duration::hours(1)).unwrap();
        assert!((c.now() - target - Duration::hours(1)).abs() < Duration::seconds(1));
    }

    #[test]
    fn refuses_to_leave_its_range() {
        let c = SandboxClock::new();
        assert_eq!(c.advance(Duration::MAX), Err(OutOfRange));
        assert_eq!(c.advance(Duration::days(-365 * 100)), Err(OutOfRange));
        assert_eq!(
            c.set(time::macros::datetime!(9999-12-31 0:00 UTC)),
            Err(OutOfRange)
        );
        assert!(c.offset().abs() < Duration::seconds(1));
        c.set_offset(Duration::MIN).unwrap_err();
        let _ = c.now();
    }
}
