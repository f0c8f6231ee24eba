//! What must hold for every order once the campaign is over, checked against FPS's ledger:
//! the table agrees with it, money moved at most once, never settled past the reserve or its
//! expiry, never refunded past what was captured, no order lost, and no page told a buyer
//! "nothing was charged" about money FPS moved.

use std::collections::{BTreeMap, BTreeSet};

use checkout_core::domain::order::{Order, OrderState, PaymentAction, RefundStatus};
use fps_protocol::xml::TransactionStatus;
use fps_sandbox::ledger::{Operation, Transaction};
use fps_sandbox::LedgerSnapshot;
use rust_decimal::Decimal;

use super::NOTHING_CHARGED;

/// One broken promise about one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub order_id: String,
    pub invariant: &'static str,
    pub detail: String,
}

/// Where an order may rest once nothing more is due.
pub fn is_final(order: &Order) -> bool {
    use OrderState as S;
    match order.state {
        S::Paid
        | S::Settled
        | S::Refunded
        | S::Failed
        | S::Abandoned
        | S::Expired
        | S::Cancelled
        | S::SettleFailed => true,
        S::NeedsAttention => order
            .status_message
            .as_deref()
            .is_some_and(|m| !m.is_empty()),
        _ => false,
    }
}

/// The states an order may be in while its FPS transaction stands as it does.
fn states_for(tx: &Transaction) -> &'static [OrderState] {
    use OrderState as S;
    use TransactionStatus as T;
    match (tx.operation, tx.settled, tx.status) {
        (Operation::Pay, _, T::Success) => &[S::Paid, S::Refunding, S::RefundPending, S::Refunded],
        (Operation::Pay, _, T::Pending) => &[S::PaymentPending],
        (Operation::Reserve, false, T::Reserved) => &[S::Reserved],
        (Operation::Reserve, false, T::Pending) => &[S::ReservePending],
        (Operation::Reserve, false, T::Cancelled) => &[S::Cancelled, S::Expired],
        (Operation::Reserve, true, T::Success) => {
            &[S::Settled, S::Refunding, S::RefundPending, S::Refunded]
        }
        (Operation::Reserve, true, T::Pending) => &[S::SettlePending],
        (Operation::Reserve, true, T::Failure) => &[S::SettleFailed],
        (_, _, T::Failure | T::Cancelled) => &[S::Failed, S::DeclinedForNow],
        _ => &[],
    }
}

/// Whether FPS moved, holds, or may still move the buyer's money under this transaction.
fn money_at_stake(tx: &Transaction) -> bool {
    matches!(
        tx.status,
        TransactionStatus::Success | TransactionStatus::Pending | TransactionStatus::Reserved
    ) || tx.statuses().contains(&TransactionStatus::Success)
        || tx.statuses().contains(&TransactionStatus::Reserved)
}

/// What FPS captured under the transaction (the Pay, or the Settle of the reserve).
fn captured(tx: &Transaction) -> Decimal {
    match (tx.operation, tx.status) {
        (Operation::Pay, TransactionStatus::Success) => tx.amount.value(),
        (Operation::Reserve, TransactionStatus::Success) if tx.settled => tx
            .settle_amount
            .as_ref()
            .map_or(Decimal::ZERO, |a| a.value()),
        _ => Decimal::ZERO,
    }
}

pub fn check(
    orders: &[Order],
    ledger: &LedgerSnapshot,
    pages: &BTreeMap<String, Vec<(u16, bool)>>,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut broken = |order_id: &str, invariant: &'static str, detail: String| {
        violations.push(Violation {
            order_id: order_id.to_owned(),
            invariant,
            detail,
        })
    };
    let known: BTreeSet<&str> = orders.iter().map(|o| o.caller_reference.as_str()).collect();
    for tx in ledger.transactions.values() {
        if tx.operation != Operation::Refund && !known.contains(tx.caller_reference.as_str()) {
            broken(
                &tx.caller_reference,
                "no order lost",
                format!(
                    "FPS has {} {} but the table has no order",
                    tx.operation.as_str(),
                    tx.transaction_id
                ),
            );
        }
    }
    for order in orders {
        let id = order.caller_reference.as_str();
        if !is_final(order) {
            broken(
                id,
                "no order lost",
                format!("left in {:?} ({:?})", order.state, order.status_message),
            );
        }
        let charges: Vec<&Transaction> = ledger
            .transactions_for(id)
            .into_iter()
            .filter(|t| matches!(t.operation, Operation::Pay | Operation::Reserve))
            .collect();
        if charges.len() > 1 {
            broken(
                id,
                "at most one Pay or Reserve",
                format!("{} of them", charges.len()),
            );
        }
        let Some(tx) = charges.first() else {
            if order.transaction_id.is_some() || order.captured().is_some() {
                broken(
                    id,
                    "table agrees with FPS",
                    format!(
                        "{:?} with transaction {:?}, but FPS has none",
                        order.state, order.transaction_id
                    ),
                );
            }
            continue;
        };
        check_charge(order, tx, &mut broken);
        check_refunds(order, tx, ledger, &mut broken);
        let told_nothing_charged = pages.get(id).is_some_and(|p| p.iter().any(|(_, n)| *n));
        if told_nothing_charged && money_at_stake(tx) {
            broken(
                id,
                "no false \"nothing charged\"",
                format!(
                    "a page said \"{NOTHING_CHARGED}\" but FPS's {} {} is {:?} (history {:?})",
                    tx.operation.as_str(),
                    tx.transaction_id,
                    tx.status,
                    tx.statuses()
                ),
            );
        }
    }
    violations
}

fn check_charge(
    order: &Order,
    tx: &Transaction,
    broken: &mut impl FnMut(&str, &'static str, String),
) {
    let id = order.caller_reference.as_str();
    let operation = match order.action {
        PaymentAction::Pay => Operation::Pay,
        PaymentAction::Reserve => Operation::Reserve,
    };
    if order.transaction_id.as_deref() != Some(tx.transaction_id.as_str())
        || tx.operation != operation
        || tx.amount.value() != order.amount().value()
    {
        broken(
            id,
            "table agrees with FPS",
            format!(
                "table: {:?} {:?} {}; FPS: {} {} {}",
                order.action,
                order.transaction_id,
                order.amount(),
                tx.operation.as_str(),
                tx.transaction_id,
                tx.amount
            ),
        );
    }
    if order.state != OrderState::NeedsAttention && !states_for(tx).contains(&order.state) {
        broken(
            id,
            "table agrees with FPS",
            format!(
                "order {:?} while FPS's {} is {:?} (settled: {})",
                order.state, tx.transaction_id, tx.status, tx.settled
            ),
        );
    }
    if !tx.settled {
        return;
    }
    let settled = tx.settle_amount.as_ref().map(|a| a.value());
    if settled.is_none_or(|s| s > tx.amount.value()) {
        broken(
            id,
            "settle never above the reserve",
            format!("{settled:?} of {}", tx.amount),
        );
    }
    let settled_at = tx
        .history
        .iter()
        .find(|c| c.operation == "Settle")
        .map(|c| c.at);
    if let (Some(at), Some(expires)) = (settled_at, tx.reserve_expires_at) {
        if at >= expires {
            broken(
                id,
                "never settled after expiry",
                format!("settled {at}, expired {expires}"),
            );
        }
    }
    let table_settle = order
        .settle_amount
        .as_ref()
        .unwrap_or(&order.amount())
        .value();
    if order.state != OrderState::NeedsAttention && settled != Some(table_settle) {
        broken(
            id,
            "table agrees with FPS",
            format!("settle amount: table {table_settle}, FPS {settled:?}"),
        );
    }
}

fn check_refunds(
    order: &Order,
    tx: &Transaction,
    ledger: &LedgerSnapshot,
    broken: &mut impl FnMut(&str, &'static str, String),
) {
    let id = order.caller_reference.as_str();
    let refunds: Vec<&Transaction> = ledger
        .transactions
        .values()
        .filter(|t| t.operation == Operation::Refund)
        .filter(|t| t.parent_transaction_id.as_deref() == Some(tx.transaction_id.as_str()))
        .collect();
    let sum = |statuses: &[TransactionStatus]| -> Decimal {
        refunds
            .iter()
            .filter(|t| statuses.contains(&t.status))
            .map(|t| t.amount.value())
            .sum()
    };
    let refunded = sum(&[TransactionStatus::Success, TransactionStatus::Pending]);
    if refunded > captured(tx) {
        broken(
            id,
            "refunds never above what was captured",
            format!("refunded {refunded}, captured {}", captured(tx)),
        );
    }
    let table_refunded: Decimal = order
        .refunds
        .iter()
        .filter(|r| r.status == RefundStatus::Refunded)
        .map(|r| r.amount.value())
        .sum();
    if order.state != OrderState::NeedsAttention
        && table_refunded != sum(&[TransactionStatus::Success])
    {
        broken(
            id,
            "table agrees with FPS",
            format!(
                "refunded: table {table_refunded}, FPS {}",
                sum(&[TransactionStatus::Success])
            ),
        );
    }
    for refund in order.refunds.iter().filter(|r| r.transaction_id.is_some()) {
        let at_fps = refund
            .transaction_id
            .as_deref()
            .and_then(|t| ledger.transaction(t));
        if at_fps.is_none_or(|t| t.amount.value() != refund.amount.value()) {
            broken(
                id,
                "table agrees with FPS",
                format!(
                    "refund {} {:?}: FPS has {:?}",
                    refund.seq,
                    refund.transaction_id,
                    at_fps.map(|t| t.amount.to_string())
                ),
            );
        }
    }
}
