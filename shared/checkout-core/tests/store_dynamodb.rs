//! The DynamoDB order store against a real DynamoDB-protocol server (moto's, started by
//! `make test` / `infra/local/test.sh`). Each test makes its own table.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use checkout_core::adapters::dynamodb::{
    attr, client_from_env, create_table, default_timeouts, table_definition, DynamoOrderStore,
    TableCreation, TableDefinition, BY_DUE, BY_TRANSACTION_ID,
};
use checkout_core::adapters::memory::MemoryStore;
use checkout_core::domain::catalog::{PricedCart, PricedLine};
use checkout_core::domain::money::Amount;
use checkout_core::domain::order::{Lease, Order, OrderState, PaymentAction};
use checkout_core::domain::payment::PaymentMethod;
use checkout_core::domain::payment::TransactionStatus;
use checkout_core::ports::store::{OrderStore, StoreError};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2030-03-01 12:00:00.123456789 UTC);

fn require_moto() {
    for var in [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ACCESS_KEY_ID",
        "AWS_REGION",
    ] {
        if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            panic!(
                "{var} is not set: the DynamoDB tests run against moto's server. \
                 Run them with `make test` (or `bash infra/local/test.sh`), which starts moto \
                 and sets AWS_ENDPOINT_URL_DYNAMODB and placeholder credentials."
            );
        }
    }
}

fn table_name() -> String {
    format!("orders-test-{}", uuid::Uuid::new_v4().simple())
}

/// A store on a fresh table of its own.
async fn store() -> DynamoOrderStore {
    require_moto();
    let client = client_from_env().await;
    let table = table_name();
    match create_table(&client, &table).await {
        Ok(TableCreation::Created) => {}
        other => panic!("creating {table}: {other:?}"),
    }
    DynamoOrderStore::new(client, table)
}

async fn raw_item(
    store: &DynamoOrderStore,
    caller_reference: &str,
) -> HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            attr::CALLER_REFERENCE,
            AttributeValue::S(caller_reference.into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
        .unwrap_or_else(|| panic!("no item {caller_reference}"))
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Decimal {
    match &item[name] {
        AttributeValue::N(text) => Decimal::from_str(text).unwrap(),
        other => panic!("{name} is {other:?}"),
    }
}

fn cart() -> PricedCart {
    PricedCart {
        lines: vec![
            PricedLine {
                sku: "TEE".into(),
                name: "T-shirt — \"organic\"".into(),
                unit_price: dec!(12.75),
                quantity: 2,
                line_total: dec!(25.50),
            },
            PricedLine {
                sku: "MUG".into(),
                name: "Mug".into(),
                unit_price: dec!(8.10),
                quantity: 1,
                line_total: dec!(8.10),
            },
        ],
        items_total: dec!(33.60),
        tax: dec!(2.77),
        shipping: dec!(5.00),
        fees: dec!(0.50),
        total: Amount::parse("41.87").unwrap(),
    }
}

fn order(id: &str, action: PaymentAction) -> Order {
    Order::new(id.into(), cart(), action, NOW - Duration::hours(2))
}

fn lease(owner: &str, expires_at: OffsetDateTime) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at,
    }
}

/// `order` claimed for a card charge by `owner`, lease live for 30 s.
fn claimed_by(order: &Order, owner: &str) -> Order {
    order
        .claim_for_charge(
            "tok",
            Some(PaymentMethod::CreditCard),
            lease(owner, NOW + Duration::seconds(30)),
            NOW,
        )
        .unwrap()
}

/// An order in `state` with what that state implies, its due time decided by `tweak`.
fn in_state(id: &str, state: OrderState, tweak: impl FnOnce(&mut Order)) -> Order {
    let mut o = order(id, PaymentAction::Reserve);
    o.state = state;
    o.version = 1;
    o.updated_at = NOW - Duration::hours(1);
    tweak(&mut o);
    o
}

fn ids(orders: &[Order]) -> Vec<&str> {
    orders.iter().map(|o| o.caller_reference.as_str()).collect()
}

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
    let lose = LoseNextAnswer::default();
    let sdk = checkout_core::adapters::aws::sdk_config(default_timeouts()).await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(lose.clone())
            .build(),
    );
    let table = table_name();
    assert!(matches!(
        create_table(&client, &table).await,
        Ok(TableCreation::Created)
    ));
    let store = DynamoOrderStore::new(client, table);

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
async fn due_index_holds_only_due_orders() {
    let store = store().await;
    let orders = [
        // Never due.
        in_state("awaiting", OrderState::AwaitingAuthorization, |_| {}),
        in_state("paid", OrderState::Paid, |o| {
            o.action = PaymentAction::Pay;
            o.transaction_id = Some("TX-paid".into());
        }),
        in_state("failed", OrderState::Failed, |_| {}),
        in_state("settled", OrderState::Settled, |o| {
            o.fulfilled_at = Some(NOW - Duration::days(2));
            o.settled_at = Some(NOW - Duration::days(1));
        }),
        // Due now.
        in_state("reserved-fulfilled", OrderState::Reserved, |o| {
            o.reserved_at = Some(NOW - Duration::days(1));
            o.fulfilled_at = Some(NOW - Duration::hours(3));
        }),
        in_state("charging-expired", OrderState::Charging, |o| {
            o.lease = Some(lease("dead", NOW - Duration::minutes(1)));
        }),
        in_state("pending", OrderState::PaymentPending, |o| {
            o.updated_at = NOW - Duration::minutes(10);
        }),
        // Due exactly now: `dueAt <= now` includes it.
        in_state("settling-expiring-now", OrderState::Settling, |o| {
            o.lease = Some(lease("x", NOW));
        }),
        // Due later.
        in_state("charging-live", OrderState::Charging, |o| {
            o.lease = Some(lease("alive", NOW + Duration::minutes(5)));
        }),
        in_state("reserved-unfulfilled", OrderState::Reserved, |o| {
            o.reserved_at = Some(NOW - Duration::days(1));
        }),
    ];
    for o in &orders {
        store.create(o).await.unwrap();
    }

    let page = store.due(NOW, 100, None).await.unwrap();
    assert_eq!(
        ids(&page.orders),
        [
            "reserved-fulfilled",
            "pending",
            "charging-expired",
            "settling-expiring-now"
        ],
        "oldest due first"
    );
    assert!(page.next.is_none());
    let by_id: HashMap<&str, &Order> = orders
        .iter()
        .map(|o| (o.caller_reference.as_str(), o))
        .collect();
    for o in &page.orders {
        assert_eq!(
            &o,
            &by_id[o.caller_reference.as_str()],
            "index items decode whole"
        );
    }

    // A live lease is due when it runs out; an unfulfilled reserve after 7 days (to expire it).
    let later = store
        .due(NOW + Duration::minutes(5), 100, None)
        .await
        .unwrap();
    assert!(ids(&later.orders).contains(&"charging-live"));
    assert!(!ids(&later.orders).contains(&"reserved-unfulfilled"));
    let expiry = NOW - Duration::days(1) + Duration::days(7);
    let week = store
        .due(expiry - Duration::nanoseconds(1), 100, None)
        .await
        .unwrap();
    assert!(!ids(&week.orders).contains(&"reserved-unfulfilled"));
    let week = store.due(expiry, 100, None).await.unwrap();
    assert!(ids(&week.orders).contains(&"reserved-unfulfilled"));
    assert_eq!(week.orders.len(), 6, "{:?}", ids(&week.orders));

    // The sparse attributes are written only when they mean something, and removed when the
    // order stops being due.
    for id in ["awaiting", "paid", "failed", "settled"] {
        let item = raw_item(&store, id).await;
        assert!(!item.contains_key(attr::DUE_BUCKET), "{id}: {item:?}");
        assert!(!item.contains_key(attr::DUE_AT), "{id}");
    }
    assert!(!raw_item(&store, "awaiting")
        .await
        .contains_key(attr::TRANSACTION_ID));
    assert!(raw_item(&store, "paid")
        .await
        .contains_key(attr::TRANSACTION_ID));

    let pending = by_id["pending"];
    let paid = pending
        .record_transaction("TX-p", TransactionStatus::Success, None, None, NOW)
        .unwrap();
    assert_eq!(paid.state, OrderState::Paid);
    store.transition(pending, &paid).await.unwrap();
    let item = raw_item(&store, "pending").await;
    assert!(!item.contains_key(attr::DUE_BUCKET) && !item.contains_key(attr::DUE_AT));
    assert!(!ids(&store.due(NOW, 100, None).await.unwrap().orders).contains(&"pending"));
}

#[tokio::test]
async fn due_pages_return_each_order_exactly_once_in_the_memory_stores_order() {
    let store = store().await;
    let memory = MemoryStore::new();
    let mut expected = Vec::new();
    // 23 due orders, several sharing a due time (ties are broken by callerReference), plus
    // orders that are not due yet or never.
    for i in 0..23 {
        let o = in_state(&format!("due-{i:02}"), OrderState::PaymentPending, |o| {
            o.updated_at = NOW - Duration::minutes(i64::from(i % 5));
        });
        expected.push(o);
    }
    for i in 0..4 {
        expected.push(in_state(&format!("later-{i}"), OrderState::Charging, |o| {
            o.lease = Some(lease("w", NOW + Duration::hours(1)));
        }));
        expected.push(in_state(&format!("never-{i}"), OrderState::Paid, |_| {}));
    }
    for o in &expected {
        store.create(o).await.unwrap();
        memory.create(o).await.unwrap();
    }

    for page_size in [1, 4, 7, 23, 24, 100] {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor = None;
        loop {
            let page = store.due(NOW, page_size, cursor).await.unwrap();
            pages += 1;
            assert!(page.orders.len() <= page_size as usize);
            assert!(
                !page.orders.is_empty(),
                "never an empty page (size {page_size})"
            );
            seen.extend(page.orders.into_iter().map(|o| o.caller_reference));
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
            assert!(pages <= 30, "runaway paging");
        }
        assert_eq!(
            pages,
            23_usize.div_ceil(page_size as usize),
            "size {page_size}"
        );
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            23,
            "each due order exactly once (size {page_size}): {seen:?}"
        );
        assert_eq!(seen.len(), 23);
        assert!(seen.iter().all(|id| id.starts_with("due-")));

        // Same orders in the same order as the in-memory fake.
        let mut from_memory = Vec::new();
        let mut cursor = None;
        loop {
            let page = memory.due(NOW, page_size, cursor).await.unwrap();
            from_memory.extend(page.orders.into_iter().map(|o| o.caller_reference));
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, from_memory, "size {page_size}");
    }

    // A page size of 0 is read as 1, as in the memory store.
    let page = store.due(NOW, 0, None).await.unwrap();
    assert_eq!(page.orders.len(), 1);
    assert!(page.next.is_some());
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

#[tokio::test]
async fn a_malformed_cursor_is_an_error() {
    let store = store().await;
    store
        .create(&in_state("d", OrderState::PaymentPending, |_| {}))
        .await
        .unwrap();
    for cursor in [
        "garbage!",
        "",
        "eyJ4IjoxfQ",                      // {"x":1}
        "bm90IGpzb24",                     // not json
        "eyJjYWxsZXJSZWZlcmVuY2UiOiJkIn0", // {"callerReference":"d"}
    ] {
        match store.due(NOW, 10, Some(cursor.to_owned())).await {
            Err(StoreError::Corrupt { reason, .. }) => {
                assert!(reason.contains("cursor"), "{reason}")
            }
            other => panic!("cursor {cursor:?}: expected an error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_table_matches_its_definition_and_creation_is_idempotent() {
    require_moto();
    let table = table_name();
    // from_env: the endpoint comes from AWS_ENDPOINT_URL_DYNAMODB alone.
    let store = DynamoOrderStore::from_env(table.clone()).await;
    assert_eq!(
        create_table(store.client(), &table).await.unwrap(),
        TableCreation::Created
    );
    assert_eq!(
        create_table(store.client(), &table).await.unwrap(),
        TableCreation::AlreadyExisted
    );
    let described = store
        .client()
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let found = TableDefinition::from_description(described.table().unwrap());
    assert!(
        found.same_keys_and_indexes(&table_definition()),
        "{found:#?}"
    );
    let names: BTreeSet<String> = found
        .global_secondary_indexes
        .iter()
        .map(|i| i.index_name.clone())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([BY_DUE.to_owned(), BY_TRANSACTION_ID.to_owned()])
    );
    assert_eq!(found.billing_mode.as_deref(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        found
            .stream_specification
            .map(|s| s.stream_view_type)
            .as_deref(),
        Some("NEW_AND_OLD_IMAGES")
    );

    // The store works on it.
    let o = order("o-env", PaymentAction::Pay);
    store.create(&o).await.unwrap();
    assert_eq!(store.get("o-env").await.unwrap(), Some(o));
}

#[tokio::test]
async fn a_missing_table_is_unavailable_not_a_panic() {
    require_moto();
    let store = DynamoOrderStore::new(client_from_env().await, table_name());
    assert!(matches!(
        store.get("x").await,
        Err(StoreError::Unavailable { .. })
    ));
    assert!(matches!(
        store.create(&order("x", PaymentAction::Pay)).await,
        Err(StoreError::Unavailable { .. })
    ));
    let err = store.due(NOW, 10, None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        err.to_string().contains("ResourceNotFoundException"),
        "{err}"
    );
}

/// The sweep moves orders out of the due set while it reads the next page: neither store may
/// skip the orders that follow (the cursor is a position, not an offset).
#[tokio::test]
async fn orders_leaving_the_due_set_between_pages_do_not_hide_others() {
    let dynamo = store().await;
    let memory = MemoryStore::new();
    let orders: Vec<Order> = (0..9)
        .map(|i| {
            in_state(&format!("due-{i}"), OrderState::PaymentPending, |o| {
                o.updated_at = NOW - Duration::minutes(10 - i64::from(i));
            })
        })
        .collect();
    for o in &orders {
        dynamo.create(o).await.unwrap();
        memory.create(o).await.unwrap();
    }
    async fn walk<S: OrderStore>(store: &S) -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store.due(NOW, 3, cursor).await.unwrap();
            for o in &page.orders {
                // Resolve it: it leaves the due set before the next page is read.
                let done = o
                    .record_transaction("TX", TransactionStatus::Success, None, None, NOW)
                    .unwrap();
                store.transition(o, &done).await.unwrap();
                seen.push(o.caller_reference.clone());
            }
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        seen
    }
    let expected: Vec<String> = (0..9).map(|i| format!("due-{i}")).collect();
    assert_eq!(walk(&memory).await, expected, "in-memory store");
    assert_eq!(walk(&dynamo).await, expected, "DynamoDB store");
}
