//! Creating, reading and conditional writes: exactly one of racing writers wins, and a
//! committed write whose answer was lost is still this writer's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use checkout_core::adapters::dynamodb::attr;
use checkout_core::domain::money::Amount;
use checkout_core::domain::order::{OrderState, PaymentAction};
use checkout_core::domain::payment::PaymentMethod;
use checkout_core::domain::payment::TransactionStatus;
use checkout_core::ports::store::{OrderStore, StoreError};
use rust_decimal_macros::dec;
use time::Duration;

use crate::support::*;

#[tokio::test]
async fn create_never_overwrites() {
    let store = store().await;
    let first = order("o-1", PaymentAction::Pay);
    store.create(&first).await.unwrap();

    let mut other = order("o-1", PaymentAction::Reserve);
    other.cart.tax = dec!(9.99);
    match store.create(&other).await {
        Err(StoreError::AlreadyExists(id)) => assert_eq!(id, "o-1"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // The same order again is refused as well: create is not an upsert.
    assert!(matches!(
        store.create(&first).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.get("o-1").await.unwrap(), Some(first));
}

#[tokio::test]
async fn get_round_trips_every_field() {
    let store = store().await;
    let mut full = order("o-full", PaymentAction::Reserve);
    full.state = OrderState::Settling;
    full.token_id = Some("TOKEN-abc".into());
    full.payment_method = Some(PaymentMethod::CreditCard);
    full.transaction_id = Some("15DPLXJG1R5B7K6PKQJ6LRQTXX1CLO6NBHC".into());
    full.transaction_status = Some(TransactionStatus::Reserved);
    full.status_code = Some("Success".into());
    full.status_message = Some("Reserve ok — ünïcödé".into());
    full.return_digest = Some("hbN0ZbqW3bC-digest".into());
    full.retry_at = Some(NOW + Duration::minutes(30));
    full.reserved_at = Some(NOW - Duration::days(1));
    full.fulfilled_at = Some(NOW - Duration::minutes(5) + Duration::nanoseconds(1));
    full.settle_amount = Some(Amount::parse("40.5").unwrap());
    full.settled_at = Some(NOW);
    full.lease = Some(lease("settle-7f3a", NOW + Duration::seconds(30)));
    full.attempts = 3;
    full.updated_at = NOW;
    full.version = 7;
    store.create(&full).await.unwrap();

    let back = store.get("o-full").await.unwrap().expect("stored");
    assert_eq!(back, full);
    // Money is decimal all the way: compare the values, and the stored numbers as decimals.
    assert_eq!(back.cart.total.value(), dec!(41.87));
    assert_eq!(back.settle_amount.map(|a| a.value()), Some(dec!(40.50)));
    assert_eq!(back.cart.lines[1].unit_price, dec!(8.10));
    let item = raw_item(&store, "o-full").await;
    assert_eq!(number(&item, attr::AMOUNT), dec!(41.87));
    assert_eq!(number(&item, attr::SETTLE_AMOUNT), dec!(40.5));
    assert_eq!(number(&item, attr::SHIPPING), dec!(5));
    assert_eq!(item[attr::CURRENCY], AttributeValue::S("USD".into()));
    assert_eq!(item[attr::STATE], AttributeValue::S("Settling".into()));

    // The bare new order (every optional field None) too.
    let bare = order("o-bare", PaymentAction::Pay);
    store.create(&bare).await.unwrap();
    assert_eq!(store.get("o-bare").await.unwrap(), Some(bare));

    assert_eq!(store.get("nobody").await.unwrap(), None);
    assert_eq!(store.get("").await.unwrap(), None);
}

#[tokio::test]
async fn transition_succeeds_once_and_a_stale_previous_conflicts() {
    let store = store().await;
    let created = order("o-t", PaymentAction::Pay);
    store.create(&created).await.unwrap();

    let claimed = claimed_by(&created, "a");
    store.transition(&created, &claimed).await.unwrap();
    assert_eq!(store.get("o-t").await.unwrap(), Some(claimed.clone()));

    // Writing from the old version again — even the very same next, in a new call — is a
    // conflict.
    for next in [
        claimed.clone(),
        created
            .claim_for_charge("tok", None, lease("b", NOW + Duration::seconds(30)), NOW)
            .unwrap(),
    ] {
        match store.transition(&created, &next).await {
            Err(StoreError::Conflict(id)) => assert_eq!(id, "o-t"),
            other => panic!("expected Conflict, got {other:?}"),
        }
    }
    assert_eq!(store.get("o-t").await.unwrap(), Some(claimed.clone()));
    // Right version, wrong state: conflict too.
    let mut wrong_state = claimed.clone();
    wrong_state.state = OrderState::AwaitingAuthorization;
    let mut from_wrong_state = wrong_state.clone();
    from_wrong_state.version += 1;
    assert!(matches!(
        store.transition(&wrong_state, &from_wrong_state).await,
        Err(StoreError::Conflict(_))
    ));
    // An order that is not there.
    let ghost = order("o-ghost", PaymentAction::Pay);
    let mut ghost_next = ghost.clone();
    ghost_next.version += 1;
    assert!(matches!(
        store.transition(&ghost, &ghost_next).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get("o-ghost").await.unwrap(),
        None,
        "no item was created"
    );

    // The current version moves on.
    let paid = claimed
        .record_transaction("TX-t", TransactionStatus::Success, None, None, NOW)
        .unwrap();
    store.transition(&claimed, &paid).await.unwrap();
    assert_eq!(store.get("o-t").await.unwrap(), Some(paid));
    assert_eq!(store.get("o-t").await.unwrap().unwrap().version, 2);
}

/// Turns the answer of the next request into a retryable 500 after the server has acted on
/// it: the SDK then retries a write that already committed.
#[derive(Debug, Clone, Default)]
struct LoseNextAnswer(Arc<AtomicBool>);

impl Intercept for LoseNextAnswer {
    fn name(&self) -> &'static str {
        "LoseNextAnswer"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.0.swap(false, Ordering::SeqCst) {
            let response = context.response_mut();
            *response.status_mut() = 500u16.try_into()?;
            *response.body_mut() = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"answer lost (test)"}"#.into();
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_committed_write_whose_answer_is_lost_is_not_reported_as_a_conflict() {
    require_moto();
    if second_opinion_lacks("ReturnValuesOnConditionCheckFailure") {
        return;
    }
    let lose = LoseNextAnswer::default();
    let store = store_with_interceptor(lose.clone()).await;

    let created = order("o-lost", PaymentAction::Pay);
    lose.0.store(true, Ordering::SeqCst);
    store
        .create(&created)
        .await
        .expect("the retried create is this create, not AlreadyExists");
    assert!(!lose.0.load(Ordering::SeqCst), "the answer was lost once");

    let claimed = claimed_by(&created, "a");
    lose.0.store(true, Ordering::SeqCst);
    store
        .transition(&created, &claimed)
        .await
        .expect("the retried transition is this transition, not Conflict");
    assert!(!lose.0.load(Ordering::SeqCst), "the answer was lost once");
    assert_eq!(store.get("o-lost").await.unwrap(), Some(claimed.clone()));

    // Someone else's write is still a conflict, with or without a lost answer.
    let rival = created
        .claim_for_charge("tok", None, lease("b", NOW + Duration::seconds(30)), NOW)
        .unwrap();
    lose.0.store(true, Ordering::SeqCst);
    assert!(matches!(
        store.transition(&created, &rival).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create(&created).await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(store.get("o-lost").await.unwrap(), Some(claimed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_transitions_from_the_same_previous_one_wins() {
    let store = Arc::new(store().await);
    let created = order("o-race", PaymentAction::Reserve);
    store.create(&created).await.unwrap();

    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, barrier, previous) = (store.clone(), barrier.clone(), created.clone());
            tokio::spawn(async move {
                let owner = format!("worker-{i}");
                let next = claimed_by(&previous, &owner);
                barrier.wait().await;
                (owner, store.transition(&previous, &next).await)
            })
        })
        .collect();

    let mut winners = Vec::new();
    for task in tasks {
        let (owner, result) = task.await.unwrap();
        match result {
            Ok(()) => winners.push(owner),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("{owner}: unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = store.get("o-race").await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.state, OrderState::Reserving);
    assert_eq!(stored.lease.unwrap().owner, winners[0]);
}

#[tokio::test]
async fn find_by_transaction_id_maps_both_ways() {
    let store = store().await;
    let waiting = order("o-wait", PaymentAction::Pay);
    store.create(&waiting).await.unwrap();
    let claimed = waiting
        .claim_for_charge("tok", None, lease("w", NOW + Duration::seconds(30)), NOW)
        .unwrap();
    store.transition(&waiting, &claimed).await.unwrap();
    assert_eq!(store.find_by_transaction_id("TX-42").await.unwrap(), None);

    let paid = claimed
        .record_transaction("TX-42", TransactionStatus::Success, None, None, NOW)
        .unwrap();
    store.transition(&claimed, &paid).await.unwrap();
    let other = order("o-other", PaymentAction::Pay);
    store.create(&other).await.unwrap();

    // TransactionId → order (the index is eventually consistent; moto is immediate).
    let found = store
        .find_by_transaction_id("TX-42")
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found, paid);
    assert_eq!(found.caller_reference, "o-wait");
    // CallerReference → TransactionId.
    let got = store.get("o-wait").await.unwrap().unwrap();
    assert_eq!(got.transaction_id.as_deref(), Some("TX-42"));

    assert_eq!(store.find_by_transaction_id("TX-nope").await.unwrap(), None);
    assert_eq!(store.find_by_transaction_id("").await.unwrap(), None);
}

/// Two orders should never carry one TransactionId; if they ever do, a lookup still answers
/// (with one of them) and tells the operators. One carrier, or none, is not reported.
#[tokio::test]
async fn a_transaction_id_on_two_orders_is_reported() {
    let store = store().await;
    let paid = |id: &str, tx: &str| {
        in_state(id, OrderState::Paid, |o| {
            o.action = PaymentAction::Pay;
            o.transaction_id = Some(tx.into());
        })
    };
    for o in [
        paid("o-1", "TX-once"),
        paid("o-2", "TX-twice"),
        paid("o-3", "TX-twice"),
    ] {
        store.create(&o).await.unwrap();
    }
    let (_guard, logged) = capture_warnings();
    let warned = "more than one order carries this TransactionId";

    let once = store.find_by_transaction_id("TX-once").await.unwrap();
    assert_eq!(once.map(|o| o.caller_reference).as_deref(), Some("o-1"));
    assert_eq!(store.find_by_transaction_id("TX-none").await.unwrap(), None);
    assert!(!logged.text().contains(warned), "{}", logged.text());

    let twice = store.find_by_transaction_id("TX-twice").await.unwrap();
    let found = twice.map(|o| o.caller_reference).unwrap_or_default();
    assert!(["o-2", "o-3"].contains(&found.as_str()), "{found}");
    let text = logged.text();
    assert!(text.contains(warned) && text.contains("TX-twice"), "{text}");
}
