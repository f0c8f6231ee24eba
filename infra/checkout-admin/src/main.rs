//! `checkout-admin`: see `lib.rs`. Exit codes: 0 done, 1 could not ask (AWS unavailable), 2 bad
//! usage or input, 3 unknown order, 4 refused (with the reason), 5 asked, outcome not known yet.

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = checkout_admin::Cli::parse();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = checkout_admin::run(cli, &mut out, &mut err).await;
    std::process::ExitCode::from(code)
}
