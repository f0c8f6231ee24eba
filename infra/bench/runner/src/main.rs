//! `make bench`: the release functions measured next to a hello-world `lambda_runtime` binary.
//! Cold start, bootstrap size, peak memory, round trips (gated), warm latency and settle
//! throughput — one table, printed and written to `target/bench/report.md`.
//!
//! Run through `infra/local/bench.sh` (it builds the binaries and starts moto).

mod cost;
mod events;
mod phases;
mod process;
mod proxy;
mod report;
mod seed;
mod stats;
mod stub;
mod tls;

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "Measure the release functions against a hello-world baseline")]
pub struct Cli {
    /// Process starts per function for the init time (median).
    #[arg(long, default_value_t = 21)]
    starts: usize,
    /// Warm invocations per function (memory, latency, round trips).
    #[arg(long, default_value_t = 1000)]
    invocations: usize,
    /// Fulfilled reservations for the settle throughput run.
    #[arg(long, default_value_t = 2000)]
    settle_orders: usize,
    /// Latency injected into every Settle at the emulator, in ms.
    #[arg(long, default_value_t = 20)]
    settle_latency_ms: u64,
    /// Where the x86-64 release binaries are (init, memory, latency).
    #[arg(long, default_value = "target/release")]
    release_dir: PathBuf,
    /// Where cargo-lambda put the arm64 `bootstrap.zip`s (size).
    #[arg(long, default_value = "target/lambda")]
    lambda_dir: PathBuf,
    /// Which phases to run (a subset is for quick looks while working on one thing).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "init,size,warm,cold,settle"
    )]
    phases: Vec<String>,
    /// Print the calls of the first N warm invocations of each function (timeline).
    #[arg(long, default_value_t = 0)]
    trace: usize,
    /// Report and function logs.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match phases::run(cli).await {
        Ok(report) => {
            let regressions = report.regressions();
            if regressions.is_empty() {
                std::process::ExitCode::SUCCESS
            } else {
                for line in regressions {
                    eprintln!(
                        "bench: REGRESSION in {} / {}: {} (budget {})",
                        line.measure, line.subject, line.value, line.target
                    );
                }
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
