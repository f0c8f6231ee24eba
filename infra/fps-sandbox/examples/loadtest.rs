//! API throughput of the sandbox over loopback (a benchmark, not a test).
//!
//! Starts a sandbox in-process, makes one Pay, then has N concurrent clients call
//! GetTransactionStatus with fps_protocol's FpsClient (SigV2-signed POSTs: sign, HTTP, verify,
//! ledger read, XML) for a bounded time, and prints one line.
//!
//!     cargo run -p fps-sandbox --release --example loadtest -- --clients 8 --seconds 5
//!
//! Add `--action pay` to measure Pay instead (each request installs nothing: it replays the same
//! CallerReference, which exercises authentication, idempotency lookup and XML).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use fps_protocol::api::{GetTransactionStatus, Pay};
use fps_protocol::money::Amount;
use fps_sandbox::{Persona, Sandbox, SandboxConfig};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Action {
    Status,
    Pay,
}

#[derive(Debug, Parser)]
struct Args {
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// How long to measure.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Which request to repeat.
    #[arg(long, value_enum, default_value_t = Action::Status)]
    action: Action,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let sandbox = Sandbox::start(SandboxConfig::for_tests()).await?;
    let control = sandbox.control();
    let amount = Amount::parse("10.00")?;
    let token = control.token("load-1", amount, Persona::Balance).await?;
    let pay = Pay {
        sender_token_id: token.token_id,
        amount,
        caller_reference: "load-1".to_owned(),
        caller_description: None,
        sender_description: None,
        override_ipn_url: None,
    };
    let fps = sandbox.fps_client()?;
    let paid = fps.call(&pay).await?;
    let status = GetTransactionStatus {
        transaction_id: paid.result.transaction_id,
    };

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let duration = Duration::from_secs_f64(args.seconds.max(0.1));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for _ in 0..args.clients.max(1) {
        let fps = sandbox.fps_client()?;
        let (ok, failed) = (Arc::clone(&ok), Arc::clone(&failed));
        let (pay, status) = (pay.clone(), status.clone());
        let action = args.action;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let result = match action {
                    Action::Status => fps.call(&status).await.map(|_| ()),
                    Action::Pay => fps.call(&pay).await.map(|_| ()),
                };
                latencies.push(t.elapsed());
                match result {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    let ok = ok.load(Ordering::Relaxed);
    println!(
        "fps-sandbox loadtest: action={:?} clients={} seconds={:.1} requests={} errors={} rps={:.0} p50_ms={:.2} p99_ms={:.2}",
        args.action,
        args.clients,
        elapsed,
        ok,
        failed.load(Ordering::Relaxed),
        ok as f64 / elapsed,
        pct(0.50),
        pct(0.99),
    );
    sandbox.shutdown().await;
    Ok(())
}
