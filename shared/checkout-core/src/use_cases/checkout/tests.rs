//! The checkout use cases against the in-memory store, the fake gateway and a manual clock:
//! every branch of `start` and `complete`, in milliseconds.

use std::sync::Arc;

use rust_decimal_macros::dec;

use super::*;
use crate::domain::money::Amount;
use crate::domain::payment::TransactionStatus;
use crate::ports::clock::ManualClock;
use crate::testing::{
    authorized, clock, mugs, settings, Answer, Call, Cue, CuedStore, FakeGateway,
};

pub(super) type TestCheckout = Checkout<Arc<CuedStore>, Arc<FakeGateway>>;

pub(super) struct World {
    pub(super) store: Arc<CuedStore>,
    pub(super) gateway: Arc<FakeGateway>,
    pub(super) clock: ManualClock,
    pub(super) checkout: TestCheckout,
}

pub(super) fn world(action: PaymentAction) -> World {
    let store = CuedStore::new();
    let gateway = FakeGateway::new();
    let clock = clock();
    let checkout = Checkout::new(
        store.clone(),
        gateway.clone(),
        Arc::new(clock.clone()),
        settings(action),
    );
    World {
        store,
        gateway,
        clock,
        checkout,
    }
}

impl World {
    /// A stored order for two mugs ($16.20), and the query of a signed return authorised
    /// with `method`.
    pub(super) async fn started(&self, method: PaymentMethod) -> (String, String) {
        let started = self.checkout.start(&mugs(2)).await.expect("start");
        let id = started.order.caller_reference;
        let query = self
            .gateway
            .will_read(&format!("q-{id}"), authorized(&id, method));
        (id, query)
    }

    /// Another request (`owner`) holds the charge claim on order `id` until `lease` from now,
    /// as it would while its Pay is in flight.
    pub(super) async fn claimed_by_another(&self, id: &str, lease: time::Duration) {
        let now = self.clock.now();
        let lease = Lease {
            owner: "other".into(),
            expires_at: now + lease,
        };
        let claimed = self
            .store
            .order(id)
            .await
            .claim_for_charge("tok", None, lease, now)
            .expect("claim");
        self.store.put(claimed).await;
    }

    async fn returned_with(&self, outcome: Authorization) -> (String, String) {
        let started = self.checkout.start(&mugs(2)).await.expect("start");
        let id = started.order.caller_reference;
        let mut ret = authorized(&id, PaymentMethod::CreditCard);
        ret.outcome = outcome;
        let query = self.gateway.will_read(&format!("q-{id}"), ret);
        (id, query)
    }
}

fn amount(text: &str) -> Amount {
    Amount::parse(text).expect("amount")
}

#[tokio::test]
async fn start_prices_on_the_server_stores_the_order_and_links_to_the_gateway() {
    let w = world(PaymentAction::Pay);
    let started = w.checkout.start(&mugs(2)).await.expect("start");
    let id = &started.order.caller_reference;
    assert!(id.starts_with("o-") && id.len() <= 128, "{id}");
    assert_eq!(started.order.amount(), amount("16.20"));
    let stored = w.store.order(id).await;
    assert_eq!(stored, started.order);
    assert_eq!(stored.state, OrderState::AwaitingAuthorization);
    let query: Vec<(String, String)> = started
        .cbui_url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("ref"), Some(id.as_str()));
    assert_eq!(get("amount"), Some("16.20"));
    assert_eq!(get("reserve"), Some("false"));
    // The order's own return URL: a cancel from the CBUI names no order, the URL does.
    let own_return = format!("https://shop.test/return/{id}");
    assert_eq!(get("return"), Some(own_return.as_str()));
    assert_eq!(get("reason"), Some("Test Shop: 2 × Mug"));
    assert!(w.gateway.calls().is_empty(), "starting calls no FPS API");
}

#[tokio::test]
async fn a_reserve_checkout_asks_for_a_reserve() {
    let w = world(PaymentAction::Reserve);
    let started = w.checkout.start(&mugs(1)).await.expect("start");
    assert!(started
        .cbui_url
        .query_pairs()
        .any(|(k, v)| k == "reserve" && v == "true"));
    assert_eq!(started.order.action, PaymentAction::Reserve);
}

#[tokio::test]
async fn a_cart_that_does_not_price_or_a_refused_link_stores_nothing() {
    let w = world(PaymentAction::Pay);
    let unknown = vec![CartLine {
        sku: "NOPE".into(),
        quantity: 1,
    }];
    assert!(matches!(
        w.checkout.start(&unknown).await,
        Err(StartError::Pricing(_))
    ));
    w.gateway.refuse_links();
    assert!(matches!(
        w.checkout.start(&mugs(1)).await,
        Err(StartError::InvalidRequest(_))
    ));
    assert_eq!(w.store.creates(), 0, "nothing was stored");
    w.checkout.start(&mugs(1)).await.expect_err("still refused");
    let fresh = world(PaymentAction::Pay);
    fresh.checkout.start(&mugs(1)).await.expect("start");
    assert_eq!(fresh.store.creates(), 1, "the counter counts");
}

#[tokio::test]
async fn an_authorised_return_pays_the_stored_amount_once() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::AmazonBalance).await;
    let done = w.checkout.complete(&query).await.expect("complete");
    assert!(!done.repeat);
    assert_eq!(done.order.state, OrderState::Paid);
    assert_eq!(
        done.order.transaction_id.as_deref(),
        Some(format!("TX-{id}").as_str())
    );
    assert_eq!(
        done.order.payment_method,
        Some(PaymentMethod::AmazonBalance)
    );
    assert_eq!(done.order.lease, None);
    assert_eq!(
        w.gateway.calls(),
        vec![
            Call::Verify {
                return_url: format!("https://shop.test/return/{id}"),
                raw_query: format!("return-for-{id}"),
            },
            Call::Charge {
                action: PaymentAction::Pay,
                token: format!("tok-{id}"),
                amount: amount("16.20"),
                reference: id.clone(),
            }
        ]
    );
    assert_eq!(w.store.order(&id).await, done.order);

    // A refresh reports the same outcome and charges nothing.
    let again = w.checkout.complete(&query).await.expect("again");
    assert!(again.repeat);
    assert_eq!(again.order, done.order);
    assert_eq!(w.gateway.charges(), 1);
}

#[tokio::test]
async fn a_pending_charge_is_recorded_as_pending() {
    let w = world(PaymentAction::Pay);
    let (_, query) = w.started(PaymentMethod::CreditCard).await;
    w.gateway
        .charge_answers(Answer::Accept(TransactionStatus::Pending));
    let done = w.checkout.complete(&query).await.expect("complete");
    assert_eq!(done.order.state, OrderState::PaymentPending);
    assert_eq!(
        done.order.transaction_status,
        Some(TransactionStatus::Pending)
    );
}

#[tokio::test]
async fn a_refused_charge_fails_the_order_with_the_gateway_reason() {
    for (answer, expected_code, state) in [
        (
            Answer::Refuse("TransactionDenied"),
            "TransactionDenied",
            OrderState::Failed,
        ),
        // Issue 16 (6): refused for now keeps the authorisation for the buyer's retry.
        (
            Answer::RefuseForNow("InsufficientBalance"),
            "InsufficientBalance",
            OrderState::DeclinedForNow,
        ),
    ] {
        let w = world(PaymentAction::Pay);
        let (id, query) = w.started(PaymentMethod::CreditCard).await;
        w.gateway.charge_answers(answer.clone());
        let done = w.checkout.complete(&query).await.expect("complete");
        assert_eq!(done.order.state, state, "{answer:?}");
        let code = done.order.status_code.clone().expect("a code");
        assert_eq!(code, expected_code);
        assert_eq!(done.order.status_message, Some(format!("{code} message")));
        assert_eq!(done.order.lease, None);
        assert_eq!(w.store.order(&id).await.state, state);
    }
}

/// Issue 16 (6): the buyer tries a declined-for-now charge again with the same return; it is
/// charged once, and a second click charges nothing more.
#[tokio::test]
async fn a_declined_for_now_charge_is_retried_by_the_buyer_once() {
    for action in [PaymentAction::Pay, PaymentAction::Reserve] {
        let w = world(action);
        let (id, query) = w.started(PaymentMethod::CreditCard).await;
        w.gateway
            .charge_answers(Answer::RefuseForNow("InsufficientBalance"));
        let done = w.checkout.complete(&query).await.expect("complete");
        assert_eq!(done.order.state, OrderState::DeclinedForNow);
        w.clock.advance(time::Duration::minutes(10));
        let retried = w.checkout.retry(&query).await.expect("retry");
        assert!(!retried.repeat);
        let settled = match action {
            PaymentAction::Pay => OrderState::Paid,
            PaymentAction::Reserve => OrderState::Reserved,
        };
        assert_eq!(retried.order.state, settled, "{action:?}");
        assert_eq!(w.store.order(&id).await, retried.order);
        let again = w.checkout.retry(&query).await.expect("second click");
        assert!(again.repeat);
        assert_eq!(again.order.state, settled);
        assert_eq!(w.gateway.charges(), 2, "the decline, then the retry");
        // The retry is not verified again: only the verified return's digest is accepted.
        assert_eq!(verifies(&w.gateway), 1);
    }
}

#[tokio::test]
async fn a_retry_after_the_authorisation_lapsed_fails_the_order_without_a_charge() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    w.gateway
        .charge_answers(Answer::RefuseForNow("AccountLimitsExceeded"));
    w.checkout.complete(&query).await.expect("complete");
    w.clock
        .advance(crate::domain::order::AUTHORIZATION_LIFETIME);
    let late = w.checkout.retry(&query).await.expect("late retry");
    assert_eq!(late.order.state, OrderState::Failed);
    assert_eq!(
        late.order.status_code.as_deref(),
        Some("AccountLimitsExceeded")
    );
    assert_eq!(w.store.order(&id).await.state, OrderState::Failed);
    assert_eq!(w.gateway.charges(), 1);
}

#[tokio::test]
async fn a_retry_with_any_other_return_changes_nothing() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    w.gateway
        .charge_answers(Answer::RefuseForNow("InsufficientBalance"));
    w.checkout.complete(&query).await.expect("complete");
    let mut other = authorized(&id, PaymentMethod::CreditCard);
    other.raw_query = "another-return".into();
    let other = w.gateway.will_read("q-other", other);
    assert!(matches!(
        w.checkout.retry(&other).await,
        Err(CompleteError::UnrecognisedReturn(_))
    ));
    // An order that was never declined: nothing to retry, nothing charged.
    let (paid, paid_query) = w.started(PaymentMethod::CreditCard).await;
    w.checkout.complete(&paid_query).await.expect("paid");
    let repeat = w.checkout.retry(&paid_query).await.expect("repeat");
    assert!(repeat.repeat);
    assert_eq!(repeat.order.state, OrderState::Paid);
    assert_eq!(w.store.order(&id).await.state, OrderState::DeclinedForNow);
    assert_eq!(w.store.order(&paid).await.state, OrderState::Paid);
    assert_eq!(w.gateway.charges(), 2, "one per order");
}

#[tokio::test]
async fn an_unknown_or_unsent_charge_keeps_the_claim_for_the_sweep() {
    for answer in [Answer::Unknown, Answer::NotSent] {
        let w = world(PaymentAction::Pay);
        let (id, query) = w.started(PaymentMethod::CreditCard).await;
        w.gateway.charge_answers(answer.clone());
        let done = w.checkout.complete(&query).await.expect("complete");
        assert!(!done.repeat);
        assert_eq!(done.order.state, OrderState::Charging, "{answer:?}");
        let lease = done.order.lease.clone().expect("claimed");
        assert_eq!(
            lease.expires_at,
            w.clock.now() + time::Duration::seconds(60)
        );
        assert_eq!(done.order.transaction_id, None);
        assert_eq!(w.store.order(&id).await, done.order);
    }
}

#[tokio::test]
async fn a_reserve_needs_a_card() {
    let w = world(PaymentAction::Reserve);
    let (_, query) = w.started(PaymentMethod::BankAccount).await;
    let done = w.checkout.complete(&query).await.expect("complete");
    assert_eq!(done.order.state, OrderState::Failed);
    assert_eq!(
        done.order.status_code.as_deref(),
        Some("PaymentInstrumentNotCC")
    );
    assert_eq!(w.gateway.charges(), 0);

    let (_, query) = w.started(PaymentMethod::CreditCard).await;
    let done = w.checkout.complete(&query).await.expect("complete");
    assert_eq!(done.order.state, OrderState::Reserved);
    assert_eq!(done.order.reserved_at, Some(w.clock.now()));
    assert_eq!(w.gateway.charges(), 1);
}

#[tokio::test]
async fn returns_that_authorised_nothing_are_recorded_without_charging() {
    let cases = [
        (Authorization::Abandoned, OrderState::Abandoned, "A"),
        (
            Authorization::Declined {
                code: "NP".into(),
                message: "not permitted".into(),
            },
            OrderState::Failed,
            "NP",
        ),
        (
            Authorization::Authorized {
                token: None,
                method: Some(PaymentMethod::CreditCard),
            },
            OrderState::Failed,
            "CE",
        ),
    ];
    for (outcome, state, code) in cases {
        let w = world(PaymentAction::Pay);
        let (id, query) = w.returned_with(outcome).await;
        let done = w.checkout.complete(&query).await.expect("complete");
        assert_eq!(done.order.state, state);
        assert_eq!(done.order.status_code.as_deref(), Some(code));
        assert_eq!(w.gateway.charges(), 0);
        assert_eq!(w.store.order(&id).await.state, state);
    }
}

#[tokio::test]
async fn returns_that_cannot_be_trusted_change_nothing() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    let before = w.store.order(&id).await;

    // Not signed at all: the gateway is not even asked.
    let mut unsigned = authorized(&id, PaymentMethod::CreditCard);
    unsigned.signed = false;
    let unsigned = w.gateway.will_read("unsigned", unsigned);
    assert!(matches!(
        w.checkout.complete(&unsigned).await,
        Err(CompleteError::Forged)
    ));
    assert!(w.gateway.calls().is_empty());

    // Signed, but the gateway says it did not sign it.
    w.gateway.verify_answers(Ok(false));
    assert!(matches!(
        w.checkout.complete(&query).await,
        Err(CompleteError::Forged)
    ));
    // The gateway cannot be asked.
    w.gateway.verify_answers(Err(()));
    assert!(matches!(
        w.checkout.complete(&query).await,
        Err(CompleteError::GatewayUnavailable(_))
    ));
    // Malformed, no order id, an order we do not have.
    assert!(matches!(
        w.checkout.complete("garbage").await,
        Err(CompleteError::BadReturn(_))
    ));
    let mut anonymous = authorized(&id, PaymentMethod::CreditCard);
    anonymous.order_id = None;
    let anonymous = w.gateway.will_read("anonymous", anonymous);
    assert!(matches!(
        w.checkout.complete(&anonymous).await,
        Err(CompleteError::MissingCallerReference)
    ));
    let stranger = w.gateway.will_read(
        "stranger",
        authorized("o-nobody", PaymentMethod::CreditCard),
    );
    assert!(matches!(
        w.checkout.complete(&stranger).await,
        Err(CompleteError::UnknownOrder(_))
    ));

    assert_eq!(w.store.order(&id).await, before);
    assert_eq!(w.gateway.charges(), 0);
}

#[tokio::test]
async fn a_store_outage_is_reported_and_changes_nothing() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    w.store.cue(Cue::GetFails);
    assert!(matches!(
        w.checkout.complete(&query).await,
        Err(CompleteError::StoreUnavailable(_))
    ));
    assert_eq!(w.gateway.charges(), 0);
    assert_eq!(
        w.store.order(&id).await.state,
        OrderState::AwaitingAuthorization
    );
}

#[tokio::test]
async fn a_store_failure_once_a_charge_may_be_under_way_is_unconfirmed() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    // The claim's write fails: in DynamoDB it may still have committed (its answer lost), and
    // the sweep would then charge the claimed order.
    w.store.cue(Cue::TransitionFails);
    assert!(matches!(
        w.checkout.complete(&query).await,
        Err(CompleteError::Unconfirmed(_))
    ));
    assert_eq!(w.gateway.charges(), 0);
    // The charge went out, then recording its answer failed.
    w.store.cue(Cue::TransitionPasses);
    w.store.cue(Cue::TransitionFails);
    assert!(matches!(
        w.checkout.complete(&query).await,
        Err(CompleteError::Unconfirmed(_))
    ));
    assert_eq!(w.gateway.charges(), 1);
    assert_eq!(w.store.order(&id).await.state, OrderState::Charging);
}

#[tokio::test]
async fn a_return_that_loses_the_race_reports_the_winner_and_charges_nothing() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    let now = w.clock.now();
    // Between our read and our claim, another request claims and pays.
    w.store.cue(Cue::RaceBeforeTransition(Box::new(
        move |stored: &Order| {
            let lease = Lease {
                owner: "other".into(),
                expires_at: now + time::Duration::seconds(60),
            };
            let claimed = stored
                .claim_for_charge("tok-other", None, lease, now)
                .expect("claim");
            claimed
                .record_transaction("TX-winner", TransactionStatus::Success, None, None, now)
                .expect("paid")
        },
    )));
    let done = w.checkout.complete(&query).await.expect("complete");
    assert!(done.repeat);
    assert_eq!(done.order.state, OrderState::Paid);
    assert_eq!(done.order.transaction_id.as_deref(), Some("TX-winner"));
    assert_eq!(w.gateway.charges(), 0);
    assert_eq!(w.store.order(&id).await, done.order);
}

#[tokio::test]
async fn a_return_while_another_charges_waits_for_its_outcome_then_reports_the_claim() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    w.claimed_by_another(&id, time::Duration::seconds(60)).await;
    // The winner never finishes within `wait_for_winner`: the loser reports the claim as it
    // stands, and charges nothing itself.
    let started = std::time::Instant::now();
    let done = w.checkout.complete(&query).await.expect("complete");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    assert!(done.repeat);
    assert_eq!(done.order.state, OrderState::Charging);
    assert_eq!(w.gateway.charges(), 0);
}

#[tokio::test]
async fn a_return_after_the_order_moved_on_is_a_repeat() {
    let w = world(PaymentAction::Pay);
    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    let stored = w.store.order(&id).await;
    w.store
        .put(stored.abandon(w.clock.now()).expect("abandon"))
        .await;
    let done = w.checkout.complete(&query).await.expect("complete");
    assert!(done.repeat);
    assert_eq!(done.order.state, OrderState::Abandoned);
    assert_eq!(w.gateway.charges(), 0);
}

#[test]
fn the_payment_reason_lists_the_items() {
    let w = world(PaymentAction::Pay);
    let priced = price_cart(
        &w.checkout.settings.catalog,
        &w.checkout.settings.pricing,
        &mugs(3),
    )
    .expect("price");
    assert_eq!(payment_reason("Acme", &priced), "Acme: 3 × Mug");
    assert_eq!(priced.total, Amount::new(dec!(24.30)).expect("amount"));
}

fn verifies(gateway: &FakeGateway) -> usize {
    gateway
        .calls()
        .iter()
        .filter(|c| matches!(c, Call::Verify { .. }))
        .count()
}

/// Issue 12 (5): an unauthenticated return must not spend the merchant's FPS quota: no
/// VerifySignature for an order we do not have, or one no longer awaiting authorisation.
#[tokio::test]
async fn returns_for_unknown_or_completed_orders_call_no_gateway() {
    let w = world(PaymentAction::Pay);
    let stranger = w.gateway.will_read(
        "stranger",
        authorized("o-nobody", PaymentMethod::CreditCard),
    );
    assert!(matches!(
        w.checkout.complete(&stranger).await,
        Err(CompleteError::UnknownOrder(_))
    ));
    assert_eq!(verifies(&w.gateway), 0, "unknown order");

    let (id, query) = w.started(PaymentMethod::CreditCard).await;
    let paid = w.checkout.complete(&query).await.expect("complete");
    assert_eq!(paid.order.state, OrderState::Paid);
    assert_eq!(verifies(&w.gateway), 1);
    // The buyer refreshes: the very return FPS verified, recognised without asking again.
    let again = w.checkout.complete(&query).await.expect("refresh");
    assert!(again.repeat);
    assert_eq!(again.order.state, OrderState::Paid);
    // Anything else naming that order is not shown it, and costs no FPS call either.
    let mut other = authorized(&id, PaymentMethod::CreditCard);
    other.raw_query = "forged-but-signed-looking".into();
    let other = w.gateway.will_read("other", other);
    assert!(matches!(
        w.checkout.complete(&other).await,
        Err(CompleteError::UnrecognisedReturn(_))
    ));
    assert_eq!(verifies(&w.gateway), 1, "one VerifySignature in all");
    assert_eq!(w.gateway.charges(), 1);
}
