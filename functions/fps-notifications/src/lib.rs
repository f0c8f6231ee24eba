//! `fps-notifications`: `POST /ipn`, where FPS posts an Instant Payment Notification for every
//! status change of the transactions this shop makes. Verified with FPS before it changes
//! anything; answered fast, because FPS waits for the answer and sends it again on anything
//! but a 2xx.

use checkout_core::ports::gateway::PaymentGateway;
use checkout_core::ports::store::OrderStore;
use checkout_core::use_cases::notify::{NoticeError, Notifications, Received};
use checkout_core::web;
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use tracing::{info, warn};

/// Serves one request (what the Lambda runtime calls).
pub async fn handle<S: OrderStore, G: PaymentGateway>(
    notifications: &Notifications<S, G>,
    req: Request,
) -> Result<Response<Body>, Error> {
    if let Some(what) = web::lambda::malformed(&req) {
        return text(StatusCode::BAD_REQUEST, &format!("malformed {what}"));
    }
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use POST");
    }
    let Ok(body) = std::str::from_utf8(req.body().as_ref()) else {
        return text(StatusCode::BAD_REQUEST, "the body is not UTF-8 form data");
    };
    // The notification's answer, within the invocation's (and API Gateway's) deadline; FPS
    // sends it again if this runs out.
    let deadline = web::lambda::request_deadline(&req);
    let received = match tokio::time::timeout_at(deadline, notifications.receive(body)).await {
        Ok(received) => received,
        Err(_) => {
            warn!("notification out of time; FPS will send it again");
            return text(StatusCode::SERVICE_UNAVAILABLE, "out of time");
        }
    };
    match received {
        Ok(Received::Applied(order)) => {
            info!(caller_reference = %order.caller_reference, state = order.state.as_str(), "notification applied");
            text(StatusCode::OK, "applied")
        }
        Ok(Received::Unchanged(why)) => text(StatusCode::OK, why),
        Ok(Received::Ignored(why)) => text(StatusCode::OK, why),
        Err(e) => {
            warn!(error = %e, "notification refused");
            let status = match e {
                NoticeError::Malformed(_) => StatusCode::BAD_REQUEST,
                NoticeError::Forged => StatusCode::FORBIDDEN,
                NoticeError::GatewayUnavailable(_) | NoticeError::StoreUnavailable(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            };
            text(status, &e.to_string())
        }
    }
}

fn text(status: StatusCode, message: &str) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(format!("{message}\n")))?)
}

#[cfg(test)]
mod tests;
