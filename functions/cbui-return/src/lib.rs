//! `cbui-return`: `GET /return/<order id>`, where the CBUI sends the buyer back. Verifies the
//! return with FPS, charges exactly once, and shows the outcome. Refreshing never charges
//! again. `POST` to the same URL is the buyer's "Try again" on a charge FPS declined for now.

use checkout_core::ports::gateway::PaymentGateway;
use checkout_core::ports::store::OrderStore;
use checkout_core::use_cases::checkout::{CompleteError, ReturnedTo};
use checkout_core::web::{self, pages};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use tracing::{info, warn};

/// The web layer's service: the checkout and the shop's configuration.
pub type Service<S, G> = web::Service<S, G>;

/// Serves one request (what the Lambda runtime calls).
pub async fn handle<S: OrderStore, G: PaymentGateway>(
    service: &Service<S, G>,
    req: Request,
) -> Result<Response<Body>, Error> {
    service.secured(respond(service, req).await)
}

async fn respond<S: OrderStore, G: PaymentGateway>(
    service: &Service<S, G>,
    req: Request,
) -> Result<Response<Body>, Error> {
    if let Some(what) = web::lambda::malformed(&req) {
        return service.refuse_malformed(what);
    }
    let retry = match *req.method() {
        Method::GET | Method::HEAD => false,
        // "Try again" on a declined-for-now page posts back to this very URL.
        Method::POST => true,
        _ => {
            return service.error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                "Not allowed",
                &["Use GET (or POST to try a declined payment again).".into()],
            )
        }
    };
    // The raw query, byte for byte: VerifySignature needs exactly what FPS sent.
    let raw_query = req.uri().query().unwrap_or("");
    // One budget for the whole return: the invocation's (and API Gateway's) deadline. Work
    // still out when it ends is dropped: a Pay already sent is resolved by the sweep.
    let deadline = web::lambda::request_deadline(&req);
    let checkout = &service.checkout;
    let to = returned_to(req.uri().path());
    let completion = async {
        if retry {
            checkout.retry_at(to, raw_query).await
        } else {
            checkout.complete_at(to, raw_query).await
        }
    };
    let completed = match tokio::time::timeout_at(deadline, completion).await {
        Ok(completed) => completed,
        Err(_) => {
            warn!("return out of time; the sweep resolves whatever was started");
            return service.error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "We are confirming your payment",
                    &["We could not finish confirming your payment in time. If you authorised it, it may still go through, so please do not pay again. Refresh this page in a minute to see the result; you will not be charged twice.".to_owned()],
                );
        }
    };
    match completed {
        Ok(completion) => {
            let order = &completion.order;
            info!(caller_reference = %order.caller_reference, transaction_id = order.transaction_id.as_deref().unwrap_or(""), state = order.state.as_str(), repeat = completion.repeat, retry, "return handled");
            if retry {
                // Post/redirect/get: the outcome is this very return URL, and a refresh of it
                // never posts again. (A query-only reference keeps whatever path prefix the
                // buyer's URL had.)
                return web::see_other(&format!("?{raw_query}"));
            }
            web::html(
                StatusCode::OK,
                pages::outcome(&service.shop.merchant_name, order, &service.shop.shop_url),
            )
        }
        Err(e) => {
            warn!(error = %e, "return refused");
            let (status, title, text) = refusal_page(&e);
            service.error_page(status, title, &[text])
        }
    }
}

/// `…/return/<order id>` is the order's own return URL; `…/return`, the shared one.
fn returned_to(path: &str) -> ReturnedTo<'_> {
    match path.trim_end_matches('/').rsplit_once("/return/") {
        Some((_, order_id)) if !order_id.is_empty() && !order_id.contains('/') => {
            ReturnedTo::OrderUrl(Some(order_id))
        }
        _ => ReturnedTo::SharedUrl,
    }
}

/// What the buyer is told when a return cannot be completed.
fn refusal_page(e: &CompleteError) -> (StatusCode, &'static str, String) {
    match e {
        CompleteError::BadReturn(_)
        | CompleteError::MissingCallerReference
        | CompleteError::MismatchedOrder => (
            StatusCode::BAD_REQUEST,
            "This link is incomplete",
            format!("The payment return link is not valid ({e}). This link did not start a payment."),
        ),
        CompleteError::UnknownOrder(_) => (
            StatusCode::NOT_FOUND,
            "Order not found",
            "We have no order for this payment link. Nothing was charged.".to_owned(),
        ),
        // Asked of an order awaiting authorisation: nothing was charged for it.
        CompleteError::Forged => (
            StatusCode::FORBIDDEN,
            "This link could not be verified",
            "Amazon Payments did not confirm this payment link, so we did not charge anything."
                .to_owned(),
        ),
        // The order is past authorisation and may well be paid.
        CompleteError::UnrecognisedReturn(_) => (
            StatusCode::FORBIDDEN,
            "This link could not be verified",
            "This is not the payment link we confirmed for this order. If you already paid for it, that payment stands: please do not pay again.".to_owned(),
        ),
        // This request charged nothing, but the order's state is not known here (an earlier
        // visit, or another tab, may have paid it): never "nothing charged".
        CompleteError::StoreUnavailable(_) | CompleteError::GatewayUnavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Please refresh in a moment",
            "We could not confirm your payment just now. If you authorised it, it may already have gone through, so please do not pay again. Refreshing this page is safe.".to_owned(),
        ),
        // A charge may be under way or done: never "nothing charged".
        CompleteError::Unconfirmed(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "We are confirming your payment",
            "Your payment may already have gone through, so please do not pay again. Refresh this page in a minute to see the result; you will not be charged twice.".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests;
