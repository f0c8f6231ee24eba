//! The Co-Branded UI (§3, §4): the SingleUse pipeline start page and the buyer's decision,
//! which ends with a signed redirect to the merchant's returnURL.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use fps_protocol::cbui::{
    parse_query, validate_caller_reference, validate_return_url, PaymentMethod,
    MAX_PAYMENT_REASON_LEN, PIPELINE_VERSION,
};
use fps_protocol::money::{Amount, CURRENCY_CODE};
use fps_protocol::signing::{self, CBUI_PARAMS};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use url::Url;

use crate::api::LoggedAction;
use crate::app::App;
use crate::auth::{self, AuthFailure};
use crate::faults::{FaultKind, CBUI_ACTION};
use crate::ledger::CbuiSession;
use crate::persona::{Decision, Instrument, Persona};

pub const START_PATH: &str = "/cobranded-ui/actions/start";
pub const AUTHORIZE_PATH: &str = "/cobranded-ui/actions/authorize";

const DEFAULT_METHODS: [Instrument; 3] = [Instrument::Abt, Instrument::Ach, Instrument::Cc];

const CSS: &str = r#"
:root{--ink:#1b1f24;--muted:#4a5561;--line:#c9d1da;--accent:#0b5cad;--accent-ink:#fff;--bg:#f4f6f8;--card:#fff;--warn:#7a4b00;--warn-bg:#fff4dc;--err:#9b1c1c}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:40rem;margin:0 auto;padding:1.5rem 1rem 3rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:.75rem;padding:1.25rem 1.25rem 1.5rem}
.badge{display:inline-block;margin:0 0 .75rem;padding:.2rem .6rem;border-radius:1rem;background:var(--warn-bg);color:var(--warn);font-size:.875rem;font-weight:600}
h1{font-size:1.5rem;margin:.25rem 0 1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1rem;margin:0 0 1.25rem}
dt{color:var(--muted);font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
.amount{font-size:1.25rem;font-weight:700}
fieldset{border:1px solid var(--line);border-radius:.5rem;margin:0 0 1.25rem;padding:.75rem 1rem}
legend{font-weight:700;padding:0 .25rem}
.persona{display:flex;gap:.75rem;align-items:flex-start;padding:.5rem 0;border-top:1px solid var(--bg)}
.persona:first-of-type{border-top:0}
.persona input{margin-top:.3rem;width:1.15rem;height:1.15rem;flex:none}
.persona label{cursor:pointer}
.persona small{display:block;color:var(--muted)}
.persona input:disabled+label{color:var(--muted);cursor:not-allowed}
.actions{display:flex;flex-wrap:wrap;gap:.75rem}
button{font:inherit;font-weight:600;padding:.65rem 1.25rem;border-radius:.5rem;border:2px solid var(--accent);cursor:pointer;min-height:2.75rem}
button.primary{background:var(--accent);color:var(--accent-ink)}
button.secondary{background:transparent;color:var(--accent)}
button:focus-visible,input:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
.error{color:var(--err)}
@media (max-width:30rem){dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}.actions button{flex:1 1 100%}}
@media (prefers-color-scheme:dark){:root{--ink:#e8edf2;--muted:#a9b4c0;--line:#3a4550;--bg:#12171c;--card:#1b232b;--accent:#5aa9f5;--accent-ink:#0b1620;--warn:#ffd27a;--warn-bg:#3a2c08;--err:#ff9b9b}}
"#;

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " — FPS sandbox" }
                style { (PreEscaped(CSS)) }
            }
            body {
                main { (body) }
            }
        }
    }
}

fn html_response(status: StatusCode, markup: Markup, action: &str) -> Response {
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(LoggedAction(action.to_owned()));
    response
}

fn error_page(status: StatusCode, message: &str, action: &str) -> Response {
    let markup = page(
        "Request not accepted",
        html! {
            div.card {
                p.badge { "Sandbox — no real money moves" }
                h1 { "This payment request cannot be shown" }
                p.error role="alert" { (message) }
                p { "The merchant's request was not accepted by the FPS sandbox. Return to the shop and try again." }
            }
        },
    );
    html_response(status, markup, action)
}

fn redirect(location: &Url, action: &str) -> Response {
    let mut response = (
        StatusCode::FOUND,
        [
            (header::LOCATION, location.as_str()),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response();
    response
        .extensions_mut()
        .insert(LoggedAction(action.to_owned()));
    response
}

/// The returnURL with the CBUI's parameters appended (keeping its own query) and signed over
/// GET on the return URL (§5.2, decision 5).
fn signed_return(
    app: &App,
    return_url: &Url,
    mut appended: Vec<(String, String)>,
) -> Result<Url, String> {
    let existing = match return_url.query() {
        Some(q) => parse_query(q).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    app.signer
        .sign_outbound(
            "GET",
            return_url,
            &existing,
            &mut appended,
            &app.certificate_url(),
        )
        .map_err(|e| e.to_string())?;
    let added = signing::encode_params(&appended);
    let query = match return_url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{added}"),
        _ => added,
    };
    let mut url = return_url.clone();
    url.set_query(Some(&query));
    Ok(url)
}

fn redirect_back(
    app: &App,
    return_url: &Url,
    appended: Vec<(String, String)>,
    action: &str,
) -> Response {
    match signed_return(app, return_url, appended) {
        Ok(url) => redirect(&url, action),
        Err(e) => {
            tracing::error!(error = %e, "could not sign a CBUI return");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The sandbox could not sign its answer.",
                action,
            )
        }
    }
}

enum StartProblem {
    /// No usable returnURL (or an unauthenticated request): an error page.
    Page(StatusCode, String),
    /// Back to the merchant with `status=CE`.
    CallerException(Url, String),
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `GET /cobranded-ui/actions/start`.
pub(crate) async fn start(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    const ACTION: &str = "cbui.start";
    match open(&app, &headers, &uri) {
        Ok((session_id, session)) => html_response(
            StatusCode::OK,
            authorise_page(&session_id, &session),
            ACTION,
        ),
        Err(StartProblem::Page(status, message)) => error_page(status, &message, ACTION),
        Err(StartProblem::CallerException(return_url, message)) => redirect_back(
            &app,
            &return_url,
            vec![
                ("status".to_owned(), "CE".to_owned()),
                ("errorMessage".to_owned(), message),
            ],
            ACTION,
        ),
    }
}

fn open(
    app: &Arc<App>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(String, CbuiSession), StartProblem> {
    let page = |m: String| StartProblem::Page(StatusCode::BAD_REQUEST, m);
    let params = parse_query(uri.query().unwrap_or_default())
        .map_err(|e| page(format!("The request is malformed: {e}.")))?;
    let return_text = get(&params, "returnURL")
        .ok_or_else(|| page("The request has no returnURL.".to_owned()))?;
    let return_url = Url::parse(return_text)
        .map_err(|_| page(format!("The returnURL is not a URL: {return_text}")))?;
    validate_return_url(&return_url).map_err(|e| page(e.to_string()))?;
    if let Some(q) = return_url.query() {
        parse_query(q).map_err(|e| page(format!("The returnURL's query is ambiguous: {e}.")))?;
    }

    // The signature before anything else: an unauthenticated request must not be able to send
    // the buyer anywhere.
    let hosts = auth::host_candidates(headers, &app.public_url);
    let caller = auth::verify_sigv2(app, "GET", &hosts, uri.path(), &params, CBUI_PARAMS).map_err(
        |failure| {
            let why = match failure {
                AuthFailure::MissingKey => "callerKey is missing".to_owned(),
                AuthFailure::UnknownKey(k) => format!("callerKey {k} is not a registered caller"),
                AuthFailure::BadVersion(_) => "signatureVersion must be 2".to_owned(),
                AuthFailure::BadMethod(_) => {
                    "signatureMethod must be HmacSHA256 or HmacSHA1".to_owned()
                }
                AuthFailure::MissingSignature => "the request is not signed".to_owned(),
                AuthFailure::Mismatch => "the signature does not match".to_owned(),
            };
            StartProblem::Page(
                StatusCode::FORBIDDEN,
                format!("The request could not be authenticated: {why}."),
            )
        },
    )?;

    let ce = |m: String| StartProblem::CallerException(return_url.clone(), m);
    let mut missing = Vec::new();
    let mut malformed = Vec::new();
    for name in [
        "pipelineName",
        "version",
        "callerReference",
        "transactionAmount",
    ] {
        if get(&params, name).is_none_or(str::is_empty) {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        return Err(ce(format!(
            "The following input(s) are missing: [{}]",
            missing.join(", ")
        )));
    }
    let pipeline = get(&params, "pipelineName").unwrap_or_default();
    if pipeline != "SingleUse" {
        return Err(ce(format!(
            "The pipeline {pipeline} is not supported by the sandbox (SingleUse only)."
        )));
    }
    if get(&params, "version") != Some(PIPELINE_VERSION) {
        malformed.push("version");
    }
    let caller_reference = get(&params, "callerReference").unwrap_or_default();
    if validate_caller_reference(caller_reference).is_err() {
        malformed.push("callerReference");
    }
    let amount = Amount::parse(get(&params, "transactionAmount").unwrap_or_default());
    if amount.is_err() {
        malformed.push("transactionAmount");
    }
    if get(&params, "currencyCode").is_some_and(|c| c != CURRENCY_CODE) {
        malformed.push("currencyCode");
    }
    let methods = match get(&params, "paymentMethod") {
        None => Some(DEFAULT_METHODS.to_vec()),
        Some(text) => PaymentMethod::parse_list(text)
            .map(|list| list.into_iter().map(Instrument::from).collect::<Vec<_>>())
            .filter(|list| !list.is_empty()),
    };
    if methods.is_none() {
        malformed.push("paymentMethod");
    }
    let reserve = match get(&params, "reserve") {
        None | Some("False") | Some("false") => Some(false),
        Some("True") | Some("true") => Some(true),
        Some(_) => None,
    };
    if reserve.is_none() {
        malformed.push("reserve");
    }
    let reason = get(&params, "paymentReason");
    if reason.is_some_and(|r| {
        r.chars().count() > MAX_PAYMENT_REASON_LEN || r.chars().any(char::is_control)
    }) {
        malformed.push("paymentReason");
    }
    if !malformed.is_empty() {
        return Err(ce(format!(
            "The following input(s) are not well formed: [{}]",
            malformed.join(", ")
        )));
    }
    let (Ok(amount), Some(mut methods), Some(reserve)) = (amount, methods, reserve) else {
        return Err(ce("The request is not well formed.".to_owned()));
    };
    // A callerReference names one authorisation: a second pipeline for one that already has a
    // token is a caller exception, as the real CBUI answered it.
    if has_token(app, &caller, caller_reference) {
        return Err(ce(reused_reference(caller_reference)));
    }
    if reserve {
        // Decision 4: a reserve token is a credit-card token.
        methods.retain(|m| *m == Instrument::Cc);
        if methods.is_empty() {
            return Err(ce(
                "reserve=True needs a credit card, but paymentMethod does not allow CC.".to_owned(),
            ));
        }
    }
    let merchant = get(&params, "websiteDescription")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Sandbox merchant {caller}"));
    let session = CbuiSession {
        caller_key: caller,
        caller_reference: caller_reference.to_owned(),
        return_url: return_url.to_string(),
        amount,
        currency: CURRENCY_CODE.to_owned(),
        payment_reason: reason.map(str::to_owned),
        payment_methods: methods,
        reserve,
        merchant,
        created_at: app.now(),
    };
    let stored = session.clone();
    let id = app.with_ledger(|l, _| l.open_session(stored));
    Ok((id, session))
}

/// Whether the caller already holds a token for `caller_reference` (one authorisation each).
fn has_token(app: &Arc<App>, caller: &str, caller_reference: &str) -> bool {
    app.with_ledger(|l, _| {
        l.token_by_caller(caller, Some(caller_reference), None)
            .is_ok()
    })
}

fn reused_reference(caller_reference: &str) -> String {
    format!("The callerReference {caller_reference} has already been used for an authorization.")
}

fn authorise_page(session_id: &str, s: &CbuiSession) -> Markup {
    let first_allowed = Persona::ALL.into_iter().find(|p| {
        p.instrument()
            .is_some_and(|i| s.payment_methods.contains(&i))
    });
    let methods: Vec<String> = s
        .payment_methods
        .iter()
        .map(|m| format!("{} ({})", m.label(), m.as_str()))
        .collect();
    page(
        "Authorise payment",
        html! {
            div.card {
                p.badge { "Sandbox — no real money moves" }
                h1 { "Authorise a payment" }
                dl {
                    dt { "Merchant" } dd { (s.merchant) }
                    dt { "Amount" } dd.amount { "$" (s.amount.to_fps_string()) " " (s.currency) }
                    @if let Some(reason) = &s.payment_reason {
                        dt { "Payment reason" } dd { (reason) }
                    }
                    dt { "Payment methods accepted" } dd { (methods.join(", ")) }
                    @if s.reserve {
                        dt { "Type" } dd { "Reservation: the amount is held on your card and charged later" }
                    }
                    dt { "Merchant reference" } dd { (s.caller_reference) }
                }
                form method="post" action=(AUTHORIZE_PATH) {
                    input type="hidden" name="session" value=(session_id);
                    fieldset {
                        legend { "Pay as (test buyer)" }
                        @for persona in Persona::ALL {
                            @let id = format!("persona-{}", persona.as_str());
                            @let allowed = persona.instrument().is_none_or(|i| s.payment_methods.contains(&i));
                            div.persona {
                                input type="radio" id=(id) name="persona" value=(persona.as_str())
                                    required checked[Some(persona) == first_allowed] disabled[!allowed];
                                label for=(id) {
                                    strong { (persona.buyer_name()) }
                                    small { (persona.description()) }
                                    @if !allowed { small { "Not accepted by this merchant." } }
                                }
                            }
                        }
                    }
                    div.actions {
                        button.primary type="submit" name="decision" value="authorize" { "Authorise payment" }
                        button.secondary type="submit" name="decision" value="cancel" formnovalidate { "Cancel" }
                    }
                }
            }
        },
    )
}

/// `POST /cobranded-ui/actions/authorize` (form: `session`, `persona`, `decision`).
pub(crate) async fn authorize(State(app): State<Arc<App>>, body: Bytes) -> Response {
    const ACTION: &str = "cbui.authorize";
    let bad = |m: &str| error_page(StatusCode::BAD_REQUEST, m, ACTION);
    let Ok(text) = std::str::from_utf8(&body) else {
        return bad("The form is not UTF-8.");
    };
    let Ok(form) = parse_query(text) else {
        return bad("The form is malformed.");
    };
    let Some(session_id) = get(&form, "session") else {
        return bad("The form has no session.");
    };
    let Some(decision) = get(&form, "decision").and_then(Decision::parse) else {
        return bad("Choose Authorise or Cancel.");
    };
    let persona = get(&form, "persona").and_then(Persona::parse);
    if decision == Decision::Authorize && persona.is_none() {
        return bad("Choose a test buyer before authorising.");
    }
    let Some(session) = app.with_ledger(|l, now| {
        let found = l.session(session_id, now).cloned();
        l.close_session(session_id);
        found
    }) else {
        return error_page(
            StatusCode::GONE,
            "This payment request has expired or was already answered.",
            ACTION,
        );
    };
    let Ok(return_url) = Url::parse(&session.return_url) else {
        return bad("The returnURL is no longer valid.");
    };
    let reference = (
        "callerReference".to_owned(),
        session.caller_reference.clone(),
    );
    let status = |code: &str| ("status".to_owned(), code.to_owned());
    let error_message = |text: &str| ("errorMessage".to_owned(), text.to_owned());
    let fault = match decision {
        Decision::Authorize => app.faults().take(CBUI_ACTION),
        Decision::Cancel => None,
    };
    // Decision 4 restricts a reserve to cards; the fault lifts that, as FPS might have.
    let accepted = |instrument: Instrument| {
        session.payment_methods.contains(&instrument)
            || (session.reserve && fault == Some(FaultKind::ReserveAnyMethod))
    };
    let appended = match (decision, persona) {
        // Real cancel and not-permitted returns carried no callerReference (captures of 2009
        // sandbox returns): the merchant finds the order from its return URL. The other
        // failures are assumed to look the same.
        (Decision::Cancel, _) => vec![status("A")],
        (Decision::Authorize, _) if fault == Some(FaultKind::SystemError) => vec![
            status("SE"),
            error_message("A system error occurred at Amazon Payments. Please try again later."),
        ],
        (Decision::Authorize, _) if fault == Some(FaultKind::NotMarketplace) => vec![
            status("NM"),
            error_message(
                "The caller is not registered as a third-party caller for this transaction.",
            ),
        ],
        (Decision::Authorize, Some(persona)) => match persona.instrument() {
            // Two pages opened for one reference: only the first answered authorises.
            Some(_) if has_token(&app, &session.caller_key, &session.caller_reference) => vec![
                status("CE"),
                error_message(&reused_reference(&session.caller_reference)),
            ],
            Some(instrument) if accepted(instrument) => {
                let token = app.with_ledger(|l, now| {
                    l.mint_token(
                        now,
                        &session.caller_key,
                        &session.caller_reference,
                        persona,
                        instrument,
                        session.amount,
                        session.payment_reason.clone(),
                        session.reserve,
                        None,
                    )
                });
                let mut appended = vec![
                    ("tokenID".to_owned(), token.token_id),
                    status(persona.status_code()),
                    reference,
                    ("expiry".to_owned(), token.expiry),
                ];
                if fault == Some(FaultKind::ReturnWithoutToken) {
                    appended.retain(|(name, _)| name != "tokenID");
                }
                appended
            }
            // The buyer has none of the instruments the merchant asked for.
            Some(_) => vec![status("PE"), reference],
            None if persona.status_code() == "NP" => vec![
                status("NP"),
                error_message("The sender is not permitted to make this payment."),
            ],
            None => vec![status(persona.status_code()), reference],
        },
        (Decision::Authorize, None) => return bad("Choose a test buyer before authorising."),
    };
    redirect_back(&app, &return_url, appended, ACTION)
}

/// `GET /certs/{id}/PKICert.pem`.
pub(crate) async fn certificate(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let mut response = if id == app.signer.certificate_id() {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            app.signer.certificate_pem().to_owned(),
        )
            .into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such certificate\n").into_response()
    };
    response
        .extensions_mut()
        .insert(LoggedAction("certificate".to_owned()));
    response
}
