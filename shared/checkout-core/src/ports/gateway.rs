//! The payment gateway port, in the shop's words: where to send the buyer to authorise a
//! payment, what came back, and charge / reserve / settle / status with outcomes that say what
//! is known about the money. `adapters::fps` implements it over FPS; unit tests use a fake.

use std::future::Future;

use url::Url;

use crate::domain::money::Amount;
use crate::domain::order::PaymentAction;
use crate::domain::payment::{PaymentMethod, TransactionStatus};
use crate::ports::BoxError;

/// What the buyer is asked to authorise.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest<'a> {
    /// The order id: the payment's idempotency key at the gateway.
    pub order_id: &'a str,
    pub amount: Amount,
    /// What the buyer reads on the authorisation page (the gateway may shorten it).
    pub description: &'a str,
    /// Authorise a card hold to settle later (Reserve) rather than a charge.
    pub reserve: bool,
    /// Where the buyer comes back.
    pub return_url: &'a Url,
}

/// The request cannot be turned into an authorisation link (a value the gateway refuses).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct InvalidPaymentRequest(pub BoxError);

/// The buyer came back from authorising: what the return link says, before anyone has
/// checked that the gateway signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationReturn {
    /// The order the return names, when it names one.
    pub order_id: Option<String>,
    pub outcome: Authorization,
    /// The return carries the gateway's signature fields (required before asking to verify).
    pub signed: bool,
    /// The query exactly as received: verification needs it byte for byte.
    pub raw_query: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Authorization {
    /// The buyer authorised; the token pays for this order once.
    Authorized {
        token: Option<String>,
        method: Option<PaymentMethod>,
    },
    /// The buyer left without authorising.
    Abandoned,
    /// The gateway did not let the buyer authorise: its code and a message for people.
    Declined { code: String, message: String },
}

/// The return link is malformed.
#[derive(Debug, thiserror::Error)]
#[error("the return query is malformed: {0}")]
pub struct InvalidReturn(#[source] pub BoxError);

/// What a payment notification from the gateway says, before anyone has checked that the
/// gateway sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentNotice {
    /// The order it names, when it names one.
    pub order_id: Option<String>,
    pub transaction_id: String,
    pub status: TransactionStatus,
    pub code: Option<String>,
    pub message: Option<String>,
    pub about: NoticeSubject,
    /// Carries the gateway's signature fields (required before asking to verify).
    pub signed: bool,
    /// The body exactly as received: verification needs it byte for byte.
    pub raw_body: String,
}

/// Which of the order's calls a notice reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeSubject {
    Charge,
    Reserve,
    Settle,
    /// The gateway cancelled the transaction (a reserve or a pending one that expired), or the
    /// merchant did.
    Cancellation,
    /// A refund (its own transaction; its CallerReference names the order's refund).
    Refund,
    /// Anything newer: nothing this shop acts on.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Payment(PaymentNotice),
    /// Not about a payment (a token's cancellation, a kind this shop does not know).
    Other {
        what: String,
    },
}

/// The notification body is malformed.
#[derive(Debug, thiserror::Error)]
#[error("the notification is malformed: {0}")]
pub struct InvalidNotice(#[source] pub BoxError);

/// A charge to make with a buyer's single-use token.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge<'a> {
    pub action: PaymentAction,
    pub token_id: &'a str,
    pub amount: Amount,
    /// The order id: a repeated charge with the same reference is the same charge.
    pub caller_reference: &'a str,
    pub description: Option<String>,
}

/// Money to give back from a captured transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundCall<'a> {
    /// The Pay, or the settled reserve.
    pub transaction_id: &'a str,
    /// The refund's own reference: a repeated refund with it is the same refund.
    pub caller_reference: &'a str,
    pub amount: Amount,
    pub reason: Option<String>,
}

/// The gateway accepted a charge, reserve or settle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub transaction_id: String,
    pub status: TransactionStatus,
}

/// Where a transaction stands, and the gateway's words about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionReport {
    pub status: TransactionStatus,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// How a gateway call failed, and what that says about the money.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The gateway said no: nothing was done. `retry_later`: the same request may succeed
    /// later (account state, balance), but not within seconds. `authorization_used`: the
    /// refusal is that the buyer's authorisation was already used, which an earlier attempt of
    /// this very request may have done.
    #[error("refused: {code}: {message}")]
    Refused {
        code: String,
        message: String,
        retry_later: bool,
        authorization_used: bool,
    },
    /// The request may have been acted on: resolve it later with the same reference; never
    /// assume it failed.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(#[source] BoxError),
    /// The request never reached the gateway: nothing happened.
    #[error("not sent: {0}")]
    NotSent(#[source] BoxError),
}

pub trait PaymentGateway: Send + Sync {
    /// The signed link that sends the buyer to authorise `request`.
    fn authorization_url(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> Result<Url, InvalidPaymentRequest>;

    /// Reads a return link's query (no I/O).
    fn read_return(&self, raw_query: &str) -> Result<AuthorizationReturn, InvalidReturn>;

    /// Did the gateway sign this return, received at `return_url`?
    fn verify_return(
        &self,
        return_url: &Url,
        ret: &AuthorizationReturn,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// Pay or Reserve.
    fn charge(
        &self,
        charge: Charge<'_>,
    ) -> impl Future<Output = Result<Accepted, GatewayError>> + Send;

    /// Capture a reserve (the whole of it when `amount` is `None`).
    fn settle(
        &self,
        reserve_transaction_id: &str,
        amount: Option<Amount>,
    ) -> impl Future<Output = Result<Accepted, GatewayError>> + Send;

    fn transaction_status(
        &self,
        transaction_id: &str,
    ) -> impl Future<Output = Result<TransactionReport, GatewayError>> + Send;

    /// Refund (part of) a captured transaction: a new transaction of its own.
    fn refund(
        &self,
        call: RefundCall<'_>,
    ) -> impl Future<Output = Result<Accepted, GatewayError>> + Send;

    /// Cancel (void) a reserve not yet settled.
    fn cancel(
        &self,
        reserve_transaction_id: &str,
        reason: Option<String>,
    ) -> impl Future<Output = Result<Accepted, GatewayError>> + Send;

    /// Reads a notification body (no I/O).
    fn read_notice(&self, raw_body: &str) -> Result<Notice, InvalidNotice>;

    /// Did the gateway sign this notification, received at `end_point`?
    fn verify_notice(
        &self,
        end_point: &Url,
        notice: &PaymentNotice,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;

    /// The buyer's unused authorisation for this order, if they gave one (the return that
    /// would have brought it may have been lost). `None`: none, or none still usable.
    fn find_authorization(
        &self,
        order_id: &str,
    ) -> impl Future<Output = Result<Option<String>, GatewayError>> + Send;

    /// Is the buyer's authorisation for this order spent (used, or otherwise no longer
    /// usable)?
    fn authorization_spent(
        &self,
        order_id: &str,
    ) -> impl Future<Output = Result<bool, GatewayError>> + Send;
}
