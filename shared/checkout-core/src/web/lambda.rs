//! Running an HTTP function under the Lambda runtime without dying on hostile bytes.
//!
//! API Gateway passes through bytes in `rawQueryString`, `rawPath` and the `Host` /
//! `X-Forwarded-Proto` headers that `http::Uri` (or a URL parser) refuses, and lambda_http's
//! conversion of such an event panics ("failed to build request: InvalidUriChar"); the release
//! profile aborts on panic, so one crafted URL would kill the execution environment. Every
//! event is checked first: what would not convert (or a body marked base64 that is not) is
//! dropped, the request is marked [`MALFORMED`], and the function answers 400.

use base64::Engine as _;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::http::{header, HeaderValue, Uri};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, IntoResponse, LambdaEvent, Request, Service};
use url::Url;

/// Set on a request whose event had parts that could not be kept; the value names them.
pub const MALFORMED: &str = "x-checkout-malformed";

/// The Lambda runtime serving `handler`, every event checked before conversion.
pub async fn run<'a, S, R, E>(handler: S) -> Result<(), lambda_http::Error>
where
    S: Service<Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: IntoResponse,
    E: std::fmt::Debug + Into<lambda_http::lambda_runtime::Diagnostic>,
{
    lambda_http::lambda_runtime::run(crate::telemetry::metered(adapter(handler))).await
}

/// lambda_http's adapter behind the check (what [`run`] serves; tests call it directly).
pub fn adapter<'a, S, R, E>(handler: S) -> Checked<Adapter<'a, R, S>>
where
    S: Service<Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: IntoResponse,
{
    Checked(Adapter::from(handler))
}

/// A Lambda HTTP service whose events are [`checked`] first.
pub struct Checked<A>(A);

impl<A> Service<LambdaEvent<LambdaRequest>> for Checked<A>
where
    A: Service<LambdaEvent<LambdaRequest>>,
{
    type Response = A::Response;
    type Error = A::Error;
    type Future = A::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<LambdaRequest>) -> Self::Future {
        let LambdaEvent { payload, context } = event;
        self.0.call(LambdaEvent::new(checked(payload), context))
    }
}

/// The event with every part lambda_http could not convert dropped, and marked.
pub fn checked(request: LambdaRequest) -> LambdaRequest {
    match request {
        LambdaRequest::ApiGatewayV2(event) => LambdaRequest::ApiGatewayV2(checked_v2(event)),
        other => other,
    }
}

fn checked_v2(mut event: ApiGatewayV2httpRequest) -> ApiGatewayV2httpRequest {
    let mut dropped: Vec<&str> = Vec::new();
    let path = event.raw_path.clone().unwrap_or_default();
    if !path.is_empty() && (!path.starts_with('/') || Uri::try_from(path.as_str()).is_err()) {
        event.raw_path = Some("/".to_owned());
        dropped.push("path");
    }
    if let Some(query) = &event.raw_query_string {
        if Uri::try_from(format!("/?{query}")).is_err() {
            event.raw_query_string = None;
            event.query_string_parameters = Default::default();
            dropped.push("query");
        }
    }
    // lambda_http builds an absolute URL from X-Forwarded-Proto and Host (or the domain name).
    // Only the schemes API Gateway sends: a long scheme passes a URL parser, not http::Uri.
    let scheme_ok = event
        .headers
        .get("x-forwarded-proto")
        .is_none_or(|v| matches!(v.to_str(), Ok("https" | "http")));
    if !scheme_ok {
        event.headers.remove("x-forwarded-proto");
        dropped.push("scheme");
    }
    let host_ok = |host: &str| {
        Url::parse(&format!("https://{host}/")).is_ok()
            && Uri::try_from(format!("https://{host}/")).is_ok()
    };
    if event
        .headers
        .get(header::HOST)
        .is_some_and(|v| !v.to_str().is_ok_and(host_ok))
    {
        event.headers.remove(header::HOST);
        dropped.push("host");
    }
    if event
        .request_context
        .domain_name
        .as_deref()
        .is_some_and(|d| !host_ok(d))
    {
        event.request_context.domain_name = None;
        dropped.push("host");
    }
    // lambda_http decodes a body marked base64 with `expect` (found by fuzzing). API Gateway
    // marks only what it encoded itself, but a panic would abort the environment: drop it.
    if event.is_base64_encoded
        && event.body.as_deref().is_some_and(|body| {
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .is_err()
        })
    {
        event.body = None;
        event.is_base64_encoded = false;
        dropped.push("body");
    }
    // Last, the whole URI as lambda_http composes it: anything still refused drops to a bare
    // request for `/`.
    if !composes(&event) {
        event.raw_path = Some("/".to_owned());
        event.raw_query_string = None;
        event.headers.remove(header::HOST);
        event.headers.remove("x-forwarded-proto");
        event.request_context.domain_name = None;
        dropped.push("request");
    }
    if !dropped.is_empty() {
        dropped.dedup();
        if let Ok(value) = HeaderValue::from_str(&dropped.join(", ")) {
            event.headers.insert(MALFORMED, value);
        }
    }
    event
}

/// API Gateway gives up on a Lambda integration after 30 s.
pub const API_GATEWAY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(29);
/// Kept back from a request's budget to render and send the answer.
const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_millis(300);

/// When a request's work must be done: the sooner of the invocation's deadline and API
/// Gateway's, less the time to answer. Without an invocation context (tests, local serving),
/// API Gateway's.
pub fn request_deadline(request: &Request) -> tokio::time::Instant {
    use lambda_http::RequestExt as _;
    let now = tokio::time::Instant::now();
    let gateway = now + API_GATEWAY_TIMEOUT;
    let invocation = request
        .lambda_context_ref()
        .and_then(|context| instant_from_epoch_ms(context.deadline));
    let end = invocation.map_or(gateway, |at| at.min(gateway));
    end.checked_sub(ANSWER_MARGIN).unwrap_or(end).max(now)
}

/// An epoch-milliseconds deadline (the Lambda context's) as an instant; `None` unless it is
/// in the future.
pub fn instant_from_epoch_ms(deadline_ms: u64) -> Option<tokio::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .ok()?;
    let left = deadline_ms.checked_sub(now_ms).filter(|left| *left > 0)?;
    Some(tokio::time::Instant::now() + std::time::Duration::from_millis(left))
}

/// Whether lambda_http can build this event's URI: `scheme://host` + path through a URL parser,
/// then the raw query, through `http::Uri`.
fn composes(event: &ApiGatewayV2httpRequest) -> bool {
    let host = event
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(event.request_context.domain_name.as_deref());
    let scheme = event
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("https");
    let path = event.raw_path.as_deref().unwrap_or("");
    let base = match host {
        Some(host) => match Url::parse(&format!("{scheme}://{host}{path}")) {
            Ok(url) => url.to_string(),
            Err(_) => return false,
        },
        None => match Url::parse(&format!("http://localhost{path}")) {
            Ok(url) => url.path().to_owned(),
            Err(_) => return false,
        },
    };
    let uri = match event.raw_query_string.as_deref() {
        Some(query) if !query.is_empty() => format!("{base}?{query}"),
        _ => base,
    };
    Uri::try_from(uri).is_ok()
}

/// What was dropped from the request's event, if anything (see [`checked`]).
pub fn malformed(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(MALFORMED)
        .map(|v| v.to_str().unwrap_or("request"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crafted_events_convert_and_are_marked_and_good_ones_are_untouched() {
        for (what, event) in crate::testing::crafted_http_events("/return") {
            let payload: LambdaRequest = serde_json::from_value(event).expect(what);
            let request: Request = checked(payload).into();
            assert!(malformed(&request).is_some(), "{what}");
        }
        let good = crate::testing::crafted_http_events("/return")
            .into_iter()
            .next()
            .map(|(_, mut event)| {
                event["rawQueryString"] = serde_json::json!("status=SC&signature=a%2Bb%3D");
                event
            })
            .expect("an event");
        let payload: LambdaRequest = serde_json::from_value(good).expect("good");
        let request: Request = checked(payload).into();
        assert_eq!(malformed(&request), None);
        assert_eq!(
            request.uri().query(),
            Some("status=SC&signature=a%2Bb%3D"),
            "byte for byte"
        );
        assert_eq!(request.uri().path(), "/return");
    }
}
