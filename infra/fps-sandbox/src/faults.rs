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
    /// HTTP 400 `InsufficientBalance` (a retriable decline), nothing processed: the `.62`
    /// amount's answer, once, for an amount that then goes through.
    InsufficientBalance,
    /// HTTP 502 with an HTML body, as a proxy or load balancer in front of FPS answered;
    /// nothing processed.
    BadGateway,
    /// The request is processed and recorded, then answered 200 with a body that is not XML.
    GarbledAfterCommit,
    /// The request is processed normally, but an error answer comes in the WSDL's
    /// `<ErrorResponse>` shape instead of the REST `<Response><Errors>` one (§6.11).
    ErrorResponseShape,
    /// CBUI (action `CBUI`): the buyer's authorisation ends with `status=SE` (a system error
    /// at Amazon Payments; no token).
    SystemError,
    /// CBUI: the authorisation ends with `status=NM` (the caller is not registered for this
    /// kind of transaction; no token).
    NotMarketplace,
    /// CBUI: a successful authorisation (the token is installed) whose return carries the
    /// success status but no `tokenID`.
    ReturnWithoutToken,
    /// CBUI: a `reserve=True` request lets the buyer pay with any instrument, answering
    /// `SA`/`SB` (decision 4's restriction to cards not applied).
    ReserveAnyMethod,
}

impl FaultKind {
    /// Faults of the CBUI's answer (fault action `CBUI`); the others are faults of API calls.
    pub fn is_cbui(self) -> bool {
        matches!(
            self,
            Self::SystemError
                | Self::NotMarketplace
                | Self::ReturnWithoutToken
                | Self::ReserveAnyMethod
        )
    }
}

/// The fault action that names the CBUI's answer to the buyer.
pub const CBUI_ACTION: &str = "CBUI";

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

    /// `*` matches every API action, never the CBUI.
    fn matches(&self, action: &str) -> bool {
        self.action == action || (self.action == "*" && action != CBUI_ACTION)
    }

    /// A CBUI fault names the CBUI, and an API fault an API action (or `*`).
    pub fn check(&self) -> Result<(), String> {
        match (self.kind.is_cbui(), self.action == CBUI_ACTION) {
            (true, false) => Err(format!(
                "fault {:?} applies to the CBUI's answer: give \"action\": \"{CBUI_ACTION}\"",
                self.kind
            )),
            (false, true) => Err(format!(
                "fault {:?} applies to API calls, not to the CBUI",
                self.kind
            )),
            _ => Ok(()),
        }
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
    fn cbui_faults_are_kept_apart_from_api_faults() {
        let mut f = Faults::default();
        f.add(FaultSpec::new(CBUI_ACTION, FaultKind::SystemError, 1));
        f.add(FaultSpec::new("*", FaultKind::InternalError, 1));
        assert_eq!(f.take(CBUI_ACTION), Some(FaultKind::SystemError));
        assert_eq!(f.take(CBUI_ACTION), None, "* is for API actions");
        assert_eq!(f.take("Pay"), Some(FaultKind::InternalError));
        assert!(FaultSpec::new("Pay", FaultKind::ReturnWithoutToken, 1)
            .check()
            .is_err());
        assert!(FaultSpec::new(CBUI_ACTION, FaultKind::DropAfterCommit, 1)
            .check()
            .is_err());
        assert!(FaultSpec::new(CBUI_ACTION, FaultKind::ReserveAnyMethod, 1)
            .check()
            .is_ok());
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
