//! Lambda entry point: configuration and clients are built once, then every request is served.

use checkout_core::config::ProcessEnv;
use checkout_core::{web, wiring};
use lambda_http::{service_fn, Error, Request};

// Lambda sends one event at a time: one thread serves it (no worker threads to start at
// init, no per-thread allocator arenas); concurrent FPS/DynamoDB calls still overlap.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wiring::init_logging();
    checkout_core::telemetry::init("start-checkout", &ProcessEnv);
    let service = wiring::web_service(&ProcessEnv).await?;
    // Events are checked before lambda_http converts them: hostile bytes get a 400, not a panic.
    web::lambda::run(service_fn(|req: Request| {
        start_checkout::handle(&service, req)
    }))
    .await
}
