//! The cost table: 1,000 Pay checkouts and 1,000 Reserve + Settle orders at 128, 256 and
//! 512 MB, from the CPU the warm phase measured (`crate::cost` holds the model, the prices and
//! the assumptions).

use crate::cost::{order_kinds, per_thousand, ASSUMPTIONS, PRICES, PRICES_AS_OF};
use crate::report::Line;

use super::Bench;

const MEMORY_SIZES: [f64; 3] = [128.0, 256.0, 512.0];

impl Bench {
    pub(super) fn cost_table(&mut self) {
        let a = ASSUMPTIONS;
        for kind in order_kinds(&self.measured.cpu) {
            let mut totals = Vec::new();
            for mb in MEMORY_SIZES {
                let costs = per_thousand(&kind, mb, &a, &PRICES);
                totals.push((mb, costs.total()));
                let parts = costs
                    .lines
                    .iter()
                    .map(|(what, usd)| format!("{what} ${usd:.4}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.report.push(Line::new(
                    "Cost per 1,000 orders",
                    &format!("{} at {mb:.0} MB", kind.name),
                    format!("${:.3} ({parts})", costs.total()),
                ));
            }
            let cheapest = totals
                .iter()
                .min_by(|x, y| x.1.total_cmp(&y.1))
                .map(|(mb, _)| *mb)
                .unwrap_or(256.0);
            self.report.notes.push(format!(
                "{}: cheapest at {cheapest:.0} MB ({})",
                kind.name,
                totals
                    .iter()
                    .map(|(mb, usd)| format!("{mb:.0} MB ${usd:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.report.notes.push(format!(
            "Costs: {PRICES_AS_OF}. Assumed: DynamoDB {} ms and FPS {} ms a round trip, \
             EventBridge {} ms, a cold start (one Secrets Manager call) per {} invocations, \
             {} log bytes per invocation; CPU measured here, scaled by 1,769 MB / memory. \
             Not per order: the scheduled sweep (96 a day), the secret ($0.40 a month), alarms, \
             the dashboard, X-Ray traces.",
            a.dynamodb_ms,
            a.fps_ms,
            a.eventbridge_ms,
            a.invocations_per_cold_start,
            a.log_bytes_per_invocation
        ));
    }
}
