//! The control API under `/_sandbox/` (loopback peers only): ledger, clock, reset, faults,
//! token installation. The JSON types here are shared with [`crate::ControlClient`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fps_protocol::money::Amount;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::api::{parse_timestamp, LoggedAction};
use crate::app::App;
use crate::faults::FaultSpec;
use crate::ledger::{Ledger, Token};
use crate::persona::Persona;

/// `GET /_sandbox/ledger`: the emulator clock and the whole ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerSnapshot {
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    #[serde(flatten)]
    pub ledger: Ledger,
}

impl std::ops::Deref for LedgerSnapshot {
    type Target = Ledger;
    fn deref(&self) -> &Ledger {
        &self.ledger
    }
}

/// `POST /_sandbox/clock`: give `advance_seconds` and/or `advance_ms` (may be negative), or
/// `set` (RFC 3339 / ISO 8601) to make the clock read that moment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClockRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
}

/// The clock's reading (`GET /_sandbox/clock`, and the answer to `POST`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockView {
    #[serde(with = "time::serde::rfc3339")]
    pub now: OffsetDateTime,
    /// Emulator time minus real time.
    pub offset_ms: i64,
}

/// `POST /_sandbox/tokens`: install a single-use token without the CBUI (fixtures, tests).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstallToken {
    /// Chosen id (1–64 letters and digits); default: a fresh random one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    pub caller_reference: String,
    pub amount: Amount,
    /// `card`, `bank` or `balance`.
    pub persona: Persona,
    /// Default: the first registered caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reason: Option<String>,
    #[serde(default)]
    pub reserve: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ControlErrorBody {
    pub error: String,
}

fn tagged(mut response: Response, what: &str) -> Response {
    response
        .extensions_mut()
        .insert(LoggedAction(format!("control.{what}")));
    response
}

fn problem(status: StatusCode, message: impl Into<String>, what: &str) -> Response {
    tagged(
        (
            status,
            Json(ControlErrorBody {
                error: message.into(),
            }),
        )
            .into_response(),
        what,
    )
}

/// Refuses peers that are not on a loopback address.
pub(crate) async fn loopback_only(request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    match peer {
        Some(ip) if ip.is_loopback() => next.run(request).await,
        _ => problem(
            StatusCode::FORBIDDEN,
            "the control API answers loopback peers only",
            "refused",
        ),
    }
}

fn clock_view(app: &App) -> ClockView {
    ClockView {
        now: app.now(),
        offset_ms: i64::try_from(app.clock.offset().whole_milliseconds()).unwrap_or_default(),
    }
}

pub(crate) async fn ledger(State(app): State<Arc<App>>) -> Response {
    let snapshot = app.with_ledger(|l, now| LedgerSnapshot {
        now,
        ledger: l.clone(),
    });
    tagged(Json(snapshot).into_response(), "ledger")
}

pub(crate) async fn get_clock(State(app): State<Arc<App>>) -> Response {
    tagged(Json(clock_view(&app)).into_response(), "clock")
}

pub(crate) async fn set_clock(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let request: ClockRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.to_string(), "clock"),
    };
    if let Some(text) = &request.set {
        let Some(at) = parse_timestamp(text) else {
            return problem(
                StatusCode::BAD_REQUEST,
                format!("set: {text} is not an ISO 8601 date-time"),
                "clock",
            );
        };
        if let Err(e) = app.clock.set(at) {
            return problem(StatusCode::BAD_REQUEST, e.to_string(), "clock");
        }
        app.mark_dirty();
    }
    let seconds = request.advance_seconds.unwrap_or(0);
    let ms = request.advance_ms.unwrap_or(0);
    let moved = time::Duration::seconds(seconds)
        .checked_add(time::Duration::milliseconds(ms))
        .ok_or(crate::clock::OutOfRange)
        .and_then(|by| app.clock.advance(by));
    if let Err(e) = moved {
        return problem(StatusCode::BAD_REQUEST, e.to_string(), "clock");
    }
    // The offset is part of the state file: a restart must not turn the clock back.
    app.mark_dirty();
    // Apply what became due (and fire its IPNs) before answering.
    app.tick();
    tagged(Json(clock_view(&app)).into_response(), "clock")
}

pub(crate) async fn reset(State(app): State<Arc<App>>) -> Response {
    app.reset();
    tagged(StatusCode::NO_CONTENT.into_response(), "reset")
}

pub(crate) async fn list_faults(State(app): State<Arc<App>>) -> Response {
    let faults = app.faults().list();
    tagged(Json(faults).into_response(), "faults")
}

pub(crate) async fn add_fault(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.to_string(), "faults"),
    };
    if spec.action != "*"
        && spec.action != crate::faults::CBUI_ACTION
        && !crate::api::ACTIONS.contains(&spec.action.as_str())
    {
        return problem(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown action {:?}: use one of {}, \"{}\" or \"*\"",
                spec.action,
                crate::api::ACTIONS.join(", "),
                crate::faults::CBUI_ACTION
            ),
            "faults",
        );
    }
    if let Err(e) = spec.check() {
        return problem(StatusCode::BAD_REQUEST, e, "faults");
    }
    let mut faults = app.faults();
    faults.add(spec);
    let list = faults.list();
    drop(faults);
    tagged((StatusCode::CREATED, Json(list)).into_response(), "faults")
}

pub(crate) async fn clear_faults(State(app): State<Arc<App>>) -> Response {
    app.faults().clear();
    tagged(StatusCode::NO_CONTENT.into_response(), "faults")
}

pub(crate) async fn install_token(
    State(app): State<Arc<App>>,
    body: axum::body::Bytes,
) -> Response {
    let request: InstallToken = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e.to_string(), "tokens"),
    };
    let Some(instrument) = request.persona.instrument() else {
        return problem(
            StatusCode::BAD_REQUEST,
            "persona must be card, bank or balance",
            "tokens",
        );
    };
    if let Some(id) = &request.token_id {
        if !crate::ids::is_token_id_shaped(id) {
            return problem(
                StatusCode::BAD_REQUEST,
                "token_id must be 1 to 64 letters and digits",
                "tokens",
            );
        }
    }
    let caller_key = match request.caller_key {
        Some(k) if app.callers.contains_key(&k) => k,
        Some(k) => {
            return problem(
                StatusCode::BAD_REQUEST,
                format!("{k} is not a registered caller"),
                "tokens",
            )
        }
        None => match app.first_caller.clone() {
            Some(k) => k,
            None => return problem(StatusCode::BAD_REQUEST, "no caller registered", "tokens"),
        },
    };
    let token: Token = app.with_ledger(|l, now| {
        l.mint_token(
            now,
            &caller_key,
            &request.caller_reference,
            request.persona,
            instrument,
            request.amount,
            request.payment_reason.clone(),
            request.reserve,
            request.token_id.clone(),
        )
    });
    tagged((StatusCode::CREATED, Json(token)).into_response(), "tokens")
}

pub(crate) async fn health() -> Response {
    tagged((StatusCode::OK, "ok\n").into_response(), "health")
}
