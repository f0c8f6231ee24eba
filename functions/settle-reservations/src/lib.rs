//! `settle-reservations`: an EventBridge schedule runs the sweep within the invocation's
//! deadline; an `OrderFulfilled` event marks one order shipped; `RefundRequested` and
//! `CancelRequested` (the merchant's systems, on the same bus) refund an order or cancel its
//! reserve. It is the function that holds the FPS key pair for the back office.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use checkout_core::domain::money::Amount;
use checkout_core::domain::order::AfterSaleRefusal;
use checkout_core::domain::order::TransitionError;
use checkout_core::ports::gateway::PaymentGateway;
use checkout_core::ports::store::OrderStore;
use checkout_core::use_cases::after_sale::{AfterSale, AfterSaleError, RefundRequest};
use checkout_core::use_cases::settle::{FulfilError, Settlement, SweepSummary};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

pub struct Service<S, G> {
    pub settlement: Settlement<S, G>,
    pub after_sale: AfterSale<S, G>,
}

pub const ORDER_FULFILLED: &str = "OrderFulfilled";
pub const REFUND_REQUESTED: &str = "RefundRequested";
pub const CANCEL_REQUESTED: &str = "CancelRequested";
/// Operators only (a direct invocation by `checkout-admin`; no bus rule routes it here).
pub const STATUS_REQUESTED: &str = "StatusRequested";
/// Operators only: put an order that needs attention back in the sweep.
pub const REDRIVE_REQUESTED: &str = "RedriveRequested";

/// `detail` of `StatusRequested` and `RedriveRequested`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderNamed {
    pub caller_reference: String,
}

/// `detail` of a `RefundRequested` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefundRequested {
    pub caller_reference: String,
    /// What is left to refund when absent.
    #[serde(default)]
    pub amount: Option<Amount>,
    pub reason: String,
    #[serde(default)]
    pub requested_by: Option<String>,
    /// The requester's key: the same key never refunds twice. Default: the event's id (so a
    /// redelivered event is the same refund, but a new event is a new one).
    #[serde(default)]
    pub request_id: Option<String>,
}

/// `detail` of a `CancelRequested` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelRequested {
    pub caller_reference: String,
    pub reason: String,
    #[serde(default)]
    pub requested_by: Option<String>,
}
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// `detail` of an `OrderFulfilled` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderFulfilled {
    pub caller_reference: String,
    /// What to settle; the whole reserve when absent.
    #[serde(default)]
    pub amount: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Outcome {
    Swept(SweepSummary),
    #[serde(rename_all = "camelCase")]
    Fulfilled {
        caller_reference: String,
        state: String,
    },
    #[serde(rename_all = "camelCase")]
    Refund {
        caller_reference: String,
        state: String,
        /// The refund asked for: `Refunded`, `Pending`, `Requested` (outcome not known yet) or
        /// `Failed` (with FPS's reason in the order).
        refund_status: String,
        refunded_total: String,
    },
    #[serde(rename_all = "camelCase")]
    Cancel {
        caller_reference: String,
        state: String,
    },
    /// What FPS says of the order's transaction now.
    #[serde(rename_all = "camelCase")]
    Status {
        caller_reference: String,
        state: String,
        transaction_id: Option<String>,
        fps_status: Option<String>,
        fps_status_code: Option<String>,
        fps_status_message: Option<String>,
        /// FPS could not be asked.
        fps_error: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Redriven {
        caller_reference: String,
        state: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A malformed event will never succeed: the error says why (EventBridge does not retry
    /// asynchronous invocations that fail this way forever; see the DLQ in template.yaml).
    #[error("unsupported event: {0}")]
    BadEvent(String),
    #[error(transparent)]
    Fulfil(#[from] FulfilError),
    #[error(transparent)]
    AfterSale(#[from] AfterSaleError),
}

impl<S: OrderStore, G: PaymentGateway> Service<S, G> {
    /// `deadline` is the invocation's own (from the Lambda context).
    pub async fn handle(
        &self,
        event: EventBridgeEvent<serde_json::Value>,
        deadline: tokio::time::Instant,
    ) -> Result<Outcome, HandlerError> {
        match event.detail_type.as_str() {
            SCHEDULED_EVENT => {
                let summary = self.settlement.sweep(deadline).await;
                info!(?summary, "scheduled sweep done");
                checkout_core::telemetry::sweep(&summary);
                Ok(Outcome::Swept(summary))
            }
            ORDER_FULFILLED => {
                let detail: OrderFulfilled = serde_json::from_value(event.detail)
                    .map_err(|e| HandlerError::BadEvent(format!("OrderFulfilled detail: {e}")))?;
                let order = self
                    .settlement
                    .fulfil(&detail.caller_reference, detail.amount)
                    .await
                    .inspect_err(|e| warn!(caller_reference = %detail.caller_reference, error = %e, "fulfilment not recorded"))?;
                info!(caller_reference = %order.caller_reference, transaction_id = order.transaction_id.as_deref().unwrap_or(""), "fulfilment recorded");
                Ok(Outcome::Fulfilled {
                    caller_reference: order.caller_reference,
                    state: order.state.as_str().to_owned(),
                })
            }
            REFUND_REQUESTED => {
                let detail: RefundRequested = serde_json::from_value(event.detail)
                    .map_err(|e| HandlerError::BadEvent(format!("RefundRequested detail: {e}")))?;
                let request = RefundRequest {
                    request_id: detail.request_id.or(event.id).ok_or_else(|| {
                        HandlerError::BadEvent("RefundRequested without an id".into())
                    })?,
                    amount: detail.amount,
                    reason: detail.reason,
                    requested_by: detail.requested_by.unwrap_or_else(|| event.source.clone()),
                };
                let order = self
                    .after_sale
                    .refund(&detail.caller_reference, &request)
                    .await
                    .inspect_err(|e| warn!(caller_reference = %detail.caller_reference, error = %e, "refund not made"))?;
                let refund_status = order
                    .refund_for(&request.request_id)
                    .map(|r| r.status.as_str())
                    .unwrap_or("Failed");
                info!(caller_reference = %order.caller_reference, refund_status, "refund handled");
                Ok(Outcome::Refund {
                    caller_reference: order.caller_reference.clone(),
                    state: order.state.as_str().to_owned(),
                    refund_status: refund_status.to_owned(),
                    refunded_total: order.refunded().to_string(),
                })
            }
            CANCEL_REQUESTED => {
                let detail: CancelRequested = serde_json::from_value(event.detail)
                    .map_err(|e| HandlerError::BadEvent(format!("CancelRequested detail: {e}")))?;
                let order = self
                    .after_sale
                    .cancel(&detail.caller_reference, &detail.reason)
                    .await
                    .inspect_err(|e| warn!(caller_reference = %detail.caller_reference, error = %e, "cancel not made"))?;
                info!(caller_reference = %order.caller_reference, state = order.state.as_str(), "cancel handled");
                Ok(Outcome::Cancel {
                    caller_reference: order.caller_reference.clone(),
                    state: order.state.as_str().to_owned(),
                })
            }
            STATUS_REQUESTED => {
                let detail: OrderNamed = serde_json::from_value(event.detail)
                    .map_err(|e| HandlerError::BadEvent(format!("StatusRequested detail: {e}")))?;
                let (order, live) = self.after_sale.status(&detail.caller_reference).await?;
                let (report, fps_error) = match live {
                    Some(Ok(report)) => (Some(report), None),
                    Some(Err(e)) => (None, Some(e.to_string())),
                    None => (None, None),
                };
                Ok(Outcome::Status {
                    caller_reference: order.caller_reference,
                    state: order.state.as_str().to_owned(),
                    transaction_id: order.transaction_id,
                    fps_status: report.as_ref().map(|r| r.status.as_str().to_owned()),
                    fps_status_code: report.as_ref().and_then(|r| r.code.clone()),
                    fps_status_message: report.and_then(|r| r.message),
                    fps_error,
                })
            }
            REDRIVE_REQUESTED => {
                let detail: OrderNamed = serde_json::from_value(event.detail)
                    .map_err(|e| HandlerError::BadEvent(format!("RedriveRequested detail: {e}")))?;
                let order = self.after_sale.redrive(&detail.caller_reference).await?;
                Ok(Outcome::Redriven {
                    caller_reference: order.caller_reference,
                    state: order.state.as_str().to_owned(),
                })
            }
            other => Err(HandlerError::BadEvent(format!("detail-type {other:?}"))),
        }
    }
}

/// The Lambda deadline (epoch milliseconds) as a tokio instant.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> tokio::time::Instant {
    checkout_core::web::lambda::instant_from_epoch_ms(deadline_ms).unwrap_or_else(|| {
        // AWS always sends a future deadline; local emulators (cargo lambda watch) may not.
        // Without one the sweep would stop before starting, so give it a modest budget.
        warn!(
            deadline_ms,
            "invocation deadline is not in the future; using 30 s"
        );
        tokio::time::Instant::now() + FALLBACK_BUDGET
    })
}

/// Time given to a sweep whose invocation carries no usable deadline.
pub const FALLBACK_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::BadEvent(_) => "BadEvent",
            HandlerError::Fulfil(FulfilError::UnknownOrder(_)) => "UnknownOrder",
            // Ship once FPS confirms the reserve (EventBridge retries; then the failure queue).
            HandlerError::Fulfil(FulfilError::Invalid(TransitionError::ReserveNotConfirmed {
                ..
            })) => "ReserveNotConfirmed",
            // Do not ship against this reserve: it dies too soon (ask the buyer to pay again).
            HandlerError::Fulfil(FulfilError::Invalid(TransitionError::ReserveExpiring {
                ..
            })) => "ReserveExpiring",
            HandlerError::Fulfil(FulfilError::Invalid(_)) => "InvalidFulfilment",
            HandlerError::Fulfil(FulfilError::PartialSettlementDisabled { .. }) => {
                "PartialSettlementDisabled"
            }
            HandlerError::Fulfil(FulfilError::Store(_)) => "StoreUnavailable",
            HandlerError::AfterSale(e) => match e {
                AfterSaleError::UnknownOrder(_) => "UnknownOrder",
                AfterSaleError::Refused(AfterSaleRefusal::NothingCaptured { .. }) => {
                    "NothingCaptured"
                }
                AfterSaleError::Refused(AfterSaleRefusal::RefundInProgress { .. }) => {
                    "RefundInProgress"
                }
                AfterSaleError::Refused(AfterSaleRefusal::AboveRefundable { .. }) => {
                    "AboveRefundable"
                }
                AfterSaleError::Refused(AfterSaleRefusal::FullyRefunded { .. }) => "FullyRefunded",
                AfterSaleError::Refused(AfterSaleRefusal::NotCancellable { .. }) => {
                    "NotCancellable"
                }
                AfterSaleError::Store(_) => "StoreUnavailable",
                AfterSaleError::Transition(_) => "InvalidRequest",
                AfterSaleError::Gateway(_) => "FpsUnavailable",
            },
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use checkout_core::domain::catalog::price_cart;
    use checkout_core::domain::order::{Lease, Order, PaymentAction};
    use checkout_core::domain::payment::TransactionStatus;
    use checkout_core::testing::{clock, mugs, settings, Call, CuedStore, FakeGateway, START};
    use checkout_core::use_cases::settle::{Settlement, SweepSettings};

    type TestService = Service<Arc<CuedStore>, Arc<FakeGateway>>;

    fn service(store: &Arc<CuedStore>, gateway: &Arc<FakeGateway>) -> TestService {
        Service {
            settlement: Settlement::new(
                store.clone(),
                gateway.clone(),
                Arc::new(clock()),
                SweepSettings::default(),
            ),
            after_sale: AfterSale::new(
                store.clone(),
                gateway.clone(),
                Arc::new(clock()),
                time::Duration::seconds(60),
            ),
        }
    }

    /// A confirmed reserve for two mugs ($16.20), made at the start of the test clock.
    async fn reserved(store: &CuedStore, id: &str, state: TransactionStatus) -> Order {
        let s = settings(PaymentAction::Reserve);
        let cart = price_cart(&s.catalog, &s.pricing, &mugs(2)).expect("price");
        let lease = Lease {
            owner: "return".into(),
            expires_at: START + time::Duration::seconds(60),
        };
        let order = Order::new(id.into(), cart, PaymentAction::Reserve, START)
            .claim_for_charge("tok", None, lease, START)
            .and_then(|o| o.record_transaction(&format!("TX-{id}"), state, None, None, START))
            .expect("reserve");
        store.put(order).await;
        store.order(id).await
    }

    fn fulfilled(id: &str, amount: Option<&str>) -> EventBridgeEvent<serde_json::Value> {
        let mut detail = serde_json::json!({"callerReference": id});
        if let Some(amount) = amount {
            detail["amount"] = serde_json::json!(amount);
        }
        serde_json::from_value(serde_json::json!({
            "version": "0", "id": "e-1", "detail-type": ORDER_FULFILLED, "source": "shop.fulfilment",
            "account": "123456789012", "time": "2026-12-01T10:00:00Z", "region": "us-east-1",
            "resources": [], "detail": detail,
        }))
        .expect("event")
    }

    fn soon() -> tokio::time::Instant {
        tokio::time::Instant::now() + std::time::Duration::from_secs(10)
    }

    fn settles(gateway: &FakeGateway) -> usize {
        gateway
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Settle { .. }))
            .count()
    }

    /// Issue 12 (1): the Settle follows a valid fulfilment at once, not a schedule later.
    #[tokio::test]
    async fn a_valid_fulfilment_settles_at_once() {
        let (store, gateway) = (CuedStore::new(), FakeGateway::new());
        let service = service(&store, &gateway);
        reserved(&store, "o-1", TransactionStatus::Reserved).await;
        let outcome = service
            .handle(fulfilled("o-1", None), soon())
            .await
            .expect("handled");
        assert_eq!(
            outcome,
            Outcome::Fulfilled {
                caller_reference: "o-1".into(),
                state: "Settled".into()
            }
        );
        assert_eq!(
            gateway.calls(),
            vec![Call::Settle {
                transaction_id: "TX-o-1".into(),
                amount: None
            }]
        );
        // A repeated event changes nothing and settles nothing more.
        service
            .handle(fulfilled("o-1", None), soon())
            .await
            .expect("repeat");
        assert_eq!(settles(&gateway), 1);
    }

    /// Issue 12 (1): an unconfirmed reserve is refused with a reason to act on.
    #[tokio::test]
    async fn an_unconfirmed_reserve_is_refused_with_a_reason() {
        let (store, gateway) = (CuedStore::new(), FakeGateway::new());
        let service = service(&store, &gateway);
        reserved(&store, "o-1", TransactionStatus::Pending).await;
        let error = service
            .handle(fulfilled("o-1", None), soon())
            .await
            .expect_err("refused");
        assert_eq!(
            lambda_runtime::Diagnostic::from(error).error_type,
            "ReserveNotConfirmed"
        );
        assert_eq!(settles(&gateway), 0);
        assert_eq!(store.order("o-1").await.fulfilled_at, None);
    }

    /// Issue 12 (4): the amount is the order's total unless partial settlement is enabled;
    /// zero, too many decimals and more than the total are refused with a reason.
    #[tokio::test]
    async fn only_the_order_total_settles_unless_partial_settlement_is_enabled() {
        let (store, gateway) = (CuedStore::new(), FakeGateway::new());
        let service = service(&store, &gateway);
        let order = reserved(&store, "o-1", TransactionStatus::Reserved).await;
        for (amount, error_type) in [
            ("0.01", "PartialSettlementDisabled"),
            ("0", "BadEvent"),
            ("1.001", "BadEvent"),
            ("99.00", "InvalidFulfilment"),
        ] {
            let error = service
                .handle(fulfilled("o-1", Some(amount)), soon())
                .await
                .expect_err(amount);
            let diagnostic = lambda_runtime::Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, error_type, "{amount}");
            assert!(!diagnostic.error_message.is_empty());
        }
        assert_eq!(settles(&gateway), 0);
        assert_eq!(store.order("o-1").await, order, "refusals change nothing");
        let total = order.amount().to_fps_string();
        service
            .handle(fulfilled("o-1", Some(&total)), soon())
            .await
            .expect("the total is fine");
        assert_eq!(settles(&gateway), 1);
    }

    #[tokio::test]
    async fn deadlines_in_the_past_fall_back_to_a_budget() {
        let now = tokio::time::Instant::now();
        assert!(deadline_from_epoch_ms(1_000) >= now + FALLBACK_BUDGET);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let soon = deadline_from_epoch_ms(now_ms + 10_000);
        assert!(soon <= tokio::time::Instant::now() + std::time::Duration::from_secs(10));
        assert!(soon >= now + std::time::Duration::from_secs(9));
    }
}
