//! When the client sends the same request again within one call: a pure function of what the
//! last attempt got and how many attempts were made, so the policy is read and tested as a
//! table, apart from the HTTP code that follows it.

use std::time::Duration;

use crate::error::ErrorClass;

/// How one attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFailure {
    /// FPS answered with an error of this class.
    Rejected(ErrorClass),
    /// The request never left (connection refused, DNS, TLS): nothing happened.
    NotSent,
    /// The request left and no usable answer came back: FPS may have acted.
    OutcomeUnknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Backoff ceiling after the first attempt; doubles per attempt (full jitter below it).
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// `Some(ceiling)`: send the same request again after a pause of up to `ceiling`.
    /// `None`: the call ends with this failure.
    ///
    /// - A transient rejection or a request that never left is resent with the same
    ///   parameters: for Pay and Reserve the CallerReference makes that safe even when the first
    ///   one was processed (read-only calls are safe anyway).
    /// - An unknown outcome is not resent here: the caller resolves it later (a reconciler
    ///   with the same CallerReference), so one call never stacks timeouts.
    /// - Refusals (final, or "later" in FPS's sense of hours, not seconds) end the call.
    pub fn backoff_after(&self, failure: AttemptFailure, attempt: u32) -> Option<Duration> {
        let resend = matches!(
            failure,
            AttemptFailure::Rejected(ErrorClass::Transient) | AttemptFailure::NotSent
        );
        if !resend || attempt >= self.max_attempts {
            return None;
        }
        let doubling = 1u32 << attempt.saturating_sub(1).min(16);
        Some(
            self.base_backoff
                .saturating_mul(doubling)
                .min(self.max_backoff),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_as_a_table() {
        use AttemptFailure::*;
        use ErrorClass::*;
        let policy = RetryPolicy::default();
        let ms = Duration::from_millis;
        let cases = [
            // (failure, attempt just made, expected ceiling)
            (Rejected(Transient), 1, Some(ms(100))),
            (Rejected(Transient), 2, Some(ms(200))),
            (Rejected(Transient), 3, Some(ms(400))),
            (Rejected(Transient), 4, None),
            (NotSent, 1, Some(ms(100))),
            (NotSent, 3, Some(ms(400))),
            (NotSent, 4, None),
            (OutcomeUnknown, 1, None),
            (Rejected(RetryLater), 1, None),
            (Rejected(Final), 1, None),
        ];
        for (failure, attempt, expected) in cases {
            assert_eq!(
                policy.backoff_after(failure, attempt),
                expected,
                "{failure:?} after attempt {attempt}"
            );
        }
    }

    #[test]
    fn the_ceiling_stops_growing_at_the_maximum() {
        let policy = RetryPolicy {
            max_attempts: 40,
            ..RetryPolicy::default()
        };
        let failure = AttemptFailure::NotSent;
        assert_eq!(
            policy.backoff_after(failure, 6),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            policy.backoff_after(failure, 39),
            Some(Duration::from_secs(2))
        );
    }
}
