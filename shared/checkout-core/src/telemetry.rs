//! Metrics in CloudWatch's embedded metric format (EMF): the `metrics` facade records, the
//! `metrics_cloudwatch_embedded` collector writes one JSON document per dimension set to stdout
//! after every invocation, and CloudWatch Logs turns them into metrics (no API call, no extra
//! latency). The names and dimensions here are what `template.yaml`'s alarms and dashboard use
//! (a template test checks every alarm against [`METRICS`]).

use std::sync::OnceLock;

use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::Service;
use metrics_cloudwatch_embedded::Collector;

use crate::domain::events::{OrderEvent, OrderEventKind};
use crate::domain::order::Order;

/// Every metric the functions emit: name, dimensions.
pub const METRICS: &[(&str, &[&str])] = &[
    (COLD_START, &["Function"]),
    (FPS_CALLS, &["Action", "Outcome"]),
    (FPS_OUTCOME_UNKNOWN, &[]),
    (DECLINES, &["Code"]),
    (FORGED_RETURNS, &[]),
    (FORGED_NOTIFICATIONS, &[]),
    (ORDER_EVENTS, &["Type"]),
    (AMOUNT_CAPTURED, &[]),
    (AMOUNT_RESERVED, &[]),
    (AMOUNT_REFUNDED, &[]),
    (SWEEP_ORDERS_SEEN, &[]),
    (SWEEP_ORDERS_MOVED, &[]),
    (SWEEP_ORDERS_LEFT, &[]),
    (SWEEP_OLDEST_DUE, &[]),
    (SWEEP_OUT_OF_TIME, &[]),
];

/// A function started (its first invocation pays for init).
pub const COLD_START: &str = "ColdStart";
/// Pay, Reserve, Settle, Refund and Cancel by what FPS answered.
pub const FPS_CALLS: &str = "FpsCalls";
/// Calls whose outcome is unknown (sent, no answer): the sweep resolves them.
pub const FPS_OUTCOME_UNKNOWN: &str = "FpsOutcomeUnknown";
/// Refusals by FPS error code.
pub const DECLINES: &str = "Declines";
/// Returns FPS's VerifySignature said it did not sign.
pub const FORGED_RETURNS: &str = "ForgedReturns";
/// Notifications FPS's VerifySignature said it did not sign.
pub const FORGED_NOTIFICATIONS: &str = "ForgedNotifications";
/// Order events published, by type (`OrderNeedsAttention` is the one a person acts on).
pub const ORDER_EVENTS: &str = "OrderEvents";
/// US dollars charged (a Pay's success, a Settle's success), from the order table's stream.
pub const AMOUNT_CAPTURED: &str = "AmountCaptured";
/// US dollars authorised by a Reserve.
pub const AMOUNT_RESERVED: &str = "AmountReserved";
/// US dollars given back by refunds.
pub const AMOUNT_REFUNDED: &str = "AmountRefunded";
pub const SWEEP_ORDERS_SEEN: &str = "SweepOrdersSeen";
pub const SWEEP_ORDERS_MOVED: &str = "SweepOrdersMoved";
/// Seen but not moved this time (another invocation had it, FPS could not answer, an error):
/// still due.
pub const SWEEP_ORDERS_LEFT: &str = "SweepOrdersLeft";
/// How long the longest-waiting due order had waited when the sweep ran.
pub const SWEEP_OLDEST_DUE: &str = "SweepOldestDueSeconds";
/// The sweep stopped before its deadline with orders left.
pub const SWEEP_OUT_OF_TIME: &str = "SweepOutOfTime";

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// The metrics' namespace: `METRICS_NAMESPACE`, default `FpsCheckout`.
pub fn namespace(env: &impl crate::config::Env) -> String {
    env.var("METRICS_NAMESPACE")
        .unwrap_or_else(|| "FpsCheckout".to_owned())
}

/// Installs the collector (namespace `METRICS_NAMESPACE`, default `FpsCheckout`) and counts the
/// cold start. Without it (tests), recording is a no-op.
pub fn init(function: &'static str, env: &impl crate::config::Env) {
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace(env))
        .init()
    {
        Ok(collector) => {
            let _ = COLLECTOR.set(collector);
            metrics::counter!(COLD_START, "Function" => function).increment(1);
        }
        Err(e) => tracing::warn!(error = %e, "metrics are off"),
    }
}

/// Writes what was recorded since the last flush to stdout.
pub fn flush() {
    if let Some(collector) = COLLECTOR.get() {
        if let Err(e) = collector.flush(std::io::stdout().lock()) {
            tracing::warn!(error = %e, "metrics not written");
        }
    }
}

/// A Lambda service whose metrics are flushed after every invocation, each document carrying
/// the invocation's `requestId` (Lambda runs one invocation at a time per process).
pub fn metered<S>(inner: S) -> Metered<S> {
    Metered(inner)
}

pub struct Metered<S>(S);

type Output<S, A> = Result<<S as Service<A>>::Response, <S as Service<A>>::Error>;

impl<S, A> Service<LambdaEvent<A>> for Metered<S>
where
    S: Service<LambdaEvent<A>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        futures::future::Map<S::Future, fn(Output<S, LambdaEvent<A>>) -> Output<S, LambdaEvent<A>>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<A>) -> Self::Future {
        use futures::FutureExt;
        if let Some(collector) = COLLECTOR.get() {
            collector.set_property("requestId", event.context.request_id.clone());
        }
        self.0.call(event).map(flushed)
    }
}

fn flushed<T>(out: T) -> T {
    flush();
    out
}

/// What FPS answered a money-moving call (`Accepted`, `Pending`, `Declined` …).
pub fn fps_call(action: &'static str, outcome: &'static str) {
    metrics::counter!(FPS_CALLS, "Action" => action, "Outcome" => outcome).increment(1);
    if outcome == "OutcomeUnknown" {
        metrics::counter!(FPS_OUTCOME_UNKNOWN).increment(1);
    }
}

pub fn decline(code: &str) {
    metrics::counter!(DECLINES, "Code" => code.to_owned()).increment(1);
}

pub fn forged_return() {
    metrics::counter!(FORGED_RETURNS).increment(1);
}

pub fn forged_notification() {
    metrics::counter!(FORGED_NOTIFICATIONS).increment(1);
}

/// An order event published; the money it moved, in dollars.
pub fn order_event(event: &OrderEvent, order: &Order) {
    metrics::counter!(ORDER_EVENTS, "Type" => event.kind.detail_type()).increment(1);
    let dollars = |amount: rust_decimal::Decimal| f64::try_from(amount).unwrap_or(0.0);
    match event.kind {
        OrderEventKind::OrderPaid | OrderEventKind::OrderSettled => {
            if let Some(captured) = order.captured() {
                metrics::histogram!(AMOUNT_CAPTURED).record(dollars(captured.value()))
            }
        }
        OrderEventKind::OrderReserved => {
            metrics::histogram!(AMOUNT_RESERVED).record(dollars(order.amount().value()))
        }
        OrderEventKind::OrderRefunded => {
            if let Some(refund) = order.refunds.last() {
                metrics::histogram!(AMOUNT_REFUNDED).record(dollars(refund.amount.value()))
            }
        }
        _ => {}
    }
}

/// One sweep's figures.
pub fn sweep(summary: &crate::use_cases::settle::SweepSummary) {
    let left = summary.skipped + summary.contended + summary.unresolved + summary.errors;
    metrics::counter!(SWEEP_ORDERS_SEEN).increment(summary.examined.into());
    metrics::counter!(SWEEP_ORDERS_MOVED).increment(summary.examined.saturating_sub(left).into());
    metrics::counter!(SWEEP_ORDERS_LEFT).increment(left.into());
    metrics::histogram!(SWEEP_OLDEST_DUE).record(summary.oldest_due_seconds as f64);
    if summary.out_of_time {
        metrics::counter!(SWEEP_OUT_OF_TIME).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records through the helpers into the process's collector (the only test here that
    /// installs one: nextest runs each test in a process of its own); the EMF it writes.
    fn emitted(record: impl FnOnce()) -> Vec<serde_json::Value> {
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace("Test")
            .with_timestamp(1)
            .init()
            .expect("the first recorder of this process");
        record();
        let mut out = Vec::new();
        collector.flush(&mut out).expect("flush");
        String::from_utf8(out)
            .expect("UTF-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON document per line"))
            .collect()
    }

    /// Each document's metrics and dimensions, as (name, dimensions, value).
    fn metrics_in(docs: &[serde_json::Value]) -> Vec<(String, Vec<String>, serde_json::Value)> {
        let mut found = Vec::new();
        for doc in docs {
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "Test");
            let dims: Vec<String> = directive["Dimensions"][0]
                .as_array()
                .expect("a dimension set")
                .iter()
                .map(|d| d.as_str().unwrap_or_default().to_owned())
                .collect();
            for metric in directive["Metrics"].as_array().expect("metrics") {
                let name = metric["Name"].as_str().expect("a name").to_owned();
                found.push((name.clone(), dims.clone(), doc[&name].clone()));
            }
        }
        found
    }

    /// Issue 18 (1): every helper writes valid EMF, under a name and dimension set that
    /// [`METRICS`] (and so the template's alarms) knows.
    #[test]
    fn the_helpers_write_emf_that_the_alarms_can_find() {
        let docs = emitted(|| {
            fps_call("Pay", "Accepted");
            fps_call("Settle", "OutcomeUnknown");
            decline("InsufficientBalance");
            forged_return();
            forged_notification();
            sweep(&crate::use_cases::settle::SweepSummary {
                examined: 5,
                settled: 3,
                unresolved: 1,
                contended: 1,
                out_of_time: true,
                oldest_due_seconds: 420,
                ..Default::default()
            });
        });
        let found = metrics_in(&docs);
        for (name, dims, _) in &found {
            let known = METRICS
                .iter()
                .find(|(known, _)| known == name)
                .unwrap_or_else(|| panic!("{name} is not in METRICS"));
            let mut expected: Vec<&str> = known.1.to_vec();
            let mut dims: Vec<&str> = dims.iter().map(String::as_str).collect();
            expected.sort_unstable();
            dims.sort_unstable();
            assert_eq!(dims, expected, "{name}");
        }
        let value = |name: &str| {
            found
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, v)| v.clone())
                .unwrap_or_else(|| panic!("{name} not emitted: {docs:?}"))
        };
        assert_eq!(value(FPS_OUTCOME_UNKNOWN), 1);
        assert_eq!(value(FORGED_RETURNS), 1);
        assert_eq!(value(SWEEP_ORDERS_SEEN), 5);
        assert_eq!(value(SWEEP_ORDERS_MOVED), 3);
        assert_eq!(value(SWEEP_ORDERS_LEFT), 2);
        assert_eq!(value(SWEEP_OUT_OF_TIME), 1);
        assert_eq!(value(SWEEP_OLDEST_DUE), serde_json::json!([420.0]));
        let declined = docs
            .iter()
            .find(|d| d.get(DECLINES).is_some())
            .expect("a Declines document");
        assert_eq!(declined["Code"], "InsufficientBalance");
        assert_eq!(
            found.iter().filter(|(n, _, _)| n == FPS_CALLS).count(),
            2,
            "one document per (Action, Outcome)"
        );
    }
}
