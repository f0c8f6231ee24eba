//! The order ⇄ DynamoDB item mapping, attribute by attribute.
//!
//! Items are written for people too (the table's stream feeds the merchant's fulfilment
//! workflow): camelCase names, money as DynamoDB numbers in plain decimal form (`25.50`),
//! times as fixed-width RFC 3339 UTC text, enums as their names. An optional field that is
//! `None` is left out of the item (never written as NULL), so the sparse index keys
//! (`transactionId`, `dueBucket` + `dueAt`) exist only when they mean something.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::domain::catalog::{PricedCart, PricedLine};
use crate::domain::money::{Amount, CURRENCY_CODE};
use crate::domain::order::{Lease, Order, OrderState, PaymentAction, Refund, RefundStatus};
use crate::domain::payment::PaymentMethod;
use crate::domain::payment::TransactionStatus;
use crate::ports::store::StoreError;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// What is wrong with an item (or an order that cannot become one), naming the attribute;
/// keeps the underlying error when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ItemError {
    message: String,
    #[source]
    source: Option<crate::ports::BoxError>,
}

impl ItemError {
    fn caused(message: String, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            message,
            source: Some(Box::new(source)),
        }
    }
}

impl From<String> for ItemError {
    fn from(message: String) -> Self {
        Self {
            message,
            source: None,
        }
    }
}

/// Attribute names of an order item (and of its nested maps).
pub mod attr {
    /// Partition key: the order id, FPS's CallerReference.
    pub const CALLER_REFERENCE: &str = "callerReference";
    /// List of maps, one per cart line (see the `LINE_*` names).
    pub const ITEMS: &str = "items";
    pub const ITEMS_TOTAL: &str = "itemsTotal";
    pub const TAX: &str = "tax";
    pub const SHIPPING: &str = "shipping";
    pub const FEES: &str = "fees";
    /// The TransactionAmount (items + tax + shipping + fees).
    pub const AMOUNT: &str = "amount";
    pub const CURRENCY: &str = "currency";
    pub const ACTION: &str = "action";
    pub const STATE: &str = "state";
    pub const TOKEN_ID: &str = "tokenId";
    pub const PAYMENT_METHOD: &str = "paymentMethod";
    /// Key of the sparse `byTransactionId` index: present once FPS gave a TransactionId.
    pub const TRANSACTION_ID: &str = "transactionId";
    pub const TRANSACTION_STATUS: &str = "transactionStatus";
    pub const STATUS_CODE: &str = "statusCode";
    pub const STATUS_MESSAGE: &str = "statusMessage";
    pub const RETURN_DIGEST: &str = "returnDigest";
    pub const RETRY_AT: &str = "retryAt";
    /// Epoch seconds: the table's TTL attribute (abandoned and failed orders only).
    pub const EXPIRES_AT: &str = "expiresAt";
    pub const RESERVED_AT: &str = "reservedAt";
    pub const FULFILLED_AT: &str = "fulfilledAt";
    pub const SETTLE_AMOUNT: &str = "settleAmount";
    pub const SETTLED_AT: &str = "settledAt";
    /// Map `{owner, expiresAt}` while an FPS call holds the order.
    pub const LEASE: &str = "lease";
    pub const LEASE_OWNER: &str = "owner";
    pub const LEASE_EXPIRES_AT: &str = "expiresAt";
    pub const ATTEMPTS: &str = "attempts";
    pub const CREATED_AT: &str = "createdAt";
    pub const UPDATED_AT: &str = "updatedAt";
    pub const VERSION: &str = "version";
    /// A fresh id per conditional write: a retried attempt carries the same one, so a failed
    /// condition that finds it stored means the write had already committed.
    pub const WRITE_ID: &str = "writeId";
    /// Partition key of the sparse `byDue` index: the order's shard while it is due.
    pub const DUE_BUCKET: &str = "dueBucket";
    /// Sort key of the sparse `byDue` index: when the sweep must next look at the order.
    pub const DUE_AT: &str = "dueAt";

    /// List of maps, one per refund, oldest first (see the `REFUND_*` names); absent when none.
    pub const REFUNDS: &str = "refunds";
    pub const REFUND_SEQ: &str = "seq";
    pub const REFUND_REQUEST_ID: &str = "requestId";
    pub const REFUND_AMOUNT: &str = "amount";
    pub const REFUND_REASON: &str = "reason";
    pub const REFUND_REQUESTED_BY: &str = "requestedBy";
    pub const REFUND_REQUESTED_AT: &str = "requestedAt";
    pub const REFUND_TRANSACTION_ID: &str = "transactionId";
    pub const REFUND_STATUS: &str = "status";
    pub const REFUND_STATUS_CODE: &str = "statusCode";
    pub const REFUND_STATUS_MESSAGE: &str = "statusMessage";
    pub const LINE_SKU: &str = "sku";
    pub const LINE_NAME: &str = "name";
    pub const LINE_UNIT_PRICE: &str = "unitPrice";
    pub const LINE_QUANTITY: &str = "quantity";
    pub const LINE_TOTAL: &str = "lineTotal";
}

/// `2024-05-01T12:00:00.000000000Z`: always UTC, always nine fractional digits, so the text
/// sorts as the instants do (years 0000–9999) and round-trips to the nanosecond.
const TIMESTAMP: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
);

/// Formats an instant the way the table stores it (and the `byDue` index sorts it).
pub fn format_timestamp(at: OffsetDateTime) -> Result<String, ItemError> {
    let utc = at.to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&utc.year()) {
        return Err(format!("year {} is outside 0000–9999", utc.year()).into());
    }
    utc.format(TIMESTAMP)
        .map_err(|e| ItemError::caused(format!("{at} cannot be formatted"), e))
}

/// Parses the stored form; also takes any RFC 3339 text (an item written by hand).
pub fn parse_timestamp(text: &str) -> Result<OffsetDateTime, ItemError> {
    // The fixed form only when its nine sub-second digits are digits: `time` 0.3.55's
    // fixed-width parser overflows on a short fraction followed by a sign (found by fuzzing).
    let fraction_is_digits = text
        .as_bytes()
        .get(20..29)
        .is_some_and(|f| f.iter().all(u8::is_ascii_digit));
    if fraction_is_digits {
        if let Ok(at) = PrimitiveDateTime::parse(text, TIMESTAMP) {
            return Ok(at.assume_utc());
        }
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| ItemError::caused(format!("{text:?} is not an RFC 3339 timestamp"), e))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Encodes an order as the item `PutItem` writes: every field, plus the sparse index keys
/// when they apply. Fails (as `Corrupt`) only for orders DynamoDB could not index.
pub fn order_to_item(order: &Order) -> Result<Item, StoreError> {
    let corrupt = |error: ItemError| StoreError::Corrupt {
        caller_reference: order.caller_reference.clone(),
        source: Box::new(error),
    };
    let time = |at: OffsetDateTime| format_timestamp(at).map(s).map_err(corrupt);
    if order.caller_reference.is_empty() {
        return Err(corrupt("callerReference is empty".to_owned().into()));
    }

    let mut item = Item::new();
    item.insert(attr::CALLER_REFERENCE.into(), s(&order.caller_reference));
    item.insert(attr::ITEMS.into(), lines_to_attr(&order.cart.lines));
    item.insert(attr::ITEMS_TOTAL.into(), n(order.cart.items_total));
    item.insert(attr::TAX.into(), n(order.cart.tax));
    item.insert(attr::SHIPPING.into(), n(order.cart.shipping));
    item.insert(attr::FEES.into(), n(order.cart.fees));
    item.insert(attr::AMOUNT.into(), n(order.cart.total.value()));
    item.insert(attr::CURRENCY.into(), s(CURRENCY_CODE));
    item.insert(attr::ACTION.into(), s(order.action.as_str()));
    item.insert(attr::STATE.into(), s(order.state.as_str()));
    if let Some(token) = &order.token_id {
        item.insert(attr::TOKEN_ID.into(), s(token));
    }
    if let Some(method) = order.payment_method {
        item.insert(attr::PAYMENT_METHOD.into(), s(method.as_str()));
    }
    if let Some(id) = &order.transaction_id {
        // An index key may not be an empty string: DynamoDB would refuse the whole write.
        if id.is_empty() {
            return Err(corrupt("transactionId is empty".to_owned().into()));
        }
        item.insert(attr::TRANSACTION_ID.into(), s(id));
    }
    if let Some(status) = order.transaction_status {
        item.insert(attr::TRANSACTION_STATUS.into(), s(status.as_str()));
    }
    if let Some(code) = &order.status_code {
        item.insert(attr::STATUS_CODE.into(), s(code));
    }
    if let Some(message) = &order.status_message {
        item.insert(attr::STATUS_MESSAGE.into(), s(message));
    }
    if let Some(digest) = &order.return_digest {
        item.insert(attr::RETURN_DIGEST.into(), s(digest));
    }
    if let Some(at) = order.reserved_at {
        item.insert(attr::RESERVED_AT.into(), time(at)?);
    }
    if let Some(at) = order.retry_at {
        item.insert(attr::RETRY_AT.into(), time(at)?);
    }
    if let Some(at) = order.fulfilled_at {
        item.insert(attr::FULFILLED_AT.into(), time(at)?);
    }
    if let Some(amount) = order.settle_amount {
        item.insert(attr::SETTLE_AMOUNT.into(), n(amount.value()));
    }
    if let Some(at) = order.settled_at {
        item.insert(attr::SETTLED_AT.into(), time(at)?);
    }
    if let Some(lease) = &order.lease {
        let map = HashMap::from([
            (attr::LEASE_OWNER.to_owned(), s(&lease.owner)),
            (attr::LEASE_EXPIRES_AT.to_owned(), time(lease.expires_at)?),
        ]);
        item.insert(attr::LEASE.into(), AttributeValue::M(map));
    }
    if !order.refunds.is_empty() {
        item.insert(
            attr::REFUNDS.into(),
            refunds_to_attr(&order.refunds).map_err(corrupt)?,
        );
    }
    item.insert(attr::ATTEMPTS.into(), n(order.attempts));
    item.insert(attr::CREATED_AT.into(), time(order.created_at)?);
    item.insert(attr::UPDATED_AT.into(), time(order.updated_at)?);
    item.insert(attr::VERSION.into(), n(order.version));
    if let Some(due) = order.due_at() {
        // Shard 0; the store writes the order's own shard ([`super::due::DueShards`]).
        item.insert(attr::DUE_BUCKET.into(), s(super::due::FIRST_BUCKET));
        item.insert(attr::DUE_AT.into(), time(due)?);
    }
    Ok(item)
}

fn lines_to_attr(lines: &[PricedLine]) -> AttributeValue {
    AttributeValue::L(
        lines
            .iter()
            .map(|line| {
                AttributeValue::M(HashMap::from([
                    (attr::LINE_SKU.to_owned(), s(&line.sku)),
                    (attr::LINE_NAME.to_owned(), s(&line.name)),
                    (attr::LINE_UNIT_PRICE.to_owned(), n(line.unit_price)),
                    (attr::LINE_QUANTITY.to_owned(), n(line.quantity)),
                    (attr::LINE_TOTAL.to_owned(), n(line.line_total)),
                ]))
            })
            .collect(),
    )
}

fn refunds_to_attr(refunds: &[Refund]) -> Result<AttributeValue, ItemError> {
    let mut list = Vec::with_capacity(refunds.len());
    for r in refunds {
        let mut map = HashMap::from([
            (attr::REFUND_SEQ.to_owned(), n(r.seq)),
            (attr::REFUND_REQUEST_ID.to_owned(), s(&r.request_id)),
            (attr::REFUND_AMOUNT.to_owned(), n(r.amount.value())),
            (attr::REFUND_REASON.to_owned(), s(&r.reason)),
            (attr::REFUND_REQUESTED_BY.to_owned(), s(&r.requested_by)),
            (
                attr::REFUND_REQUESTED_AT.to_owned(),
                s(format_timestamp(r.requested_at)?),
            ),
            (attr::REFUND_STATUS.to_owned(), s(r.status.as_str())),
        ]);
        for (name, value) in [
            (attr::REFUND_TRANSACTION_ID, &r.transaction_id),
            (attr::REFUND_STATUS_CODE, &r.status_code),
            (attr::REFUND_STATUS_MESSAGE, &r.status_message),
        ] {
            if let Some(value) = value {
                map.insert(name.to_owned(), s(value));
            }
        }
        list.push(AttributeValue::M(map));
    }
    Ok(AttributeValue::L(list))
}

fn decode_refunds(f: &Fields<'_>) -> Result<Vec<Refund>, ItemError> {
    let list = match f.get(attr::REFUNDS) {
        None => return Ok(Vec::new()),
        Some(AttributeValue::L(list)) => list,
        Some(_) => return Err(f.wrong(attr::REFUNDS, "a list (L)")),
    };
    list.iter()
        .enumerate()
        .map(|(i, value)| {
            let AttributeValue::M(map) = value else {
                return Err(format!("refunds[{i}] is not a map (M)").into());
            };
            let r = Fields::new(map, format!("refunds[{i}]."));
            Ok(Refund {
                seq: r.integer(attr::REFUND_SEQ)?,
                request_id: r.string(attr::REFUND_REQUEST_ID)?,
                amount: r.amount(attr::REFUND_AMOUNT)?,
                reason: r.string(attr::REFUND_REASON)?,
                requested_by: r.string(attr::REFUND_REQUESTED_BY)?,
                requested_at: r.time(attr::REFUND_REQUESTED_AT)?,
                transaction_id: r.opt_string(attr::REFUND_TRANSACTION_ID)?,
                status: r.enumeration(attr::REFUND_STATUS, RefundStatus::parse)?,
                status_code: r.opt_string(attr::REFUND_STATUS_CODE)?,
                status_message: r.opt_string(attr::REFUND_STATUS_MESSAGE)?,
            })
        })
        .collect()
}

/// Reads attributes out of one map (the item, a cart line, the lease), naming what is wrong.
struct Fields<'a> {
    map: &'a HashMap<String, AttributeValue>,
    /// Where the map sits in the item, for messages (`""`, `"items[2]."`, `"lease."`).
    path: String,
}

impl<'a> Fields<'a> {
    fn new(map: &'a HashMap<String, AttributeValue>, path: impl Into<String>) -> Self {
        Self {
            map,
            path: path.into(),
        }
    }

    /// The attribute, or `None` when absent or NULL.
    fn get(&self, name: &str) -> Option<&'a AttributeValue> {
        match self.map.get(name) {
            None | Some(AttributeValue::Null(_)) => None,
            Some(value) => Some(value),
        }
    }

    fn missing(&self, name: &str) -> ItemError {
        format!("{}{name} is missing", self.path).into()
    }

    fn wrong(&self, name: &str, want: &str) -> ItemError {
        format!("{}{name} is not {want}", self.path).into()
    }

    fn opt_string(&self, name: &str) -> Result<Option<String>, ItemError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(text)) => Ok(Some(text.clone())),
            Some(_) => Err(self.wrong(name, "a string (S)")),
        }
    }

    fn string(&self, name: &str) -> Result<String, ItemError> {
        self.opt_string(name)?.ok_or_else(|| self.missing(name))
    }

    fn opt_number(&self, name: &str) -> Result<Option<&'a str>, ItemError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(text)) => Ok(Some(text.as_str())),
            Some(_) => Err(self.wrong(name, "a number (N)")),
        }
    }

    fn number(&self, name: &str) -> Result<&'a str, ItemError> {
        self.opt_number(name)?.ok_or_else(|| self.missing(name))
    }

    /// A sum of money: decimal, never float. DynamoDB gives numbers back normalised (`25.5`);
    /// restore the two places the order was written with.
    fn money(&self, name: &str) -> Result<Decimal, ItemError> {
        parse_money(self.number(name)?)
            .map_err(|why| ItemError::caused(format!("{}{name} {why}", self.path), why))
    }

    fn amount(&self, name: &str) -> Result<Amount, ItemError> {
        Amount::new(self.money(name)?)
            .map_err(|e| ItemError::caused(format!("{}{name}: {e}", self.path), e))
    }

    fn opt_amount(&self, name: &str) -> Result<Option<Amount>, ItemError> {
        match self.opt_number(name)? {
            None => Ok(None),
            Some(_) => self.amount(name).map(Some),
        }
    }

    fn integer<T: FromStr>(&self, name: &str) -> Result<T, ItemError> {
        let text = self.number(name)?;
        text.parse().map_err(|_| {
            format!(
                "{}{name} {text:?} is not a whole number in range",
                self.path
            )
            .into()
        })
    }

    fn opt_time(&self, name: &str) -> Result<Option<OffsetDateTime>, ItemError> {
        self.opt_string(name)?
            .map(|text| {
                parse_timestamp(&text)
                    .map_err(|why| ItemError::caused(format!("{}{name}: {why}", self.path), why))
            })
            .transpose()
    }

    fn time(&self, name: &str) -> Result<OffsetDateTime, ItemError> {
        self.opt_time(name)?.ok_or_else(|| self.missing(name))
    }

    fn opt_enum<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ItemError> {
        self.opt_string(name)?
            .map(|text| {
                parse(&text).ok_or_else(|| {
                    format!("{}{name} {text:?} is not a known value", self.path).into()
                })
            })
            .transpose()
    }

    fn enumeration<T>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ItemError> {
        self.opt_enum(name, parse)?
            .ok_or_else(|| self.missing(name))
    }
}

fn parse_money(text: &str) -> Result<Decimal, ItemError> {
    let mut value = Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|e| ItemError::caused(format!("{text:?} is not a decimal number"), e))?;
    if value.scale() < 2 {
        value.rescale(2);
    }
    Ok(value)
}

/// Decodes an item (from the table or an index with projection ALL) into an order.
pub fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let caller_reference = match item.get(attr::CALLER_REFERENCE) {
        Some(AttributeValue::S(text)) => text.clone(),
        _ => String::from("(no callerReference)"),
    };
    decode(item).map_err(|error| StoreError::Corrupt {
        caller_reference,
        source: Box::new(error),
    })
}

fn decode(item: &Item) -> Result<Order, ItemError> {
    let f = Fields::new(item, "");
    let currency = f.string(attr::CURRENCY)?;
    Amount::check_currency(&currency)
        .map_err(|e| ItemError::caused(format!("{}: {e}", attr::CURRENCY), e))?;
    let lease = match f.get(attr::LEASE) {
        None => None,
        Some(AttributeValue::M(map)) => {
            let l = Fields::new(map, "lease.");
            Some(Lease {
                owner: l.string(attr::LEASE_OWNER)?,
                expires_at: l.time(attr::LEASE_EXPIRES_AT)?,
            })
        }
        Some(_) => return Err(f.wrong(attr::LEASE, "a map (M)")),
    };
    Ok(Order {
        caller_reference: f.string(attr::CALLER_REFERENCE)?,
        cart: PricedCart {
            lines: decode_lines(&f)?,
            items_total: f.money(attr::ITEMS_TOTAL)?,
            tax: f.money(attr::TAX)?,
            shipping: f.money(attr::SHIPPING)?,
            fees: f.money(attr::FEES)?,
            total: f.amount(attr::AMOUNT)?,
        },
        action: f.enumeration(attr::ACTION, PaymentAction::parse)?,
        state: f.enumeration(attr::STATE, OrderState::parse)?,
        token_id: f.opt_string(attr::TOKEN_ID)?,
        payment_method: f.opt_enum(attr::PAYMENT_METHOD, PaymentMethod::parse)?,
        transaction_id: f.opt_string(attr::TRANSACTION_ID)?,
        transaction_status: f.opt_enum(attr::TRANSACTION_STATUS, TransactionStatus::parse)?,
        status_code: f.opt_string(attr::STATUS_CODE)?,
        status_message: f.opt_string(attr::STATUS_MESSAGE)?,
        return_digest: f.opt_string(attr::RETURN_DIGEST)?,
        reserved_at: f.opt_time(attr::RESERVED_AT)?,
        fulfilled_at: f.opt_time(attr::FULFILLED_AT)?,
        retry_at: f.opt_time(attr::RETRY_AT)?,
        settle_amount: f.opt_amount(attr::SETTLE_AMOUNT)?,
        settled_at: f.opt_time(attr::SETTLED_AT)?,
        lease,
        attempts: f.integer(attr::ATTEMPTS)?,
        refunds: decode_refunds(&f)?,
        created_at: f.time(attr::CREATED_AT)?,
        updated_at: f.time(attr::UPDATED_AT)?,
        version: f.integer(attr::VERSION)?,
    })
}

fn decode_lines(f: &Fields<'_>) -> Result<Vec<PricedLine>, ItemError> {
    let list = match f.get(attr::ITEMS) {
        Some(AttributeValue::L(list)) => list,
        Some(_) => return Err(f.wrong(attr::ITEMS, "a list (L)")),
        None => return Err(f.missing(attr::ITEMS)),
    };
    list.iter()
        .enumerate()
        .map(|(i, value)| {
            let AttributeValue::M(map) = value else {
                return Err(format!("items[{i}] is not a map (M)").into());
            };
            let l = Fields::new(map, format!("items[{i}]."));
            Ok(PricedLine {
                sku: l.string(attr::LINE_SKU)?,
                name: l.string(attr::LINE_NAME)?,
                unit_price: l.money(attr::LINE_UNIT_PRICE)?,
                quantity: l.integer(attr::LINE_QUANTITY)?,
                line_total: l.money(attr::LINE_TOTAL)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
