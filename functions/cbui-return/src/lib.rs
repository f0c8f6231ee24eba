//! `cbui-return`: `GET /return`, where the CBUI sends the buyer back. Verifies the return with
//! FPS, charges exactly once, and shows the outcome. Refreshing never charges again.

use checkout_core::checkout::{Checkout, CompleteError};
use checkout_core::config::ShopConfig;
use checkout_core::fps::FpsClient;
use checkout_core::gateway::PaymentGateway;
use checkout_core::pages;
use checkout_core::store::dynamodb::DynamoOrderStore;
use checkout_core::store::OrderStore;
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use tracing::{info, warn};

pub type App = Service<DynamoOrderStore, FpsClient>;

pub struct Service<S, G> {
    pub checkout: Checkout<S, G>,
    pub shop: ShopConfig,
}

fn html(status: StatusCode, page: String) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        // Outcome pages are per order and per moment: never cache them.
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(page))?)
}

impl<S: OrderStore, G: PaymentGateway> Service<S, G> {
    pub async fn handle(&self, req: Request) -> Result<Response<Body>, Error> {
        let merchant = &self.shop.merchant_name;
        let shop_url = Some(&self.shop.shop_url);
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return html(
                StatusCode::METHOD_NOT_ALLOWED,
                pages::error(merchant, "Not allowed", &["Use GET.".into()], shop_url),
            );
        }
        // The raw query, byte for byte: VerifySignature needs exactly what FPS sent.
        let raw_query = req.uri().query().unwrap_or("");
        match self.checkout.complete(raw_query).await {
            Ok(completion) => {
                let order = &completion.order;
                info!(caller_reference = %order.caller_reference, transaction_id = order.transaction_id.as_deref().unwrap_or(""), state = order.state.as_str(), repeat = completion.repeat, "return handled");
                html(
                    StatusCode::OK,
                    pages::outcome(merchant, order, &self.shop.shop_url),
                )
            }
            Err(e) => {
                warn!(error = %e, "return refused");
                let (status, title, text) = match &e {
                    CompleteError::BadReturn(_) | CompleteError::MissingCallerReference => (
                        StatusCode::BAD_REQUEST,
                        "This link is incomplete",
                        format!("The payment return link is not valid ({e}). Nothing was charged."),
                    ),
                    CompleteError::UnknownOrder(_) => (
                        StatusCode::NOT_FOUND,
                        "Order not found",
                        "We have no order for this payment link. Nothing was charged.".to_owned(),
                    ),
                    CompleteError::Forged => (
                        StatusCode::FORBIDDEN,
                        "This link could not be verified",
                        "Amazon Payments did not confirm this payment link, so we did not charge anything.".to_owned(),
                    ),
                    CompleteError::Unavailable(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Please refresh in a moment",
                        "We could not confirm your payment just now. Nothing has been charged yet; refreshing this page is safe.".to_owned(),
                    ),
                };
                let mut response = html(status, pages::error(merchant, title, &[text], shop_url))?;
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
                }
                Ok(response)
            }
        }
    }
}
