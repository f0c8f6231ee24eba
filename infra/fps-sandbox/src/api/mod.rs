//! The FPS API at `/` (GET query or POST form): authentication (§2), Timestamp and Version
//! checks, fault injection, then the actions (§6), answered with the protocol crate's XML models.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use fps_protocol::cbui::{parse_query, validate_caller_reference, ReturnParseError};
use fps_protocol::clock::fps_timestamp;
use fps_protocol::error::ErrorCode;
use fps_protocol::money::{Amount, AmountError, CURRENCY_CODE};
use fps_protocol::signing::API_PARAMS;
use fps_protocol::xml::{
    self, CancelResponse, CancelTokenResponse, GetTokenByCallerResponse,
    GetTransactionStatusResponse, PayResponse, RefundResponse, ReserveResponse, ResponseMetadata,
    SettleResponse, TokenResult, TokenStatus, TransactionResult, TransactionStatusResult,
    VerificationResult, VerificationStatus, VerifySignatureResponse, NAMESPACE_2008,
    NAMESPACE_2010,
};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use url::Url;

use crate::app::App;
use crate::auth::{self, AuthFailure};
use crate::error::ApiError;
use crate::faults::FaultKind;
use crate::ids;
use crate::keys::outbound_string_to_sign;
use crate::ledger::{ChargeRequest, Operation, Outcome, RefundRequest, TokenState};

/// Decision 6.
pub const TIMESTAMP_WINDOW: time::Duration = time::Duration::minutes(15);
/// Versions the API answers (the 2008 one with its own namespace).
pub const VERSIONS: [&str; 2] = ["2010-08-28", "2008-09-17"];
pub const ACTIONS: [&str; 9] = [
    "Pay",
    "Reserve",
    "Settle",
    "Refund",
    "Cancel",
    "CancelToken",
    "GetTransactionStatus",
    "GetTokenByCaller",
    "VerifySignature",
];
const MAX_DESCRIPTION_LEN: usize = 160;

/// The action name the log line shows (set as a response extension).
#[derive(Debug, Clone)]
pub(crate) struct LoggedAction(pub String);

enum Answer {
    Ok(String),
    Error(ApiError),
}

struct Processed {
    action: Option<String>,
    answer: Answer,
    drop_connection: bool,
    /// Answer these bytes instead (status, content type, body): what a proxy, or a garbled
    /// answer, looks like.
    raw: Option<(StatusCode, &'static str, &'static str)>,
    /// Answer an error in the WSDL's `<ErrorResponse>` shape.
    wsdl_error_shape: bool,
}

struct Request<'a> {
    params: &'a [(String, String)],
}

impl<'a> Request<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &str) -> Result<&'a str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::missing(name)),
        }
    }

    fn text(&self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.chars().count() > max => Err(ApiError::invalid_params(format!(
                "{name} must be at most {max} characters."
            ))),
            Some(v) => Ok(Some(v.to_owned())),
        }
    }

    fn url(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match Url::parse(v) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                    Ok(Some(v.to_owned()))
                }
                _ => Err(ApiError::invalid_params(format!(
                    "{name} must be an absolute http(s) URL. Specified value: {v}"
                ))),
            },
        }
    }

    fn caller_reference(&self) -> Result<String, ApiError> {
        let value = self.require("CallerReference")?;
        validate_caller_reference(value).map_err(|_| {
            ApiError::invalid_params(format!(
                "CallerReference must be 1 to 128 printable characters. Specified value: {value}"
            ))
        })?;
        Ok(value.to_owned())
    }

    /// `<prefix>.Value` + `<prefix>.CurrencyCode`; `None` when both are absent and optional.
    fn amount(&self, prefix: &str, required: bool) -> Result<Option<Amount>, ApiError> {
        let value_name = format!("{prefix}.Value");
        let currency_name = format!("{prefix}.CurrencyCode");
        let value = self.get(&value_name);
        let currency = self.get(&currency_name);
        if value.is_none() && currency.is_none() && !required {
            return Ok(None);
        }
        let value = self.require(&value_name)?;
        let currency = self.require(&currency_name)?;
        if currency != CURRENCY_CODE {
            return Err(ApiError::invalid_params(format!(
                "{currency_name} {currency} is not supported: only USD."
            )));
        }
        match Amount::from_fps(value) {
            Ok(a) => Ok(Some(a)),
            Err(AmountError::NotPositive(_) | AmountError::TooLarge(_)) => Err(ApiError::new(
                ErrorCode::AmountOutOfRange,
                format!("{value_name} {value} is out of range (0.01 to 10000.00)."),
            )),
            Err(_) => Err(ApiError::invalid_params(format!(
                "{value_name} has to be a valid amount. Specified value: {value}"
            ))),
        }
    }
}

pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let request_id = ids::request_id();
    let processed = process(&app, &method, &headers, &uri, &body, &request_id).await;
    let action = processed.action.clone().unwrap_or_else(|| "-".to_owned());
    let mut response = if processed.drop_connection {
        // Headers may go out, the body never does: hyper aborts the connection, so the caller
        // cannot tell whether the request was processed (it was).
        let failing = futures::stream::iter([Err::<Bytes, std::io::Error>(std::io::Error::other(
            "fps-sandbox fault: connection dropped after commit",
        ))]);
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(Body::from_stream(failing))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    } else if let Some((status, content_type, body)) = processed.raw {
        (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
    } else {
        match processed.answer {
            Answer::Ok(xml) => xml_response(StatusCode::OK, xml),
            Answer::Error(e) => {
                let status = StatusCode::from_u16(e.http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = if processed.wsdl_error_shape {
                    crate::xml_body::error_response_xml(
                        e.code.as_str(),
                        &e.message,
                        &request_id,
                        e.http_status(),
                    )
                } else {
                    crate::xml_body::error_xml(e.code.as_str(), &e.message, &request_id)
                };
                xml_response(status, body)
            }
        }
    };
    response.extensions_mut().insert(LoggedAction(action));
    response
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn process(
    app: &Arc<App>,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &Bytes,
    request_id: &str,
) -> Processed {
    let mut processed = Processed {
        action: None,
        answer: Answer::Error(ApiError::internal("unreachable")),
        drop_connection: false,
        raw: None,
        wsdl_error_shape: false,
    };
    let raw = if *method == Method::POST {
        match std::str::from_utf8(body) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                processed.answer = Answer::Error(ApiError::invalid_params(
                    "The request body is not UTF-8 form data.",
                ));
                return processed;
            }
        }
    } else {
        uri.query().unwrap_or_default().to_owned()
    };
    let params = match parse_query(&raw) {
        Ok(p) => p,
        Err(e) => {
            let message = match e {
                ReturnParseError::Repeated(name) => {
                    format!("Parameter {name} appears more than once.")
                }
                ReturnParseError::NotUtf8(name) => {
                    format!("Parameter {name} is not valid UTF-8 once decoded.")
                }
                other => other.to_string(),
            };
            processed.answer = Answer::Error(ApiError::invalid_params(message));
            return processed;
        }
    };
    let request = Request { params: &params };
    let Some(action) = request.get("Action").map(str::to_owned) else {
        processed.answer = Answer::Error(ApiError::missing("Action"));
        return processed;
    };
    processed.action = Some(action.clone());

    // Authentication: everything is signed, except VerifySignature may come unsigned (§2.2).
    let unsigned_verify = action == "VerifySignature"
        && request.get("Signature").is_none()
        && request.get("AWSAccessKeyId").is_none();
    let caller = if unsigned_verify {
        None
    } else {
        match authenticate(app, method, headers, uri, &request) {
            Ok(key) => Some(key),
            Err(e) => {
                processed.answer = Answer::Error(e);
                return processed;
            }
        }
    };
    let namespace = match request.require("Version") {
        Ok("2010-08-28") => NAMESPACE_2010,
        Ok("2008-09-17") => NAMESPACE_2008,
        Ok(other) => {
            processed.answer = Answer::Error(ApiError::new(
                ErrorCode::InvalidParameterValue,
                format!(
                    "Value ({other}) for parameter Version is invalid. Supported: {}.",
                    VERSIONS.join(", ")
                ),
            ));
            return processed;
        }
        Err(e) => {
            processed.answer = Answer::Error(e);
            return processed;
        }
    };
    if !ACTIONS.contains(&action.as_str()) {
        processed.answer = Answer::Error(ApiError::other(
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        ));
        return processed;
    }
    // A name outside the action's interface is refused before anything is processed.
    if let Err(e) = interface::check(&action, &params) {
        processed.answer = Answer::Error(e);
        return processed;
    }

    // Faults, then counting: what "reached FPS" means in the ledger's request counts.
    let fault = app.faults().take(&action);
    let reference = app.with_ledger(|l, _| l.subject_reference(&params));
    let injected = match fault {
        Some(FaultKind::ServiceUnavailable) => Some(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "Service is currently unavailable (fps-sandbox injected fault).",
        )),
        Some(FaultKind::InternalError) => Some(ApiError::new(
            ErrorCode::InternalError,
            "We encountered an internal error. Please try again (fps-sandbox injected fault).",
        )),
        Some(FaultKind::TokenUsageError) => Some(ApiError::new(
            ErrorCode::TokenUsageError,
            "The token has already been used (fps-sandbox injected fault).",
        )),
        Some(FaultKind::InsufficientBalance) => Some(ApiError::new(
            ErrorCode::InsufficientBalance,
            "The sender does not have enough balance for this payment (fps-sandbox injected fault).",
        )),
        Some(FaultKind::ConcurrentModification) => Some(ApiError::new(
            ErrorCode::ConcurrentModification,
            "The resource was modified concurrently; retry (fps-sandbox injected fault).",
        )),
        _ => None,
    };
    if let Some(e) = injected {
        app.with_ledger(|l, _| l.count_request(reference.as_deref(), &action, true));
        processed.answer = Answer::Error(e);
        return processed;
    }
    if fault == Some(FaultKind::BadGateway) {
        app.with_ledger(|l, _| l.count_request(reference.as_deref(), &action, true));
        processed.raw = Some((
            StatusCode::BAD_GATEWAY,
            "text/html",
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        ));
        return processed;
    }
    if let Some(FaultKind::Latency { ms }) = fault {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    processed.drop_connection = fault == Some(FaultKind::DropAfterCommit);
    processed.wsdl_error_shape = fault == Some(FaultKind::ErrorResponseShape);
    app.with_ledger(|l, _| l.count_request(reference.as_deref(), &action, false));

    let result = run_action(
        app,
        &action,
        caller.as_deref(),
        &request,
        namespace,
        request_id,
    );
    processed.answer = match result {
        // Processed and recorded, answered as if the service had failed.
        Ok(xml) if fault == Some(FaultKind::GarbledAfterCommit) => {
            processed.raw = Some((StatusCode::OK, "text/xml; charset=utf-8", "<PayRespo"));
            Answer::Ok(xml)
        }
        Ok(_) if fault == Some(FaultKind::UnavailableAfterCommit) => Answer::Error(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "Service is currently unavailable (fps-sandbox injected fault, after processing).",
        )),
        Ok(xml) => Answer::Ok(xml),
        Err(e) => Answer::Error(e),
    };
    processed
}

fn authenticate(
    app: &App,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    request: &Request<'_>,
) -> Result<String, ApiError> {
    let hosts = auth::host_candidates(headers, &app.public_url);
    let key = auth::verify_sigv2(
        app,
        method.as_str(),
        &hosts,
        uri.path(),
        request.params,
        API_PARAMS,
    )
    .map_err(|failure| match failure {
        AuthFailure::MissingKey => ApiError::new(
            ErrorCode::InvalidClientTokenId,
            "The request must contain the parameter AWSAccessKeyId.",
        ),
        AuthFailure::UnknownKey(key) => ApiError::new(
            ErrorCode::InvalidClientTokenId,
            format!("The AWS Access Key Id you provided does not exist in our records: {key}"),
        ),
        AuthFailure::BadVersion(v) => ApiError::new(
            ErrorCode::InvalidParameterValue,
            format!(
                "Value ({}) for parameter SignatureVersion is invalid. Only 2 is supported.",
                v.unwrap_or_default()
            ),
        ),
        AuthFailure::BadMethod(m) => ApiError::new(
            ErrorCode::InvalidParameterValue,
            format!(
                "Value ({}) for parameter SignatureMethod is invalid. Use HmacSHA256 or HmacSHA1.",
                m.unwrap_or_default()
            ),
        ),
        AuthFailure::MissingSignature => ApiError::new(
            ErrorCode::SignatureDoesNotMatch,
            "The request must contain the parameter Signature.",
        ),
        AuthFailure::Mismatch => ApiError::new(
            ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        ),
    })?;
    check_timestamp(app.now(), request)?;
    Ok(key)
}

/// ISO 8601 as clients sent it: `…Z`, `….000Z`, with an offset, or without a zone (UTC).
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| OffsetDateTime::parse(&format!("{text}Z"), &Rfc3339).ok())
}

fn check_timestamp(now: OffsetDateTime, request: &Request<'_>) -> Result<(), ApiError> {
    match (request.get("Timestamp"), request.get("Expires")) {
        (Some(text), _) => {
            let at = parse_timestamp(text).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!(
                        "Value ({text}) for parameter Timestamp is invalid. Must be in ISO8601 format."
                    ),
                )
            })?;
            if (at - now).abs() > TIMESTAMP_WINDOW {
                return Err(ApiError::new(
                    ErrorCode::RequestExpired,
                    format!("Request has expired. Timestamp date is {text}"),
                ));
            }
            Ok(())
        }
        (None, Some(text)) => {
            let at = parse_timestamp(text).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!(
                        "Value ({text}) for parameter Expires is invalid. Must be in ISO8601 format."
                    ),
                )
            })?;
            if now > at {
                return Err(ApiError::new(
                    ErrorCode::RequestExpired,
                    format!("Request has expired. Expires date is {text}"),
                ));
            }
            // Decision 6: no signature lives longer than the Timestamp window.
            if at - now > TIMESTAMP_WINDOW {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameterValue,
                    format!(
                        "Value ({text}) for parameter Expires is invalid. It must be at most 15 minutes ahead."
                    ),
                ));
            }
            Ok(())
        }
        (None, None) => Err(ApiError::missing("Timestamp")),
    }
}

mod actions;
mod interface;
use actions::run_action;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_the_forms_clients_sent() {
        for text in [
            "2011-10-03T15:19:30Z",
            "2011-10-03T15:19:30.000Z",
            "2011-10-03T15:19:30",
            "2011-10-03T17:19:30+02:00",
        ] {
            assert_eq!(
                parse_timestamp(text),
                Some(time::macros::datetime!(2011-10-03 15:19:30 UTC)),
                "{text}"
            );
        }
        assert_eq!(parse_timestamp("2010-02-26 T19:48:05.000Z"), None);
        assert_eq!(parse_timestamp(""), None);
    }
}
