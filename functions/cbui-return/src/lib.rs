//! `cbui-return`: `GET /return`, where the CBUI sends the buyer back. Verifies the return with
//! FPS, charges exactly once, and shows the outcome. Refreshing never charges again.

use checkout_core::ports::gateway::PaymentGateway;
use checkout_core::ports::store::OrderStore;
use checkout_core::use_cases::checkout::CompleteError;
use checkout_core::web::{self, pages};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use tracing::{info, warn};

/// The web layer's service: the checkout and the shop's configuration.
pub type Service<S, G> = web::Service<S, G>;

/// Serves one request (what the Lambda runtime calls).
pub async fn handle<S: OrderStore, G: PaymentGateway>(
    service: &Service<S, G>,
    req: Request,
) -> Result<Response<Body>, Error> {
    service.secured(respond(service, req).await)
}

async fn respond<S: OrderStore, G: PaymentGateway>(
    service: &Service<S, G>,
    req: Request,
) -> Result<Response<Body>, Error> {
    if let Some(what) = web::lambda::malformed(&req) {
        return service.refuse_malformed(what);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return service.error_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not allowed",
            &["Use GET.".into()],
        );
    }
    // The raw query, byte for byte: VerifySignature needs exactly what FPS sent.
    let raw_query = req.uri().query().unwrap_or("");
    // One budget for the whole return: the invocation's (and API Gateway's) deadline. Work
    // still out when it ends is dropped: a Pay already sent is resolved by the sweep.
    let deadline = web::lambda::request_deadline(&req);
    let completed = match tokio::time::timeout_at(deadline, service.checkout.complete(raw_query))
        .await
    {
        Ok(completed) => completed,
        Err(_) => {
            warn!("return out of time; the sweep resolves whatever was started");
            return service.error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "We are confirming your payment",
                    &["We could not finish confirming your payment in time. If you authorised it, it may still go through, so please do not pay again. Refresh this page in a minute to see the result; you will not be charged twice.".to_owned()],
                );
        }
    };
    match completed {
        Ok(completion) => {
            let order = &completion.order;
            info!(caller_reference = %order.caller_reference, transaction_id = order.transaction_id.as_deref().unwrap_or(""), state = order.state.as_str(), repeat = completion.repeat, "return handled");
            web::html(
                StatusCode::OK,
                pages::outcome(&service.shop.merchant_name, order, &service.shop.shop_url),
            )
        }
        Err(e) => {
            warn!(error = %e, "return refused");
            let (status, title, text) = refusal_page(&e);
            service.error_page(status, title, &[text])
        }
    }
}

/// What the buyer is told when a return cannot be completed.
fn refusal_page(e: &CompleteError) -> (StatusCode, &'static str, String) {
    match e {
        CompleteError::BadReturn(_) | CompleteError::MissingCallerReference => (
            StatusCode::BAD_REQUEST,
            "This link is incomplete",
            format!("The payment return link is not valid ({e}). Nothing was charged."),
        ),
        CompleteError::UnknownOrder(_) => (
            StatusCode::NOT_FOUND,
            "Order not found",
            "We have no order for this payment link. Nothing was charged.".to_owned(),
        ),
        CompleteError::Forged => (
            StatusCode::FORBIDDEN,
            "This link could not be verified",
            "Amazon Payments did not confirm this payment link, so we did not charge anything."
                .to_owned(),
        ),
        // Nothing was claimed, so no charge was sent and none will be.
        CompleteError::StoreUnavailable(_) | CompleteError::GatewayUnavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Please refresh in a moment",
            "We could not confirm your payment just now. Nothing has been charged yet; refreshing this page is safe.".to_owned(),
        ),
        // A charge may be under way or done: never "nothing charged".
        CompleteError::Unconfirmed(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "We are confirming your payment",
            "Your payment may already have gone through, so please do not pay again. Refresh this page in a minute to see the result; you will not be charged twice.".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use checkout_core::config::ShopConfig;
    use checkout_core::domain::order::PaymentAction;
    use checkout_core::domain::payment::PaymentMethod;
    use checkout_core::testing::{authorized, clock, settings, Cue, CuedStore, FakeGateway};
    use checkout_core::use_cases::checkout::Checkout;
    use lambda_http::Body;

    use super::*;

    pub(super) type TestService = Service<Arc<CuedStore>, Arc<FakeGateway>>;

    pub(super) fn service(store: &Arc<CuedStore>, gateway: &Arc<FakeGateway>) -> TestService {
        let settings = settings(PaymentAction::Pay);
        let shop = ShopConfig {
            action: settings.action,
            return_url: settings.return_url.clone(),
            shop_url: settings.return_url.join("/").expect("url"),
            catalog: settings.catalog.clone(),
            pricing: settings.pricing.clone(),
            merchant_name: settings.merchant_name.clone(),
        };
        Service {
            checkout: Checkout::new(store.clone(), gateway.clone(), Arc::new(clock()), settings),
            shop,
            security: checkout_core::web::SecurityHeaders::new(
                &"https://cbui.test/".parse().expect("url"),
            ),
        }
    }

    async fn get(service: &TestService, query: &str) -> (StatusCode, String) {
        let request = lambda_http::http::Request::builder()
            .uri(format!("https://shop.test/return?{query}"))
            .body(Body::Empty)
            .expect("request");
        let response = handle(service, request).await.expect("a response");
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(
                response.headers()["retry-after"],
                "5",
                "a 503 says when to retry"
            );
        }
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        (response.status(), body)
    }

    #[tokio::test]
    async fn a_store_failure_after_the_charge_never_says_nothing_was_charged() {
        let store = CuedStore::new();
        let gateway = FakeGateway::new();
        let service = service(&store, &gateway);
        let started = service
            .checkout
            .start(&checkout_core::testing::mugs(1))
            .await
            .expect("start");
        let id = started.order.caller_reference;
        let query = gateway.will_read("q=1", authorized(&id, PaymentMethod::CreditCard));
        // The claim is written, Pay goes out, then the store fails to record its answer.
        store.cue(Cue::TransitionPasses);
        store.cue(Cue::TransitionFails);
        let (status, page) = get(&service, &query).await;
        assert_eq!(gateway.charges(), 1);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!page.contains("Nothing has been charged"), "{page}");
        assert!(page.contains("do not pay again"), "{page}");
    }

    #[tokio::test]
    async fn a_store_failure_before_anything_was_claimed_says_nothing_was_charged() {
        let store = CuedStore::new();
        let gateway = FakeGateway::new();
        let service = service(&store, &gateway);
        let started = service
            .checkout
            .start(&checkout_core::testing::mugs(1))
            .await
            .expect("start");
        let id = started.order.caller_reference;
        let query = gateway.will_read("q=1", authorized(&id, PaymentMethod::CreditCard));
        store.cue(Cue::GetFails);
        let (status, page) = get(&service, &query).await;
        assert_eq!(gateway.charges(), 0);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(page.contains("Nothing has been charged"), "{page}");
    }
}

#[cfg(test)]
mod budget {
    use std::sync::Arc;

    use checkout_core::domain::payment::PaymentMethod;
    use checkout_core::testing::{authorized, mugs, Answer, CuedStore, FakeGateway};
    use lambda_http::{Body, Context, RequestExt};

    use super::tests::service;
    use super::*;

    /// Issue 12 (8): the return answers within its invocation's deadline, whatever FPS does;
    /// a Pay still out when time runs out is left to the sweep, and the buyer is told not to
    /// pay again.
    #[tokio::test]
    async fn a_return_answers_before_its_deadline_even_when_fps_hangs() {
        let store: Arc<CuedStore> = CuedStore::new();
        let gateway = FakeGateway::new();
        let service = service(&store, &gateway);
        let started = service.checkout.start(&mugs(1)).await.expect("start");
        let query = gateway.will_read(
            "q=1",
            authorized(&started.order.caller_reference, PaymentMethod::CreditCard),
        );
        gateway.charge_answers(Answer::Hang);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let mut context = Context::default();
        context.deadline = now_ms + 1_500;
        let request = lambda_http::http::Request::builder()
            .uri(format!("https://shop.test/return?{query}"))
            .body(Body::Empty)
            .expect("request")
            .with_lambda_context(context);
        let answered =
            tokio::time::timeout(std::time::Duration::from_secs(5), handle(&service, request))
                .await
                .expect("answered within the invocation's deadline")
                .expect("a response");
        assert_eq!(answered.status(), StatusCode::SERVICE_UNAVAILABLE);
        let page = String::from_utf8_lossy(answered.body().as_ref()).into_owned();
        assert!(page.contains("do not pay again"), "{page}");
        assert_eq!(gateway.charges(), 1);
    }
}

#[cfg(test)]
mod security_headers {
    use std::sync::Arc;

    use checkout_core::config::ShopConfig;
    use checkout_core::domain::order::PaymentAction;
    use checkout_core::domain::payment::PaymentMethod;
    use checkout_core::testing::{authorized, clock, mugs, settings, CuedStore, FakeGateway};
    use checkout_core::use_cases::checkout::Checkout;
    use lambda_http::http::HeaderMap;
    use lambda_http::Body;

    use super::*;

    fn assert_secure(headers: &HeaderMap, what: &str) {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{what}: no {name}"))
                .to_owned()
        };
        let csp = get("content-security-policy");
        for directive in [
            "default-src 'none'",
            "style-src 'unsafe-inline'",
            "frame-ancestors 'none'",
            "form-action 'self' https://cbui.test",
        ] {
            assert!(csp.contains(directive), "{what}: {csp}");
        }
        assert!(
            !csp.contains("script-src"),
            "{what}: no scripts at all: {csp}"
        );
        assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
        // The return URL carries the token and the signature: never send it on.
        assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
        assert!(
            get("strict-transport-security").starts_with("max-age="),
            "{what}"
        );
    }

    #[tokio::test]
    async fn outcome_and_error_pages_carry_the_security_headers() {
        let store = CuedStore::new();
        let gateway = FakeGateway::new();
        let settings = settings(PaymentAction::Pay);
        let shop = ShopConfig {
            action: settings.action,
            return_url: settings.return_url.clone(),
            shop_url: settings.return_url.join("/").expect("url"),
            catalog: settings.catalog.clone(),
            pricing: settings.pricing.clone(),
            merchant_name: settings.merchant_name.clone(),
        };
        let checkout = Checkout::new(store.clone(), gateway.clone(), Arc::new(clock()), settings);
        let service = Service {
            checkout,
            shop,
            security: checkout_core::web::SecurityHeaders::new(
                &"https://cbui.test/pipeline".parse().expect("url"),
            ),
        };
        let started = service.checkout.start(&mugs(1)).await.expect("start");
        let query = gateway.will_read(
            "q=1",
            authorized(&started.order.caller_reference, PaymentMethod::CreditCard),
        );
        for (what, query) in [("outcome page", query.as_str()), ("error page", "garbage")] {
            let request = lambda_http::http::Request::builder()
                .uri(format!("https://shop.test/return?{query}"))
                .body(Body::Empty)
                .expect("request");
            let response = handle(&service, request).await.expect("a response");
            assert_secure(response.headers(), what);
        }
    }
}

#[cfg(test)]
mod crafted_events {
    use std::sync::Arc;

    use checkout_core::config::ShopConfig;
    use checkout_core::domain::order::PaymentAction;
    use checkout_core::testing::{clock, crafted_http_events, settings, CuedStore, FakeGateway};
    use checkout_core::use_cases::checkout::Checkout;
    use lambda_http::request::LambdaRequest;
    use lambda_http::{service_fn, Context, LambdaEvent, Service as _};

    use super::*;

    /// Issue 12 (7): whatever bytes API Gateway passes through, the function answers 400 and
    /// does not panic (the release build aborts on panic: a dead execution environment).
    #[tokio::test]
    async fn crafted_bytes_in_the_event_get_a_400_not_a_panic() {
        let settings = settings(PaymentAction::Pay);
        let shop = ShopConfig {
            action: settings.action,
            return_url: settings.return_url.clone(),
            shop_url: settings.return_url.join("/").expect("url"),
            catalog: settings.catalog.clone(),
            pricing: settings.pricing.clone(),
            merchant_name: settings.merchant_name.clone(),
        };
        let service = Service {
            checkout: Checkout::new(
                CuedStore::new(),
                FakeGateway::new(),
                Arc::new(clock()),
                settings,
            ),
            shop,
            security: checkout_core::web::SecurityHeaders::new(
                &"https://cbui.test/".parse().expect("url"),
            ),
        };
        for (what, event) in crafted_http_events("/return") {
            let payload: LambdaRequest = serde_json::from_value(event).expect(what);
            let mut adapter = checkout_core::web::lambda::adapter(service_fn(|req: Request| {
                handle(&service, req)
            }));
            let response = adapter
                .call(LambdaEvent::new(payload, Context::default()))
                .await
                .expect(what);
            let response = serde_json::to_value(&response).expect("JSON");
            assert_eq!(response["statusCode"], 400, "{what}: {response}");
        }
    }
}
