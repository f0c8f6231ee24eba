//! Notifications against the in-memory store, the fake gateway and a manual clock: what moves
//! an order, what is only acknowledged, and when FPS is asked to verify.

use std::sync::Arc;

use super::*;
use crate::domain::catalog::price_cart;
use crate::domain::order::{Lease, PaymentAction};
use crate::domain::payment::TransactionStatus;
use crate::ports::clock::ManualClock;
use crate::testing::{clock, mugs, settings, Call, CuedStore, FakeGateway};

struct World {
    store: Arc<CuedStore>,
    gateway: Arc<FakeGateway>,
    clock: ManualClock,
    notifications: Notifications<Arc<CuedStore>, Arc<FakeGateway>>,
}

const IPN_URL: &str = "https://shop.test/ipn";

fn world() -> World {
    let store = CuedStore::new();
    let gateway = FakeGateway::new();
    let clock = clock();
    let notifications = Notifications::new(
        store.clone(),
        gateway.clone(),
        Arc::new(clock.clone()),
        Url::parse(IPN_URL).expect("url"),
    );
    World {
        store,
        gateway,
        clock,
        notifications,
    }
}

impl World {
    /// An order of `action` claimed for its charge (the call's answer not yet recorded).
    async fn claimed(&self, id: &str, action: PaymentAction) -> Order {
        let s = settings(action);
        let cart = price_cart(&s.catalog, &s.pricing, &mugs(2)).expect("price");
        let now = self.clock.now();
        let order = Order::new(id.to_owned(), cart, action, now);
        self.store.put(order.clone()).await;
        let lease = Lease {
            owner: "return".into(),
            expires_at: now + time::Duration::seconds(60),
        };
        let claimed = order
            .claim_for_charge("tok", None, lease, now)
            .expect("claim");
        self.store.put(claimed.clone()).await;
        claimed
    }

    /// A notification body the fake reads as `notice`.
    fn notice(
        &self,
        id: Option<&str>,
        transaction_id: &str,
        about: NoticeSubject,
        status: TransactionStatus,
    ) -> String {
        let raw = format!(
            "ipn-{}-{transaction_id}-{about:?}-{status:?}",
            id.unwrap_or("-")
        );
        self.gateway.will_read_notice(
            &raw,
            Notice::Payment(PaymentNotice {
                order_id: id.map(str::to_owned),
                transaction_id: transaction_id.to_owned(),
                status,
                code: Some(format!("{status:?}")),
                message: None,
                about,
                signed: true,
                raw_body: raw.clone(),
            }),
        )
    }

    fn verifies(&self) -> usize {
        self.gateway
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::VerifyNotice { .. }))
            .count()
    }
}

#[tokio::test]
async fn a_notification_moves_a_charge_forward_once_and_verifies_first() {
    let w = world();
    w.claimed("o-1", PaymentAction::Pay).await;
    let pending = w.notice(
        Some("o-1"),
        "TX-1",
        NoticeSubject::Charge,
        TransactionStatus::Pending,
    );
    let success = w.notice(
        Some("o-1"),
        "TX-1",
        NoticeSubject::Charge,
        TransactionStatus::Success,
    );
    let received = w.notifications.receive(&pending).await.expect("pending");
    assert!(matches!(&received, Received::Applied(o) if o.state == OrderState::PaymentPending));
    let received = w.notifications.receive(&success).await.expect("success");
    let Received::Applied(paid) = received else {
        panic!("{received:?}")
    };
    assert_eq!(paid.state, OrderState::Paid);
    assert_eq!(paid.transaction_id.as_deref(), Some("TX-1"));
    assert_eq!(paid.lease, None);
    assert_eq!(
        w.gateway.calls()[0],
        Call::VerifyNotice {
            end_point: IPN_URL.into(),
            raw_body: pending.clone()
        }
    );
    // Duplicated and reordered: nothing changes, and FPS is not asked again.
    for body in [&success, &pending, &success] {
        let again = w.notifications.receive(body).await.expect("again");
        assert!(
            matches!(again, Received::Unchanged(_) | Received::Ignored(_)),
            "{again:?}"
        );
    }
    assert_eq!(w.store.order("o-1").await, *paid);
    assert_eq!(w.verifies(), 2);
}

#[tokio::test]
async fn a_forged_notification_changes_nothing() {
    let w = world();
    let claimed = w.claimed("o-1", PaymentAction::Pay).await;
    let body = w.notice(
        Some("o-1"),
        "TX-1",
        NoticeSubject::Charge,
        TransactionStatus::Success,
    );
    w.gateway.verify_answers(Ok(false));
    assert!(matches!(
        w.notifications.receive(&body).await,
        Err(NoticeError::Forged)
    ));
    w.gateway.verify_answers(Err(()));
    assert!(matches!(
        w.notifications.receive(&body).await,
        Err(NoticeError::GatewayUnavailable(_))
    ));
    // Without signature fields: refused without asking.
    let unsigned = "unsigned";
    w.gateway.will_read_notice(
        unsigned,
        Notice::Payment(PaymentNotice {
            order_id: Some("o-1".into()),
            transaction_id: "TX-1".into(),
            status: TransactionStatus::Success,
            code: None,
            message: None,
            about: NoticeSubject::Charge,
            signed: false,
            raw_body: unsigned.into(),
        }),
    );
    assert!(matches!(
        w.notifications.receive(unsigned).await,
        Err(NoticeError::Forged)
    ));
    assert_eq!(w.store.order("o-1").await, claimed);
    assert_eq!(w.verifies(), 2);
}

#[tokio::test]
async fn notifications_that_do_not_fit_are_acknowledged_without_asking_fps() {
    let w = world();
    w.claimed("o-1", PaymentAction::Reserve).await;
    let reserved = w.notice(
        Some("o-1"),
        "TX-1",
        NoticeSubject::Reserve,
        TransactionStatus::Reserved,
    );
    assert!(matches!(
        w.notifications.receive(&reserved).await.expect("reserved"),
        Received::Applied(_)
    ));
    for body in [
        // Not ours.
        w.notice(
            Some("o-unknown"),
            "TX-9",
            NoticeSubject::Charge,
            TransactionStatus::Success,
        ),
        // Another transaction on our order.
        w.notice(
            Some("o-1"),
            "TX-2",
            NoticeSubject::Settle,
            TransactionStatus::Success,
        ),
        // A Settle we never sent.
        w.notice(
            Some("o-1"),
            "TX-1",
            NoticeSubject::Settle,
            TransactionStatus::Success,
        ),
    ] {
        let received = w.notifications.receive(&body).await.expect("acknowledged");
        assert!(matches!(received, Received::Ignored(_)), "{received:?}");
    }
    let token = w.gateway.will_read_notice(
        "token",
        Notice::Other {
            what: "TokenCancellation".into(),
        },
    );
    assert!(matches!(
        w.notifications.receive(&token).await,
        Ok(Received::Ignored(_))
    ));
    assert_eq!(w.store.order("o-1").await.state, OrderState::Reserved);
    assert_eq!(w.verifies(), 1);
}

/// A reserve FPS cancelled (expired) ends the order, and a notification found by its
/// transaction id alone still finds the order.
#[tokio::test]
async fn a_cancelled_reserve_expires_the_order_found_by_transaction_id() {
    let w = world();
    let claimed = w.claimed("o-1", PaymentAction::Reserve).await;
    let reserved = claimed
        .record_transaction(
            "TX-1",
            TransactionStatus::Reserved,
            None,
            None,
            w.clock.now(),
        )
        .expect("reserved");
    w.store.put(reserved).await;
    let cancelled = w.notice(
        None,
        "TX-1",
        NoticeSubject::Cancellation,
        TransactionStatus::Cancelled,
    );
    let received = w
        .notifications
        .receive(&cancelled)
        .await
        .expect("cancelled");
    assert!(
        matches!(&received, Received::Applied(o) if o.state == OrderState::Expired),
        "{received:?}"
    );
}

#[test]
fn only_forward_moves_about_the_awaited_call_are_applied() {
    use NoticeSubject as N;
    use OrderState as S;
    use TransactionStatus as T;
    let s = settings(PaymentAction::Reserve);
    let cart = price_cart(&s.catalog, &s.pricing, &mugs(1)).expect("price");
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let notice = |about, status| PaymentNotice {
        order_id: Some("o-1".into()),
        transaction_id: "TX-1".into(),
        status,
        code: None,
        message: None,
        about,
        signed: true,
        raw_body: String::new(),
    };
    for (state, about, status, expected) in [
        (S::Settling, N::Reserve, T::Reserved, None),
        (S::Settling, N::Settle, T::Pending, Some(S::SettlePending)),
        (S::SettlePending, N::Settle, T::Success, Some(S::Settled)),
        (S::Settled, N::Settle, T::Pending, None),
        (S::Paid, N::Charge, T::Pending, None),
        (
            S::ReservePending,
            N::Reserve,
            T::Reserved,
            Some(S::Reserved),
        ),
        (S::ReservePending, N::Reserve, T::Pending, None),
        (S::Reserved, N::Cancellation, T::Cancelled, Some(S::Expired)),
        (
            S::PaymentPending,
            N::Cancellation,
            T::Cancelled,
            Some(S::Failed),
        ),
        (S::AwaitingAuthorization, N::Charge, T::Success, None),
        (S::DeclinedForNow, N::Charge, T::Success, None),
        (S::NeedsAttention, N::Charge, T::Success, None),
    ] {
        let mut order = Order::new("o-1".into(), cart.clone(), PaymentAction::Reserve, now);
        order.state = state;
        order.transaction_id = Some("TX-1".into());
        order.transaction_status = Some(T::Pending);
        let moved = next_state(&order, &notice(about, status), now)
            .ok()
            .flatten()
            .map(|o| o.state);
        assert_eq!(moved, expected, "{state:?} + {about:?} {status:?}");
    }
}

/// Issue 15: a refund's notifications (its own transaction, its CallerReference
/// `<order>-refund-<n>`) move the refund in flight, and only that one.
#[tokio::test]
async fn a_refunds_notifications_complete_the_refund_in_flight() {
    let w = world();
    let claimed = w.claimed("o-1", PaymentAction::Pay).await;
    let paid = claimed
        .record_transaction(
            "TX-1",
            TransactionStatus::Success,
            None,
            None,
            w.clock.now(),
        )
        .expect("paid");
    let lease = Lease {
        owner: "refund".into(),
        expires_at: w.clock.now() + time::Duration::seconds(60),
    };
    let refunding = paid
        .claim_refund("r-1", None, "damaged", "ops", lease, w.clock.now())
        .expect("refund");
    w.store.put(refunding).await;
    let other = w.notice(
        Some("o-1-refund-2"),
        "TX-R2",
        NoticeSubject::Refund,
        TransactionStatus::Success,
    );
    assert!(matches!(
        w.notifications.receive(&other).await,
        Ok(Received::Ignored(_))
    ));
    let pending = w.notice(
        Some("o-1-refund-1"),
        "TX-R1",
        NoticeSubject::Refund,
        TransactionStatus::Pending,
    );
    let success = w.notice(
        Some("o-1-refund-1"),
        "TX-R1",
        NoticeSubject::Refund,
        TransactionStatus::Success,
    );
    let received = w.notifications.receive(&pending).await.expect("pending");
    assert!(
        matches!(&received, Received::Applied(o) if o.state == OrderState::RefundPending),
        "{received:?}"
    );
    let received = w.notifications.receive(&success).await.expect("success");
    let Received::Applied(refunded) = received else {
        panic!("{received:?}")
    };
    assert_eq!(refunded.state, OrderState::Refunded);
    assert_eq!(refunded.refunds[0].transaction_id.as_deref(), Some("TX-R1"));
    assert!(matches!(
        w.notifications.receive(&success).await,
        Ok(Received::Ignored(_) | Received::Unchanged(_))
    ));
    assert_eq!(w.store.order("o-1").await, *refunded);
}
