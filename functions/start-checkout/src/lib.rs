//! `start-checkout`: the shop page (`GET /`) and `POST /checkout`, which prices the cart on the
//! server, stores the order and sends the buyer to the signed CBUI URL (303).

use checkout_core::domain::catalog::{CartLine, PricingError};
use checkout_core::ports::gateway::PaymentGateway;
use checkout_core::ports::store::OrderStore;
use checkout_core::use_cases::checkout::StartError;
use checkout_core::web::{self, pages};
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde::Deserialize;
use serde_json::json;
use tracing::{error, info};

/// The web layer's service: the checkout and the shop's configuration.
pub type Service<S, G> = web::Service<S, G>;

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

/// Serves one request (what the Lambda runtime calls).
pub async fn handle<S: OrderStore, G: PaymentGateway>(
    service: &Service<S, G>,
    req: Request,
) -> Result<Response<Body>, Error> {
    service.secured(Shop { service }.handle(req).await)
}

/// One request's view of the service.
struct Shop<'a, S, G> {
    service: &'a Service<S, G>,
}

impl<S: OrderStore, G: PaymentGateway> Shop<'_, S, G> {
    async fn handle(&self, req: Request) -> Result<Response<Body>, Error> {
        if let Some(what) = web::lambda::malformed(&req) {
            return self.service.refuse_malformed(what);
        }
        let path = req.uri().path().trim_end_matches('/');
        match (req.method(), path.rsplit('/').next().unwrap_or("")) {
            (&Method::POST, "checkout") => self.checkout(req).await,
            (&Method::GET | &Method::HEAD, "checkout") => {
                web::see_other(self.service.shop.shop_url.as_str())
            }
            (&Method::GET | &Method::HEAD, _) if !path.ends_with("/return") => {
                self.shop_page(StatusCode::OK, &[])
            }
            _ => self.service.not_found(),
        }
    }

    fn shop_page(&self, status: StatusCode, errors: &[String]) -> Result<Response<Body>, Error> {
        let shop = &self.service.shop;
        let checkout_url = shop
            .shop_url
            .join("checkout")
            .map(|u| u.to_string())
            .unwrap_or_else(|_| "checkout".into());
        web::html(
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
            return web::json(
                StatusCode::BAD_REQUEST,
                "application/problem+json",
                &json!({"type": "about:blank", "title": "Invalid cart", "status": 400, "field": problem.field, "detail": problem.message}),
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
        match self.service.checkout.start(&cart).await {
            Ok(started) => {
                let location = started.cbui_url.to_string();
                if !json {
                    return web::see_other(&location);
                }
                let value = json!({
                    "callerReference": started.order.caller_reference,
                    "amount": started.order.amount().to_fps_string(),
                    "currency": "USD",
                    "redirect": location,
                });
                let mut response = web::json(StatusCode::SEE_OTHER, "application/json", &value)?;
                response
                    .headers_mut()
                    .insert(header::LOCATION, header::HeaderValue::from_str(&location)?);
                Ok(response)
            }
            Err(StartError::Pricing(e)) => self.bad_request(json, pricing_problem(&e)),
            Err(StartError::InvalidRequest(e)) => self.bad_request(
                json,
                FieldError {
                    field: "order",
                    message: e.to_string(),
                },
            ),
            Err(StartError::Store(e)) => {
                error!(error = %e, "could not store the order");
                // FPS is asked nothing before the order is stored.
                self.service.error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Please try again",
                    &["We could not start your checkout just now. Nothing was charged.".into()],
                )
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

#[cfg(test)]
mod crafted_events {
    use checkout_core::domain::order::PaymentAction;
    use checkout_core::testing::{assert_crafted_events_get_400, web_world};
    use lambda_http::service_fn;

    use super::*;

    /// Issue 12 (7): whatever bytes API Gateway passes through, the function answers 400 and
    /// does not panic (the release build aborts on panic: a dead execution environment).
    #[tokio::test]
    async fn crafted_bytes_in_the_event_get_a_400_not_a_panic() {
        let world = web_world(PaymentAction::Pay);
        assert_crafted_events_get_400("/", service_fn(|req: Request| handle(&world.service, req)))
            .await;
        assert_eq!(world.store.creates(), 0, "nothing stored");
    }
}
