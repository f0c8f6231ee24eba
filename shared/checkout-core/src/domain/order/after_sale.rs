//! After the sale: refunds of captured money, and cancelling (voiding) a reserve not yet
//! settled. Each is a claim (a conditional write, with a lease) before the FPS call, exactly
//! like a charge, so a repeated or concurrent request never reaches FPS twice.

use rust_decimal::Decimal;
use time::OffsetDateTime;

use super::{Lease, Order, OrderState, PaymentAction, TransitionError};
use crate::domain::money::Amount;
use crate::domain::payment::TransactionStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// Claimed: the Refund is (or may be) in flight.
    Requested,
    /// FPS accepted it and is processing it.
    Pending,
    /// The money went back.
    Refunded,
    /// FPS refused it or it failed: nothing went back.
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "Requested",
            Self::Pending => "Pending",
            Self::Refunded => "Refunded",
            Self::Failed => "Failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Requested, Self::Pending, Self::Refunded, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One refund of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// 1 for the order's first refund, 2 for the next…: its CallerReference at FPS is derived
    /// from it, so a resend is the same refund.
    pub seq: u32,
    /// The requester's key for this refund: a repeated request with it is the same refund.
    pub request_id: String,
    pub amount: Amount,
    pub reason: String,
    pub requested_by: String,
    pub requested_at: OffsetDateTime,
    pub transaction_id: Option<String>,
    pub status: RefundStatus,
    pub status_code: Option<String>,
    pub status_message: Option<String>,
}

impl Refund {
    /// FPS's CallerReference for this refund: `<order id>-refund-<seq>` (≤ 128 characters).
    pub fn caller_reference(&self, order_id: &str) -> String {
        format!("{order_id}-refund-{}", self.seq)
    }

    /// The order a refund's CallerReference belongs to.
    pub fn order_id_of(caller_reference: &str) -> Option<&str> {
        let (order, seq) = caller_reference.rsplit_once("-refund-")?;
        seq.parse::<u32>().ok().map(|_| order)
    }
}

/// Why a refund or a cancel is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AfterSaleRefusal {
    #[error("order {order_id} is {state:?}: nothing was captured to refund")]
    NothingCaptured { order_id: String, state: OrderState },
    #[error("order {order_id}: a refund is in progress; ask again once it has completed")]
    RefundInProgress { order_id: String },
    #[error("order {order_id}: refunding {requested} is more than the {left} left to refund")]
    AboveRefundable {
        order_id: String,
        requested: Amount,
        left: Decimal,
    },
    #[error("order {order_id}: everything captured was refunded already")]
    FullyRefunded { order_id: String },
    #[error("order {order_id} is {state:?}: only a reserve not yet settled can be cancelled")]
    NotCancellable { order_id: String, state: OrderState },
}

impl Order {
    /// What FPS captured for this order: the Pay, or the Settle of the reserve.
    pub fn captured(&self) -> Option<Amount> {
        use OrderState as S;
        let captured = match self.action {
            PaymentAction::Pay => matches!(
                self.state,
                S::Paid | S::Refunding | S::RefundPending | S::Refunded
            ),
            PaymentAction::Reserve => matches!(
                self.state,
                S::Settled | S::Refunding | S::RefundPending | S::Refunded
            ),
        };
        captured.then(|| self.settle_amount.unwrap_or(self.amount()))
    }

    /// Refunded or on its way back (every refund but the failed ones).
    pub fn refunded(&self) -> Decimal {
        self.refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount.value())
            .sum()
    }

    /// What a refund may still return.
    pub fn refundable(&self) -> Decimal {
        self.captured()
            .map(|c| (c.value() - self.refunded()).max(Decimal::ZERO))
            .unwrap_or(Decimal::ZERO)
    }

    /// The refund asked for with `request_id`, if any.
    pub fn refund_for(&self, request_id: &str) -> Option<&Refund> {
        self.refunds.iter().find(|r| r.request_id == request_id)
    }

    /// Claims the order for a new refund of `amount` (what is left when `None`).
    #[allow(clippy::too_many_arguments)]
    pub fn claim_refund(
        &self,
        request_id: &str,
        amount: Option<Amount>,
        reason: &str,
        requested_by: &str,
        lease: Lease,
        now: OffsetDateTime,
    ) -> Result<Self, AfterSaleRefusal> {
        let order_id = self.caller_reference.clone();
        match self.state {
            OrderState::Paid | OrderState::Settled => {}
            OrderState::Refunding | OrderState::RefundPending => {
                return Err(AfterSaleRefusal::RefundInProgress { order_id })
            }
            OrderState::Refunded => return Err(AfterSaleRefusal::FullyRefunded { order_id }),
            state => return Err(AfterSaleRefusal::NothingCaptured { order_id, state }),
        }
        let left = self.refundable();
        if left <= Decimal::ZERO {
            return Err(AfterSaleRefusal::FullyRefunded { order_id });
        }
        let amount = match amount {
            Some(a) if a.value() > left => {
                return Err(AfterSaleRefusal::AboveRefundable {
                    order_id,
                    requested: a,
                    left,
                })
            }
            Some(a) => a,
            None => Amount::new(left).map_err(|_| AfterSaleRefusal::FullyRefunded {
                order_id: order_id.clone(),
            })?,
        };
        let mut next = self.next(now);
        next.refunds.push(Refund {
            seq: u32::try_from(self.refunds.len() + 1).unwrap_or(u32::MAX),
            request_id: request_id.to_owned(),
            amount,
            reason: reason.to_owned(),
            requested_by: requested_by.to_owned(),
            requested_at: now,
            transaction_id: None,
            status: RefundStatus::Requested,
            status_code: None,
            status_message: None,
        });
        next.state = OrderState::Refunding;
        next.lease = Some(lease);
        Ok(next)
    }

    /// The refund in flight (the newest), while the order is refunding.
    pub fn current_refund(&self) -> Option<&Refund> {
        matches!(
            self.state,
            OrderState::Refunding | OrderState::RefundPending
        )
        .then(|| self.refunds.last())
        .flatten()
    }

    /// What FPS said about the refund in flight.
    pub fn record_refund(
        &self,
        transaction_id: &str,
        status: TransactionStatus,
        code: Option<String>,
        message: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.current_refund().is_none() {
            return Err(self.illegal("record a refund"));
        }
        let mut next = self.next(now);
        next.lease = None;
        let refund_status = match status {
            TransactionStatus::Pending => RefundStatus::Pending,
            TransactionStatus::Success => RefundStatus::Refunded,
            TransactionStatus::Failure | TransactionStatus::Cancelled => RefundStatus::Failed,
            // Not an answer a refund gets: keep waiting for one.
            TransactionStatus::Reserved => return Err(self.illegal("record a refund as Reserved")),
        };
        if let Some(refund) = next.refunds.last_mut() {
            refund.transaction_id = Some(transaction_id.to_owned());
            refund.status = refund_status;
            refund.status_code = code;
            refund.status_message = message;
        }
        next.state = match refund_status {
            RefundStatus::Pending | RefundStatus::Requested => OrderState::RefundPending,
            _ => next.after_refund(),
        };
        Ok(next)
    }

    /// FPS refused the refund in flight: nothing went back.
    pub fn refund_refused(
        &self,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.state != OrderState::Refunding {
            return Err(self.illegal("refuse a refund"));
        }
        let mut next = self.next(now);
        next.lease = None;
        if let Some(refund) = next.refunds.last_mut() {
            refund.status = RefundStatus::Failed;
            refund.status_code = Some(code.to_owned());
            refund.status_message = Some(message.to_owned());
        }
        next.state = next.after_refund();
        Ok(next)
    }

    /// Where an order stands once no refund is in flight.
    fn after_refund(&self) -> OrderState {
        if self.refundable() <= Decimal::ZERO {
            OrderState::Refunded
        } else {
            match self.action {
                PaymentAction::Pay => OrderState::Paid,
                PaymentAction::Reserve => OrderState::Settled,
            }
        }
    }

    /// Claims a reserve not yet settled for its Cancel (void).
    pub fn claim_cancel(
        &self,
        lease: Lease,
        now: OffsetDateTime,
    ) -> Result<Self, AfterSaleRefusal> {
        if self.state != OrderState::Reserved {
            return Err(AfterSaleRefusal::NotCancellable {
                order_id: self.caller_reference.clone(),
                state: self.state,
            });
        }
        let mut next = self.next(now);
        next.state = OrderState::Cancelling;
        next.lease = Some(lease);
        next.retry_at = None;
        Ok(next)
    }

    /// What FPS said about the reserve being cancelled: `Cancelled` ends the order; still
    /// `Reserved` means the Cancel never arrived (back to Reserved).
    pub fn record_cancel(
        &self,
        status: TransactionStatus,
        code: Option<String>,
        message: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.state != OrderState::Cancelling {
            return Err(self.illegal("record a cancel"));
        }
        let mut next = self.next(now);
        next.lease = None;
        next.state = match status {
            TransactionStatus::Cancelled => OrderState::Cancelled,
            TransactionStatus::Reserved => OrderState::Reserved,
            // Settled meanwhile, or failed: what FPS says stands, as the sweep would read it.
            TransactionStatus::Success => OrderState::Settled,
            TransactionStatus::Pending => OrderState::SettlePending,
            TransactionStatus::Failure => OrderState::Failed,
        };
        next.transaction_status = Some(status);
        next.status_code = code;
        next.status_message = message;
        Ok(next)
    }

    /// FPS refused the Cancel: the reserve stands.
    pub fn cancel_refused(
        &self,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.state != OrderState::Cancelling {
            return Err(self.illegal("refuse a cancel"));
        }
        let mut next = self.next(now);
        next.lease = None;
        next.state = OrderState::Reserved;
        next.status_code = Some(code.to_owned());
        next.status_message = Some(message.to_owned());
        Ok(next)
    }
}

impl Order {
    /// An operator puts an order that needs attention back in the sweep's hands, from what FPS
    /// says of its transaction now (`report`: `None` when it has none). Without a transaction
    /// the charge is re-driven under the same CallerReference (FPS answers a repeat with the
    /// charge it made, if it made one); the retry count starts again.
    pub fn redrive(
        &self,
        report: Option<TransactionStatus>,
        lease_expired_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        use OrderState as S;
        use TransactionStatus as T;
        if self.state != S::NeedsAttention {
            return Err(self.illegal("redrive (only an order that needs attention)"));
        }
        let mut next = self.next(now);
        next.attempts = 0;
        next.retry_at = None;
        next.lease = None;
        next.state = match (self.action, report) {
            (PaymentAction::Pay, None) => S::Charging,
            (PaymentAction::Reserve, None) => S::Reserving,
            (PaymentAction::Pay, Some(T::Success)) => S::Paid,
            (PaymentAction::Pay, Some(T::Pending)) => S::PaymentPending,
            (PaymentAction::Pay, Some(_)) => S::Failed,
            (PaymentAction::Reserve, Some(T::Reserved)) => S::Reserved,
            (PaymentAction::Reserve, Some(T::Success)) => S::Settled,
            (PaymentAction::Reserve, Some(T::Pending)) if self.fulfilled_at.is_some() => {
                S::SettlePending
            }
            (PaymentAction::Reserve, Some(T::Pending)) => S::ReservePending,
            (PaymentAction::Reserve, Some(T::Cancelled)) => S::Expired,
            (PaymentAction::Reserve, Some(T::Failure)) => S::Failed,
        };
        if next.state.is_claimed() {
            // An expired claim: the sweep takes it over at once.
            next.lease = Some(Lease {
                owner: "redrive".into(),
                expires_at: lease_expired_at,
            });
        }
        if let Some(status) = report {
            next.transaction_status = Some(status);
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::testing::{mugs, settings};

    const NOW: OffsetDateTime = time::macros::datetime!(2026-12-01 10:00 UTC);

    fn lease() -> Lease {
        Lease {
            owner: "t".into(),
            expires_at: NOW + time::Duration::minutes(1),
        }
    }

    fn order(action: PaymentAction, state: OrderState) -> Order {
        let s = settings(action);
        let cart = crate::domain::catalog::price_cart(&s.catalog, &s.pricing, &mugs(2)).unwrap();
        let mut o = Order::new("o-1".into(), cart, action, NOW);
        o.state = state;
        o.transaction_id = Some("TX-1".into());
        o
    }

    fn amount(v: Decimal) -> Amount {
        Amount::new(v).unwrap()
    }

    fn refund(o: &Order, id: &str, a: Option<Decimal>) -> Result<Order, AfterSaleRefusal> {
        o.claim_refund(id, a.map(amount), "damaged", "ops@shop", lease(), NOW)
    }

    fn succeed(o: &Order) -> Order {
        o.record_refund("TX-R", TransactionStatus::Success, None, None, NOW)
            .unwrap()
    }

    /// $16.20 paid: two partial refunds, then one above what is left is refused, then the rest
    /// empties it.
    #[test]
    fn partial_refunds_up_to_what_was_captured() {
        let paid = order(PaymentAction::Pay, OrderState::Paid);
        let first = refund(&paid, "a", Some(dec!(5.00))).unwrap();
        assert_eq!(first.state, OrderState::Refunding);
        assert_eq!(first.refunds[0].caller_reference("o-1"), "o-1-refund-1");
        assert!(matches!(
            refund(&first, "b", Some(dec!(1.00))),
            Err(AfterSaleRefusal::RefundInProgress { .. })
        ));
        let first = succeed(&first);
        assert_eq!(first.state, OrderState::Paid);
        let second = succeed(&refund(&first, "b", Some(dec!(10.00))).unwrap());
        assert_eq!(second.refundable(), dec!(1.20));
        assert_eq!(second.refunds[1].caller_reference("o-1"), "o-1-refund-2");
        assert!(matches!(
            refund(&second, "c", Some(dec!(1.21))),
            Err(AfterSaleRefusal::AboveRefundable { left, .. }) if left == dec!(1.20)
        ));
        let rest = succeed(&refund(&second, "c", None).unwrap());
        assert_eq!(rest.state, OrderState::Refunded);
        assert_eq!(rest.refunds[2].amount.value(), dec!(1.20));
        assert_eq!(rest.refunded(), dec!(16.20));
        assert!(matches!(
            refund(&rest, "d", None),
            Err(AfterSaleRefusal::FullyRefunded { .. })
        ));
    }

    #[test]
    fn a_refused_or_failed_refund_gives_its_amount_back_to_the_refundable() {
        let paid = order(PaymentAction::Pay, OrderState::Paid);
        let refused = refund(&paid, "a", None)
            .unwrap()
            .refund_refused("TransactionDenied", "no", NOW)
            .unwrap();
        assert_eq!(refused.state, OrderState::Paid);
        assert_eq!(refused.refunds[0].status, RefundStatus::Failed);
        assert_eq!(refused.refundable(), dec!(16.20));
        let pending = refund(&refused, "b", None)
            .unwrap()
            .record_refund("TX-R", TransactionStatus::Pending, None, None, NOW)
            .unwrap();
        assert_eq!(pending.state, OrderState::RefundPending);
        let failed = pending
            .record_refund("TX-R", TransactionStatus::Failure, None, None, NOW)
            .unwrap();
        assert_eq!(failed.state, OrderState::Paid);
        assert_eq!(failed.refundable(), dec!(16.20));
    }

    #[test]
    fn only_captured_money_is_refunded() {
        for state in [
            OrderState::AwaitingAuthorization,
            OrderState::Charging,
            OrderState::PaymentPending,
            OrderState::Failed,
            OrderState::Reserved,
            OrderState::Cancelled,
        ] {
            let action = if state == OrderState::Reserved || state == OrderState::Cancelled {
                PaymentAction::Reserve
            } else {
                PaymentAction::Pay
            };
            assert!(
                matches!(
                    refund(&order(action, state), "a", None),
                    Err(AfterSaleRefusal::NothingCaptured { .. })
                ),
                "{state:?}"
            );
        }
        // A settled reserve refunds what was settled.
        let mut settled = order(PaymentAction::Reserve, OrderState::Settled);
        settled.settle_amount = Some(amount(dec!(10.00)));
        assert_eq!(settled.refundable(), dec!(10.00));
        assert!(refund(&settled, "a", Some(dec!(10.00))).is_ok());
    }

    #[test]
    fn a_reserve_not_yet_settled_can_be_cancelled_once() {
        let reserved = order(PaymentAction::Reserve, OrderState::Reserved);
        let cancelling = reserved.claim_cancel(lease(), NOW).unwrap();
        assert_eq!(cancelling.state, OrderState::Cancelling);
        let cancelled = cancelling
            .record_cancel(TransactionStatus::Cancelled, None, None, NOW)
            .unwrap();
        assert_eq!(cancelled.state, OrderState::Cancelled);
        assert!(cancelled.claim_cancel(lease(), NOW).is_err());
        assert!(cancelled.fulfil(None, time::Duration::ZERO, NOW).is_err());
        let refused = cancelling
            .cancel_refused("InvalidTransactionState", "no", NOW)
            .unwrap();
        assert_eq!(refused.state, OrderState::Reserved);
        for state in [
            OrderState::Settled,
            OrderState::Settling,
            OrderState::ReservePending,
        ] {
            assert!(matches!(
                order(PaymentAction::Reserve, state).claim_cancel(lease(), NOW),
                Err(AfterSaleRefusal::NotCancellable { .. })
            ));
        }
    }

    #[test]
    fn a_redriven_order_goes_where_fps_says_or_back_to_its_claim() {
        let mut stuck = order(PaymentAction::Reserve, OrderState::NeedsAttention);
        stuck.attempts = 8;
        let t = TransactionStatus::Reserved;
        let back = stuck.redrive(Some(t), NOW, NOW).unwrap();
        assert_eq!((back.state, back.attempts), (OrderState::Reserved, 0));
        let reserving = stuck
            .redrive(Some(TransactionStatus::Pending), NOW, NOW)
            .unwrap();
        assert_eq!(
            reserving.state,
            OrderState::ReservePending,
            "not fulfilled: what is pending is the reserve, not a settle"
        );
        stuck.fulfilled_at = Some(NOW);
        let pending = stuck
            .redrive(Some(TransactionStatus::Pending), NOW, NOW)
            .unwrap();
        assert_eq!(pending.state, OrderState::SettlePending);
        let mut unknown = order(PaymentAction::Pay, OrderState::NeedsAttention);
        unknown.transaction_id = None;
        let claim = unknown.redrive(None, NOW, NOW).unwrap();
        assert_eq!(claim.state, OrderState::Charging);
        assert!(!claim.lease_is_live(NOW), "the sweep takes it over at once");
        assert!(order(PaymentAction::Pay, OrderState::Paid)
            .redrive(None, NOW, NOW)
            .is_err());
    }

    #[test]
    fn a_refunds_caller_reference_names_its_order() {
        assert_eq!(Refund::order_id_of("o-abc-refund-3"), Some("o-abc"));
        assert_eq!(Refund::order_id_of("o-abc"), None);
        assert_eq!(Refund::order_id_of("o-abc-refund-x"), None);
    }
}
