//! Settle phase: one scheduled sweep over many fulfilled reservations with every Settle delayed
//! at the emulator — by the release binary on moto, and in-process on the in-memory store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkout_core::adapters::dynamodb::DueShards;
use checkout_core::adapters::memory::MemoryStore;
use checkout_core::domain::order::PaymentAction;
use checkout_core::ports::clock::SystemClock;
use checkout_core::use_cases::settle::{Settlement, SweepSettings};
use fps_sandbox::FaultKind;

use super::checks::ok;
use super::profile::Profile;
use super::warm::cpu_text;
use super::{Bench, SETTLE};
use crate::cost::Path;
use crate::events;
use crate::proxy::Service;
use crate::report::Line;
use crate::seed::{self, Error, Seeder};
use crate::stub::RuntimeStub;

const THROUGHPUT_RATIO: f64 = 0.8;

impl Bench {
    /// The emulator holds each of the next `n` Settle calls `settle_latency_ms` before answering.
    async fn delay_next_settles(&self, n: usize) -> Result<(), Error> {
        self.sandbox
            .control()
            .inject_fault(
                "Settle",
                FaultKind::Latency {
                    ms: self.cli.settle_latency_ms,
                },
                u32::try_from(n).unwrap_or(u32::MAX),
            )
            .await?;
        Ok(())
    }

    /// One scheduled sweep over `settle_orders` fulfilled reservations, every Settle delayed
    /// `settle_latency_ms` at the emulator.
    /// With `shards` > 1 the due index is sharded (issue 18): the sweep reads every shard of
    /// each page at once, and should keep the unsharded throughput.
    pub(super) async fn settle_throughput(&mut self, shards: DueShards) -> Result<(), Error> {
        let n = self.cli.settle_orders;
        let latency = Duration::from_millis(self.cli.settle_latency_ms);
        let k = shards.count();
        println!("bench: settle throughput, {n} fulfilled reservations over {k} due shard(s), Settle +{latency:?}");
        let table = seed::fresh_table("sweep").await?;
        let seeder =
            Seeder::on_sharded_table(&self.sandbox, &table, PaymentAction::Reserve, shards).await?;
        seeder.reservations(n, true).await?;
        let control = self.sandbox.control();
        self.delay_next_settles(n).await?;
        let mut settle = self.function(SETTLE, &table, PaymentAction::Reserve);
        settle.env.push(("DUE_SHARDS".to_owned(), k.to_string()));
        let stub = RuntimeStub::start().await?;
        let running = settle.spawn(&stub.api_address(), &self.log("settle-sweep"))?;
        stub.wait_for_start(Duration::from_secs(10)).await?;
        self.recorder.take();
        let cpu_before = running.cpu_time().unwrap_or_default();
        let answer = stub
            .invoke(&events::scheduled()?, Duration::from_secs(900))
            .await?;
        let cpu = running
            .cpu_time()
            .unwrap_or_default()
            .saturating_sub(cpu_before)
            / u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        running.stop().await;
        control.clear_faults().await?;
        ok(&answer).map_err(|e| format!("sweep: {e}: {}", answer.body))?;
        let calls = self.recorder.take();
        let profile = Profile::of(&calls, 0);
        let count = |op: &str| {
            profile
                .calls
                .get(&(Service::DynamoDb, op.to_owned()))
                .or_else(|| profile.calls.get(&(Service::Fps, op.to_owned())))
                .copied()
                .unwrap_or(0)
        };
        let settings = SweepSettings::default();
        let queries_off_index = calls
            .iter()
            .filter(|c| c.operation == "Query" && c.index.as_deref() != Some("byDue"))
            .count();
        // Each page queries every shard with orders left.
        let max_queries = (n.div_ceil(settings.page_size as usize) + 1) * usize::from(k);
        let per_order_ok = count("PutItem") == 2 * n && count("Settle") == n;
        let only_expected = profile
            .calls
            .keys()
            .all(|(_, op)| matches!(op.as_str(), "Query" | "PutItem" | "Settle"));
        self.report.push(
            Line::new(
                "Round trips",
                &if k == 1 {
                    "sweep (schedule)".to_owned()
                } else {
                    format!("sweep (schedule), {k} due shards")
                },
                format!("{} for {n} orders", profile.calls_text()),
            )
            .gate(
                format!(
                    "per order PutItem ×2 (claim, result) + Settle ×1; Query only on byDue, ≤ {max_queries}"
                ),
                per_order_ok && only_expected && queries_off_index == 0 && count("Query") <= max_queries,
            ),
        );
        self.report.push(throughput_line(
            &if k == 1 {
                "release binary, moto".to_owned()
            } else {
                format!("release binary, moto, {k} due shards")
            },
            n,
            answer.latency(),
            latency,
            settings.concurrency,
        ));

        if k == 1 {
            self.measured.cpu.insert(Path::SweepOrder, cpu);
            let line = Line::new(
                "CPU per invocation",
                &format!("{SETTLE} ({})", Path::SweepOrder.label()),
                match self.measured.baseline_cpu {
                    Some(base) => format!(
                        "{} ({:.1}×)",
                        cpu_text(cpu),
                        cpu.as_secs_f64() / base.as_secs_f64().max(1e-12)
                    ),
                    None => cpu_text(cpu),
                },
            );
            self.report.push(match self.measured.baseline_cpu {
                Some(base) => line.baseline(cpu_text(base)).target(
                    "≤ 2× baseline",
                    cpu.as_secs_f64() <= 2.0 * base.as_secs_f64(),
                ),
                None => line,
            });
        }
        if k > 1 {
            return Ok(());
        }
        // The same sweep in-process on the in-memory store: what the sweep itself sustains
        // against FPS latency when the table keeps up (moto serialises every request).
        let store = Arc::new(MemoryStore::new());
        let seeder = Seeder::new(&self.sandbox, store.clone(), PaymentAction::Reserve)?;
        seeder.reservations(n, true).await?;
        self.delay_next_settles(n).await?;
        let settlement = Settlement::new(
            store,
            checkout_core::adapters::fps::FpsGateway::new(
                self.sandbox.fps_client()?,
                self.sandbox.cbui_url(),
            ),
            Arc::new(SystemClock),
            SweepSettings::default(),
        );
        let started = Instant::now();
        let summary = settlement
            .sweep(tokio::time::Instant::now() + Duration::from_secs(900))
            .await;
        let elapsed = started.elapsed();
        control.clear_faults().await?;
        let settled = (summary.settled + summary.pending) as usize;
        if settled != n {
            return Err(format!("in-memory sweep settled {settled} of {n}: {summary:?}").into());
        }
        self.report.push(throughput_line(
            "sweep in-process, in-memory store",
            n,
            elapsed,
            latency,
            settings.concurrency,
        ));
        self.report.notes.push(format!(
            "Sweep answer: {}",
            answer.body.chars().take(400).collect::<String>()
        ));
        Ok(())
    }
}

fn throughput_line(
    how: &str,
    n: usize,
    elapsed: Duration,
    latency: Duration,
    concurrency: usize,
) -> Line {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let bound = latency.as_secs_f64() * n as f64 / concurrency as f64;
    let ratio = bound / seconds;
    Line::new(
        "Settle throughput",
        &format!("{SETTLE} ({how})"),
        format!(
            "{:.0} settled/s ({n} in {:.2} s; ratio {ratio:.2})",
            n as f64 / seconds,
            elapsed.as_secs_f64()
        ),
    )
    .baseline(format!(
        "bound {bound:.2} s = {n} × {} ms / {concurrency}",
        latency.as_millis()
    ))
    .target(
        format!("ratio ≥ {THROUGHPUT_RATIO}"),
        ratio >= THROUGHPUT_RATIO,
    )
}
