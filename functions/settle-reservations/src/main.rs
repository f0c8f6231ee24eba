//! Lambda entry point: configuration and clients are built once, then every event is served.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use checkout_core::config::ProcessEnv;
use checkout_core::wiring;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use settle_reservations::{deadline_from_epoch_ms, Service};

// Lambda sends one event at a time: one thread serves it (no worker threads to start at
// init, no per-thread allocator arenas); concurrent FPS/DynamoDB calls still overlap.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wiring::init_logging();
    checkout_core::telemetry::init("settle-reservations", &ProcessEnv);
    let (settlement, after_sale) = wiring::settlement(&ProcessEnv).await?;
    let service = Service {
        settlement,
        after_sale,
    };
    run(checkout_core::telemetry::metered(service_fn(
        |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| {
            let deadline = deadline_from_epoch_ms(event.context.deadline);
            let service = &service;
            async move { service.handle(event.payload, deadline).await }
        },
    )))
    .await
}
