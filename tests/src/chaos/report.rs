//! The campaign's table: orders, faults injected by kind, kills, final states, violations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use checkout_core::domain::order::Order;

use super::invariants::Violation;
use super::proxy::ProxyCounts;

#[derive(Debug)]
pub struct Report {
    pub seed: u64,
    pub orders_planned: usize,
    pub orders: Vec<Order>,
    pub fps: ProxyCounts,
    pub dynamodb: ProxyCounts,
    pub tally_counts: BTreeMap<&'static str, u64>,
    pub crashes: BTreeMap<&'static str, u64>,
    pub notes: Vec<String>,
    pub violations: Vec<Violation>,
    pub elapsed: Duration,
}

fn faults(out: &mut String, service: &str, counts: &ProxyCounts) {
    let _ = writeln!(
        out,
        "| {service} requests | {} ({} faulted, {:.1} %) |",
        counts.requests,
        counts.faulted_total(),
        100.0 * counts.faulted_share()
    );
    for (kind, n) in &counts.faulted {
        let _ = writeln!(out, "| {service} fault: {kind} | {n} |");
    }
}

impl Report {
    pub fn final_states(&self) -> BTreeMap<&'static str, usize> {
        let mut states = BTreeMap::new();
        for order in &self.orders {
            *states.entry(order.state.as_str()).or_default() += 1;
        }
        states
    }

    pub fn crashes_total(&self) -> u64 {
        self.crashes.values().sum()
    }

    /// A Markdown table (the README's "Reliability" section quotes it).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| chaos campaign, seed {} | |", self.seed);
        let _ = writeln!(out, "|---|---|");
        let _ = writeln!(
            out,
            "| orders planned / in the table | {} / {} |",
            self.orders_planned,
            self.orders.len()
        );
        faults(&mut out, "FPS", &self.fps);
        faults(&mut out, "DynamoDB", &self.dynamodb);
        let _ = writeln!(out, "| invocations killed | {} |", self.crashes_total());
        for (site, n) in &self.crashes {
            let _ = writeln!(out, "| killed: {site} | {n} |");
        }
        for (what, n) in &self.tally_counts {
            let _ = writeln!(out, "| {what} | {n} |");
        }
        for (state, n) in self.final_states() {
            let _ = writeln!(out, "| final state: {state} | {n} |");
        }
        let _ = writeln!(out, "| invariant violations | {} |", self.violations.len());
        let _ = writeln!(out, "| wall time | {:.0} s |", self.elapsed.as_secs_f64());
        out
    }

    /// The violations (the first 50) and notes, one per line.
    pub fn details(&self) -> String {
        let mut out = String::new();
        for v in self.violations.iter().take(50) {
            let _ = writeln!(
                out,
                "VIOLATION {} [{}]: {}",
                v.order_id, v.invariant, v.detail
            );
        }
        let attention = self
            .orders
            .iter()
            .filter(|o| o.state == checkout_core::domain::order::OrderState::NeedsAttention);
        for order in attention {
            let _ = writeln!(
                out,
                "needs attention {}: {} {}",
                order.caller_reference,
                order.status_code.as_deref().unwrap_or("-"),
                order.status_message.as_deref().unwrap_or("-")
            );
        }
        for note in self.notes.iter().take(20) {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}
