//! `start-checkout`: the shop page (`GET /`) and `POST /checkout`, which prices the cart on the
//! server, stores the order and sends the buyer to the signed CBUI URL (303).

use checkout_core::catalog::{CartLine, PricingError};
use checkout_core::checkout::{Checkout, StartError};
use checkout_core::config::ShopConfig;
use checkout_core::fps::FpsClient;
use checkout_core::gateway::PaymentGateway;
use checkout_core::pages;
use checkout_core::store::dynamodb::DynamoOrderStore;
use checkout_core::store::OrderStore;
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;
use serde_json::json;
use tracing::{error, info};

pub type App = Service<DynamoOrderStore, FpsClient>;

/// Everything a request needs, built once at init.
pub struct Service<S, G> {
    pub checkout: Checkout<S, G>,
    pub shop: ShopConfig,
}

/// A problem with the request, naming the field (RFC 7807 style for JSON clients).
#[derive(Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCart {
    items: Vec<JsonLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLine {
    sku: String,
    quantity: u32,
}

/// Maximum body we read: a cart is a few hundred bytes.
const MAX_BODY: usize = 16 * 1024;

/// `sku=A&quantity=2&sku=B&quantity=0` (each quantity belongs to the sku before it).
pub fn parse_form(body: &[u8]) -> Result<Vec<CartLine>, FieldError> {
    let mut lines = Vec::new();
    let mut sku: Option<String> = None;
    for (name, value) in form_urlencoded::parse(body) {
        match name.as_ref() {
            "sku" => sku = Some(value.into_owned()),
            "quantity" => {
                let Some(current) = sku.take() else {
                    return Err(FieldError {
                        field: "quantity",
                        message: "a quantity came before its sku".into(),
                    });
                };
                let value = value.trim();
                let quantity = if value.is_empty() {
                    0
                } else {
                    value.parse::<u32>().map_err(|_| FieldError {
                        field: "quantity",
                        message: format!(
                            "quantity for {current:?} must be a whole number from 0 to 99"
                        ),
                    })?
                };
                lines.push(CartLine {
                    sku: current,
                    quantity,
                });
            }
            other => {
                return Err(FieldError {
                    field: "form",
                    message: format!("unexpected field {other:?}"),
                });
            }
        }
    }
    Ok(lines)
}

pub fn parse_json(body: &[u8]) -> Result<Vec<CartLine>, FieldError> {
    let cart: JsonCart = serde_json::from_slice(body).map_err(|e| FieldError {
        field: "items",
        message: format!("the body must be {{\"items\":[{{\"sku\":…,\"quantity\":…}}]}}: {e}"),
    })?;
    Ok(cart
        .items
        .into_iter()
        .map(|l| CartLine {
            sku: l.sku,
            quantity: l.quantity,
        })
        .collect())
}

fn pricing_problem(e: &PricingError) -> FieldError {
    FieldError {
        field: e.field(),
        message: e.to_string(),
    }
}

fn wants_json(req: &Request) -> bool {
    let is = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"))
    };
    is(header::CONTENT_TYPE) || is(header::ACCEPT)
}

fn html(status: StatusCode, page: String) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(page))?)
}

fn json_body(
    status: StatusCode,
    content_type: &str,
    value: serde_json::Value,
) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(value.to_string()))?)
}

impl<S: OrderStore, G: PaymentGateway> Service<S, G> {
    pub async fn handle(&self, req: Request) -> Result<Response<Body>, Error> {
        let path = req.uri().path().trim_end_matches('/');
        match (req.method(), path.rsplit('/').next().unwrap_or("")) {
            (&Method::POST, "checkout") => self.checkout(req).await,
            (&Method::GET | &Method::HEAD, "checkout") => Ok(Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, self.shop.shop_url.as_str())
                .body(Body::Empty)?),
            (&Method::GET | &Method::HEAD, _) if !path.ends_with("/return") => {
                self.shop_page(StatusCode::OK, &[])
            }
            _ => html(
                StatusCode::NOT_FOUND,
                pages::error(
                    &self.shop.merchant_name,
                    "Page not found",
                    &["There is no such page.".into()],
                    Some(&self.shop.shop_url),
                ),
            ),
        }
    }

    fn shop_page(&self, status: StatusCode, errors: &[String]) -> Result<Response<Body>, Error> {
        let shop = &self.shop;
        let checkout_url = shop
            .shop_url
            .join("checkout")
            .map(|u| u.to_string())
            .unwrap_or_else(|_| "checkout".into());
        html(
            status,
            pages::shop(
                &shop.merchant_name,
                &shop.catalog,
                &shop.pricing,
                shop.action,
                &checkout_url,
                errors,
            ),
        )
    }

    fn bad_request(&self, json: bool, problem: FieldError) -> Result<Response<Body>, Error> {
        info!(field = problem.field, message = %problem.message, "checkout rejected");
        if json {
            return json_body(
                StatusCode::BAD_REQUEST,
                "application/problem+json",
                json!({"type": "about:blank", "title": "Invalid cart", "status": 400, "field": problem.field, "detail": problem.message}),
            );
        }
        self.shop_page(
            StatusCode::BAD_REQUEST,
            &[format!("{}: {}", problem.field, problem.message)],
        )
    }

    async fn checkout(&self, req: Request) -> Result<Response<Body>, Error> {
        let json = wants_json(&req);
        let body = req.body().as_ref();
        if body.len() > MAX_BODY {
            return self.bad_request(
                json,
                FieldError {
                    field: "body",
                    message: format!("larger than {MAX_BODY} bytes"),
                },
            );
        }
        let is_json_body = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let cart = if is_json_body {
            parse_json(body)
        } else {
            parse_form(body)
        };
        let cart = match cart {
            Ok(cart) => cart,
            Err(problem) => return self.bad_request(json, problem),
        };
        match self.checkout.start(&cart).await {
            Ok(started) => {
                let location = started.cbui_url.to_string();
                let builder = Response::builder()
                    .status(StatusCode::SEE_OTHER)
                    .header(header::LOCATION, &location)
                    .header(header::CACHE_CONTROL, "no-store");
                if json {
                    let value = json!({
                        "callerReference": started.order.caller_reference,
                        "amount": started.order.amount().to_fps_string(),
                        "currency": "USD",
                        "redirect": location,
                    });
                    Ok(builder
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Body::from(value.to_string()))?)
                } else {
                    Ok(builder.body(Body::Empty)?)
                }
            }
            Err(StartError::Pricing(e)) => self.bad_request(json, pricing_problem(&e)),
            Err(StartError::Cbui(e)) => self.bad_request(
                json,
                FieldError {
                    field: "order",
                    message: e.to_string(),
                },
            ),
            Err(StartError::Store(e)) => {
                error!(error = %e, "could not store the order");
                let page = pages::error(
                    &self.shop.merchant_name,
                    "Please try again",
                    &["We could not start your checkout just now. Nothing was charged.".into()],
                    Some(&self.shop.shop_url),
                );
                let mut response = html(StatusCode::SERVICE_UNAVAILABLE, page)?;
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
                Ok(response)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_quantities_with_their_sku() {
        let lines = parse_form(b"sku=A&quantity=2&sku=B&quantity=&sku=C+D&quantity=1").unwrap();
        assert_eq!(
            lines,
            vec![
                CartLine {
                    sku: "A".into(),
                    quantity: 2
                },
                CartLine {
                    sku: "B".into(),
                    quantity: 0
                },
                CartLine {
                    sku: "C D".into(),
                    quantity: 1
                },
            ]
        );
    }

    #[test]
    fn bad_forms_name_the_field() {
        assert_eq!(parse_form(b"quantity=1").unwrap_err().field, "quantity");
        assert_eq!(
            parse_form(b"sku=A&quantity=-1").unwrap_err().field,
            "quantity"
        );
        assert_eq!(
            parse_form(b"sku=A&quantity=1.5").unwrap_err().field,
            "quantity"
        );
        assert_eq!(parse_form(b"sku=A&amount=1").unwrap_err().field, "form");
        assert_eq!(
            parse_json(b"{\"items\":[{\"sku\":\"A\",\"quantity\":-2}]}")
                .unwrap_err()
                .field,
            "items"
        );
        assert_eq!(
            parse_json(b"{\"items\":[{\"sku\":\"A\",\"quantity\":1,\"price\":\"0.01\"}]}")
                .unwrap_err()
                .field,
            "items"
        );
        assert_eq!(parse_json(b"not json").unwrap_err().field, "items");
    }
}
