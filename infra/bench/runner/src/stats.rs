//! Small statistics: percentiles and how much of a window was spent waiting on calls.

use std::time::{Duration, Instant};

use crate::proxy::Call;

/// The `p`-th percentile (0–100, nearest rank) of `values`; zero when empty.
pub fn percentile(values: &[Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(values: &[Duration]) -> Duration {
    percentile(values, 50.0)
}

/// How the calls made during one invocation add up: the number of sequential waits (calls that
/// overlap in time count as one wait) and the time covered by at least one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    pub sequential: usize,
    pub awaited: Duration,
}

pub fn waits(calls: &[Call], from: Instant, to: Instant) -> Waits {
    let mut spans: Vec<(Instant, Instant)> = calls
        .iter()
        .map(|c| (c.start.max(from), c.end.min(to)))
        .filter(|(s, e)| e >= s)
        .collect();
    spans.sort();
    let mut sequential = 0;
    let mut awaited = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in spans {
        match current {
            Some((s, e)) if start <= e => current = Some((s, e.max(end))),
            Some((s, e)) => {
                sequential += 1;
                awaited += e - s;
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    if let Some((s, e)) = current {
        sequential += 1;
        awaited += e - s;
    }
    Waits {
        sequential,
        awaited,
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Service;

    fn call(base: Instant, from_ms: u64, to_ms: u64) -> Call {
        Call {
            service: Service::Fps,
            operation: "Pay".into(),
            index: None,
            start: base + Duration::from_millis(from_ms),
            end: base + Duration::from_millis(to_ms),
        }
    }

    #[test]
    fn overlapping_calls_are_one_wait() {
        let t = Instant::now();
        let calls = [
            call(t, 0, 10),
            call(t, 5, 12),
            call(t, 20, 30),
            call(t, 40, 41),
        ];
        let w = waits(&calls, t, t + Duration::from_millis(50));
        assert_eq!(w.sequential, 3);
        assert_eq!(w.awaited, Duration::from_millis(12 + 10 + 1));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(median(&v), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
