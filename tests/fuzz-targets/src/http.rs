//! The whole Lambda HTTP path of each HTTP function: an API Gateway v2 event as JSON, through
//! the function's own Lambda adapter and handler, on the in-memory fakes. Any event that the
//! runtime would hand over gets a response, and never a 500.

use checkout_core::domain::order::PaymentAction;
use checkout_core::testing::{clock, web_world, CuedStore, FakeGateway};
use checkout_core::use_cases::notify::Notifications;
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Context, LambdaEvent, Request, Service as _};
use std::sync::Arc;

use crate::block_on;

/// Runs one event through `handler` behind the Lambda adapter; the response's status.
async fn through<S, E>(data: &[u8], handler: S) -> Option<u16>
where
    S: lambda_http::Service<
        Request,
        Response = lambda_http::Response<lambda_http::Body>,
        Error = E,
    >,
    S::Future: Send,
    E: std::fmt::Debug,
{
    // What the runtime cannot read as an API Gateway event never reaches the function.
    let payload: LambdaRequest = serde_json::from_slice(data).ok()?;
    let mut adapter = checkout_core::web::lambda::adapter(handler);
    let response = adapter
        .call(LambdaEvent::new(payload, Context::default()))
        .await
        .ok()?;
    let response = serde_json::to_value(&response).ok()?;
    response["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
}

fn no_500(status: Option<u16>) {
    assert_ne!(status, Some(500), "the function failed on its input");
}

pub fn http_start_checkout(data: &[u8]) {
    let world = web_world(PaymentAction::Pay);
    no_500(block_on(through(
        data,
        service_fn(|req: Request| start_checkout::handle(&world.service, req)),
    )));
}

pub fn http_cbui_return(data: &[u8]) {
    let world = web_world(PaymentAction::Reserve);
    no_500(block_on(through(
        data,
        service_fn(|req: Request| cbui_return::handle(&world.service, req)),
    )));
}

pub fn http_fps_notifications(data: &[u8]) {
    let notifications = Notifications::new(
        CuedStore::new(),
        FakeGateway::new(),
        Arc::new(clock()),
        "https://shop.test/ipn".parse().expect("url"),
    );
    no_500(block_on(through(
        data,
        service_fn(|req: Request| fps_notifications::handle(&notifications, req)),
    )));
}
