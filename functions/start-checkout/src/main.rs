//! Lambda entry point: configuration and clients are built once, then every request is served.

use checkout_core::wiring;
use lambda_http::{run, service_fn, Error, Request};

// Lambda sends one event at a time: one thread serves it (no worker threads to start at
// init, no per-thread allocator arenas); concurrent FPS/DynamoDB calls still overlap.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wiring::init_logging();
    let service = wiring::web_service_from_env().await?;
    run(service_fn(|req: Request| {
        start_checkout::handle(&service, req)
    }))
    .await
}
