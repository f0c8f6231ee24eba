//! Refunds and cancels against the in-memory store, the fake gateway and a manual clock.

use std::sync::Arc;

use rust_decimal_macros::dec;

use super::*;
use crate::domain::catalog::price_cart;
use crate::domain::order::{PaymentAction, RefundStatus};
use crate::testing::{clock, mugs, settings, Answer, Call, CuedStore, FakeGateway};

struct World {
    store: Arc<CuedStore>,
    gateway: Arc<FakeGateway>,
    after_sale: AfterSale<Arc<CuedStore>, Arc<FakeGateway>>,
}

fn world() -> World {
    let store = CuedStore::new();
    let gateway = FakeGateway::new();
    let after_sale = AfterSale::new(
        store.clone(),
        gateway.clone(),
        Arc::new(clock()),
        time::Duration::seconds(60),
    );
    World {
        store,
        gateway,
        after_sale,
    }
}

/// A stored order for two mugs ($16.20) standing in `state` with transaction TX-1.
async fn stored(w: &World, action: PaymentAction, state: OrderState) {
    let s = settings(action);
    let cart = price_cart(&s.catalog, &s.pricing, &mugs(2)).expect("price");
    let mut order = Order::new("o-1".into(), cart, action, crate::testing::START);
    order.state = state;
    order.transaction_id = Some("TX-1".into());
    w.store.put(order).await;
}

fn request(id: &str, amount: Option<&str>) -> RefundRequest {
    RefundRequest {
        request_id: id.into(),
        amount: amount.map(|a| Amount::parse(a).expect("amount")),
        reason: "damaged".into(),
        requested_by: "ops@shop".into(),
    }
}

fn refunds(gateway: &FakeGateway) -> Vec<(String, String)> {
    gateway
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Refund {
                reference, amount, ..
            } => Some((reference, amount.to_string())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_refund_is_sent_once_per_request_with_its_own_reference() {
    let w = world();
    stored(&w, PaymentAction::Pay, OrderState::Paid).await;
    let order = w
        .after_sale
        .refund("o-1", &request("r-1", Some("5.00")))
        .await
        .expect("refund");
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.refunds[0].status, RefundStatus::Refunded);
    // The same request again: the same refund, no second call.
    let again = w
        .after_sale
        .refund("o-1", &request("r-1", Some("5.00")))
        .await
        .expect("again");
    assert_eq!(again, order);
    let order = w
        .after_sale
        .refund("o-1", &request("r-2", None))
        .await
        .expect("the rest");
    assert_eq!(order.state, OrderState::Refunded);
    assert_eq!(order.refunded(), dec!(16.20));
    assert_eq!(
        refunds(&w.gateway),
        [
            ("o-1-refund-1".to_owned(), "$5.00".to_owned()),
            ("o-1-refund-2".to_owned(), "$11.20".to_owned())
        ]
    );
    assert!(matches!(
        w.after_sale.refund("o-1", &request("r-3", None)).await,
        Err(AfterSaleError::Refused(
            AfterSaleRefusal::FullyRefunded { .. }
        ))
    ));
    assert!(matches!(
        w.after_sale.refund("o-9", &request("r-1", None)).await,
        Err(AfterSaleError::UnknownOrder(_))
    ));
}

#[tokio::test]
async fn a_refund_whose_answer_is_lost_stays_claimed_and_a_refusal_gives_the_amount_back() {
    let w = world();
    stored(&w, PaymentAction::Pay, OrderState::Paid).await;
    w.gateway.refund_answers(Answer::Unknown);
    let order = w
        .after_sale
        .refund("o-1", &request("r-1", Some("2.00")))
        .await
        .expect("refund");
    assert_eq!(order.state, OrderState::Refunding);
    assert!(order.lease.is_some());
    assert!(matches!(
        w.after_sale.refund("o-1", &request("r-2", None)).await,
        Err(AfterSaleError::Refused(
            AfterSaleRefusal::RefundInProgress { .. }
        ))
    ));

    let w = world();
    stored(&w, PaymentAction::Pay, OrderState::Paid).await;
    w.gateway
        .refund_answers(Answer::Refuse("TransactionTypeNotRefundable"));
    let order = w
        .after_sale
        .refund("o-1", &request("r-1", None))
        .await
        .expect("refund");
    assert_eq!(order.state, OrderState::Paid);
    assert_eq!(order.refunds[0].status, RefundStatus::Failed);
    assert_eq!(order.refundable(), dec!(16.20));
}

#[tokio::test]
async fn a_reserve_is_cancelled_once_and_a_refused_cancel_looks_before_failing() {
    let w = world();
    stored(&w, PaymentAction::Reserve, OrderState::Reserved).await;
    let order = w
        .after_sale
        .cancel("o-1", "out of stock")
        .await
        .expect("cancel");
    assert_eq!(order.state, OrderState::Cancelled);
    let again = w
        .after_sale
        .cancel("o-1", "out of stock")
        .await
        .expect("again");
    assert_eq!(again, order);
    assert_eq!(
        w.gateway
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Cancel(_)))
            .count(),
        1
    );

    // Refused because an earlier Cancel landed: FPS says Cancelled, so it is.
    let w = world();
    stored(&w, PaymentAction::Reserve, OrderState::Reserved).await;
    w.gateway
        .cancel_answers(Answer::Refuse("InvalidTransactionState"));
    w.gateway
        .status_answers(Answer::Accept(TransactionStatus::Cancelled));
    let order = w.after_sale.cancel("o-1", "x").await.expect("cancel");
    assert_eq!(order.state, OrderState::Cancelled);

    let w = world();
    stored(&w, PaymentAction::Reserve, OrderState::Settled).await;
    assert!(matches!(
        w.after_sale.cancel("o-1", "x").await,
        Err(AfterSaleError::Refused(
            AfterSaleRefusal::NotCancellable { .. }
        ))
    ));
}
