//! The sparse due index the sweep reads, and its paging.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::query::QueryInput;
use aws_sdk_dynamodb::types::AttributeValue;
use checkout_core::adapters::dynamodb::{attr, DueShards};
use checkout_core::adapters::memory::MemoryStore;
use checkout_core::domain::order::{Order, OrderState, PaymentAction};
use checkout_core::domain::payment::TransactionStatus;
use checkout_core::ports::store::{OrderStore, StoreError};
use time::Duration;

use crate::support::*;

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
/// DynamoDB promises the index's sort order by `dueAt` only: among orders due at the same
/// moment any order is right (dynalite and moto differ), so only due times are compared.
async fn due_pages_return_each_order_exactly_once_oldest_first() {
    let store = store().await;
    let memory = MemoryStore::new();
    let mut expected = Vec::new();
    // 23 due orders, several sharing a due time, plus
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

        // Oldest first across pages, ties in any order; the same orders as the in-memory fake.
        let due_at = |id: &String| {
            expected
                .iter()
                .find(|o| &o.caller_reference == id)
                .and_then(|o| o.due_at())
        };
        let times: Vec<_> = seen.iter().map(due_at).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "oldest first (size {page_size}): {seen:?}"
        );
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
        from_memory.sort();
        seen.sort();
        assert_eq!(seen, from_memory, "size {page_size}");
    }

    // A page size of 0 is read as 1, as in the memory store.
    let page = store.due(NOW, 0, None).await.unwrap();
    assert_eq!(page.orders.len(), 1);
    assert!(page.next.is_some());
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
            Err(StoreError::Corrupt { source, .. }) => {
                let reason = source.to_string();
                assert!(reason.contains("cursor"), "{reason}")
            }
            other => panic!("cursor {cursor:?}: expected an error, got {other:?}"),
        }
    }
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

/// Issue 18 (4): with the index spread over several partition-key values, a pass over the
/// pages still hands out every due order exactly once, never an empty page nor more than asked,
/// each page oldest due first; and the orders really are spread over the shards.
#[tokio::test]
async fn a_sharded_due_index_hands_out_every_due_order_exactly_once() {
    let store = store().await.with_due_shards(DueShards::new(4).expect("4"));
    let mut due = BTreeSet::new();
    for i in 0..30 {
        let id = format!("due-{i:02}");
        store
            .create(&in_state(&id, OrderState::PaymentPending, |o| {
                o.updated_at = NOW - Duration::minutes(i64::from(i % 7));
            }))
            .await
            .unwrap();
        due.insert(id);
    }
    store
        .create(&in_state("never", OrderState::Paid, |_| {}))
        .await
        .unwrap();
    let mut buckets = BTreeSet::new();
    for id in &due {
        match raw_item(&store, id).await.get(attr::DUE_BUCKET) {
            Some(AttributeValue::S(bucket)) => buckets.insert(bucket.clone()),
            other => panic!("{id}: dueBucket {other:?}"),
        };
    }
    assert_eq!(buckets.len(), 4, "spread over every shard: {buckets:?}");

    for page_size in [1, 3, 7, 30, 100] {
        let mut seen = Vec::new();
        let mut cursor = None;
        for _ in 0..=30 {
            let page = store.due(NOW, page_size, cursor).await.unwrap();
            assert!(!page.orders.is_empty(), "never an empty page ({page_size})");
            assert!(page.orders.len() <= page_size as usize, "{page_size}");
            let dues: Vec<_> = page.orders.iter().map(|o| o.due_at()).collect();
            assert!(
                dues.windows(2).all(|w| w[0] <= w[1]),
                "oldest first: {dues:?}"
            );
            seen.extend(page.orders.into_iter().map(|o| o.caller_reference));
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert!(cursor.is_none(), "runaway paging ({page_size})");
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), 30, "exactly once ({page_size}): {seen:?}");
        assert_eq!(unique, due, "{page_size}");
    }

    // The first page has each shard's oldest: the sweep's oldest-due figure is right.
    let first = store.due(NOW, 4, None).await.unwrap();
    let oldest = first.orders.iter().filter_map(Order::due_at).min();
    assert_eq!(oldest, Some(NOW - Duration::minutes(6)));

    // A cursor made for another shard count is refused, not misread.
    let one_shard = store.clone().with_due_shards(DueShards::ONE);
    let cursor = store.due(NOW, 1, None).await.unwrap().next.expect("more");
    assert!(matches!(
        one_shard.due(NOW, 1, Some(cursor)).await,
        Err(StoreError::Corrupt { .. })
    ));
}

/// Records the `Limit` of every Query the store sends.
#[derive(Debug, Clone, Default)]
struct QueryLimits(std::sync::Arc<std::sync::Mutex<Vec<i32>>>);

impl Intercept for QueryLimits {
    fn name(&self) -> &'static str {
        "QueryLimits"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(query) = context.input().downcast_ref::<QueryInput>() {
            self.0.lock().unwrap().push(query.limit().unwrap_or(-1));
        }
        Ok(())
    }
}

/// A page of the sharded index reads only each open shard's share of it (plus one, to learn
/// whether the shard has more), not a whole page from every shard: the read cost of a page
/// stays near its size however many shards there are. Shards that are done leave their share
/// to the others.
#[tokio::test]
async fn each_shard_reads_only_its_share_of_a_page() {
    let limits = QueryLimits::default();
    let shards = DueShards::new(4).expect("4");
    let store = store_with_interceptor(limits.clone())
        .await
        .with_due_shards(shards);
    // One due order per shard but one, which has many: after the first page, three shards
    // are done and the fourth gets the whole page.
    let mut per_bucket = HashMap::<String, u32>::new();
    let mut i = 0;
    while per_bucket.len() < 4 || per_bucket.values().max() < Some(&20) {
        let id = format!("due-{i:03}");
        i += 1;
        let bucket = shards.bucket_for(&id);
        let count = per_bucket.entry(bucket.clone()).or_default();
        let crowded = bucket == shards.bucket_for("due-000");
        if *count >= 1 && !crowded {
            continue;
        }
        *count += 1;
        store
            .create(&in_state(&id, OrderState::PaymentPending, |o| {
                o.updated_at = NOW - Duration::minutes(5);
            }))
            .await
            .unwrap();
    }

    // The three small shards hand out their one order each, the crowded one its share.
    let first = store.due(NOW, 8, None).await.unwrap();
    assert_eq!(first.orders.len(), 5);
    assert_eq!(
        std::mem::take(&mut *limits.0.lock().unwrap()),
        [3, 3, 3, 3],
        "each of 4 shards reads 8 / 4 + 1"
    );
    let second = store.due(NOW, 8, first.next).await.unwrap();
    assert_eq!(second.orders.len(), 8);
    assert_eq!(
        *limits.0.lock().unwrap(),
        [9],
        "the one open shard reads the whole page + 1"
    );
}
