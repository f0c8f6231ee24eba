//! Issue 17 (1): the short chaos campaign that runs in `make test` (`make chaos` runs the long
//! one). A fixed seed, about 150 orders, a quarter of FPS requests faulted: no invariant may
//! break.

use e2e_tests::chaos::{self, Campaign};

/// The seed of the run in `make test` (any seed must pass; this one keeps the suite repeatable).
const SEED: u64 = 20_261_202;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_campaign_breaks_no_invariant() {
    let report = chaos::run(&Campaign::new(SEED, 150)).await;
    println!("{}", report.table());
    print!("{}", report.details());
    assert!(
        report.violations.is_empty(),
        "{} violations:\n{}",
        report.violations.len(),
        report.details()
    );
    // The campaign really did what it claims: faults, kills and every order in the table.
    assert!(report.fps.faulted_share() >= 0.2, "{:?}", report.fps);
    assert!(report.dynamodb.faulted_total() > 0, "{:?}", report.dynamodb);
    assert!(report.crashes_total() > 0, "{:?}", report.crashes);
    assert!(report.orders.len() >= 140, "{} orders", report.orders.len());
}

mod the_checks_can_fail {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use checkout_core::domain::order::{Order, OrderState, PaymentAction};
    use e2e_tests::chaos::invariants::{check, Violation};
    use e2e_tests::{event, Stack};
    use fps_sandbox::{LedgerSnapshot, Operation, Persona};

    type Pages = BTreeMap<String, Vec<(u16, bool)>>;

    /// The order as the run left it breaks nothing: returns its id and an empty page record.
    fn untouched_passes(order: &Order, ledger: &LedgerSnapshot) -> (String, Pages) {
        let none = Pages::new();
        assert_eq!(
            check(std::slice::from_ref(order), ledger, &none),
            vec![],
            "as it stands"
        );
        (order.caller_reference.clone(), none)
    }

    fn broken(violations: &[Violation]) -> Vec<&'static str> {
        let mut names: Vec<_> = violations.iter().map(|v| v.invariant).collect();
        names.dedup();
        names
    }

    /// A paid order (card, $41.87), the ledger and no pages.
    async fn paid() -> (Order, LedgerSnapshot) {
        let stack = Stack::start(PaymentAction::Pay).await;
        let (cr, query) = stack.authorised(Persona::Balance).await;
        stack.checkout.complete(&query).await.expect("complete");
        let order = stack.order(&cr).await;
        assert_eq!(order.state, OrderState::Paid);
        let ledger = stack.control.ledger().await.expect("ledger");
        stack.shutdown().await;
        (order, ledger)
    }

    /// A settled reserve, and the ledger.
    async fn settled() -> (Order, LedgerSnapshot) {
        let stack = Stack::start(PaymentAction::Reserve).await;
        let (cr, query) = stack.authorised(Persona::Card).await;
        stack.checkout.complete(&query).await.expect("complete");
        stack.advance_emulator(Duration::from_secs(2)).await;
        stack.sweep().await;
        stack
            .settle
            .handle(
                event("OrderFulfilled", serde_json::json!({"callerReference": cr})),
                tokio::time::Instant::now() + Duration::from_secs(10),
            )
            .await
            .expect("fulfil");
        stack.advance_emulator(Duration::from_secs(2)).await;
        stack.sweep().await;
        let order = stack.order(&cr).await;
        assert_eq!(order.state, OrderState::Settled);
        let ledger = stack.control.ledger().await.expect("ledger");
        stack.shutdown().await;
        (order, ledger)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_a_paid_order() {
        let (order, ledger) = paid().await;
        let (id, none) = untouched_passes(&order, &ledger);

        let failed = Order {
            state: OrderState::Failed,
            ..order.clone()
        };
        assert_eq!(
            broken(&check(&[failed], &ledger, &none)),
            ["table agrees with FPS"]
        );

        let charging = Order {
            state: OrderState::Charging,
            ..order.clone()
        };
        assert_eq!(
            broken(&check(&[charging], &ledger, &none))[0],
            "no order lost"
        );

        assert_eq!(broken(&check(&[], &ledger, &none)), ["no order lost"]);

        let told = Pages::from([(id.clone(), vec![(200, false), (200, true)])]);
        assert_eq!(
            broken(&check(std::slice::from_ref(&order), &ledger, &told)),
            ["no false \"nothing charged\""]
        );

        let mut twice = ledger.clone();
        let tx = twice.transactions_for(&id)[0].clone();
        let copy = fps_sandbox::Transaction {
            transaction_id: "SECOND".into(),
            ..tx.clone()
        };
        twice.ledger.transactions.insert("SECOND".into(), copy);
        if let Some(activity) = twice.ledger.caller_references.get_mut(&id) {
            activity.transactions_created.push("SECOND".into());
        }
        assert_eq!(
            broken(&check(std::slice::from_ref(&order), &twice, &none)),
            ["at most one Pay or Reserve"]
        );

        let mut over = ledger.clone();
        let refund = fps_sandbox::Transaction {
            transaction_id: "REFUND".into(),
            caller_reference: format!("{id}-refund-1"),
            operation: Operation::Refund,
            parent_transaction_id: Some(tx.transaction_id.clone()),
            amount: "41.88".parse().expect("amount"),
            ..tx.clone()
        };
        over.ledger.transactions.insert("REFUND".into(), refund);
        assert!(
            broken(&check(std::slice::from_ref(&order), &over, &none))
                .contains(&"refunds never above what was captured"),
            "{:?}",
            check(&[order], &over, &none)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_a_settled_reserve() {
        let (order, ledger) = settled().await;
        let (id, none) = untouched_passes(&order, &ledger);
        let tx_id = order.transaction_id.clone().expect("transaction id");

        let mut late = ledger.clone();
        if let Some(tx) = late.ledger.transactions.get_mut(&tx_id) {
            let expires = tx.reserve_expires_at.expect("a reserve expires");
            for change in tx.history.iter_mut().filter(|c| c.operation == "Settle") {
                change.at = expires + time::Duration::seconds(1);
            }
        }
        assert_eq!(
            broken(&check(std::slice::from_ref(&order), &late, &none)),
            ["never settled after expiry"]
        );

        let mut above = ledger.clone();
        if let Some(tx) = above.ledger.transactions.get_mut(&tx_id) {
            tx.settle_amount = Some("999.00".parse().expect("amount"));
        }
        assert_eq!(
            broken(&check(std::slice::from_ref(&order), &above, &none)),
            ["settle never above the reserve", "table agrees with FPS"]
        );

        let partial = Order {
            settle_amount: Some("1.00".parse().expect("amount")),
            ..order.clone()
        };
        assert_eq!(
            broken(&check(&[partial], &ledger, &none)),
            ["table agrees with FPS"]
        );
        let _ = id;
    }
}
