//! `order-events`: the order table's stream in, one EventBridge event per change of an order's
//! state out (`OrderPaid`, `OrderReserved`, `OrderSettled`, `PaymentFailed`, `OrderAbandoned`,
//! `OrderExpired`, `OrderNeedsAttention`). The stream delivers each change at least once and in
//! order per order; a batch that cannot be published all at once reports the first record not
//! published, so Lambda retries from there and no order's events overtake each other.
//! Consumers deduplicate on order id + version.

use std::collections::HashMap;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use checkout_core::adapters::dynamodb::order_from_item;
use checkout_core::domain::events::{event_for_change, OrderEvent};
use checkout_core::domain::order::Order;
use checkout_core::ports::events::EventPublisher;
use checkout_core::ports::store::StoreError;
use tracing::{error, info, warn};

pub struct Service<P> {
    pub publisher: P,
}

/// Handles one batch of stream records; the response names the first record whose event was
/// not published (none when all were).
pub async fn handle<P: EventPublisher>(
    service: &Service<P>,
    event: Event,
) -> Result<DynamoDbEventResponse, lambda_runtime::Error> {
    let mut announced: Vec<(String, OrderEvent, Order)> = Vec::new();
    for record in &event.records {
        match announcement(record) {
            Ok(Some((event, order))) => {
                let position = record.change.sequence_number.clone().unwrap_or_default();
                announced.push((position, event, order));
            }
            Ok(None) => {}
            // A record that does not decode would block the shard for ever: log it and go on.
            Err(e) => error!(error = %e, event_id = %record.event_id, "stream record skipped"),
        }
    }
    let events: Vec<OrderEvent> = announced.iter().map(|(_, e, _)| e.clone()).collect();
    let published = match service.publisher.publish(&events).await {
        Ok(published) => published,
        Err(e) => {
            warn!(error = %e, "order events not published; the batch is retried");
            0
        }
    };
    info!(
        records = event.records.len(),
        events = events.len(),
        published,
        "order events"
    );
    for (_, event, order) in announced.iter().take(published) {
        checkout_core::telemetry::order_event(event, order);
    }
    let mut response = DynamoDbEventResponse::default();
    if let Some((position, _, _)) = announced.get(published) {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(position.clone());
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

/// The event a stream record announces, if any, with the order as it now stands: inserts and
/// updates only (a TTL deletion is not news).
fn announcement(record: &EventRecord) -> Result<Option<(OrderEvent, Order)>, StoreError> {
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
        return Ok(None);
    }
    let new = decode(&record.change.new_image)?;
    let old = if record.change.old_image.is_empty() {
        None
    } else {
        Some(decode(&record.change.old_image)?)
    };
    Ok(event_for_change(old.as_ref(), &new).map(|event| (event, new)))
}

/// A stream image as the order it stores (the table's own decoder).
fn decode(image: &serde_dynamo::Item) -> Result<Order, StoreError> {
    let item: HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = image.clone().into();
    order_from_item(&item)
}

#[cfg(test)]
mod tests;
