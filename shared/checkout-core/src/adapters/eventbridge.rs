//! Order events on an EventBridge bus: `PutEvents`, ten entries a call (the API's limit), the
//! order's changes in order. A refused entry stops the batch there, so the caller can retry
//! from it and later changes of the same order never overtake it.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use crate::domain::events::OrderEvent;
use crate::ports::events::{EventPublisher, PublishError};

/// PutEvents takes at most this many entries.
const MAX_ENTRIES: usize = 10;

#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
    source: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            source: source.into(),
        }
    }

    /// The publisher with a client from the standard configuration
    /// (`AWS_ENDPOINT_URL_EVENTBRIDGE` locally).
    pub async fn from_env(bus: impl Into<String>, source: impl Into<String>) -> Self {
        let config =
            crate::adapters::aws::sdk_config(crate::adapters::dynamodb::default_timeouts()).await;
        Self::new(Client::new(&config), bus, source)
    }

    fn entry(&self, event: &OrderEvent) -> Result<PutEventsRequestEntry, PublishError> {
        let detail = serde_json::to_string(event).map_err(|e| PublishError(Box::new(e)))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(event.kind.detail_type())
            .detail(detail)
            .resources(format!("order/{}", event.order_id))
            .build())
    }
}

impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[OrderEvent]) -> Result<usize, PublishError> {
        let mut accepted = 0;
        for chunk in events.chunks(MAX_ENTRIES) {
            let entries = chunk
                .iter()
                .map(|e| self.entry(e))
                .collect::<Result<Vec<_>, _>>()?;
            let output = match self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(output) => output,
                Err(e) if accepted == 0 => return Err(PublishError(Box::new(e))),
                Err(_) => return Ok(accepted),
            };
            let refused = output
                .entries()
                .iter()
                .position(|entry| entry.error_code().is_some());
            match refused {
                Some(index) => return Ok(accepted + index),
                None => accepted += chunk.len(),
            }
        }
        Ok(accepted)
    }
}
