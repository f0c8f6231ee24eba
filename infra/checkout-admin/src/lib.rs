//! `checkout-admin`, the operator's console. It reads orders from the table with the
//! operator's own AWS credentials, and asks settle-reservations — the function that holds the
//! FPS key pair — for everything that needs FPS (the live status, a refund, a cancel, a
//! re-drive), by invoking it directly. IAM decides who may do which: reading the table, and
//! `lambda:InvokeFunction` on that one function. It never sees the FPS secret.
//!
//! Human-readable output by default, `--json` for scripts. Exit codes: 0 done, 1 could not
//! ask (AWS unavailable), 2 bad usage or input, 3 unknown order, 4 refused (the reason is
//! printed), 5 asked but the outcome is not known yet (the sweep resolves it; look again).

use std::io::Write;

use aws_sdk_lambda::primitives::Blob;
use checkout_core::adapters::dynamodb::DynamoOrderStore;
use checkout_core::domain::money::{format_usd, Amount};
use checkout_core::domain::order::{Order, OrderState};
use checkout_core::ports::store::OrderStore;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub const EXIT_OK: u8 = 0;
pub const EXIT_UNAVAILABLE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_UNKNOWN_ORDER: u8 = 3;
pub const EXIT_REFUSED: u8 = 4;
pub const EXIT_NOT_KNOWN_YET: u8 = 5;

#[derive(Debug, Parser)]
#[command(
    name = "checkout-admin",
    about = "Operate the FPS checkout: show, list, refund, cancel, re-drive orders",
    version
)]
pub struct Cli {
    /// The order table.
    #[arg(long, env = "TABLE_NAME")]
    pub table: String,
    /// The settle-reservations function (name or ARN): it holds the FPS keys.
    #[arg(long, env = "SETTLE_FUNCTION")]
    pub function: String,
    /// Machine-readable output (one JSON document).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// An order (by its id or by an FPS transaction id), its refunds, and FPS's live status.
    Show { id: String },
    /// Orders in a state, newest first (scans the table).
    List {
        #[arg(long)]
        state: String,
        /// Changed at or after this moment (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Refund an order: `amount` (e.g. 5.00), or everything left.
    Refund {
        order: String,
        amount: Option<String>,
        #[arg(long)]
        reason: String,
        /// Repeat a refund with the same id to be sure it happened once (default: a new id,
        /// printed).
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Cancel (void) a reserve not yet settled.
    Cancel {
        order: String,
        #[arg(long)]
        reason: String,
    },
    /// Put an order that needs attention back in the sweep.
    Redrive { order: String },
}

/// What went wrong, and the exit code it means.
struct Failure(u8, String);

impl Failure {
    fn unavailable(what: impl std::fmt::Display) -> Self {
        Self(EXIT_UNAVAILABLE, what.to_string())
    }
}

/// Runs one command; returns the exit code.
pub async fn run(cli: Cli, out: &mut impl Write, err: &mut impl Write) -> u8 {
    let config = checkout_core::adapters::aws::operator_sdk_config(
        checkout_core::adapters::dynamodb::default_timeouts(),
    )
    .await;
    let admin = Admin {
        store: DynamoOrderStore::new(aws_sdk_dynamodb::Client::new(&config), cli.table.clone()),
        lambda: aws_sdk_lambda::Client::new(&config),
        function: cli.function.clone(),
    };
    match admin.execute(&cli.command).await {
        Ok((value, text, code)) => {
            let written = if cli.json {
                writeln!(out, "{value}")
            } else {
                writeln!(out, "{text}")
            };
            if written.is_err() {
                return EXIT_UNAVAILABLE;
            }
            code
        }
        Err(Failure(code, message)) => {
            let _ = if cli.json {
                writeln!(out, "{}", json!({"error": message, "exitCode": code}))
            } else {
                writeln!(err, "checkout-admin: {message}")
            };
            code
        }
    }
}

struct Admin {
    store: DynamoOrderStore,
    lambda: aws_sdk_lambda::Client,
    function: String,
}

type Output = (Value, String, u8);

impl Admin {
    async fn execute(&self, command: &Command) -> Result<Output, Failure> {
        match command {
            Command::Show { id } => self.show(id).await,
            Command::List {
                state,
                since,
                limit,
            } => self.list(state, since.as_deref(), *limit).await,
            Command::Refund {
                order,
                amount,
                reason,
                request_id,
            } => {
                let amount = amount
                    .as_deref()
                    .map(|a| {
                        Amount::parse(a)
                            .map_err(|e| Failure(EXIT_USAGE, format!("amount {a:?}: {e}")))
                    })
                    .transpose()?;
                let request_id = request_id
                    .clone()
                    .unwrap_or_else(|| format!("admin-{}", uuid::Uuid::new_v4().simple()));
                let mut detail = json!({
                    "callerReference": order, "reason": reason,
                    "requestedBy": operator(), "requestId": request_id,
                });
                if let Some(amount) = amount {
                    detail["amount"] = json!(amount.to_fps_string());
                }
                let answer = self.ask("RefundRequested", detail).await?;
                let status = answer["refundStatus"].as_str().unwrap_or("").to_owned();
                let code = match status.as_str() {
                    "Refunded" | "Pending" => EXIT_OK,
                    "Failed" => EXIT_REFUSED,
                    _ => EXIT_NOT_KNOWN_YET,
                };
                let text = format!(
                    "order {order}: refund {status} (request id {request_id}); refunded in all {}; order {}",
                    answer["refundedTotal"].as_str().unwrap_or("?"),
                    answer["state"].as_str().unwrap_or("?"),
                );
                Ok((
                    json!({"requestId": request_id, "result": answer}),
                    text,
                    code,
                ))
            }
            Command::Cancel { order, reason } => {
                let answer = self
                    .ask(
                        "CancelRequested",
                        json!({"callerReference": order, "reason": reason, "requestedBy": operator()}),
                    )
                    .await?;
                let state = answer["state"].as_str().unwrap_or("?").to_owned();
                let code = if state == "Cancelled" {
                    EXIT_OK
                } else if state == "Cancelling" {
                    EXIT_NOT_KNOWN_YET
                } else {
                    EXIT_REFUSED
                };
                Ok((answer, format!("order {order}: {state}"), code))
            }
            Command::Redrive { order } => {
                let answer = self
                    .ask("RedriveRequested", json!({"callerReference": order}))
                    .await?;
                let state = answer["state"].as_str().unwrap_or("?").to_owned();
                Ok((
                    answer,
                    format!("order {order}: back in the sweep as {state}"),
                    EXIT_OK,
                ))
            }
        }
    }

    async fn find(&self, id: &str) -> Result<Order, Failure> {
        if let Some(order) = self.store.get(id).await.map_err(Failure::unavailable)? {
            return Ok(order);
        }
        self.store
            .find_by_transaction_id(id)
            .await
            .map_err(Failure::unavailable)?
            .ok_or_else(|| Failure(EXIT_UNKNOWN_ORDER, format!("no order {id}")))
    }

    async fn show(&self, id: &str) -> Result<Output, Failure> {
        let order = self.find(id).await?;
        let live = self
            .ask(
                "StatusRequested",
                json!({"callerReference": order.caller_reference}),
            )
            .await?;
        let mut text = describe(&order);
        match (&live["fpsStatus"], &live["fpsError"]) {
            (Value::String(status), _) => text.push_str(&format!(
                "\nFPS now:     {status}{}",
                live["fpsStatusCode"]
                    .as_str()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )),
            (_, Value::String(e)) => text.push_str(&format!("\nFPS now:     could not ask: {e}")),
            _ => text.push_str("\nFPS now:     no transaction yet"),
        }
        Ok((
            json!({"order": order_json(&order), "fps": live}),
            text,
            EXIT_OK,
        ))
    }

    async fn list(
        &self,
        state: &str,
        since: Option<&str>,
        limit: usize,
    ) -> Result<Output, Failure> {
        let state = OrderState::parse(state).ok_or_else(|| {
            let known: Vec<&str> = OrderState::ALL.iter().map(|s| s.as_str()).collect();
            Failure(
                EXIT_USAGE,
                format!("unknown state {state:?}: one of {}", known.join(", ")),
            )
        })?;
        let since = since
            .map(|t| {
                OffsetDateTime::parse(t, &Rfc3339)
                    .map_err(|e| Failure(EXIT_USAGE, format!("--since {t:?}: {e}")))
            })
            .transpose()?;
        let orders = self
            .store
            .list(Some(state), since, limit)
            .await
            .map_err(Failure::unavailable)?;
        let text = if orders.is_empty() {
            format!("no {} orders", state.as_str())
        } else {
            orders
                .iter()
                .map(|o| {
                    format!(
                        "{}  {:<16} {:>10}  {}",
                        o.caller_reference,
                        o.state.as_str(),
                        o.amount().to_string(),
                        timestamp(o.updated_at)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let value = Value::Array(orders.iter().map(order_json).collect());
        Ok((value, text, EXIT_OK))
    }

    /// Invokes settle-reservations with an EventBridge-shaped event; its answer, or the
    /// refusal it names.
    async fn ask(&self, detail_type: &str, detail: Value) -> Result<Value, Failure> {
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let event = json!({
            "version": "0", "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": detail_type, "source": "checkout-admin",
            "account": "", "time": now, "region": "", "resources": [], "detail": detail,
        });
        let output = self
            .lambda
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(event.to_string()))
            .send()
            .await
            .map_err(|e| {
                Failure::unavailable(format!(
                    "invoking {}: {}",
                    self.function,
                    aws_sdk_lambda::error::DisplayErrorContext(&e)
                ))
            })?;
        let payload: Value = output
            .payload()
            .map(|p| serde_json::from_slice(p.as_ref()).unwrap_or(Value::Null))
            .unwrap_or(Value::Null);
        if output.function_error().is_some() {
            let kind = payload["errorType"].as_str().unwrap_or("Unhandled");
            let message = payload["errorMessage"].as_str().unwrap_or("").to_owned();
            let code = match kind {
                "UnknownOrder" => EXIT_UNKNOWN_ORDER,
                "NothingCaptured" | "RefundInProgress" | "AboveRefundable" | "FullyRefunded"
                | "NotCancellable" | "InvalidRequest" => EXIT_REFUSED,
                "BadEvent" => EXIT_USAGE,
                _ => EXIT_UNAVAILABLE,
            };
            return Err(Failure(code, format!("{kind}: {message}")));
        }
        Ok(payload)
    }
}

/// Who is asking, for the order's record of its refunds.
fn operator() -> String {
    std::env::var("USER")
        .map(|u| format!("checkout-admin:{u}"))
        .unwrap_or_else(|_| "checkout-admin".to_owned())
}

fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The order, for people.
fn describe(o: &Order) -> String {
    let mut lines = vec![
        format!("Order       {}", o.caller_reference),
        format!("State       {}", o.state.as_str()),
        format!("Action      {} {}", o.action.as_str(), o.amount()),
        format!(
            "Transaction {}",
            o.transaction_id.as_deref().unwrap_or("(none yet)")
        ),
    ];
    if let Some(code) = &o.status_code {
        lines.push(format!(
            "Status      {code}{}",
            o.status_message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    lines.push(format!("Created     {}", timestamp(o.created_at)));
    lines.push(format!(
        "Updated     {} (version {}, {} FPS calls)",
        timestamp(o.updated_at),
        o.version,
        o.attempts
    ));
    for r in &o.refunds {
        lines.push(format!(
            "Refund {}    {} {} — {} (by {}, {})",
            r.seq,
            r.amount,
            r.status.as_str(),
            r.reason,
            r.requested_by,
            timestamp(r.requested_at)
        ));
    }
    if !o.refunds.is_empty() {
        lines.push(format!("Refunded    {}", format_usd(o.refunded())));
    }
    lines.join("\n")
}

/// The order, for scripts.
fn order_json(o: &Order) -> Value {
    json!({
        "orderId": o.caller_reference,
        "state": o.state.as_str(),
        "action": o.action.as_str(),
        "amount": o.amount().to_fps_string(),
        "transactionId": o.transaction_id,
        "statusCode": o.status_code,
        "statusMessage": o.status_message,
        "version": o.version,
        "attempts": o.attempts,
        "createdAt": timestamp(o.created_at),
        "updatedAt": timestamp(o.updated_at),
        "refunded": o.refunded().to_string(),
        "refunds": o.refunds.iter().map(|r| json!({
            "seq": r.seq, "requestId": r.request_id, "amount": r.amount.to_fps_string(),
            "status": r.status.as_str(), "reason": r.reason, "requestedBy": r.requested_by,
            "requestedAt": timestamp(r.requested_at), "transactionId": r.transaction_id,
        })).collect::<Vec<_>>(),
    })
}
