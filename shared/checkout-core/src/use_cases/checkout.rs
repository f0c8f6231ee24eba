//! The buyer-facing use cases: `start` (price the cart, store the order, get the link to
//! authorise the payment) and `complete` (verify the return, charge exactly once, record the
//! outcome).

use std::sync::Arc;

use tracing::{info, warn, Instrument};
use url::Url;

use crate::domain::catalog::{price_cart, CartLine, Catalog, PricingError, PricingRule};
use crate::domain::order::{Lease, Order, OrderState, PaymentAction, TransitionError};
use crate::domain::payment::PaymentMethod;
use crate::ports::clock::Clock;
use crate::ports::gateway::{
    Authorization, AuthorizationRequest, AuthorizationReturn, Charge, GatewayError,
    InvalidPaymentRequest, InvalidReturn, PaymentGateway,
};
use crate::ports::store::{OrderStore, StoreError};

/// What the checkout needs to know, from configuration.
#[derive(Debug, Clone)]
pub struct CheckoutSettings {
    pub catalog: Catalog,
    pub pricing: PricingRule,
    pub action: PaymentAction,
    /// Where the buyer comes back after authorising, and the URL the return is verified
    /// against: exactly the URL the return handler is reached at.
    pub return_url: Url,
    pub merchant_name: String,
    /// How long a claim protects an in-flight FPS call; must exceed the client's overall timeout.
    pub lease: time::Duration,
    /// How long a request that lost the race waits for the winner's outcome.
    pub wait_for_winner: std::time::Duration,
    /// When the sweep first looks for a lost return (an authorisation whose buyer never came
    /// back), after checkout.
    pub recover_after: time::Duration,
}

impl CheckoutSettings {
    /// Settings from the validated configuration; the lease outlives the FPS client's overall
    /// timeout so a claim never lapses while its call can still succeed.
    pub fn new(shop: &crate::config::ShopConfig, fps: &crate::config::FpsConfig) -> Self {
        let budget =
            time::Duration::try_from(fps.overall_timeout).unwrap_or(time::Duration::seconds(20));
        Self {
            catalog: shop.catalog.clone(),
            pricing: shop.pricing.clone(),
            action: shop.action,
            return_url: shop.return_url.clone(),
            merchant_name: shop.merchant_name.clone(),
            lease: budget + time::Duration::seconds(30),
            wait_for_winner: fps.overall_timeout + std::time::Duration::from_secs(2),
            recover_after: shop.recover_after,
        }
    }
}

impl CheckoutSettings {
    /// The order's own return URL: the shared one with the order id as its last segment.
    pub fn return_url_for(&self, order_id: &str) -> Url {
        let mut url = self.return_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().push(order_id);
        }
        url
    }
}

/// Where a buyer came back from the CBUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnedTo<'a> {
    /// The order's own return URL; `Some(order id)` as its path says (the CBUI names no order
    /// on a cancel or a refusal).
    OrderUrl(Option<&'a str>),
    /// The shared return URL (orders started before return URLs carried the order id).
    SharedUrl,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StartedCheckout {
    pub order: Order,
    pub cbui_url: Url,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Pricing(#[from] PricingError),
    #[error(transparent)]
    InvalidRequest(#[from] InvalidPaymentRequest),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of a return: the order as it now stands. `repeat` is true when this request did
/// not change anything (a refresh, a double click, or a race lost to another request).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub order: Order,
    pub repeat: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error(transparent)]
    BadReturn(#[from] InvalidReturn),
    #[error("the return query has no callerReference")]
    MissingCallerReference,
    /// The path and the query name different orders.
    #[error("the return link names two different orders")]
    MismatchedOrder,
    #[error("no order {0}")]
    UnknownOrder(String),
    /// VerifySignature said no (or the signature fields are missing): not from FPS.
    #[error("the return is not signed by FPS")]
    Forged,
    /// A return naming an order that is past authorisation, but not the return FPS verified
    /// for it: not shown the order, and not sent to FPS (the order may well be paid).
    #[error("not the return verified for order {0}")]
    UnrecognisedReturn(String),
    /// The store could not be asked before anything was claimed: no charge was or will be
    /// made for this return; the buyer may refresh.
    #[error("temporarily unavailable: {0}")]
    StoreUnavailable(#[from] StoreError),
    /// The store failed once a charge may be under way (the claim may have been written, the
    /// charge may have been sent, another request may be charging): the buyer must not be
    /// told nothing was charged.
    #[error("the payment cannot be confirmed yet: {0}")]
    Unconfirmed(#[source] StoreError),
    /// The gateway could not verify the return; nothing was changed, the buyer may refresh.
    #[error("temporarily unavailable: {0}")]
    GatewayUnavailable(#[source] GatewayError),
}

/// Failure of one step on one order (shared with the sweep).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The gateway's answer is not known yet; the order stays claimed until its lease runs out.
    #[error("gateway outcome unknown: {0}")]
    Unresolved(#[source] GatewayError),
}

pub struct Checkout<S, G> {
    store: S,
    gateway: G,
    clock: Arc<dyn Clock>,
    settings: Arc<CheckoutSettings>,
}

impl<S: OrderStore, G: PaymentGateway> Checkout<S, G> {
    pub fn new(store: S, gateway: G, clock: Arc<dyn Clock>, settings: CheckoutSettings) -> Self {
        Self {
            store,
            gateway,
            clock,
            settings: Arc::new(settings),
        }
    }

    /// Prices the cart on the server, stores the order (CallerReference = order id) and returns
    /// the signed CBUI URL to send the buyer to. Invalid carts write nothing.
    pub async fn start(&self, cart: &[CartLine]) -> Result<StartedCheckout, StartError> {
        let settings = &self.settings;
        let priced = price_cart(&settings.catalog, &settings.pricing, cart)?;
        let now = self.clock.now();
        let caller_reference = new_order_id();
        let cbui_url = self.gateway.authorization_url(&AuthorizationRequest {
            order_id: &caller_reference,
            amount: priced.total,
            description: &payment_reason(&settings.merchant_name, &priced),
            reserve: settings.action == PaymentAction::Reserve,
            return_url: &settings.return_url_for(&caller_reference),
        })?;
        let mut order = Order::new(caller_reference, priced, settings.action, now);
        // If the buyer's return is lost, the sweep finds the authorisation from here on.
        order.retry_at = Some(now + settings.recover_after);
        self.store.create(&order).await?;
        info!(caller_reference = %order.caller_reference, amount = %order.amount(), action = order.action.as_str(), "order created");
        Ok(StartedCheckout { order, cbui_url })
    }

    /// Handles the buyer's return from the CBUI. Whatever happens, Pay/Reserve reaches FPS at
    /// most once per order from here: the claim is a conditional write and the losers report
    /// the winner's outcome.
    /// A return that came back to its order's own return URL (the order named by the query).
    pub async fn complete(&self, raw_query: &str) -> Result<Completion, CompleteError> {
        self.complete_at(ReturnedTo::OrderUrl(None), raw_query)
            .await
    }

    /// A return as received at `returned_to`. The order's own return URL carries its id, so
    /// returns that name no order (cancel, not permitted) still find theirs; VerifySignature
    /// is asked with exactly the URL the return came to.
    pub async fn complete_at(
        &self,
        returned_to: ReturnedTo<'_>,
        raw_query: &str,
    ) -> Result<Completion, CompleteError> {
        let ret = self.gateway.read_return(raw_query)?;
        let (caller_reference, end_point) = self.locate(returned_to, &ret)?;
        let span = tracing::info_span!("complete", caller_reference = %caller_reference, transaction_id = tracing::field::Empty);
        self.complete_verified(ret, caller_reference, end_point)
            .instrument(span)
            .await
    }

    /// The order a return names, and the URL it was verified (or is to be verified) against.
    fn locate(
        &self,
        returned_to: ReturnedTo<'_>,
        ret: &AuthorizationReturn,
    ) -> Result<(String, Url), CompleteError> {
        Ok(match (returned_to, ret.order_id.clone()) {
            (ReturnedTo::OrderUrl(Some(in_path)), Some(in_query)) if in_path != in_query => {
                return Err(CompleteError::MismatchedOrder)
            }
            (ReturnedTo::OrderUrl(Some(in_path)), _) => {
                (in_path.to_owned(), self.settings.return_url_for(in_path))
            }
            (ReturnedTo::OrderUrl(None), Some(in_query)) => {
                let end_point = self.settings.return_url_for(&in_query);
                (in_query, end_point)
            }
            (ReturnedTo::SharedUrl, Some(in_query)) => (in_query, self.settings.return_url.clone()),
            (_, None) => return Err(CompleteError::MissingCallerReference),
        })
    }

    /// The buyer asks to try a charge FPS declined for now again, with the same authorisation
    /// (the return at the order's own URL).
    pub async fn retry(&self, raw_query: &str) -> Result<Completion, CompleteError> {
        self.retry_at(ReturnedTo::OrderUrl(None), raw_query).await
    }

    /// A retry asked from `returned_to` with the return's query. Only the return FPS verified
    /// for the order is accepted (its digest), so no VerifySignature is spent; the charge
    /// reuses the order's CallerReference, which FPS's refusal left unrecorded. Anything but a
    /// declined-for-now order is reported as it stands.
    pub async fn retry_at(
        &self,
        returned_to: ReturnedTo<'_>,
        raw_query: &str,
    ) -> Result<Completion, CompleteError> {
        let ret = self.gateway.read_return(raw_query)?;
        let (caller_reference, _) = self.locate(returned_to, &ret)?;
        let span = tracing::info_span!("retry", caller_reference = %caller_reference, transaction_id = tracing::field::Empty);
        async move {
            let order = self
                .store
                .get(&caller_reference)
                .await?
                .ok_or_else(|| CompleteError::UnknownOrder(caller_reference.clone()))?;
            if order.return_digest.as_deref() != Some(return_digest(&ret.raw_query).as_str()) {
                warn!("a retry with a return that is not the one FPS verified");
                return Err(CompleteError::UnrecognisedReturn(caller_reference));
            }
            if order.state.is_claimed() {
                return self.outcome_of_race(&caller_reference).await;
            }
            if order.state != OrderState::DeclinedForNow {
                return Ok(Completion {
                    order,
                    repeat: true,
                });
            }
            let now = self.clock.now();
            let lease = Lease {
                owner: uuid::Uuid::new_v4().to_string(),
                expires_at: now + self.settings.lease,
            };
            let next = match order.claim_retry(lease, now) {
                Ok(next) => next,
                // The authorisation lapsed: the decline stands, as a failure.
                Err(_) => {
                    let message = order.status_message.clone().unwrap_or_default();
                    let code = order.status_code.clone().unwrap_or_default();
                    let message =
                        format!("{message} (the authorisation lapsed before it was tried again)");
                    let Ok(failed) = order.fail(&code, &message, now) else {
                        return Ok(Completion {
                            order,
                            repeat: true,
                        });
                    };
                    return match self.store.transition(&order, &failed).await {
                        Ok(()) => Ok(Completion {
                            order: failed,
                            repeat: false,
                        }),
                        Err(StoreError::Conflict(_)) => {
                            self.outcome_of_race(&caller_reference).await
                        }
                        Err(e) => Err(e.into()),
                    };
                }
            };
            info!(
                attempts = next.attempts,
                "the buyer retries a charge declined for now"
            );
            self.charge_claimed(&order, next, &caller_reference).await
        }
        .instrument(span)
        .await
    }

    async fn complete_verified(
        &self,
        ret: AuthorizationReturn,
        caller_reference: String,
        end_point: Url,
    ) -> Result<Completion, CompleteError> {
        if !ret.signed {
            warn!("return without FPS signature fields");
            crate::telemetry::forged_return();
            return Err(CompleteError::Forged);
        }
        // The order first: a return for an order we do not have, or a refresh of one already
        // completed, costs no VerifySignature (an unauthenticated URL must not spend the
        // merchant's FPS quota).
        let order = self
            .store
            .get(&caller_reference)
            .await?
            .ok_or_else(|| CompleteError::UnknownOrder(caller_reference.clone()))?;
        let digest = return_digest(&ret.raw_query);
        let known_return = order.return_digest.as_deref() == Some(digest.as_str());
        if order.state != OrderState::AwaitingAuthorization && order.return_digest.is_some() {
            if !known_return {
                warn!("a return for a completed order that is not the one FPS verified");
                return Err(CompleteError::UnrecognisedReturn(caller_reference));
            }
        } else {
            match self.gateway.verify_return(&end_point, &ret).await {
                Ok(true) => {}
                Ok(false) => {
                    warn!("VerifySignature: Failure");
                    crate::telemetry::forged_return();
                    return Err(CompleteError::Forged);
                }
                Err(e) => return Err(CompleteError::GatewayUnavailable(e)),
            }
        }
        if order.state.is_claimed() {
            // Another request is charging right now: report its outcome, not the claim.
            return self.outcome_of_race(&caller_reference).await;
        }
        if order.state != OrderState::AwaitingAuthorization {
            return Ok(Completion {
                order,
                repeat: true,
            });
        }
        let now = self.clock.now();
        let next = match &ret.outcome {
            Authorization::Abandoned => order.abandon(now),
            Authorization::Declined { code, message } => order.fail(code, message, now),
            Authorization::Authorized { token: None, .. } => {
                order.fail("CE", "The authorisation came back without a token.", now)
            }
            Authorization::Authorized { method, .. }
                if order.action == PaymentAction::Reserve
                    && *method != Some(PaymentMethod::CreditCard) =>
            {
                order.fail(
                    "PaymentInstrumentNotCC",
                    "A reservation needs a credit card; please choose a card.",
                    now,
                )
            }
            Authorization::Authorized {
                token: Some(token),
                method,
            } => {
                let lease = Lease {
                    owner: uuid::Uuid::new_v4().to_string(),
                    expires_at: now + self.settings.lease,
                };
                order.claim_for_charge(token, *method, lease, now)
            }
        };
        let next = match next {
            Ok(mut next) => {
                next.return_digest = Some(digest);
                next
            }
            // The order moved on between our read and now.
            Err(_) => return self.outcome_of_race(&caller_reference).await,
        };
        if !next.state.is_claimed() {
            match self.store.transition(&order, &next).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    return self.outcome_of_race(&caller_reference).await
                }
                Err(e) => return Err(e.into()),
            }
            info!(
                state = next.state.as_str(),
                status = next.status_code.as_deref().unwrap_or(""),
                "return recorded without charging"
            );
            return Ok(Completion {
                order: next,
                repeat: false,
            });
        }
        self.charge_claimed(&order, next, &caller_reference).await
    }

    /// Writes the claim `next` over `order`, then makes the Pay/Reserve call and reports the
    /// order as it then stands.
    async fn charge_claimed(
        &self,
        order: &Order,
        next: Order,
        caller_reference: &str,
    ) -> Result<Completion, CompleteError> {
        match self.store.transition(order, &next).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return self.outcome_of_race(caller_reference).await,
            // A claim whose answer was lost may have been written: the sweep would charge it.
            Err(e) => return Err(CompleteError::Unconfirmed(e)),
        }
        match run_charge(&self.store, &self.gateway, self.clock.as_ref(), next).await {
            Ok(order) => Ok(Completion {
                order,
                repeat: false,
            }),
            Err(StepError::Unresolved(e)) => {
                warn!(error = %e, "charge outcome unknown; the sweep will resolve it");
                let order = self
                    .store
                    .get(caller_reference)
                    .await
                    .map_err(CompleteError::Unconfirmed)?
                    .ok_or_else(|| CompleteError::UnknownOrder(caller_reference.to_owned()))?;
                Ok(Completion {
                    order,
                    repeat: false,
                })
            }
            Err(StepError::Store(StoreError::Conflict(_))) | Err(StepError::Transition(_)) => {
                self.outcome_of_race(caller_reference).await
            }
            Err(StepError::Store(e)) => Err(CompleteError::Unconfirmed(e)),
        }
    }

    /// Another request holds or finished the order: report its outcome, waiting a little for
    /// an in-flight charge to land so that every caller sees the same result.
    async fn outcome_of_race(&self, caller_reference: &str) -> Result<Completion, CompleteError> {
        let give_up = tokio::time::Instant::now() + self.settings.wait_for_winner;
        loop {
            let order = self
                .store
                .get(caller_reference)
                .await
                // Another request holds or held the order: it may be charging.
                .map_err(CompleteError::Unconfirmed)?
                .ok_or_else(|| CompleteError::UnknownOrder(caller_reference.to_owned()))?;
            let busy = order.state.is_claimed() && order.lease_is_live(self.clock.now());
            if !busy || tokio::time::Instant::now() >= give_up {
                return Ok(Completion {
                    order,
                    repeat: true,
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// What identifies a verified return on its order: SHA-256 of the raw query (which carries
/// FPS's signature), base64url.
fn return_digest(raw_query: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(raw_query))
}

/// Order ids double as CallerReference: unique, ≤ 128 characters, safe in URLs.
fn new_order_id() -> String {
    format!("o-{}", uuid::Uuid::new_v4().simple())
}

/// `Acme: 2 × T-shirt, 1 × Mug`: what the buyer reads when authorising (the gateway fits it
/// to its own limits).
fn payment_reason(merchant: &str, cart: &crate::domain::catalog::PricedCart) -> String {
    let items: Vec<String> = cart
        .lines
        .iter()
        .map(|l| format!("{} × {}", l.quantity, l.name))
        .collect();
    format!("{merchant}: {}", items.join(", "))
}

/// Makes the Pay or Reserve call for an order this process has claimed, and records the
/// answer. Definitive refusals fail the order; anything else (an unknown outcome, or a call
/// that never left) leaves the claim in place for the sweep, which repeats the call with the
/// same CallerReference.
pub(crate) async fn run_charge<S: OrderStore, G: PaymentGateway>(
    store: &S,
    gateway: &G,
    clock: &dyn Clock,
    claimed: Order,
) -> Result<Order, StepError> {
    let Some(token_id) = claimed.token_id.clone() else {
        let next = claimed.fail("CE", "No token to charge.", clock.now())?;
        store.transition(&claimed, &next).await?;
        return Ok(next);
    };
    let charge = Charge {
        action: claimed.action,
        token_id: &token_id,
        amount: claimed.amount(),
        caller_reference: &claimed.caller_reference,
        description: Some(format!("Order {}", claimed.caller_reference)),
    };
    let next = match gateway.charge(charge).await {
        Ok(accepted) => {
            tracing::Span::current().record("transaction_id", accepted.transaction_id.as_str());
            info!(transaction_id = %accepted.transaction_id, status = accepted.status.as_str(), action = claimed.action.as_str(), "FPS accepted the charge");
            claimed.record_transaction(
                &accepted.transaction_id,
                accepted.status,
                None,
                None,
                clock.now(),
            )?
        }
        // A resend refused because the authorisation is used: our own earlier attempt may
        // have used it. Ask whether it is spent before calling the order failed.
        Err(GatewayError::Refused {
            code,
            message,
            authorization_used: true,
            ..
        }) if claimed.attempts > 1 => {
            match gateway.authorization_spent(&claimed.caller_reference).await {
                Ok(true) => {
                    // Inactive reads the same whether our earlier attempt used the token or it
                    // expired or was cancelled unused, so the reason claims no more than that.
                    warn!(%code, "a resent charge was refused and the authorisation is no longer usable: an earlier attempt may have charged");
                    claimed.needs_attention(
                        &code,
                        &format!(
                            "{message} (a resend of this charge: FPS reports the buyer's authorisation no longer usable, and an earlier attempt may have used it; look for CallerReference {} in the FPS account)",
                            claimed.caller_reference
                        ),
                        clock.now(),
                    )?
                }
                Ok(false) => claimed.fail(&code, &message, clock.now())?,
                Err(e) => return Err(StepError::Unresolved(e)),
            }
        }
        // Refused for now (balance, account state, limits): nothing was charged and the
        // authorisation is unused. The buyer, not a timer, decides whether to try it again.
        Err(GatewayError::Refused {
            code,
            message,
            retry_later: true,
            ..
        }) if clock.now() < claimed.retry_deadline() => {
            info!(%code, "FPS declined the charge for now; the buyer may try again");
            claimed.decline_for_now(&code, &message, clock.now())?
        }
        Err(GatewayError::Refused { code, message, .. }) => {
            info!(%code, "FPS refused the charge");
            claimed.fail(&code, &message, clock.now())?
        }
        Err(e) => return Err(StepError::Unresolved(e)),
    };
    store.transition(&claimed, &next).await?;
    Ok(next)
}

#[cfg(test)]
mod claim_tests;
#[cfg(test)]
mod tests;
