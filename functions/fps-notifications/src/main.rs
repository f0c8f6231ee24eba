//! Lambda entry point: configuration and clients are built once, then every notification is
//! served.

use checkout_core::config::ProcessEnv;
use checkout_core::{web, wiring};
use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wiring::init_logging();
    checkout_core::telemetry::init("fps-notifications", &ProcessEnv);
    let notifications = wiring::notifications(&ProcessEnv).await?;
    // Events are checked before lambda_http converts them: hostile bytes get a 400, not a panic.
    web::lambda::run(service_fn(|req: Request| {
        fps_notifications::handle(&notifications, req)
    }))
    .await
}
