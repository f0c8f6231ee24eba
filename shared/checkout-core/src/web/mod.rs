//! The HTTP functions' shared layer: the service both are built around, and every response
//! they send (pages, JSON, redirects) with the same headers.

pub mod lambda;
pub mod pages;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Error, Response};
use url::Url;

use crate::config::ShopConfig;
use crate::use_cases::checkout::Checkout;

/// Everything a request needs, built once at init.
pub struct Service<S, G> {
    pub checkout: Checkout<S, G>,
    pub shop: ShopConfig,
    pub security: SecurityHeaders,
}

/// The headers every response carries, pages and JSON alike: a Content-Security-Policy that
/// allows nothing but the pages' inline styles and forms posting to the shop or the payment
/// page, no framing, no MIME sniffing, no Referer (the return URL carries the buyer's token
/// and FPS's signature), HTTPS only.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    content_security_policy: HeaderValue,
}

impl SecurityHeaders {
    /// `authorization_url`: where checkout sends the buyer (the CBUI); its origin may receive
    /// the checkout form's redirect.
    pub fn new(authorization_url: &Url) -> Self {
        let origin = authorization_url.origin().ascii_serialization();
        let policy = format!(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {origin}; \
             frame-ancestors 'none'; base-uri 'none'"
        );
        Self {
            content_security_policy: HeaderValue::from_str(&policy)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
        }
    }

    pub fn apply(&self, response: &mut Response<Body>) {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            self.content_security_policy.clone(),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

/// How long a buyer should wait before trying a temporarily unavailable page again.
const RETRY_AFTER_SECONDS: &str = "5";

impl<S, G> Service<S, G> {
    /// What a handler answered, with the headers every response carries.
    pub fn secured(
        &self,
        response: Result<Response<Body>, Error>,
    ) -> Result<Response<Body>, Error> {
        let mut response = response?;
        self.security.apply(&mut response);
        Ok(response)
    }

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

    /// 400 for a request whose event had parts that could not be kept (see [`lambda`]).
    pub fn refuse_malformed(&self, what: &str) -> Result<Response<Body>, Error> {
        self.error_page(
            StatusCode::BAD_REQUEST,
            "This link is not valid",
            &[format!(
                "Its {what} holds characters a web address cannot contain. Nothing was charged."
            )],
        )
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
    fn security_headers_name_the_payment_page_origin_only() {
        let security =
            SecurityHeaders::new(&Url::parse("https://cbui.test:8443/pipeline?x=1").unwrap());
        let mut response = html(StatusCode::OK, String::new()).unwrap();
        security.apply(&mut response);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("form-action 'self' https://cbui.test:8443;"),
            "{csp}"
        );
        assert!(!csp.contains("pipeline"), "{csp}");
    }

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
