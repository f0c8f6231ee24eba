//! What 1,000 orders cost to run: a pure model fed with the bench's measured CPU per
//! invocation, the round trips each path makes (pinned by the bench's gates), item sizes, and
//! stated assumptions for what a laptop cannot measure (AWS network round trips, FPS's own
//! latency, how often a process starts cold). Printed by `make bench`; explained in
//! `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::time::Duration;

/// Lambda gives one vCPU at 1,769 MB and CPU in proportion below it.
pub const VCPU_MB: f64 = 1769.0;

/// Public list prices, us-east-1, as published on the AWS pricing pages in 2025 (Lambda
/// arm64, DynamoDB on-demand after the November 2024 reduction, HTTP API first tier,
/// EventBridge custom events, Secrets Manager API calls, CloudWatch Logs standard ingestion).
pub const PRICES_AS_OF: &str = "us-east-1 list prices as published in 2025";

#[derive(Debug, Clone, Copy)]
pub struct Prices {
    pub lambda_gb_second: f64,
    pub lambda_request: f64,
    pub dynamodb_write_unit: f64,
    pub dynamodb_read_unit: f64,
    pub http_api_request: f64,
    pub eventbridge_event: f64,
    pub secrets_manager_call: f64,
    pub log_ingestion_gb: f64,
}

pub const PRICES: Prices = Prices {
    lambda_gb_second: 0.000_013_333_4,
    lambda_request: 0.20 / 1e6,
    dynamodb_write_unit: 0.625 / 1e6,
    dynamodb_read_unit: 0.125 / 1e6,
    http_api_request: 1.00 / 1e6,
    eventbridge_event: 1.00 / 1e6,
    secrets_manager_call: 0.05 / 1e4,
    log_ingestion_gb: 0.50,
};

/// What the bench cannot measure on loopback, stated.
#[derive(Debug, Clone, Copy)]
pub struct Assumptions {
    /// One DynamoDB request inside a region (TLS kept alive).
    pub dynamodb_ms: f64,
    /// One FPS API call over the internet, FPS's processing included.
    pub fps_ms: f64,
    /// One EventBridge PutEvents.
    pub eventbridge_ms: f64,
    /// Invocations per cold start (each cold start reads the FPS secret once).
    pub invocations_per_cold_start: f64,
    /// Log bytes per invocation (the runtime's START/END/REPORT, our JSON lines, EMF).
    pub log_bytes_per_invocation: f64,
}

pub const ASSUMPTIONS: Assumptions = Assumptions {
    dynamodb_ms: 5.0,
    fps_ms: 150.0,
    eventbridge_ms: 15.0,
    invocations_per_cold_start: 100.0,
    log_bytes_per_invocation: 2048.0,
};

/// The invocations an order is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    /// `POST /checkout` (start-checkout).
    Start,
    /// The buyer's return (cbui-return): read, VerifySignature, claim, Pay/Reserve, record.
    Return,
    /// `OrderFulfilled` (settle-reservations): read, fulfil and claim, Settle, record.
    Fulfil,
    /// One order's share of a scheduled sweep.
    SweepOrder,
}

impl Path {
    pub fn label(self) -> &'static str {
        match self {
            Self::Start => "POST /checkout",
            Self::Return => "return",
            Self::Fulfil => "OrderFulfilled",
            Self::SweepOrder => "sweep, per order",
        }
    }
}

/// One invocation: its CPU measured here, and the round trips it waits on one after another.
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    pub cpu: Duration,
    pub dynamodb_waits: u32,
    pub fps_waits: u32,
    pub eventbridge_waits: u32,
    /// Behind the HTTP API (billed per request).
    pub http: bool,
}

/// An order's whole life, and what it writes and reads.
#[derive(Debug, Clone)]
pub struct OrderKind {
    pub name: &'static str,
    pub invocations: Vec<Invocation>,
    /// Table and index write units (items under 1 KB: one unit per write).
    pub write_units: f64,
    pub read_units: f64,
    pub events: u32,
}

/// The cost of 1,000 orders of `kind` at `memory_mb`, by line, in US dollars.
pub fn per_thousand(kind: &OrderKind, memory_mb: f64, a: &Assumptions, p: &Prices) -> Costs {
    let slowdown = (VCPU_MB / memory_mb).max(1.0);
    let mut gb_seconds = 0.0;
    let mut requests = 0.0;
    let mut http = 0.0;
    for i in &kind.invocations {
        let ms = i.cpu.as_secs_f64() * 1000.0 * slowdown
            + f64::from(i.dynamodb_waits) * a.dynamodb_ms
            + f64::from(i.fps_waits) * a.fps_ms
            + f64::from(i.eventbridge_waits) * a.eventbridge_ms;
        // Lambda bills each invocation in whole milliseconds.
        gb_seconds += ms.ceil() / 1000.0 * memory_mb / 1024.0;
        requests += 1.0;
        if i.http {
            http += 1.0;
        }
    }
    let n = 1000.0;
    let mut lines = BTreeMap::new();
    lines.insert("Lambda duration", n * gb_seconds * p.lambda_gb_second);
    lines.insert("Lambda requests", n * requests * p.lambda_request);
    lines.insert(
        "DynamoDB writes",
        n * kind.write_units * p.dynamodb_write_unit,
    );
    lines.insert("DynamoDB reads", n * kind.read_units * p.dynamodb_read_unit);
    lines.insert("HTTP API requests", n * http * p.http_api_request);
    lines.insert(
        "EventBridge events",
        n * f64::from(kind.events) * p.eventbridge_event,
    );
    lines.insert(
        "Secrets Manager (cold starts)",
        n * requests / a.invocations_per_cold_start * p.secrets_manager_call,
    );
    lines.insert(
        "CloudWatch Logs ingestion",
        n * requests * a.log_bytes_per_invocation / 1e9 * p.log_ingestion_gb,
    );
    Costs { lines }
}

#[derive(Debug, Clone)]
pub struct Costs {
    pub lines: BTreeMap<&'static str, f64>,
}

impl Costs {
    pub fn total(&self) -> f64 {
        self.lines.values().sum()
    }
}

/// Pay and Reserve + Settle orders from the measured CPU per path; the paths the bench does
/// not run (the shop page, the IPN, an order event) are charged start-checkout's CPU.
pub fn order_kinds(cpu: &BTreeMap<Path, Duration>) -> Vec<OrderKind> {
    let get = |p: Path| cpu.get(&p).copied().unwrap_or_default();
    let light = get(Path::Start);
    let shop_page = Invocation {
        cpu: light,
        dynamodb_waits: 0,
        fps_waits: 0,
        eventbridge_waits: 0,
        http: true,
    };
    let checkout = Invocation {
        cpu: get(Path::Start),
        dynamodb_waits: 1,
        fps_waits: 0,
        eventbridge_waits: 0,
        http: true,
    };
    let ret = Invocation {
        cpu: get(Path::Return),
        dynamodb_waits: 3,
        fps_waits: 2,
        eventbridge_waits: 0,
        http: true,
    };
    // FPS's IPN about something already recorded: one read, no VerifySignature.
    let ipn = Invocation {
        cpu: light,
        dynamodb_waits: 1,
        fps_waits: 0,
        eventbridge_waits: 0,
        http: true,
    };
    // Stream batches hold many records; one invocation per event is the upper bound.
    let event = Invocation {
        cpu: light,
        dynamodb_waits: 0,
        fps_waits: 0,
        eventbridge_waits: 1,
        http: false,
    };
    let fulfil = Invocation {
        cpu: get(Path::Fulfil),
        dynamodb_waits: 3,
        fps_waits: 1,
        eventbridge_waits: 0,
        http: false,
    };
    vec![
        OrderKind {
            name: "Pay checkout",
            invocations: vec![shop_page, checkout, ret, ipn, event],
            // create, claim, result (3 table writes); byDue insert, move (2), delete; the
            // byTransactionId entry (docs/scaling.md).
            write_units: 8.0,
            // The return's and the IPN's strongly consistent reads.
            read_units: 2.0,
            events: 1,
        },
        OrderKind {
            name: "Reserve + Settle",
            invocations: vec![shop_page, checkout, ret, ipn, event, fulfil, ipn, event],
            // create, claim, Reserved, fulfil-and-claim, Settled (5 table writes); byDue 10;
            // byTransactionId 1.
            write_units: 16.0,
            read_units: 4.0,
            // OrderReserved, the merchant's OrderFulfilled, OrderSettled.
            events: 3,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(cpu_ms: u64, fps_waits: u32) -> OrderKind {
        OrderKind {
            name: "test",
            invocations: vec![Invocation {
                cpu: Duration::from_millis(cpu_ms),
                dynamodb_waits: 0,
                fps_waits,
                eventbridge_waits: 0,
                http: true,
            }],
            write_units: 1.0,
            read_units: 1.0,
            events: 1,
        }
    }

    #[test]
    fn duration_scales_cpu_by_the_memorys_share_and_not_the_waits() {
        let p = PRICES;
        let a = ASSUMPTIONS;
        // 1 ms of CPU here is ~6.9 ms at 256 MB (billed 7): 1,000 × 7 ms × 0.25 GB.
        let cpu_only = per_thousand(&kind(1, 0), 256.0, &a, &p);
        let expected = 1000.0 * 0.007 * 0.25 * p.lambda_gb_second;
        assert!((cpu_only.lines["Lambda duration"] - expected).abs() < 1e-12);
        // At a full vCPU and above, CPU is not slowed down.
        let big = per_thousand(&kind(1, 0), 2048.0, &a, &p);
        let expected = 1000.0 * 0.001 * 2.0 * p.lambda_gb_second;
        assert!((big.lines["Lambda duration"] - expected).abs() < 1e-12);
        // Waits cost the same milliseconds at any size: twice the memory, twice the price.
        let waiting = |mb| per_thousand(&kind(0, 1), mb, &a, &p).lines["Lambda duration"];
        assert!((waiting(256.0) / waiting(128.0) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn every_other_line_is_per_unit_times_count() {
        let c = per_thousand(&kind(0, 0), 128.0, &ASSUMPTIONS, &PRICES);
        assert!((c.lines["Lambda requests"] - 1000.0 * 0.2e-6).abs() < 1e-12);
        assert!((c.lines["HTTP API requests"] - 1000.0 * 1e-6).abs() < 1e-12);
        assert!((c.lines["DynamoDB writes"] - 1000.0 * 0.625e-6).abs() < 1e-12);
        assert!((c.lines["EventBridge events"] - 1000.0 * 1e-6).abs() < 1e-12);
        let sum: f64 = c.lines.values().sum();
        assert!((c.total() - sum).abs() < 1e-15);
    }
}
