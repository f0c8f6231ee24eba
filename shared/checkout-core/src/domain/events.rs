//! What the shop tells the rest of the business: one event per change of an order's state that
//! someone downstream acts on (the seed's last step — fulfil the order — subscribes to
//! `OrderPaid` and `OrderReserved`). Consumers deduplicate on order id + version: the table's
//! stream delivers each change at least once.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::domain::money::CURRENCY_CODE;
use crate::domain::order::{Order, OrderState, RefundStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEventKind {
    /// Money moved: ship the order.
    OrderPaid,
    /// The card is authorised: ship, then send `OrderFulfilled` to settle.
    OrderReserved,
    /// The reserve was captured.
    OrderSettled,
    /// Nothing was charged (Pay/Reserve refused, or the authorisation failed), or a Settle
    /// failed (`state` says which).
    PaymentFailed,
    /// The buyer left, or never authorised.
    OrderAbandoned,
    /// The reserve lapsed unsettled: do not ship against it.
    OrderExpired,
    /// Retries ran out with the outcome open: a person takes it from here.
    OrderNeedsAttention,
    /// A refund went back to the buyer (`refundedTotal` says how much in all).
    OrderRefunded,
    /// The reserve was cancelled before it was settled: do not ship.
    OrderCancelled,
}

impl OrderEventKind {
    /// The EventBridge `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::OrderPaid => "OrderPaid",
            Self::OrderReserved => "OrderReserved",
            Self::OrderSettled => "OrderSettled",
            Self::PaymentFailed => "PaymentFailed",
            Self::OrderAbandoned => "OrderAbandoned",
            Self::OrderExpired => "OrderExpired",
            Self::OrderNeedsAttention => "OrderNeedsAttention",
            Self::OrderRefunded => "OrderRefunded",
            Self::OrderCancelled => "OrderCancelled",
        }
    }
}

/// An event's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEvent {
    #[serde(skip)]
    pub kind: OrderEventKind,
    pub order_id: String,
    pub state: &'static str,
    pub action: &'static str,
    /// The order's total, as FPS was asked for it (`25.50`).
    pub amount: String,
    pub currency: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// With the order id, what a consumer deduplicates on.
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    /// Refunded so far (present once anything was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_total: Option<String>,
    pub occurred_at: String,
}

/// The event a change from `old` (absent for a new order) to `new` announces, if any. Only the
/// first arrival counts: a reserve that goes back to `Reserved` after a Settle refused for now
/// is not reserved again (a fulfilment would ship twice).
pub fn event_for_change(old: Option<&Order>, new: &Order) -> Option<OrderEvent> {
    use OrderEventKind as K;
    use OrderState as S;
    let from = old.map(|o| o.state);
    if from == Some(new.state) {
        return None;
    }
    let refunded_now = matches!(from, Some(S::Refunding | S::RefundPending))
        && new.refunds.last().map(|r| r.status) == Some(RefundStatus::Refunded);
    let kind = match (from, new.state) {
        _ if refunded_now => K::OrderRefunded,
        (Some(S::Cancelling), S::Cancelled) => K::OrderCancelled,
        (Some(S::Charging | S::PaymentPending), S::Paid) => K::OrderPaid,
        (Some(S::Reserving | S::ReservePending), S::Reserved) => K::OrderReserved,
        (_, S::Settled) => K::OrderSettled,
        (_, S::Failed | S::SettleFailed) => K::PaymentFailed,
        (_, S::Abandoned) => K::OrderAbandoned,
        (_, S::Expired) => K::OrderExpired,
        (_, S::NeedsAttention) => K::OrderNeedsAttention,
        _ => return None,
    };
    Some(OrderEvent {
        kind,
        order_id: new.caller_reference.clone(),
        state: new.state.as_str(),
        action: new.action.as_str(),
        amount: new.amount().to_fps_string(),
        currency: CURRENCY_CODE,
        transaction_id: new.transaction_id.clone(),
        version: new.version,
        status_code: new.status_code.clone(),
        refunded_total: (!new.refunds.is_empty()).then(|| new.refunded().to_string()),
        occurred_at: new.updated_at.format(&Rfc3339).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::PaymentAction;
    use crate::testing::{mugs, settings};

    fn order(state: OrderState) -> Order {
        let s = settings(PaymentAction::Reserve);
        let cart = crate::domain::catalog::price_cart(&s.catalog, &s.pricing, &mugs(2)).unwrap();
        let mut o = Order::new(
            "o-1".into(),
            cart,
            PaymentAction::Reserve,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        o.state = state;
        o.version = 7;
        o.transaction_id = Some("TX-1".into());
        o
    }

    #[test]
    fn one_event_per_change_that_someone_acts_on() {
        use OrderEventKind as K;
        use OrderState as S;
        for (from, to, expected) in [
            (None, S::AwaitingAuthorization, None),
            (Some(S::Charging), S::Paid, Some(K::OrderPaid)),
            (Some(S::PaymentPending), S::Paid, Some(K::OrderPaid)),
            (Some(S::Reserving), S::Reserved, Some(K::OrderReserved)),
            (Some(S::ReservePending), S::Reserved, Some(K::OrderReserved)),
            // Back to Reserved after a Settle refused for now: not a new reservation.
            (Some(S::Settling), S::Reserved, None),
            (Some(S::SettlePending), S::Settled, Some(K::OrderSettled)),
            (Some(S::Charging), S::Failed, Some(K::PaymentFailed)),
            (Some(S::Settling), S::SettleFailed, Some(K::PaymentFailed)),
            (
                Some(S::AwaitingAuthorization),
                S::Abandoned,
                Some(K::OrderAbandoned),
            ),
            (Some(S::Reserved), S::Expired, Some(K::OrderExpired)),
            (
                Some(S::Settling),
                S::NeedsAttention,
                Some(K::OrderNeedsAttention),
            ),
            (Some(S::Charging), S::PaymentPending, None),
            (Some(S::Charging), S::DeclinedForNow, None),
            (Some(S::Paid), S::Paid, None),
        ] {
            let old = from.map(order);
            let event = event_for_change(old.as_ref(), &order(to));
            assert_eq!(event.map(|e| e.kind), expected, "{from:?} → {to:?}");
        }
    }

    #[test]
    fn the_detail_names_the_order_its_money_and_its_version() {
        let event = event_for_change(
            Some(&order(OrderState::Reserving)),
            &order(OrderState::Reserved),
        )
        .unwrap();
        let detail = serde_json::to_value(&event).unwrap();
        assert_eq!(
            detail,
            serde_json::json!({
                "orderId": "o-1",
                "state": "Reserved",
                "action": "Reserve",
                "amount": "16.20",
                "currency": "USD",
                "transactionId": "TX-1",
                "version": 7,
                "occurredAt": "1970-01-01T00:00:00Z"
            })
        );
        assert_eq!(event.kind.detail_type(), "OrderReserved");
    }
}
