//! Warm phase: each function served one event after another in one process — peak memory,
//! round trips and sequential waits per path, and warm latency.

use std::collections::BTreeMap;
use std::time::Duration;

use checkout_core::domain::order::PaymentAction;
use serde_json::Value;

use super::checks::{contains, ok, status};
use super::profile::Profile;
use super::{Bench, BASELINE, RETURN, SETTLE, START};
use crate::cost::Path;
use crate::events;
use crate::process::Function;
use crate::proxy::Service;
use crate::report::Line;
use crate::seed::{self, Error, Seeder};
use crate::stats::{median, ms, percentile, waits};
use crate::stub::{Answer, RuntimeStub};

/// What one warm run measured.
struct WarmRun {
    latencies: Vec<Duration>,
    /// Per request: time not spent awaiting DynamoDB or FPS.
    outside: Vec<Duration>,
    /// The most calls of each kind any single invocation made (waits: see `waits`).
    profile: Profile,
    /// How many invocations had each number of sequential waits.
    waits: BTreeMap<usize, usize>,
    peak_rss_kib: u64,
    /// CPU time of the function's process per invocation (user + system, all its threads).
    cpu: Duration,
}

impl Bench {
    /// Starts `function`, serves it `events` one at a time and measures every answer.
    async fn warm(
        &self,
        function: &Function,
        events: &[Value],
        check: impl Fn(&Answer) -> Result<(), String>,
    ) -> Result<WarmRun, Error> {
        let stub = RuntimeStub::start().await?;
        let running = function.spawn(&stub.api_address(), &self.log(function.name))?;
        stub.wait_for_start(Duration::from_secs(10)).await?;
        self.recorder.take();
        let mut run = WarmRun {
            latencies: Vec::with_capacity(events.len()),
            outside: Vec::with_capacity(events.len()),
            profile: Profile::default(),
            waits: BTreeMap::new(),
            peak_rss_kib: 0,
            cpu: Duration::ZERO,
        };
        // After init (wait_for_start): only the invocations' CPU is counted.
        let cpu_before = running.cpu_time().unwrap_or_default();
        for (i, event) in events.iter().enumerate() {
            let answer = stub.invoke(event, Duration::from_secs(30)).await?;
            check(&answer)
                .map_err(|e| format!("{} invocation {i}: {e}: {}", function.name, answer.body))?;
            let calls = self.recorder.take();
            if i < self.cli.trace {
                for c in &calls {
                    println!(
                        "  trace {} #{i}: {} {} {} at +{} for {}",
                        function.name,
                        c.service.as_str(),
                        c.operation,
                        c.index.as_deref().unwrap_or(""),
                        ms(c.start.saturating_duration_since(answer.handed_out)),
                        ms(c.end.saturating_duration_since(c.start))
                    );
                }
            }
            let w = waits(&calls, answer.handed_out, answer.answered);
            run.latencies.push(answer.latency());
            run.outside.push(answer.latency().saturating_sub(w.awaited));
            run.profile.max(&Profile::of(&calls, 0));
            *run.waits.entry(w.sequential).or_default() += 1;
        }
        // Calls issued together can still miss each other on the wire now and then (one answers
        // before the other is sent): the typical invocation's count is the measure.
        run.profile.waits = run
            .waits
            .iter()
            .max_by_key(|(_, count)| **count)
            .map(|(waits, _)| *waits)
            .unwrap_or(0);
        run.peak_rss_kib = running.peak_rss_kib().unwrap_or(0);
        let cpu = running
            .cpu_time()
            .unwrap_or_default()
            .saturating_sub(cpu_before);
        run.cpu = cpu / u32::try_from(events.len().max(1)).unwrap_or(u32::MAX);
        running.stop().await;
        Ok(run)
    }

    pub(super) async fn warm_runs(&mut self) -> Result<(), Error> {
        let n = self.cli.invocations;
        println!("bench: {n} warm invocations each");

        let hello = self.function(BASELINE, "", PaymentAction::Pay);
        let hello_events = vec![serde_json::json!({"hello": "world"}); n];
        let baseline = self.warm(&hello, &hello_events, ok).await?;

        let table = seed::fresh_table("start").await?;
        let start = self.function(START, &table, PaymentAction::Pay);
        let start_events = vec![events::checkout_form()?; n];
        let start_run = self
            .warm(&start, &start_events, |a| {
                ok(a)?;
                status(a, 303)
            })
            .await?;

        let table = seed::fresh_table("return").await?;
        let seeder = Seeder::on_table(&self.sandbox, &table, PaymentAction::Pay).await?;
        let return_events = seeder
            .authorised_returns(n)
            .await?
            .iter()
            .map(|q| events::cbui_return(q))
            .collect::<Result<Vec<_>, _>>()?;
        let ret = self.function(RETURN, &table, PaymentAction::Pay);
        let return_run = self
            .warm(&ret, &return_events, |a| {
                ok(a)?;
                status(a, 200)?;
                contains(a, "Thank you")
            })
            .await?;

        let table = seed::fresh_table("fulfil").await?;
        let seeder = Seeder::on_table(&self.sandbox, &table, PaymentAction::Reserve).await?;
        let fulfil_events = seeder
            .reservations(n, false)
            .await?
            .iter()
            .map(|cr| events::order_fulfilled(cr))
            .collect::<Result<Vec<_>, _>>()?;
        let settle = self.function(SETTLE, &table, PaymentAction::Reserve);
        let settle_run = self
            .warm(&settle, &fulfil_events, |a| {
                ok(a)?;
                contains(a, "\"result\":\"fulfilled\"")
            })
            .await?;

        // Memory: reported, no longer a target (docs/benchmarks.md: a few MiB against Lambda's
        // 128 MB floor; RSS follows the executable's size, which init already measures).
        let base_kib = baseline.peak_rss_kib;
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        self.report
            .push(Line::new("Peak RSS", BASELINE, mib(base_kib)).baseline("—"));
        for (name, run) in [
            (START, &start_run),
            (RETURN, &return_run),
            (SETTLE, &settle_run),
        ] {
            let ratio = run.peak_rss_kib as f64 / (base_kib as f64).max(1.0);
            self.report.push(
                Line::new(
                    "Peak RSS",
                    name,
                    format!("{} ({ratio:.2}×)", mib(run.peak_rss_kib)),
                )
                .baseline(mib(base_kib)),
            );
        }

        // Round trips, counted on the wire.
        use Service::{DynamoDb, Fps};
        let paths = [
            (
                "start (POST /checkout)",
                &start_run,
                Profile::expected(&[(DynamoDb, "PutItem", 1)], 1),
                1,
            ),
            (
                "return (GET /return)",
                &return_run,
                Profile::expected(
                    &[
                        (DynamoDb, "GetItem", 1),
                        (DynamoDb, "PutItem", 2),
                        (Fps, "VerifySignature", 1),
                        (Fps, "Pay", 1),
                    ],
                    // The order is read before VerifySignature (issue 12: no FPS call for an
                    // unknown or completed order), no longer beside it.
                    5,
                ),
                3,
            ),
            // The fulfilment settles at once (issue 12): read, fulfil-and-claim in one write,
            // Settle, record.
            (
                "OrderFulfilled event",
                &settle_run,
                Profile::expected(
                    &[
                        (DynamoDb, "GetItem", 1),
                        (DynamoDb, "PutItem", 2),
                        (Fps, "Settle", 1),
                    ],
                    4,
                ),
                4,
            ),
        ];
        for (path, run, budget, target_waits) in paths {
            let same = run.profile.calls == budget.calls && run.profile.waits <= budget.waits;
            self.report.push(
                Line::new("Round trips", path, run.profile.calls_text()).gate(
                    format!("{}; typical waits ≤ {}", budget.calls_text(), budget.waits),
                    same,
                ),
            );
            let spread = run
                .waits
                .iter()
                .map(|(waits, count)| format!("{waits} in {count}"))
                .collect::<Vec<_>>()
                .join(", ");
            self.report.push(
                Line::new(
                    "Sequential waits",
                    path,
                    format!("{} (typical; {spread})", run.profile.waits),
                )
                .target(
                    format!("≤ {target_waits} (gate ≤ {})", budget.waits),
                    run.profile.waits <= target_waits,
                ),
            );
        }

        // CPU per invocation: what Lambda bills in proportion to memory (1,769 MB = one vCPU).
        self.measured.baseline_cpu = Some(baseline.cpu);
        self.report
            .push(Line::new("CPU per invocation", BASELINE, cpu_text(baseline.cpu)).baseline("—"));
        for (name, path, run, ratio) in [
            (START, Path::Start, &start_run, 2.0),
            (RETURN, Path::Return, &return_run, 3.0),
            (SETTLE, Path::Fulfil, &settle_run, 2.0),
        ] {
            let times = run.cpu.as_secs_f64() / baseline.cpu.as_secs_f64().max(1e-12);
            self.measured.cpu.insert(path, run.cpu);
            self.measured.waits.insert(path, run.profile.waits);
            self.report.push(
                Line::new(
                    "CPU per invocation",
                    &format!("{name} ({})", path.label()),
                    format!("{} ({times:.1}×)", cpu_text(run.cpu)),
                )
                .baseline(cpu_text(baseline.cpu))
                .target(format!("≤ {ratio}× baseline"), times <= ratio),
            );
        }

        // Warm latency and the share outside DynamoDB/FPS.
        for (name, run) in [
            (BASELINE, &baseline),
            (START, &start_run),
            (RETURN, &return_run),
            (SETTLE, &settle_run),
        ] {
            let p50 = median(&run.latencies);
            let p99 = percentile(&run.latencies, 99.0);
            let outside = median(&run.outside);
            let share = outside.as_secs_f64() / p50.as_secs_f64().max(1e-9) * 100.0;
            let value = if name == BASELINE {
                format!("p50 {} · p99 {}", ms(p50), ms(p99))
            } else {
                format!(
                    "p50 {} · p99 {} · outside calls p50 {} ({share:.0}%)",
                    ms(p50),
                    ms(p99),
                    ms(outside)
                )
            };
            self.report.push(Line::new("Warm latency", name, value));
        }
        Ok(())
    }
}

/// CPU here, and what it becomes at the template's 256 MB (a sixth of a vCPU and a bit).
pub(super) fn cpu_text(cpu: Duration) -> String {
    let here = cpu.as_secs_f64() * 1000.0;
    let at_256 = here * crate::cost::VCPU_MB / 256.0;
    format!("{here:.3} ms here, ≈{at_256:.2} ms at 256 MB")
}
