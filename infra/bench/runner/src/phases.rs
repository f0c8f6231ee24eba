//! The bench's phases, in order: init time, size, warm runs (memory, latency, round trips per
//! path) and the settle sweep's throughput.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkout_core::adapters::memory::MemoryStore;
use checkout_core::domain::order::PaymentAction;
use checkout_core::ports::clock::SystemClock;
use checkout_core::use_cases::settle::{Settlement, SweepSettings};
use fps_sandbox::{FaultKind, Sandbox, SandboxConfig, SandboxHandle};
use serde_json::Value;
use url::Url;

use crate::events;
use crate::process::Function;
use crate::proxy::{self, Call, Recorder, Service};
use crate::report::{machine, Line, Report};
use crate::seed::{self, Error, Seeder};
use crate::stats::{median, ms, percentile, waits};
use crate::stub::{Answer, RuntimeStub};
use crate::Cli;

const BASELINE: &str = "hello-baseline";
const START: &str = "start-checkout";
const RETURN: &str = "cbui-return";
const SETTLE: &str = "settle-reservations";
const FUNCTIONS: [&str; 3] = [START, RETURN, SETTLE];

const INIT_RATIO: f64 = 1.25;
const MEMORY_RATIO: f64 = 1.5;
const ZIP_LIMIT_BYTES: u64 = 3_500_000;
const THROUGHPUT_RATIO: f64 = 0.8;

struct Bench {
    cli: Cli,
    sandbox: SandboxHandle,
    recorder: Arc<Recorder>,
    fps_proxy: Url,
    dynamodb_proxy: Url,
    moto: Url,
    logs: PathBuf,
    report: Report,
}

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
}

/// Calls per (service, operation), plus sequential waits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Profile {
    calls: BTreeMap<(Service, String), usize>,
    waits: usize,
}

impl Profile {
    fn of(calls: &[Call], sequential: usize) -> Self {
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

    fn expected(calls: &[(Service, &str, usize)], waits: usize) -> Self {
        Profile {
            calls: calls
                .iter()
                .map(|(s, op, n)| ((*s, (*op).to_owned()), *n))
                .collect(),
            waits,
        }
    }

    fn max(&mut self, other: &Profile) {
        for (key, n) in &other.calls {
            let entry = self.calls.entry(key.clone()).or_default();
            *entry = (*entry).max(*n);
        }
        self.waits = self.waits.max(other.waits);
    }

    fn calls_text(&self) -> String {
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

pub async fn run(cli: Cli) -> Result<Report, Error> {
    let moto = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .map_err(|_| "AWS_ENDPOINT_URL_DYNAMODB is not set: run `make bench` (it starts moto)")?;
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await?;
    let recorder = Arc::new(Recorder::default());
    let fps_proxy = proxy::start(Service::Fps, sandbox.api_url(), recorder.clone()).await?;
    let moto = Url::parse(&moto)?;
    let dynamodb_proxy = proxy::start(Service::DynamoDb, moto.clone(), recorder.clone()).await?;
    let logs = cli.out_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut bench = Bench {
        cli,
        sandbox,
        recorder,
        fps_proxy,
        dynamodb_proxy,
        moto,
        logs,
        report: Report::default(),
    };
    println!("bench: the functions next to {BASELINE} on {}", machine());
    let wanted = |phase: &str| bench.cli.phases.iter().any(|p| p == phase);
    let (init, size, warm, settle) = (
        wanted("init"),
        wanted("size"),
        wanted("warm"),
        wanted("settle"),
    );
    if init {
        bench.init_times().await?;
    }
    if size {
        bench.sizes();
    }
    if warm {
        bench.warm_runs().await?;
    }
    if settle {
        bench.settle_throughput().await?;
    }
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let header = format!(
        "# make bench\n\n{date} on {}. Release builds (`opt-level = \"s\"`, LTO, one codegen \
         unit, `panic = \"abort\"`); the baseline is `infra/bench/hello-baseline`, built the same \
         way. The FPS emulator and moto run on loopback behind counting proxies.",
        machine()
    );
    let path = bench.cli.out_dir.join("report.md");
    let text = bench.report.write(&path, &header)?;
    println!("\n{text}\nbench: written to {}", path.display());
    Ok(bench.report)
}

impl Bench {
    fn function(&self, name: &'static str, table: &str, action: PaymentAction) -> Function {
        let binary = self.cli.release_dir.join(name);
        if name == BASELINE {
            return Function {
                name,
                binary,
                env: Vec::new(),
            };
        }
        let credentials = self.sandbox.credentials();
        let env = [
            ("RUST_LOG", "info".to_owned()),
            ("TABLE_NAME", table.to_owned()),
            (
                "AWS_ENDPOINT_URL_DYNAMODB",
                self.dynamodb_proxy
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
            ),
            ("AWS_ACCESS_KEY_ID", "bench".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "bench".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("FPS_ENVIRONMENT", "local".to_owned()),
            ("FPS_API_URL", self.fps_proxy.to_string()),
            ("FPS_CBUI_URL", self.sandbox.cbui_url().to_string()),
            ("FPS_ACCESS_KEY_ID", credentials.access_key_id().to_owned()),
            ("FPS_SECRET_KEY", credentials.secret_key().to_owned()),
            ("PAYMENT_ACTION", action.as_str().to_owned()),
            ("SHOP_URL", seed::SHOP_URL.to_owned()),
            ("RETURN_URL", seed::RETURN_URL.to_owned()),
            ("MERCHANT_NAME", seed::MERCHANT.to_owned()),
            ("CATALOG_JSON", seed::CATALOG.to_owned()),
            ("PRICING_JSON", seed::PRICING.to_owned()),
        ];
        Function {
            name,
            binary,
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// Median process start → first `/next` over `starts` fresh processes.
    async fn median_init(&self, function: &Function) -> Result<Duration, Error> {
        let mut times = Vec::new();
        for _ in 0..self.cli.starts {
            times.push(self.start_once(function).await?);
        }
        Ok(median(&times))
    }

    /// One fresh process: start → first `/next`.
    async fn start_once(&self, function: &Function) -> Result<Duration, Error> {
        let stub = RuntimeStub::start().await?;
        let started = Instant::now();
        let running = function.spawn(&stub.api_address(), &self.log(function.name))?;
        let ready = stub.wait_for_start(Duration::from_secs(10)).await;
        running.stop().await;
        Ok(ready?.saturating_duration_since(started))
    }

    /// Process start → first `/next`, median of `starts` fresh processes.
    async fn init_times(&mut self) -> Result<(), Error> {
        println!("bench: init time, {} starts each", self.cli.starts);
        let table = seed::fresh_table("init").await?;
        // Round robin, so a noisy moment on the machine hits every binary alike.
        let functions: Vec<Function> = [BASELINE, START, RETURN, SETTLE]
            .into_iter()
            .map(|name| self.function(name, &table, PaymentAction::Pay))
            .collect();
        let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        for _ in 0..self.cli.starts {
            for function in &functions {
                let took = self.start_once(function).await?;
                times.entry(function.name).or_default().push(took);
            }
        }
        let calls = self.recorder.take();
        if !calls.is_empty() {
            return Err(format!("a function made network calls during init: {calls:?}").into());
        }
        let medians: BTreeMap<&str, Duration> = times
            .iter()
            .map(|(name, times)| (*name, median(times)))
            .collect();
        let baseline = medians[BASELINE];
        self.report
            .push(Line::new("Init (median)", BASELINE, ms(baseline)).baseline("—"));
        for name in FUNCTIONS {
            let value = medians[name];
            let ratio = value.as_secs_f64() / baseline.as_secs_f64().max(1e-9);
            self.report.push(
                Line::new(
                    "Init (median)",
                    name,
                    format!("{} ({ratio:.2}×)", ms(value)),
                )
                .baseline(ms(baseline))
                .target(format!("≤ {INIT_RATIO}× baseline"), ratio <= INIT_RATIO),
            );
        }
        // In AWS, init also fetches the FPS key pair from Secrets Manager: the same code path
        // against moto's Secrets Manager (loopback, plain HTTP: a lower bound).
        let arn = seed::create_secret(&self.moto, &self.sandbox.credentials()).await?;
        let mut function = self.function(START, &table, PaymentAction::Pay);
        function
            .env
            .retain(|(k, _)| k != "FPS_ACCESS_KEY_ID" && k != "FPS_SECRET_KEY");
        function
            .env
            .push(("FPS_CREDENTIALS_SECRET_ARN".to_owned(), arn));
        function.env.push((
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
            self.moto.as_str().trim_end_matches('/').to_owned(),
        ));
        let with_secret = self.median_init(&function).await?;
        let extra = with_secret.saturating_sub(medians[START]);
        self.report.push(
            Line::new(
                "Init + secret fetch",
                START,
                format!("{} (+{} for GetSecretValue)", ms(with_secret), ms(extra)),
            )
            .baseline(ms(baseline)),
        );
        Ok(())
    }

    /// Zipped arm64 `bootstrap` as cargo-lambda packs it for upload.
    fn sizes(&mut self) {
        let size = |name: &str| {
            std::fs::metadata(self.cli.lambda_dir.join(name).join("bootstrap.zip"))
                .map(|m| m.len())
                .ok()
        };
        let mb = |bytes: u64| format!("{:.2} MB", bytes as f64 / 1e6);
        let baseline = size(BASELINE);
        self.report.push(
            Line::new(
                "Size (zip, arm64)",
                BASELINE,
                baseline.map(mb).unwrap_or_else(|| "not built".to_owned()),
            )
            .baseline("—"),
        );
        for name in FUNCTIONS {
            let line = match size(name) {
                Some(bytes) => Line::new("Size (zip, arm64)", name, mb(bytes))
                    .baseline(baseline.map(mb).unwrap_or_default())
                    .target("≤ 3.50 MB", bytes <= ZIP_LIMIT_BYTES),
                None => {
                    Line::new("Size (zip, arm64)", name, "not built").target("≤ 3.50 MB", false)
                }
            };
            self.report.push(line);
        }
    }

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
        };
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
        running.stop().await;
        Ok(run)
    }

    async fn warm_runs(&mut self) -> Result<(), Error> {
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

        // Memory.
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
                .baseline(mib(base_kib))
                .target(format!("≤ {MEMORY_RATIO}× baseline"), ratio <= MEMORY_RATIO),
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
                    4,
                ),
                3,
            ),
            (
                "OrderFulfilled event",
                &settle_run,
                Profile::expected(&[(DynamoDb, "GetItem", 1), (DynamoDb, "PutItem", 1)], 2),
                2,
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
    async fn settle_throughput(&mut self) -> Result<(), Error> {
        let n = self.cli.settle_orders;
        let latency = Duration::from_millis(self.cli.settle_latency_ms);
        println!("bench: settle throughput, {n} fulfilled reservations, Settle +{latency:?}");
        let table = seed::fresh_table("sweep").await?;
        let seeder = Seeder::on_table(&self.sandbox, &table, PaymentAction::Reserve).await?;
        seeder.reservations(n, true).await?;
        let control = self.sandbox.control();
        self.delay_next_settles(n).await?;
        let settle = self.function(SETTLE, &table, PaymentAction::Reserve);
        let stub = RuntimeStub::start().await?;
        let running = settle.spawn(&stub.api_address(), &self.log("settle-sweep"))?;
        stub.wait_for_start(Duration::from_secs(10)).await?;
        self.recorder.take();
        let answer = stub
            .invoke(&events::scheduled()?, Duration::from_secs(900))
            .await?;
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
        let max_queries = n.div_ceil(settings.page_size as usize) + 1;
        let per_order_ok = count("PutItem") == 2 * n && count("Settle") == n;
        let only_expected = profile
            .calls
            .keys()
            .all(|(_, op)| matches!(op.as_str(), "Query" | "PutItem" | "Settle"));
        self.report.push(
            Line::new(
                "Round trips",
                "sweep (schedule)",
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
            "release binary, moto",
            n,
            answer.latency(),
            latency,
            settings.concurrency,
        ));

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

fn ok(answer: &Answer) -> Result<(), String> {
    if answer.ok {
        Ok(())
    } else {
        Err("the function reported an error".to_owned())
    }
}

fn status(answer: &Answer, expected: u64) -> Result<(), String> {
    let body: Value = serde_json::from_str(&answer.body).map_err(|e| e.to_string())?;
    match body.get("statusCode").and_then(Value::as_u64) {
        Some(code) if code == expected => Ok(()),
        other => Err(format!("statusCode {other:?}, expected {expected}")),
    }
}

fn contains(answer: &Answer, needle: &str) -> Result<(), String> {
    if answer.body.contains(needle) {
        Ok(())
    } else {
        Err(format!("the answer lacks {needle:?}"))
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
