//! The notification handler on the fakes: what FPS is answered for each kind of body, and
//! hostile events through the Lambda adapter.

use std::sync::Arc;

use checkout_core::domain::order::{Order, OrderState, PaymentAction};
use checkout_core::domain::payment::TransactionStatus;
use checkout_core::ports::clock::Clock;
use checkout_core::ports::gateway::{Notice, NoticeSubject, PaymentNotice};
use checkout_core::testing::{assert_crafted_events_get_400, clock, mugs, settings};
use checkout_core::testing::{CuedStore, FakeGateway};
use lambda_http::service_fn;

use super::*;

type World = (
    Arc<CuedStore>,
    Arc<FakeGateway>,
    Notifications<Arc<CuedStore>, Arc<FakeGateway>>,
);

fn world() -> World {
    let store = CuedStore::new();
    let gateway = FakeGateway::new();
    let notifications = Notifications::new(
        store.clone(),
        gateway.clone(),
        Arc::new(clock()),
        "https://shop.test/ipn".parse().expect("url"),
    );
    (store, gateway, notifications)
}

fn post(body: &str) -> Request {
    lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri("https://shop.test/ipn")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

async fn answer(n: &Notifications<Arc<CuedStore>, Arc<FakeGateway>>, req: Request) -> StatusCode {
    handle(n, req).await.expect("a response").status()
}

/// A pending Pay order and a signed SUCCESS notification for it.
async fn pending_pay(store: &CuedStore, gateway: &FakeGateway) -> String {
    let s = settings(PaymentAction::Pay);
    let cart =
        checkout_core::domain::catalog::price_cart(&s.catalog, &s.pricing, &mugs(1)).expect("cart");
    let now = clock().now();
    let mut order = Order::new("o-1".into(), cart, PaymentAction::Pay, now);
    order.state = OrderState::PaymentPending;
    order.transaction_id = Some("TX-1".into());
    order.transaction_status = Some(TransactionStatus::Pending);
    store.put(order).await;
    gateway.will_read_notice(
        "success",
        Notice::Payment(PaymentNotice {
            order_id: Some("o-1".into()),
            transaction_id: "TX-1".into(),
            status: TransactionStatus::Success,
            code: None,
            message: None,
            about: NoticeSubject::Charge,
            signed: true,
            raw_body: "success".into(),
        }),
    )
}

#[tokio::test]
async fn fps_is_answered_200_when_handled_403_when_forged_400_when_malformed() {
    let (store, gateway, n) = world();
    let body = pending_pay(&store, &gateway).await;
    gateway.verify_answers(Ok(false));
    assert_eq!(answer(&n, post(&body)).await, StatusCode::FORBIDDEN);
    assert_eq!(store.order("o-1").await.state, OrderState::PaymentPending);
    gateway.verify_answers(Err(()));
    assert_eq!(
        answer(&n, post(&body)).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(answer(&n, post(&body)).await, StatusCode::OK);
    assert_eq!(store.order("o-1").await.state, OrderState::Paid);
    assert_eq!(answer(&n, post(&body)).await, StatusCode::OK, "a duplicate");
    assert_eq!(
        answer(&n, post("not-a-notice")).await,
        StatusCode::BAD_REQUEST
    );
    let get = lambda_http::http::Request::builder()
        .uri("https://shop.test/ipn")
        .body(Body::Empty)
        .expect("request");
    assert_eq!(answer(&n, get).await, StatusCode::METHOD_NOT_ALLOWED);
    let binary = lambda_http::http::Request::builder()
        .method(Method::POST)
        .uri("https://shop.test/ipn")
        .body(Body::Binary(vec![0xff, 0xfe]))
        .expect("request");
    assert_eq!(answer(&n, binary).await, StatusCode::BAD_REQUEST);
}

/// Whatever bytes API Gateway passes through, the function answers 400 and does not panic.
#[tokio::test]
async fn crafted_bytes_in_the_event_get_a_400_not_a_panic() {
    let (_, _, n) = world();
    assert_crafted_events_get_400("/ipn", service_fn(|req: Request| handle(&n, req))).await;
}
