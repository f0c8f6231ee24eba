//! Round-trip profiles: calls per (service, operation) and sequential waits, as measured on the
//! wire and as budgeted per path.

use std::collections::BTreeMap;

use crate::proxy::{Call, Service};

/// Calls per (service, operation), plus sequential waits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Profile {
    pub(super) calls: BTreeMap<(Service, String), usize>,
    pub(super) waits: usize,
}

impl Profile {
    pub(super) fn of(calls: &[Call], sequential: usize) -> Self {
        let mut profile = Profile {
            waits: sequential,
            ..Profile::default()
        };
        for call in calls {
            *profile
                .calls
                .entry((call.service, call.operation.clone()))
                .or_default() += 1;
        }
        profile
    }

    pub(super) fn expected(calls: &[(Service, &str, usize)], waits: usize) -> Self {
        Profile {
            calls: calls
                .iter()
                .map(|(s, op, n)| ((*s, (*op).to_owned()), *n))
                .collect(),
            waits,
        }
    }

    pub(super) fn max(&mut self, other: &Profile) {
        for (key, n) in &other.calls {
            let entry = self.calls.entry(key.clone()).or_default();
            *entry = (*entry).max(*n);
        }
        self.waits = self.waits.max(other.waits);
    }

    pub(super) fn calls_text(&self) -> String {
        if self.calls.is_empty() {
            return "no calls".to_owned();
        }
        self.calls
            .iter()
            .map(|((service, op), n)| format!("{} {op} ×{n}", service.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
