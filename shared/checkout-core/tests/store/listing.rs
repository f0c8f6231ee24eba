//! The operator's listing: a Scan filtered by state and by last change, newest first, cut at a
//! limit (issue 15's console reads it; it is never on a program's hot path).

use checkout_core::domain::order::OrderState;
use checkout_core::ports::store::OrderStore;
use time::Duration;

use crate::support::*;

#[tokio::test]
async fn list_filters_by_state_and_last_change_newest_first() {
    let store = store().await;
    let changed = |id: &str, state: OrderState, hours_ago: i64| {
        in_state(id, state, |o| {
            o.updated_at = NOW - Duration::hours(hours_ago)
        })
    };
    for o in [
        changed("paid-old", OrderState::Paid, 30),
        changed("paid-new", OrderState::Paid, 1),
        changed("paid-mid", OrderState::Paid, 5),
        changed("failed-new", OrderState::Failed, 2),
    ] {
        store.create(&o).await.unwrap();
    }

    let all = store.list(None, None, 100).await.unwrap();
    assert_eq!(
        ids(&all),
        ["paid-new", "failed-new", "paid-mid", "paid-old"]
    );

    let paid = store.list(Some(OrderState::Paid), None, 100).await.unwrap();
    assert_eq!(ids(&paid), ["paid-new", "paid-mid", "paid-old"]);

    let since = NOW - Duration::hours(5);
    let recent = store.list(None, Some(since), 100).await.unwrap();
    assert_eq!(
        ids(&recent),
        ["paid-new", "failed-new", "paid-mid"],
        "since is inclusive"
    );

    let both = store
        .list(Some(OrderState::Paid), Some(since), 100)
        .await
        .unwrap();
    assert_eq!(ids(&both), ["paid-new", "paid-mid"]);

    let newest_two = store.list(None, None, 2).await.unwrap();
    assert_eq!(ids(&newest_two), ["paid-new", "failed-new"]);

    let none = store
        .list(Some(OrderState::Refunded), None, 100)
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}
