//! Faults injected through the control API for the next N requests of an action.

use serde::{Deserialize, Serialize};

/// What happens to a request that meets the fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// HTTP 503 `ServiceUnavailable`; nothing is processed.
    ServiceUnavailable,
    /// HTTP 500 `InternalError`; nothing is processed.
    InternalError,
    /// The request is processed normally after waiting `ms` milliseconds.
    Latency { ms: u64 },
    /// The request is processed and recorded, then the connection is dropped before the
    /// answer: the caller cannot know the outcome (the timeout-after-commit case).
    DropAfterCommit,
    /// The request is processed and recorded, then answered HTTP 503 `ServiceUnavailable`:
    /// FPS's 5xx could follow a committed request, and well-behaved clients resend it.
    UnavailableAfterCommit,
    /// HTTP 400 `TokenUsageError`, nothing processed: what FPS could answer a resend whose
    /// token an earlier, committed attempt already used (instead of replaying it).
    TokenUsageError,
    /// HTTP 400 `ConcurrentModification` (FPS: retry the request), nothing processed.
    ConcurrentModification,
    /// HTTP 502 with an HTML body, as a proxy or load balancer in front of FPS answered;
    /// nothing processed.
    BadGateway,
    /// The request is processed and recorded, then answered 200 with a body that is not XML.
    GarbledAfterCommit,
}

fn one() -> u32 {
    1
}

/// `{"action": "Pay", "kind": "drop_after_commit", "count": 1}`; `"action": "*"` matches any
/// API action; `latency` takes `"ms"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    pub action: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many matching requests it applies to (default 1).
    #[serde(default = "one")]
    pub count: u32,
}

impl FaultSpec {
    pub fn new(action: impl Into<String>, kind: FaultKind, count: u32) -> Self {
        Self {
            action: action.into(),
            kind,
            count,
        }
    }

    fn matches(&self, action: &str) -> bool {
        self.action == "*" || self.action == action
    }
}

/// Pending faults, first in first out.
#[derive(Debug, Default)]
pub struct Faults {
    pending: Vec<FaultSpec>,
}

impl Faults {
    pub fn add(&mut self, spec: FaultSpec) {
        if spec.count > 0 {
            self.pending.push(spec);
        }
    }

    /// The fault the next `action` request meets, if any (consumes one use of it).
    pub fn take(&mut self, action: &str) -> Option<FaultKind> {
        let index = self.pending.iter().position(|f| f.matches(action))?;
        let spec = &mut self.pending[index];
        let kind = spec.kind;
        spec.count -= 1;
        if spec.count == 0 {
            self.pending.remove(index);
        }
        Some(kind)
    }

    pub fn list(&self) -> Vec<FaultSpec> {
        self.pending.clone()
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_in_order_and_by_action() {
        let mut f = Faults::default();
        f.add(FaultSpec::new("Pay", FaultKind::ServiceUnavailable, 2));
        f.add(FaultSpec::new("*", FaultKind::Latency { ms: 5 }, 1));
        assert_eq!(f.take("Settle"), Some(FaultKind::Latency { ms: 5 }));
        assert_eq!(f.take("Settle"), None);
        assert_eq!(f.take("Pay"), Some(FaultKind::ServiceUnavailable));
        assert_eq!(f.take("Pay"), Some(FaultKind::ServiceUnavailable));
        assert_eq!(f.take("Pay"), None);
    }

    #[test]
    fn json_shape() {
        let spec: FaultSpec =
            serde_json::from_str(r#"{"action":"Pay","kind":"latency","ms":250}"#).unwrap();
        assert_eq!(
            spec,
            FaultSpec::new("Pay", FaultKind::Latency { ms: 250 }, 1)
        );
        let text = serde_json::to_string(&FaultSpec::new("Settle", FaultKind::DropAfterCommit, 3))
            .unwrap();
        assert_eq!(
            text,
            r#"{"action":"Settle","kind":"drop_after_commit","count":3}"#
        );
    }
}
