//! The stream handler on a scripted publisher: which records announce what, and what Lambda is
//! told to retry.

use std::sync::Mutex;

use checkout_core::adapters::dynamodb::order_to_item;
use checkout_core::domain::catalog::price_cart;
use checkout_core::domain::order::{OrderState, PaymentAction};
use checkout_core::ports::events::PublishError;
use checkout_core::testing::{mugs, settings};

use super::*;

/// Accepts the first `accept` events of each call (all when `None`) and keeps them.
struct Recorder {
    accept: Option<usize>,
    published: Mutex<Vec<OrderEvent>>,
}

impl EventPublisher for Recorder {
    async fn publish(&self, events: &[OrderEvent]) -> Result<usize, PublishError> {
        let n = self.accept.unwrap_or(events.len()).min(events.len());
        self.published
            .lock()
            .unwrap()
            .extend_from_slice(&events[..n]);
        Ok(n)
    }
}

fn order(id: &str, state: OrderState, version: u64) -> Order {
    let s = settings(PaymentAction::Pay);
    let cart = price_cart(&s.catalog, &s.pricing, &mugs(1)).unwrap();
    let mut o = Order::new(
        id.into(),
        cart,
        PaymentAction::Pay,
        checkout_core::testing::START,
    );
    o.state = state;
    o.version = version;
    o
}

fn image(order: &Order) -> serde_json::Value {
    let item: serde_dynamo::Item = order_to_item(order).unwrap().into();
    serde_json::to_value(item).unwrap()
}

/// A stream record as Lambda delivers it (NEW_AND_OLD_IMAGES).
fn record(name: &str, seq: &str, old: Option<&Order>, new: &Order) -> serde_json::Value {
    let mut change = serde_json::json!({
        "Keys": {"callerReference": {"S": new.caller_reference}},
        "NewImage": image(new),
        "SequenceNumber": seq,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES"
    });
    if let Some(old) = old {
        change["OldImage"] = image(old);
    }
    serde_json::json!({
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventID": format!("e-{seq}"),
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/x"
    })
}

fn batch(records: Vec<serde_json::Value>) -> Event {
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

fn sample() -> Event {
    let created = order("o-1", OrderState::AwaitingAuthorization, 0);
    let charging = order("o-1", OrderState::Charging, 1);
    let paid = order("o-1", OrderState::Paid, 2);
    let abandoned = order("o-2", OrderState::Abandoned, 1);
    let mut corrupt = record("MODIFY", "5", Some(&paid), &paid);
    corrupt["dynamodb"]["NewImage"]["state"] = serde_json::json!({"S": "Bogus"});
    batch(vec![
        record("INSERT", "1", None, &created),
        record("MODIFY", "2", Some(&created), &charging),
        record("MODIFY", "3", Some(&charging), &paid),
        corrupt,
        record(
            "MODIFY",
            "6",
            Some(&order("o-2", OrderState::AwaitingAuthorization, 0)),
            &abandoned,
        ),
        record("REMOVE", "7", Some(&abandoned), &abandoned),
    ])
}

#[tokio::test]
async fn each_state_change_someone_acts_on_is_announced_once_in_order() {
    let service = Service {
        publisher: Recorder {
            accept: None,
            published: Mutex::new(Vec::new()),
        },
    };
    let response = handle(&service, sample()).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let published = service.publisher.published.lock().unwrap().clone();
    let seen: Vec<(&str, &str, u64)> = published
        .iter()
        .map(|e| (e.kind.detail_type(), e.order_id.as_str(), e.version))
        .collect();
    assert_eq!(
        seen,
        [("OrderPaid", "o-1", 2), ("OrderAbandoned", "o-2", 1)]
    );
}

/// The bus took only the first event: Lambda is told to retry from the record of the second,
/// and nothing after it overtakes it.
#[tokio::test]
async fn a_partial_publish_retries_from_the_first_record_not_published() {
    let service = Service {
        publisher: Recorder {
            accept: Some(1),
            published: Mutex::new(Vec::new()),
        },
    };
    let response = handle(&service, sample()).await.unwrap();
    let retry_from: Vec<Option<String>> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(retry_from, [Some("6".to_owned())]);
}

/// `infra/events/order-stream.json`, a stream record of the sample order being paid, announces
/// exactly that.
#[tokio::test]
async fn the_sample_stream_event_announces_the_sample_order_paid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../infra/events/order-stream.json");
    let event: Event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let service = Service {
        publisher: Recorder {
            accept: None,
            published: Mutex::new(Vec::new()),
        },
    };
    let response = handle(&service, event).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let published = service.publisher.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].kind.detail_type(), "OrderPaid");
    assert_eq!(published[0].order_id, "o-5f0c2a9e8b7d4c6fa1e2d3c4b5a69788");
}
