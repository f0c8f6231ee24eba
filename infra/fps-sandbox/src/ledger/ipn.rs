//! IPNs: the notifications status changes owe (drained by the server), the transaction-status
//! form (§9), and the bounded record of deliveries.

use fps_protocol::xml::TransactionStatus;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{amount_text, Ledger, Transaction};

/// The ledger keeps the most recent IPN deliveries only.
pub const MAX_IPN_RECORDS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpnState {
    Pending,
    Delivered,
    Failed,
}

/// One IPN and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpnDelivery {
    pub id: u64,
    pub url: String,
    pub notification_type: String,
    pub transaction_id: Option<String>,
    pub transaction_status: Option<String>,
    /// The form body exactly as posted (pass it to VerifySignature as `HttpParameters`).
    pub body: String,
    pub attempts: u32,
    pub state: IpnState,
    pub last_http_status: Option<u16>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A status change that owes an IPN (drained by the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `OverrideIPNURL`, when the request gave one; else the configured URL applies.
    pub override_url: Option<String>,
    pub notification_type: String,
    pub transaction_id: Option<String>,
    pub transaction_status: Option<TransactionStatus>,
    /// Unsigned form parameters.
    pub params: Vec<(String, String)>,
}

impl Ledger {
    /// Takes the notifications owed since the last call.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.outbox)
    }

    // ----- IPN records ---------------------------------------------------------------------

    pub fn record_ipn(&mut self, delivery: IpnDelivery) {
        self.ipn_deliveries.push(delivery);
        if self.ipn_deliveries.len() > MAX_IPN_RECORDS {
            let excess = self.ipn_deliveries.len() - MAX_IPN_RECORDS;
            self.ipn_deliveries.drain(..excess);
        }
    }

    pub fn update_ipn(&mut self, id: u64, update: impl FnOnce(&mut IpnDelivery)) {
        if let Some(d) = self.ipn_deliveries.iter_mut().find(|d| d.id == id) {
            update(d);
        }
    }

    pub fn next_ipn_id(&mut self) -> u64 {
        self.next_seq()
    }
}

/// The IPN form for a transaction's status change (§9).
pub(super) fn transaction_notification(
    tx: &Transaction,
    operation: &str,
    at: OffsetDateTime,
) -> Notification {
    let ipn_operation = match operation {
        "Pay" => "PAY",
        "Reserve" => "RESERVE",
        "Settle" => "SETTLE",
        "Refund" => "REFUND",
        "Cancel" => "CANCEL",
        "Expire" => "CANCEL_TRANSACTION",
        other => other,
    };
    let amount = if operation == "Settle" {
        tx.settle_amount.unwrap_or(tx.amount)
    } else {
        tx.amount
    };
    let mut params = vec![
        (
            "notificationType".to_owned(),
            "TransactionStatus".to_owned(),
        ),
        ("transactionId".to_owned(), tx.transaction_id.clone()),
        (
            "transactionStatus".to_owned(),
            tx.status.ipn_form().to_owned(),
        ),
        ("statusCode".to_owned(), tx.status_code.clone()),
        ("statusMessage".to_owned(), tx.status_message.clone()),
        ("operation".to_owned(), ipn_operation.to_owned()),
        ("callerReference".to_owned(), tx.caller_reference.clone()),
        (
            "transactionAmount".to_owned(),
            format!("{} {}", tx.currency, amount_text(&amount)),
        ),
        (
            "transactionDate".to_owned(),
            at.unix_timestamp().to_string(),
        ),
        (
            "paymentMethod".to_owned(),
            tx.payment_method.as_str().to_owned(),
        ),
        (
            "recipientName".to_owned(),
            format!("Sandbox merchant {}", tx.caller_key),
        ),
        (
            "recipientEmail".to_owned(),
            "merchant@seller.sandbox.invalid".to_owned(),
        ),
    ];
    if let Some(persona) = tx.persona {
        params.push(("buyerName".to_owned(), persona.buyer_name().to_owned()));
        params.push(("buyerEmail".to_owned(), persona.buyer_email().to_owned()));
    }
    if let Some(reason) = &tx.payment_reason {
        params.push(("paymentReason".to_owned(), reason.clone()));
    }
    if let Some(parent) = &tx.parent_transaction_id {
        params.push(("parentTransactionId".to_owned(), parent.clone()));
    }
    Notification {
        override_url: tx.ipn_url.clone(),
        notification_type: "TransactionStatus".to_owned(),
        transaction_id: Some(tx.transaction_id.clone()),
        transaction_status: Some(tx.status),
        params,
    }
}
