//! The sweep's part in refunds and cancels: a refund FPS is still processing is reconciled,
//! and an after-sale claim whose holder died is re-driven without doing anything twice.

use super::*;

impl World {
    /// A paid order ($16.20) claimed now for a full refund.
    async fn refunding(&self, id: &str) -> Order {
        let paid = self
            .claimed(id, PaymentAction::Pay)
            .record_transaction(
                &format!("TX-{id}"),
                TransactionStatus::Success,
                None,
                None,
                self.now(),
            )
            .expect("paid");
        let expires = self.now() + time::Duration::seconds(60);
        let claimed = paid
            .claim_refund(
                "r-1",
                None,
                "damaged",
                "operator",
                lease("operator", expires),
                self.now(),
            )
            .expect("refund claim");
        self.stored(claimed).await
    }

    /// A reserve claimed now for its Cancel.
    async fn cancelling(&self, id: &str) -> Order {
        let expires = self.now() + time::Duration::seconds(60);
        let claimed = self
            .reserved(id)
            .claim_cancel(lease("operator", expires), self.now())
            .expect("cancel claim");
        self.stored(claimed).await
    }
}

fn refund_calls(calls: &[Call]) -> Vec<(String, String)> {
    calls
        .iter()
        .filter_map(|c| match c {
            Call::Refund {
                transaction_id,
                reference,
                ..
            } => Some((transaction_id.clone(), reference.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_pending_refund_is_reconciled_with_the_refunds_own_transaction() {
    let w = world();
    let claimed = w.refunding("o-1").await;
    let pending = claimed
        .record_refund("TX-refund", TransactionStatus::Pending, None, None, w.now())
        .expect("pending");
    w.stored(pending).await;
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Pending));
    w.sweep().await;
    assert_eq!(w.store.order("o-1").await.state, OrderState::RefundPending);

    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Success));
    w.sweep().await;
    let order = w.store.order("o-1").await;
    assert_eq!(order.state, OrderState::Refunded);
    assert_eq!(order.refundable(), rust_decimal::Decimal::ZERO);
    assert_eq!(
        w.gateway.calls(),
        [
            Call::Status("TX-refund".into()),
            Call::Status("TX-refund".into())
        ]
    );
}

/// The operator's refund request died mid-call: once its lease runs out the sweep sends the
/// same refund again, with the same CallerReference, so FPS answers with the refund it made.
#[tokio::test]
async fn an_abandoned_refund_claim_is_redriven_with_the_same_reference() {
    let w = world();
    let claimed = w.refunding("o-1").await;
    let reference = claimed
        .current_refund()
        .expect("in flight")
        .caller_reference("o-1");
    let summary = w.sweep().await;
    assert_eq!(summary.examined, 0, "not due while its lease holds");
    w.clock.advance(time::Duration::seconds(61));
    w.sweep().await;
    let order = w.store.order("o-1").await;
    assert_eq!(order.state, OrderState::Refunded, "{order:?}");
    assert_eq!(
        refund_calls(&w.gateway.calls()),
        [("TX-o-1".to_owned(), reference)]
    );
}

/// A Cancel has no CallerReference: after its holder died, the sweep looks at the reserve
/// first. Still reserved: the Cancel never arrived, and is sent. Already cancelled: recorded,
/// and no second Cancel.
#[tokio::test]
async fn an_abandoned_cancel_claim_looks_at_the_reserve_before_cancelling_again() {
    for (reserve_now, cancels) in [
        (TransactionStatus::Reserved, 1),
        (TransactionStatus::Cancelled, 0),
    ] {
        let w = world();
        w.cancelling("o-1").await;
        w.clock.advance(time::Duration::seconds(61));
        w.gateway.status_answers(Answer::Accept(reserve_now));
        w.sweep().await;
        let order = w.store.order("o-1").await;
        assert_eq!(order.state, OrderState::Cancelled, "{reserve_now:?}");
        let calls = w.gateway.calls();
        assert_eq!(calls.first(), Some(&Call::Status("TX-o-1".into())));
        let sent = calls
            .iter()
            .filter(|c| matches!(c, Call::Cancel(_)))
            .count();
        assert_eq!(sent, cancels, "{reserve_now:?}: {calls:?}");
    }
}
