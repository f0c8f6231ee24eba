//! The bench's phases, in order: init time, size, warm runs (memory, latency, round trips per
//! path) and the settle sweep's throughput.
//!
//! This module holds the shared driver (`run`, `Bench`, how a function is started); each phase
//! is in its own file.

mod checks;
mod cold;
mod costs;
mod init;
mod profile;
mod settle;
mod size;
mod warm;

use std::path::PathBuf;
use std::sync::Arc;

use checkout_core::adapters::dynamodb::DueShards;
use checkout_core::domain::order::PaymentAction;
use fps_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use url::Url;

use crate::cost::Path;
use crate::process::Function;
use crate::proxy::{self, Recorder, Service};
use crate::report::{machine, Report};
use crate::seed::{self, Error};
use crate::Cli;

const BASELINE: &str = "hello-baseline";
const START: &str = "start-checkout";
const RETURN: &str = "cbui-return";
const SETTLE: &str = "settle-reservations";
const FUNCTIONS: [&str; 3] = [START, RETURN, SETTLE];

/// Figures one phase measures and a later one (the cost table) uses.
#[derive(Default)]
struct Measured {
    baseline_cpu: Option<std::time::Duration>,
    cpu: std::collections::BTreeMap<Path, std::time::Duration>,
    waits: std::collections::BTreeMap<Path, usize>,
}

struct Bench {
    cli: Cli,
    measured: Measured,
    sandbox: SandboxHandle,
    recorder: Arc<Recorder>,
    fps_proxy: Url,
    dynamodb_proxy: Url,
    moto: Url,
    logs: PathBuf,
    report: Report,
}

pub(crate) async fn run(cli: Cli) -> Result<Report, Error> {
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
        measured: Measured::default(),
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
    let (init, size, warm, cold, settle) = (
        wanted("init"),
        wanted("size"),
        wanted("warm"),
        wanted("cold"),
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
    if cold {
        bench.cold_first_requests().await?;
    }
    if settle {
        bench.settle_throughput(DueShards::ONE).await?;
        bench
            .settle_throughput(DueShards::new(8).ok_or("8 due shards")?)
            .await?;
    }
    if warm {
        bench.cost_table();
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
}
