//! The order: what was bought, what FPS said, and the legal moves between states. Pure: no I/O.

use time::{Duration, OffsetDateTime};

use crate::domain::catalog::PricedCart;
use crate::domain::money::Amount;
use crate::domain::payment::PaymentMethod;
use crate::domain::payment::TransactionStatus;

/// FPS keeps a reserve for 7 days, then cancels it (§6.3).
pub const RESERVE_LIFETIME: Duration = Duration::days(7);

/// How long the buyer's single-use authorisation (the CBUI token) can be charged: 3 hours
/// (decision 8), counted here from the order's creation, which comes before the authorisation.
pub const AUTHORIZATION_LIFETIME: Duration = Duration::hours(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentAction {
    /// Charge now.
    Pay,
    /// Authorise now (card only), Settle when the order ships.
    Reserve,
}

impl PaymentAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pay => "Pay",
            Self::Reserve => "Reserve",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Pay" => Some(Self::Pay),
            "Reserve" => Some(Self::Reserve),
            _ => None,
        }
    }
}

macro_rules! states {
    ($( $(#[$doc:meta])* $variant:ident ),* $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum OrderState {
            $( $(#[$doc])* $variant, )*
        }

        impl OrderState {
            /// Every state, in declaration order (tables in tests walk it).
            pub const ALL: &'static [OrderState] = &[ $( Self::$variant, )* ];

            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => stringify!($variant), )* }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $( stringify!($variant) => Some(Self::$variant), )* _ => None }
            }
        }
    };
}

states! {
    /// Stored, buyer sent to the CBUI.
    AwaitingAuthorization,
    /// Claimed: a Pay is (or may be) in flight.
    Charging,
    /// Claimed: a Reserve is (or may be) in flight.
    Reserving,
    /// Pay succeeded: money moved.
    Paid,
    /// Pay accepted, FPS still processing.
    PaymentPending,
    /// Reserve authorised; settle once fulfilled, within 7 days.
    Reserved,
    /// Reserve accepted, FPS still processing.
    ReservePending,
    /// Claimed: a Settle is (or may be) in flight.
    Settling,
    /// Settle succeeded: money moved.
    Settled,
    /// Settle accepted, FPS still processing.
    SettlePending,
    /// FPS refused the Settle or the settle failed.
    SettleFailed,
    /// Pay or Reserve refused, or the buyer's authorisation failed.
    Failed,
    /// The buyer left the CBUI without authorising.
    Abandoned,
    /// The reserve ran past 7 days unsettled (or FPS cancelled it).
    Expired,
    /// FPS refused the Pay/Reserve for now (a retriable decline: balance, account state,
    /// limits). Nothing was charged and the buyer's authorisation is unused: the buyer may try
    /// again with it until it lapses, then the order fails.
    DeclinedForNow,
    /// Claimed: a Refund is (or may be) in flight (the newest of `refunds`).
    Refunding,
    /// FPS accepted the refund and is still processing it.
    RefundPending,
    /// Everything captured was refunded.
    Refunded,
    /// Claimed: a Cancel of the reserve is (or may be) in flight.
    Cancelling,
    /// The reserve was cancelled (voided) before it was settled: nothing was charged.
    Cancelled,
    /// The sweep gave up: retries ran out, or a retriable refusal would outlive the reserve.
    /// `statusCode` / `statusMessage` say why; a person (or `redrive`) takes it from here.
    NeedsAttention,
}

impl OrderState {
    /// An FPS call holds the order.
    pub fn is_claimed(self) -> bool {
        matches!(
            self,
            Self::Charging | Self::Reserving | Self::Settling | Self::Refunding | Self::Cancelling
        )
    }
}

/// Who holds a claimed order, and until when. A claim whose lease ran out may be taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The order id, and FPS's CallerReference for the token and the Pay/Reserve.
    pub caller_reference: String,
    pub cart: PricedCart,
    pub action: PaymentAction,
    pub state: OrderState,
    pub token_id: Option<String>,
    pub payment_method: Option<PaymentMethod>,
    pub transaction_id: Option<String>,
    pub transaction_status: Option<TransactionStatus>,
    /// FPS's status or error code and message, or the CBUI's, for people to read.
    pub status_code: Option<String>,
    pub status_message: Option<String>,
    /// A digest of the return FPS verified for this order: a refresh of that very return is
    /// recognised without asking FPS again; any other return naming the order is refused.
    pub return_digest: Option<String>,
    pub reserved_at: Option<OffsetDateTime>,
    pub fulfilled_at: Option<OffsetDateTime>,
    /// What to settle (≤ the reserved amount); the whole reserve when absent.
    pub settle_amount: Option<Amount>,
    pub settled_at: Option<OffsetDateTime>,
    /// Awaiting authorisation: when to look for a lost return. Reserved: when a Settle that
    /// FPS refused for now is tried again (backoff).
    pub retry_at: Option<OffsetDateTime>,
    pub lease: Option<Lease>,
    /// FPS calls made for this order (Pay/Reserve/Settle, including re-drives).
    pub attempts: u32,
    /// Refunds asked for, oldest first (the newest may be in flight).
    pub refunds: Vec<Refund>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Incremented by every write; each write is conditional on the one it read.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("order {caller_reference} is {state:?}; cannot {action}")]
    IllegalState {
        caller_reference: String,
        state: OrderState,
        action: &'static str,
    },
    #[error("settle amount {requested} is more than the reserved {reserved}")]
    SettleAmountTooLarge { requested: Amount, reserved: Amount },
    /// FPS has not confirmed the reserve yet: ship once it has (retry later).
    #[error(
        "order {caller_reference}: the reservation is not confirmed yet; fulfil it once it is"
    )]
    ReserveNotConfirmed { caller_reference: String },
    /// The reserve dies (or died) too soon to settle safely: do not ship against it.
    #[error("order {caller_reference}: the reservation expires at {expires_at}, too soon to settle against")]
    ReserveExpiring {
        caller_reference: String,
        expires_at: OffsetDateTime,
    },
}

impl Order {
    pub fn new(
        caller_reference: String,
        cart: PricedCart,
        action: PaymentAction,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            caller_reference,
            cart,
            action,
            state: OrderState::AwaitingAuthorization,
            token_id: None,
            payment_method: None,
            transaction_id: None,
            transaction_status: None,
            status_code: None,
            status_message: None,
            return_digest: None,
            reserved_at: None,
            fulfilled_at: None,
            settle_amount: None,
            settled_at: None,
            retry_at: None,
            lease: None,
            attempts: 0,
            refunds: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    pub fn amount(&self) -> Amount {
        self.cart.total
    }

    fn illegal(&self, action: &'static str) -> TransitionError {
        TransitionError::IllegalState {
            caller_reference: self.caller_reference.clone(),
            state: self.state,
            action,
        }
    }

    /// The next version of this order, stamped `now`; the caller writes it conditionally.
    fn next(&self, now: OffsetDateTime) -> Self {
        let mut next = self.clone();
        next.updated_at = now;
        next.version = self.version + 1;
        next
    }

    /// The lease is held by someone and has not run out.
    pub fn lease_is_live(&self, now: OffsetDateTime) -> bool {
        self.lease.as_ref().is_some_and(|l| l.expires_at > now)
    }

    /// The buyer authorised: take the order for the Pay/Reserve call.
    pub fn claim_for_charge(
        &self,
        token_id: &str,
        payment_method: Option<PaymentMethod>,
        lease: Lease,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.state != OrderState::AwaitingAuthorization {
            return Err(self.illegal("claim for charge"));
        }
        let mut next = self.next(now);
        next.state = match self.action {
            PaymentAction::Pay => OrderState::Charging,
            PaymentAction::Reserve => OrderState::Reserving,
        };
        next.token_id = Some(token_id.to_owned());
        next.payment_method = payment_method;
        // The look for a lost return is over: the order is being charged.
        next.retry_at = None;
        if self.action == PaymentAction::Reserve {
            // FPS's 7-day clock starts at the Reserve request, which follows this claim.
            next.reserved_at = Some(now);
        }
        next.lease = Some(lease);
        next.attempts += 1;
        Ok(next)
    }

    /// Until when a declined-for-now order may be charged again with the buyer's authorisation.
    pub fn retry_deadline(&self) -> OffsetDateTime {
        self.created_at + AUTHORIZATION_LIFETIME
    }

    /// FPS refused the charge for now: keep the unused authorisation for the buyer's retry.
    pub fn decline_for_now(
        &self,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if !matches!(self.state, OrderState::Charging | OrderState::Reserving) {
            return Err(self.illegal("decline for now"));
        }
        let mut next = self.next(now);
        next.state = OrderState::DeclinedForNow;
        next.status_code = Some(code.to_owned());
        next.status_message = Some(message.to_owned());
        next.lease = None;
        Ok(next)
    }

    /// The buyer tries a declined-for-now charge again, with the same authorisation, while it
    /// is still valid.
    pub fn claim_retry(&self, lease: Lease, now: OffsetDateTime) -> Result<Self, TransitionError> {
        if self.state != OrderState::DeclinedForNow {
            return Err(self.illegal("retry the charge"));
        }
        if now >= self.retry_deadline() {
            return Err(self.illegal("retry the charge after the authorisation lapsed"));
        }
        let mut next = self.next(now);
        next.state = match self.action {
            PaymentAction::Pay => OrderState::Charging,
            PaymentAction::Reserve => OrderState::Reserving,
        };
        if self.action == PaymentAction::Reserve {
            next.reserved_at = Some(now);
        }
        next.lease = Some(lease);
        next.attempts += 1;
        Ok(next)
    }

    /// Take over a claim whose lease ran out (the process holding it died or timed out).
    pub fn reclaim(&self, lease: Lease, now: OffsetDateTime) -> Result<Self, TransitionError> {
        if !self.state.is_claimed() || self.lease_is_live(now) {
            return Err(self.illegal("reclaim"));
        }
        let mut next = self.next(now);
        next.lease = Some(lease);
        next.attempts += 1;
        Ok(next)
    }

    /// Take a fulfilled reservation for the Settle call.
    pub fn claim_for_settle(
        &self,
        lease: Lease,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.state != OrderState::Reserved || self.fulfilled_at.is_none() {
            return Err(self.illegal("claim for settle"));
        }
        let mut next = self.next(now);
        next.state = OrderState::Settling;
        next.lease = Some(lease);
        next.retry_at = None;
        next.attempts += 1;
        Ok(next)
    }

    /// FPS refused the Settle for now (its Retriable flag): back to a fulfilled reserve that
    /// the sweep tries again from `retry_at`.
    pub fn settle_later(
        &self,
        code: &str,
        message: &str,
        retry_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.state != OrderState::Settling {
            return Err(self.illegal("settle later"));
        }
        let mut next = self.next(now);
        next.state = OrderState::Reserved;
        next.status_code = Some(code.to_owned());
        next.status_message = Some(message.to_owned());
        next.retry_at = Some(retry_at);
        next.lease = None;
        Ok(next)
    }

    /// The sweep stops on an order whose outcome is still open (retries ran out, or a retry
    /// would outlive the reserve): a person takes it from here.
    pub fn needs_attention(
        &self,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        use OrderState as S;
        if !matches!(
            self.state,
            S::Charging
                | S::Reserving
                | S::Settling
                | S::Refunding
                | S::RefundPending
                | S::Cancelling
                | S::Reserved
                | S::PaymentPending
                | S::ReservePending
                | S::SettlePending
        ) {
            return Err(self.illegal("hand to a person"));
        }
        let mut next = self.next(now);
        next.state = S::NeedsAttention;
        next.status_code = Some(code.to_owned());
        next.status_message = Some(message.to_owned());
        next.retry_at = None;
        next.lease = None;
        Ok(next)
    }

    /// Record what FPS said about the order's transaction (Pay, Reserve, Settle, or a status
    /// read), moving to the state that answer implies.
    pub fn record_transaction(
        &self,
        transaction_id: &str,
        status: TransactionStatus,
        status_code: Option<String>,
        status_message: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        use OrderState as S;
        use TransactionStatus as T;
        let settling = matches!(self.state, S::Settling | S::SettlePending);
        let state = match (self.state, status) {
            (S::Charging | S::PaymentPending, T::Success) => S::Paid,
            (S::Charging | S::PaymentPending, T::Pending) => S::PaymentPending,
            (S::Charging | S::PaymentPending, T::Failure | T::Cancelled | T::Reserved) => S::Failed,
            (S::Reserving | S::ReservePending, T::Reserved | T::Success) => S::Reserved,
            (S::Reserving | S::ReservePending, T::Pending) => S::ReservePending,
            (S::Reserving | S::ReservePending, T::Failure) => S::Failed,
            (S::Reserving | S::ReservePending, T::Cancelled) => S::Expired,
            // A Reserved order's transaction can be read by the sweep, too.
            (S::Reserved, T::Reserved) => S::Reserved,
            (S::Reserved, T::Cancelled) => S::Expired,
            (S::Reserved, T::Failure) => S::Failed,
            (S::Settling | S::SettlePending, T::Success) => S::Settled,
            (S::Settling | S::SettlePending, T::Pending) => S::SettlePending,
            // Decision 1: the settled transaction is the reserve itself; still Reserved means the
            // Settle never arrived.
            (S::Settling | S::SettlePending, T::Reserved) => S::Reserved,
            (S::Settling | S::SettlePending, T::Failure) => S::SettleFailed,
            (S::Settling | S::SettlePending, T::Cancelled) => S::Expired,
            _ => return Err(self.illegal("record a transaction status")),
        };
        let mut next = self.next(now);
        next.state = state;
        next.transaction_id = Some(transaction_id.to_owned());
        next.transaction_status = Some(status);
        next.status_code = status_code;
        next.status_message = status_message;
        if !state.is_claimed() {
            next.lease = None;
        }
        if state == S::Reserved && self.reserved_at.is_none() {
            next.reserved_at = Some(now);
        }
        if state == S::Settled && settling {
            next.settled_at = Some(now);
        }
        Ok(next)
    }

    /// FPS definitively refused the call, or the CBUI said no: a final failure.
    pub fn fail(
        &self,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        use OrderState as S;
        let state = match self.state {
            S::AwaitingAuthorization | S::Charging | S::Reserving | S::DeclinedForNow => S::Failed,
            S::Settling => S::SettleFailed,
            _ => return Err(self.illegal("fail")),
        };
        let mut next = self.next(now);
        next.state = state;
        next.status_code = Some(code.to_owned());
        next.status_message = Some(message.to_owned());
        next.lease = None;
        Ok(next)
    }

    /// The buyer cancelled in the CBUI. They may come back and try again: the order returns to
    /// awaiting authorisation only through a new checkout.
    pub fn abandon(&self, now: OffsetDateTime) -> Result<Self, TransitionError> {
        if self.state != OrderState::AwaitingAuthorization {
            return Err(self.illegal("abandon"));
        }
        let mut next = self.next(now);
        next.state = OrderState::Abandoned;
        next.status_code = Some("A".to_owned());
        next.retry_at = None;
        Ok(next)
    }

    /// Nobody authorised the payment while the authorisation page could still be answered:
    /// the order is abandoned (`code` and `message` say why).
    pub fn abandon_unauthorised(
        &self,
        code: &str,
        message: &str,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        let mut next = self.abandon(now)?;
        next.status_code = Some(code.to_owned());
        next.status_message = Some(message.to_owned());
        Ok(next)
    }

    /// No authorisation found yet for an order awaiting one: look again at `at`. (The buyer's
    /// return may have been lost: the sweep asks FPS whether a token exists.)
    pub fn look_again_at(
        &self,
        at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Self, TransitionError> {
        if self.state != OrderState::AwaitingAuthorization {
            return Err(self.illegal("look for an authorisation later"));
        }
        let mut next = self.next(now);
        next.retry_at = Some(at);
        Ok(next)
    }

    /// The merchant shipped: a confirmed reserve (`Reserved`) that lives longer than `margin`
    /// becomes due for Settle. Idempotent: a second call with the same amount changes nothing
    /// (`Ok(None)`).
    pub fn fulfil(
        &self,
        settle_amount: Option<Amount>,
        margin: Duration,
        now: OffsetDateTime,
    ) -> Result<Option<Self>, TransitionError> {
        use OrderState as S;
        if self.action != PaymentAction::Reserve {
            return Err(self.illegal("mark fulfilled (a Pay order is settled already)"));
        }
        if let Some(requested) = settle_amount {
            if requested > self.amount() {
                return Err(TransitionError::SettleAmountTooLarge {
                    requested,
                    reserved: self.amount(),
                });
            }
        }
        if self.fulfilled_at.is_some() {
            return if settle_amount.is_none() || settle_amount == self.settle_amount {
                Ok(None)
            } else {
                Err(self.illegal("change the settle amount after fulfilment"))
            };
        }
        match self.state {
            S::Reserved => {}
            S::Reserving | S::ReservePending => {
                return Err(TransitionError::ReserveNotConfirmed {
                    caller_reference: self.caller_reference.clone(),
                })
            }
            _ => return Err(self.illegal("mark fulfilled")),
        }
        // Settling needs time: refuse a reserve that dies within `margin`.
        if let Some(expires_at) = self.reserve_expires_at() {
            if now + margin >= expires_at {
                return Err(TransitionError::ReserveExpiring {
                    caller_reference: self.caller_reference.clone(),
                    expires_at,
                });
            }
        }
        let mut next = self.next(now);
        next.fulfilled_at = Some(now);
        next.settle_amount = settle_amount;
        Ok(Some(next))
    }

    /// When FPS cancels the reserve: 7 days after the Reserve request.
    pub fn reserve_expires_at(&self) -> Option<OffsetDateTime> {
        self.reserved_at.map(|at| at + RESERVE_LIFETIME)
    }

    /// Fulfilment and the Settle's claim in one write: the Settle follows at once.
    pub fn fulfil_and_claim(
        &self,
        settle_amount: Option<Amount>,
        margin: Duration,
        lease: Lease,
        now: OffsetDateTime,
    ) -> Result<Option<Self>, TransitionError> {
        let Some(mut next) = self.fulfil(settle_amount, margin, now)? else {
            return Ok(None);
        };
        next.state = OrderState::Settling;
        next.lease = Some(lease);
        next.attempts += 1;
        Ok(Some(next))
    }

    /// A reserve older than 7 days is dead: FPS will not settle it.
    pub fn reserve_expired(&self, now: OffsetDateTime) -> bool {
        self.reserve_expires_at().is_some_and(|at| now >= at)
    }

    pub fn expire(&self, now: OffsetDateTime) -> Result<Self, TransitionError> {
        if !matches!(
            self.state,
            OrderState::Reserved | OrderState::ReservePending
        ) {
            return Err(self.illegal("expire"));
        }
        let mut next = self.next(now);
        next.state = OrderState::Expired;
        next.status_code = Some("Expired".to_owned());
        next.status_message = Some("The reservation was not settled within 7 days.".to_owned());
        next.lease = None;
        Ok(next)
    }

    /// When the order may be deleted, kept `retention` after it ended with no money moved
    /// (abandoned or failed). Paid, settled and anything that moved money are kept.
    pub fn deletable_after(&self, retention: Duration) -> Option<OffsetDateTime> {
        matches!(self.state, OrderState::Abandoned | OrderState::Failed)
            .then(|| self.updated_at + retention)
    }

    /// When the settle sweep should next look at this order; `None` when it never needs to.
    /// The store keeps this in the sparse "due" index.
    pub fn due_at(&self) -> Option<OffsetDateTime> {
        use OrderState as S;
        match self.state {
            // When to ask FPS whether the buyer authorised but never came back.
            S::AwaitingAuthorization => self.retry_at,
            S::Charging | S::Reserving | S::Settling | S::Refunding | S::Cancelling => {
                self.lease.as_ref().map(|l| l.expires_at)
            }
            S::PaymentPending | S::ReservePending | S::SettlePending | S::RefundPending => {
                Some(self.updated_at)
            }
            // Failed by the sweep once the buyer's authorisation lapses unused.
            S::DeclinedForNow => Some(self.retry_deadline()),
            S::Reserved => match (self.fulfilled_at, self.reserved_at) {
                (Some(fulfilled), _) => Some(self.retry_at.map_or(fulfilled, |r| r.max(fulfilled))),
                (None, Some(reserved)) => Some(reserved + RESERVE_LIFETIME),
                (None, None) => Some(self.updated_at),
            },
            _ => None,
        }
    }
}

mod after_sale;
pub use after_sale::{AfterSaleRefusal, Refund, RefundStatus};

#[cfg(test)]
mod tests;
