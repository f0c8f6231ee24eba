//! The HTTP functions' shared layer: the service both are built around, and every response
//! they send (pages, JSON, redirects) with the same headers.

pub mod pages;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Error, Response};

use crate::config::ShopConfig;
use crate::use_cases::checkout::Checkout;

/// Everything a request needs, built once at init.
pub struct Service<S, G> {
    pub checkout: Checkout<S, G>,
    pub shop: ShopConfig,
}

/// How long a buyer should wait before trying a temporarily unavailable page again.
const RETRY_AFTER_SECONDS: &str = "5";

impl<S, G> Service<S, G> {
    /// An error page in the shop's frame, with a link back to the shop. A 503 tells the
    /// browser when to try again.
    pub fn error_page(
        &self,
        status: StatusCode,
        title: &str,
        lines: &[String],
    ) -> Result<Response<Body>, Error> {
        let page = pages::error(
            &self.shop.merchant_name,
            title,
            lines,
            Some(&self.shop.shop_url),
        );
        let mut response = html(status, page)?;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        Ok(response)
    }

    pub fn not_found(&self) -> Result<Response<Body>, Error> {
        self.error_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            &["There is no such page.".into()],
        )
    }
}

/// An HTML page. Pages are per order and per moment: never cached.
pub fn html(status: StatusCode, page: String) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(page))?)
}

/// A JSON body (`content_type` names the flavour, e.g. `application/problem+json`).
pub fn json(
    status: StatusCode,
    content_type: &str,
    value: &serde_json::Value,
) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(value.to_string()))?)
}

/// 303 to `location`.
pub fn see_other(location: &str) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::Empty)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_is_uncacheable_and_typed() {
        let page = html(StatusCode::OK, "<p>x</p>".into()).unwrap();
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = json(
            StatusCode::BAD_REQUEST,
            "application/problem+json",
            &serde_json::json!({"a": 1}),
        )
        .unwrap();
        assert_eq!(body.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            body.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let redirect = see_other("https://example.com/x").unwrap();
        assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            redirect.headers()[header::LOCATION],
            "https://example.com/x"
        );
    }
}
