//! Lambda entry point: the publisher is built once, then every batch of stream records is
//! served.

use checkout_core::config::ProcessEnv;
use checkout_core::wiring;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    wiring::init_logging();
    checkout_core::telemetry::init("order-events", &ProcessEnv);
    let service = order_events::Service {
        publisher: wiring::event_publisher(&ProcessEnv).await?,
    };
    lambda_runtime::run(checkout_core::telemetry::metered(service_fn(
        |event: LambdaEvent<aws_lambda_events::dynamodb::Event>| {
            order_events::handle(&service, event.payload)
        },
    )))
    .await
}
