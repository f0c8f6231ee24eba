//! `fps-sandbox`: the FPS + CBUI emulator as a process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fps_protocol::signing::Credentials;
use fps_sandbox::{Sandbox, SandboxConfig, DEV_ACCESS_KEY_ID, DEV_SECRET_KEY};
use tracing_subscriber::EnvFilter;
use url::Url;

/// A local, stateful emulator of Amazon FPS (2010-08-28) and its Co-Branded UI.
#[derive(Debug, Parser)]
#[command(name = "fps-sandbox", version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "FPS_SANDBOX_LISTEN", default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// A registered caller, ACCESS_KEY:SECRET (repeatable). Default: the development pair
    /// AKIAFPSSANDBOXDEVKEY:fps-sandbox-dev-secret-not-for-production.
    #[arg(long = "caller", value_name = "ACCESS_KEY:SECRET", value_parser = parse_caller)]
    callers: Vec<Credentials>,
    /// The URL browsers and merchants reach the sandbox at (used in redirects and
    /// certificateUrl). Default: http://<listen>/.
    #[arg(long, env = "FPS_SANDBOX_PUBLIC_URL")]
    public_url: Option<Url>,
    /// Milliseconds (emulator clock) before a Pending payment, reserve, settle or refund
    /// completes.
    #[arg(long, default_value_t = 1000)]
    pending_ms: u64,
    /// Where IPNs go when a request has no OverrideIPNURL.
    #[arg(long)]
    ipn_url: Option<Url>,
    /// Keep the ledger in this JSON file across restarts.
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
}

fn parse_caller(text: &str) -> Result<Credentials, String> {
    match text.split_once(':') {
        Some((key, secret)) if !key.is_empty() && !secret.is_empty() => {
            Ok(Credentials::new(key, secret))
        }
        _ => Err("expected ACCESS_KEY:SECRET".to_owned()),
    }
}

/// Ctrl-C, or SIGTERM where there is one (a process manager stopping us).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if cli.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let callers = if cli.callers.is_empty() {
        vec![Credentials::new(DEV_ACCESS_KEY_ID, DEV_SECRET_KEY)]
    } else {
        cli.callers
    };
    let config = SandboxConfig {
        listen: cli.listen,
        callers,
        public_url: cli.public_url,
        pending_delay: Duration::from_millis(cli.pending_ms),
        ipn_url: cli.ipn_url,
        state_file: cli.state_file,
        ..SandboxConfig::default()
    };
    let sandbox = match Sandbox::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fps-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "fps-sandbox: API {} · CBUI {} · control {}_sandbox/ledger",
        sandbox.api_url(),
        sandbox.cbui_url(),
        sandbox.base_url()
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}
