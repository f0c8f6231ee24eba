//! The buyer's journey over real HTTP: shop → checkout → emulator CBUI → return → page, for Pay
//! and Reserve (then OrderFulfilled + a scheduled sweep), plus decline, abandon, forged return
//! and bad input. Each asserts the page, the table and the emulator's ledger.

use std::time::Duration;

use checkout_core::domain::order::{OrderState, PaymentAction};
use checkout_core::ports::store::OrderStore;
use e2e_tests::{Stack, StackOptions, NO_EXTRAS};
use fps_sandbox::{Decision, Persona};
use url::Url;

const CART_FORM: &str =
    "sku=TEE-BLUE-L&quantity=2&sku=MUG&quantity=1&sku=DECLINE&quantity=0&sku=XSS&quantity=0";

async fn get(stack: &Stack, url: &Url) -> (u16, String) {
    let r = stack.http.get(url.clone()).send().await.expect("GET");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// POSTs the shop form; returns the CBUI URL it redirects to.
async fn checkout(stack: &Stack, form: &str) -> Url {
    let r = stack
        .http
        .post(stack.shop_url.join("checkout").unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .expect("POST /checkout");
    assert_eq!(
        r.status().as_u16(),
        303,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let url = Url::parse(&location).unwrap();
    assert_eq!(url.path(), "/cobranded-ui/actions/start");
    url
}

fn caller_reference(url: &Url) -> String {
    url.query_pairs()
        .find(|(k, _)| k == "callerReference")
        .map(|(_, v)| v.into_owned())
        .expect("callerReference")
}

async fn count_orders(stack: &Stack) -> i32 {
    stack
        .store
        .client()
        .scan()
        .table_name(stack.store.table())
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .expect("scan")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_journey_and_refresh_charges_once() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (status, shop) = get(&stack, &stack.shop_url).await;
    assert_eq!(status, 200);
    assert!(shop.contains("Pay Now") && shop.contains("T-shirt (blue, L)"));
    assert!(
        shop.contains("&lt;script&gt;"),
        "markup in a product name is escaped"
    );
    assert!(!shop.contains("<script>alert"));

    let cbui = checkout(&stack, CART_FORM).await;
    let cr = caller_reference(&cbui);
    assert_eq!(
        cbui.query_pairs()
            .find(|(k, _)| k == "transactionAmount")
            .unwrap()
            .1,
        "41.87"
    );
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::AwaitingAuthorization);
    assert_eq!(order.amount().to_fps_string(), "41.87");

    let back = stack
        .authorize(&cbui, Persona::Card, Decision::Authorize)
        .await;
    let (status, page) = get(&stack, &back).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Thank you for your order"), "{page}");
    assert!(page.contains("$41.87") && page.contains("$2.77") && page.contains("Keep shopping"));
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::PaymentPending);
    let tx = order.transaction_id.clone().expect("transaction id stored");
    assert!(page.contains(&tx));
    // The seed's mapping, the other way round.
    let mapped = stack
        .store
        .find_by_transaction_id(&tx)
        .await
        .unwrap()
        .expect("by transaction id");
    assert_eq!(mapped.caller_reference, cr);

    // Refresh: same page, no second Pay.
    let (status, again) = get(&stack, &back).await;
    assert_eq!(status, 200);
    assert!(again.contains(&tx));
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Pay"), 1);
    assert_eq!(ledger.transactions_for(&cr).len(), 1);

    // The sweep reconciles the Pending payment once FPS completes it.
    stack
        .control
        .advance_clock(Duration::from_secs(2))
        .await
        .unwrap();
    stack.sweep().await;
    assert_eq!(stack.order(&cr).await.state, OrderState::Paid);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserve_journey_then_fulfilment_and_sweep_settle() {
    let stack = Stack::start(PaymentAction::Reserve).await;
    let (_, shop) = get(&stack, &stack.shop_url).await;
    assert!(shop.contains("charged when your order ships"));
    let cbui = checkout(&stack, "sku=TEE-BLUE-L&quantity=1").await;
    assert!(cbui
        .query_pairs()
        .any(|(k, v)| k == "reserve" && v == "True"));
    assert!(cbui
        .query_pairs()
        .any(|(k, v)| k == "paymentMethod" && v == "CC"));
    let cr = caller_reference(&cbui);
    let back = stack
        .authorize(&cbui, Persona::Card, Decision::Authorize)
        .await;
    let (status, page) = get(&stack, &back).await;
    assert_eq!(status, 200);
    // Accepted but still pending: the page says so (issue 12: pending is not "authorised").
    assert!(
        page.contains("confirming the authorisation on your card"),
        "{page}"
    );
    assert!(page.contains("do not pay again"), "{page}");
    assert_eq!(stack.order(&cr).await.state, OrderState::ReservePending);

    // Not shipped against until FPS confirms the reserve.
    let refused = stack.try_fulfil(&cr).await.expect_err("not confirmed yet");
    assert_eq!(
        lambda_runtime::Diagnostic::from(refused).error_type,
        "ReserveNotConfirmed"
    );
    stack
        .control
        .advance_clock(Duration::from_secs(2))
        .await
        .unwrap();
    let summary = stack.sweep().await;
    assert_eq!(summary.reserved, 1, "reconciled: {summary:?}");

    // A valid fulfilment settles at once (FPS answers Pending first).
    match stack.fulfil(&cr).await {
        settle_reservations::Outcome::Fulfilled {
            caller_reference,
            state,
        } => {
            assert_eq!(caller_reference, cr);
            assert_eq!(state, "SettlePending");
        }
        other => panic!("{other:?}"),
    }
    stack
        .control
        .advance_clock(Duration::from_secs(2))
        .await
        .unwrap();
    let summary = stack.sweep().await;
    assert_eq!(summary.settled, 1, "{summary:?}");
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Settled);
    assert!(order.settled_at.is_some());
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Reserve"), 1);
    assert_eq!(ledger.requests(&cr, "Settle"), 1);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_payment_shows_a_clear_page_and_charges_nothing() {
    let mut options = StackOptions::new(PaymentAction::Pay);
    options.pricing = NO_EXTRAS;
    let stack = Stack::start_with(options).await;
    // 10.61: the emulator's TransactionDenied amount.
    let cbui = checkout(&stack, "sku=DECLINE&quantity=1").await;
    let cr = caller_reference(&cbui);
    let back = stack
        .authorize(&cbui, Persona::Card, Decision::Authorize)
        .await;
    let (status, page) = get(&stack, &back).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Payment not completed") && page.contains("Try again"),
        "{page}"
    );
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Failed);
    assert_eq!(order.status_code.as_deref(), Some("TransactionDenied"));
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Pay"), 1);
    assert!(ledger.transactions_for(&cr).is_empty(), "nothing charged");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_then_retried_is_charged_once() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let cbui = checkout(&stack, "sku=MUG&quantity=3").await;
    let first = caller_reference(&cbui);
    let back = stack
        .authorize(&cbui, Persona::Card, Decision::Cancel)
        .await;
    assert!(back.query_pairs().any(|(k, v)| k == "status" && v == "A"));
    // As real CBUI cancels did (issue 16): no callerReference; the order's own return URL
    // names it.
    assert!(
        !back.query_pairs().any(|(k, _)| k == "callerReference"),
        "{back}"
    );
    assert!(back.path().ends_with(&first), "{back}");
    let (status, page) = get(&stack, &back).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Payment cancelled") && page.contains("Try again"),
        "{page}"
    );
    assert_eq!(stack.order(&first).await.state, OrderState::Abandoned);
    // "Try again" posts the same items.
    assert!(
        page.contains(r#"name="sku" value="MUG""#) && page.contains(r#"name="quantity" value="3""#)
    );
    let cbui = checkout(&stack, "sku=MUG&quantity=3").await;
    let second = caller_reference(&cbui);
    assert_ne!(first, second);
    let back = stack
        .authorize(&cbui, Persona::Balance, Decision::Authorize)
        .await;
    let (_, page) = get(&stack, &back).await;
    assert!(page.contains("Your payment was successful"), "{page}");
    assert_eq!(stack.order(&second).await.state, OrderState::Paid);
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&first, "Pay"), 0);
    assert_eq!(ledger.requests(&second, "Pay"), 1);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_return_is_refused_and_changes_nothing() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let cbui = checkout(&stack, "sku=MUG&quantity=1").await;
    let cr = caller_reference(&cbui);
    let back = stack
        .authorize(&cbui, Persona::Card, Decision::Authorize)
        .await;
    let mut forged = back.clone();
    forged.set_query(Some(
        &back.query().unwrap().replace("status=SC", "status=SB"),
    ));
    let (status, page) = get(&stack, &forged).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("could not be verified"));
    assert_eq!(
        stack.order(&cr).await.state,
        OrderState::AwaitingAuthorization
    );
    assert_eq!(
        stack.control.ledger().await.unwrap().requests(&cr, "Pay"),
        0
    );
    let (status, _) = get(&stack, &stack.return_url).await;
    assert_eq!(status, 400, "a return without a query is a bad request");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_carts_get_a_400_naming_the_field_and_write_nothing() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let url = stack.shop_url.join("checkout").unwrap();
    for (form, field) in [
        ("sku=MUG&quantity=abc", "quantity"),
        ("sku=MUG&quantity=100", "quantity"),
        ("sku=NOPE&quantity=1", "sku"),
        ("sku=MUG&quantity=0", "items"),
        ("sku=MUG&quantity=1&price=0.01", "form"),
    ] {
        let r = stack
            .http
            .post(url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{form}");
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!("{field}:")), "{form}: {page}");
    }
    let r = stack
        .http
        .post(url.clone())
        .header("content-type", "application/json")
        .body(r#"{"items":[{"sku":"NOPE","quantity":1}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem["field"], "sku");
    assert_eq!(count_orders(&stack).await, 0, "nothing written");
    // And a good JSON cart: 303 with a JSON body for API clients.
    let r = stack
        .http
        .post(url)
        .header("content-type", "application/json")
        .body(r#"{"items":[{"sku":"MUG","quantity":2}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["amount"], "23.04");
    assert_eq!(count_orders(&stack).await, 1);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_product_name_is_text_on_every_page() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let cbui = checkout(&stack, "sku=XSS&quantity=1").await;
    // The product name travels in the CBUI paymentReason and is shown on the emulator's page.
    let reason = cbui
        .query_pairs()
        .find(|(k, _)| k == "paymentReason")
        .unwrap()
        .1
        .into_owned();
    assert!(reason.contains("<script>alert('pwned')</script>"));
    let (status, page) = get(&stack, &cbui).await;
    assert_eq!(status, 200);
    assert!(
        !page.contains("<script>alert"),
        "authorisation page must escape the paymentReason"
    );
    assert!(page.contains("&lt;script&gt;"));
    let back = stack
        .authorize(&cbui, Persona::Card, Decision::Authorize)
        .await;
    let (_, thanks) = get(&stack, &back).await;
    assert!(thanks.contains("Thank you for your order"));
    assert!(!thanks.contains("<script>alert"));
    assert!(thanks.contains("&lt;script&gt;alert"));
    stack.shutdown().await;
}
