//! The return handler on the fakes: honest pages, its time budget, its headers, and hostile
//! events through its Lambda adapter.

use checkout_core::domain::order::PaymentAction;
use checkout_core::domain::payment::PaymentMethod;
use checkout_core::testing::{
    assert_crafted_events_get_400, authorized, mugs, web_world, Answer, Cue, WebWorld,
};
use lambda_http::http::HeaderMap;
use lambda_http::{service_fn, Body, Context, RequestExt};

use super::*;

/// A Pay checkout started, and the query of its signed card return.
async fn started(world: &WebWorld) -> String {
    let started = world.service.checkout.start(&mugs(1)).await.expect("start");
    world.gateway.will_read(
        "q=1",
        authorized(&started.order.caller_reference, PaymentMethod::CreditCard),
    )
}

fn request(query: &str) -> Request {
    lambda_http::http::Request::builder()
        .uri(format!("https://shop.test/return?{query}"))
        .body(Body::Empty)
        .expect("request")
}

async fn get(world: &WebWorld, query: &str) -> (StatusCode, HeaderMap, String) {
    let response = handle(&world.service, request(query))
        .await
        .expect("a response");
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    (response.status(), response.headers().clone(), body)
}

#[tokio::test]
async fn a_store_failure_after_the_charge_never_says_nothing_was_charged() {
    let world = web_world(PaymentAction::Pay);
    let query = started(&world).await;
    // The claim is written, Pay goes out, then the store fails to record its answer.
    world.store.cue(Cue::TransitionPasses);
    world.store.cue(Cue::TransitionFails);
    let (status, headers, page) = get(&world, &query).await;
    assert_eq!(world.gateway.charges(), 1);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "5", "a 503 says when to retry");
    assert!(!page.contains("Nothing has been charged"), "{page}");
    assert!(page.contains("do not pay again"), "{page}");
}

/// The order could not be read: its state (maybe charged by an earlier visit) is unknown, so
/// the page does not say nothing was charged.
#[tokio::test]
async fn a_store_failure_reading_the_order_does_not_claim_nothing_was_charged() {
    let world = web_world(PaymentAction::Pay);
    let query = started(&world).await;
    world.store.cue(Cue::GetFails);
    let (status, _, page) = get(&world, &query).await;
    assert_eq!(world.gateway.charges(), 0);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!page.contains("Nothing has been charged"), "{page}");
    assert!(page.contains("do not pay again"), "{page}");
}

/// A link for a completed order that is not the return FPS verified: the order may well be
/// paid, so the page says so rather than "we did not charge anything".
#[tokio::test]
async fn an_unrecognised_link_for_a_paid_order_does_not_say_nothing_was_charged() {
    let world = web_world(PaymentAction::Pay);
    let query = started(&world).await;
    let (status, _, _) = get(&world, &query).await;
    assert_eq!(status, StatusCode::OK);
    let order_id = world
        .gateway
        .calls()
        .iter()
        .find_map(|c| match c {
            checkout_core::testing::Call::Charge { reference, .. } => Some(reference.clone()),
            _ => None,
        })
        .expect("charged");
    let mut other = authorized(&order_id, PaymentMethod::CreditCard);
    other.raw_query = "different-bytes".into();
    let other = world.gateway.will_read("other", other);
    let (status, _, page) = get(&world, &other).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!page.contains("did not charge"), "{page}");
    assert!(page.contains("do not pay again"), "{page}");
}

/// Issue 12 (8): the return answers within its invocation's deadline, whatever FPS does; a
/// Pay still out when time runs out is left to the sweep, and the buyer is told not to pay
/// again.
#[tokio::test]
async fn a_return_answers_before_its_deadline_even_when_fps_hangs() {
    let world = web_world(PaymentAction::Pay);
    let query = started(&world).await;
    world.gateway.charge_answers(Answer::Hang);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let mut context = Context::default();
    context.deadline = now_ms + 1_500;
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        handle(&world.service, request(&query).with_lambda_context(context)),
    )
    .await
    .expect("answered within the invocation's deadline")
    .expect("a response");
    assert_eq!(answered.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = String::from_utf8_lossy(answered.body().as_ref()).into_owned();
    assert!(page.contains("do not pay again"), "{page}");
    assert_eq!(world.gateway.charges(), 1);
}

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

/// Issue 12 (6).
#[tokio::test]
async fn outcome_and_error_pages_carry_the_security_headers() {
    let world = web_world(PaymentAction::Pay);
    let query = started(&world).await;
    for (what, query) in [("outcome page", query.as_str()), ("error page", "garbage")] {
        let (_, headers, _) = get(&world, query).await;
        assert_secure(&headers, what);
    }
}

/// Issue 12 (7): whatever bytes API Gateway passes through, the function answers 400 and does
/// not panic (the release build aborts on panic: a dead execution environment).
#[tokio::test]
async fn crafted_bytes_in_the_event_get_a_400_not_a_panic() {
    let world = web_world(PaymentAction::Pay);
    assert_crafted_events_get_400(
        "/return",
        service_fn(|req: Request| handle(&world.service, req)),
    )
    .await;
}

/// Issue 16 (6): "Try again" on a declined-for-now page POSTs to the very return URL; the
/// retry charges once with the same authorisation, then the browser is sent back (303) to the
/// same URL to see the outcome.
#[tokio::test]
async fn a_post_to_the_return_url_retries_a_charge_declined_for_now() {
    let world = web_world(PaymentAction::Pay);
    let query = started(&world).await;
    world
        .gateway
        .charge_answers(Answer::RefuseForNow("InsufficientBalance"));
    let (status, _, page) = get(&world, &query).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("declined the payment for now"), "{page}");
    let post = lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri(format!("https://shop.test/return?{query}"))
        .body(Body::Empty)
        .expect("request");
    let response = handle(&world.service, post).await.expect("a response");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], format!("?{query}").as_str());
    assert_eq!(world.gateway.charges(), 2);
    let (_, _, page) = get(&world, &query).await;
    assert!(page.contains("Your payment was successful"), "{page}");
    assert_eq!(world.gateway.charges(), 2, "looking again charges nothing");
}
