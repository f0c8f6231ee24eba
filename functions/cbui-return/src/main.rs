//! Lambda entry point: configuration and clients are built once, then every request is served.

use cbui_return::Service;
use checkout_core::checkout::{Checkout, CheckoutSettings};
use checkout_core::config::{FpsConfig, ProcessEnv, ShopConfig, StoreConfig};
use checkout_core::fps::signing::SignatureMethod;
use checkout_core::wiring;
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    wiring::init_logging();
    let fps = FpsConfig::from_env(&ProcessEnv)?;
    let store = StoreConfig::from_env(&ProcessEnv)?;
    let shop = ShopConfig::from_env(&ProcessEnv)?;
    let clock = wiring::system_clock();
    let gateway = wiring::fps_client(&fps, clock.clone()).await?;
    let settings = CheckoutSettings::new(
        &shop,
        &fps,
        gateway.config().credentials.clone(),
        SignatureMethod::HmacSha256,
    );
    let checkout = Checkout::new(wiring::order_store(&store).await, gateway, clock, settings);
    let service = Service { checkout, shop };
    run(service_fn(|req: Request| service.handle(req))).await
}
