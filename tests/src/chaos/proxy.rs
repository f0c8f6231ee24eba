//! A fault-injecting HTTP proxy: it stands in front of a real server (the FPS emulator, moto's
//! DynamoDB) and, for a seeded share of the requests, fails them the way the real service or
//! the network did: an error answer without processing, latency, or processing followed by a
//! lost or failed answer (the caller cannot know the request went through).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use url::Url;

/// Which service stands behind the proxy: it decides which requests may be faulted and what an
/// error answer looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    /// FPS's API (POSTs to `/`); the CBUI and the emulator's control API pass untouched.
    Fps,
    /// DynamoDB's JSON protocol: every request may be faulted.
    DynamoDb,
}

/// What happens to a faulted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// 503 without processing (FPS `ServiceUnavailable`, DynamoDB `ServiceUnavailable`).
    Unavailable,
    /// 500 without processing (FPS `InternalError`, DynamoDB `InternalServerError`).
    InternalError,
    /// DynamoDB's 400 `ProvisionedThroughputExceededException` / `ThrottlingException`.
    Throttled,
    /// The request waits this long before it is passed on; past the caller's timeout, it
    /// arrives after the caller gave up (and may race the caller's resend).
    Latency(Duration),
    /// Passed on and processed; the connection is then dropped before the answer.
    CommitThenDrop,
    /// Passed on and processed; the answer is replaced by a 503.
    CommitThenUnavailable,
}

impl Fault {
    pub fn label(self) -> &'static str {
        match self {
            Self::Unavailable => "503 unavailable",
            Self::InternalError => "500 internal error",
            Self::Throttled => "throttled",
            Self::Latency(_) => "latency",
            Self::CommitThenDrop => "commit, then connection dropped",
            Self::CommitThenUnavailable => "commit, then 503",
        }
    }
}

/// A seeded mix: `rate` of eligible requests are faulted, the kind drawn by weight.
#[derive(Debug, Clone)]
pub struct FaultMix {
    pub rate: f64,
    pub kinds: Vec<(Fault, u32)>,
}

impl FaultMix {
    /// No faults: the proxy only relays (and can record or lag).
    pub fn none() -> Self {
        Self {
            rate: 0.0,
            kinds: Vec::new(),
        }
    }

    /// Draws the fault for one request (or none).
    fn draw(&self, rng: &mut StdRng) -> Option<Fault> {
        if self.kinds.is_empty() || !rng.gen_bool(self.rate.clamp(0.0, 1.0)) {
            return None;
        }
        let total: u32 = self.kinds.iter().map(|(_, w)| w).sum();
        let mut pick = rng.gen_range(0..total.max(1));
        for (kind, weight) in &self.kinds {
            if pick < *weight {
                return Some(*kind);
            }
            pick -= weight;
        }
        None
    }
}

/// What the proxy saw: eligible requests and faults by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyCounts {
    pub requests: u64,
    pub faulted: BTreeMap<&'static str, u64>,
}

impl ProxyCounts {
    pub fn faulted_total(&self) -> u64 {
        self.faulted.values().sum()
    }

    /// The faulted share of eligible requests (0 when none came).
    pub fn faulted_share(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.faulted_total() as f64 / self.requests as f64
        }
    }
}

struct Shared {
    upstream: Upstream,
    target: Url,
    mix: FaultMix,
    rng: Mutex<StdRng>,
    enabled: AtomicBool,
    requests: AtomicU64,
    faulted: Mutex<BTreeMap<&'static str, u64>>,
    http: reqwest::Client,
    /// `Some` once [`FaultProxy::record`] was called: every request passed on, in order.
    recorded: Mutex<Option<Vec<SeenRequest>>>,
    /// Set by [`FaultProxy::lag_indexes`]: a DynamoDB index Query gets the first answer given
    /// to the same query (whatever its `:now`), as a global index that lags the table would.
    lag_indexes: AtomicBool,
    index_answers: Mutex<HashMap<String, Stored>>,
}

/// A request as it reached the proxy: DynamoDB's `X-Amz-Target` (empty for others) and body.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub target: String,
    pub body: String,
}

/// An answer kept for replay.
#[derive(Clone)]
struct Stored {
    status: StatusCode,
    content_type: Option<header::HeaderValue>,
    body: Bytes,
}

/// A running proxy; faults stop with [`FaultProxy::calm`] and the task ends on drop.
pub struct FaultProxy {
    shared: Arc<Shared>,
    url: Url,
    server: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and passes requests on to `target`.
    pub async fn start(
        upstream: Upstream,
        target: Url,
        mix: FaultMix,
        seed: u64,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            upstream,
            target,
            mix,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            enabled: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            faulted: Mutex::new(BTreeMap::new()),
            http,
            recorded: Mutex::new(None),
            lag_indexes: AtomicBool::new(false),
            index_answers: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .fallback(relay)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = Url::parse(&format!("http://{addr}/")).map_err(std::io::Error::other)?;
        Ok(Self {
            shared,
            url,
            server,
        })
    }

    /// The proxy's base URL (`http://127.0.0.1:PORT/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Stops injecting faults (requests still pass through).
    pub fn calm(&self) {
        self.shared.enabled.store(false, Ordering::SeqCst);
    }

    /// Keeps every request from now on, for [`FaultProxy::seen`].
    pub fn record(&self) {
        if let Ok(mut recorded) = self.shared.recorded.lock() {
            recorded.get_or_insert_with(Vec::new);
        }
    }

    /// The requests passed on since [`FaultProxy::record`].
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.shared
            .recorded
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .unwrap_or_default()
    }

    /// From now on, DynamoDB index queries are answered as a lagging global index would: the
    /// same query (up to its `:now`) gets the answer it got the first time.
    pub fn lag_indexes(&self) {
        self.shared.lag_indexes.store(true, Ordering::SeqCst);
    }

    pub fn counts(&self) -> ProxyCounts {
        ProxyCounts {
            requests: self.shared.requests.load(Ordering::SeqCst),
            faulted: self
                .shared
                .faulted
                .lock()
                .map(|f| f.clone())
                .unwrap_or_default(),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Shared {
    fn note(&self, headers: &HeaderMap, body: &Bytes) {
        if let Ok(mut recorded) = self.recorded.lock() {
            if let Some(recorded) = recorded.as_mut() {
                recorded.push(SeenRequest {
                    target: dynamodb_target(headers).to_owned(),
                    body: String::from_utf8_lossy(body).into_owned(),
                });
            }
        }
    }

    /// The key under which a lagging index keeps its answer: the query without its `:now`.
    /// `None` for anything that is not a DynamoDB index Query (or when not lagging).
    fn lagging_key(&self, headers: &HeaderMap, body: &Bytes) -> Option<String> {
        if self.upstream != Upstream::DynamoDb
            || !self.lag_indexes.load(Ordering::SeqCst)
            || !dynamodb_target(headers).ends_with(".Query")
        {
            return None;
        }
        let mut query: serde_json::Value = serde_json::from_slice(body).ok()?;
        query.get("IndexName")?;
        if let Some(values) = query
            .get_mut("ExpressionAttributeValues")
            .and_then(|v| v.as_object_mut())
        {
            values.remove(":now");
        }
        Some(query.to_string())
    }

    fn eligible(&self, method: &Method, uri: &Uri) -> bool {
        match self.upstream {
            Upstream::DynamoDb => true,
            Upstream::Fps => method == Method::POST && uri.path() == "/",
        }
    }

    fn decide(&self, method: &Method, uri: &Uri) -> Option<Fault> {
        if !self.enabled.load(Ordering::SeqCst) || !self.eligible(method, uri) {
            return None;
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        let fault = {
            let mut rng = self.rng.lock().ok()?;
            self.mix.draw(&mut rng)
        }?;
        // A throttling answer is DynamoDB's; FPS has none and gets a 503 instead.
        let fault = match (fault, self.upstream) {
            (Fault::Throttled, Upstream::Fps) => Fault::Unavailable,
            (f, _) => f,
        };
        if let Ok(mut faulted) = self.faulted.lock() {
            *faulted.entry(fault.label()).or_default() += 1;
        }
        Some(fault)
    }

    /// The answer the service gives when it refuses without processing.
    fn error(&self, status: StatusCode, fps_code: &str, dynamo_type: &str) -> Response {
        match self.upstream {
            Upstream::Fps => (
                status,
                [(header::CONTENT_TYPE, "text/xml")],
                format!(
                    "<?xml version=\"1.0\"?><Response><Errors><Error><Code>{fps_code}</Code>\
                     <Message>chaos proxy fault</Message></Error></Errors>\
                     <RequestID>chaos-{}</RequestID></Response>",
                    uuid::Uuid::new_v4().simple()
                ),
            )
                .into_response(),
            Upstream::DynamoDb => (
                status,
                [(header::CONTENT_TYPE, "application/x-amz-json-1.0")],
                format!(
                    "{{\"__type\":\"com.amazonaws.dynamodb.v20120810#{dynamo_type}\",\
                     \"message\":\"chaos proxy fault\"}}"
                ),
            )
                .into_response(),
        }
    }

    async fn forward(
        &self,
        method: Method,
        uri: &Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response, String> {
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let url = self
            .target
            .join(path.trim_start_matches('/'))
            .map_err(|e| e.to_string())?;
        let mut request = self.http.request(method, url).body(body);
        for (name, value) in &headers {
            if !is_hop_by_hop(name) {
                // The Host header stays as the caller sent it: signatures cover it.
                request = request.header(name, value);
            }
        }
        let answer = request.send().await.map_err(|e| e.to_string())?;
        let status = answer.status();
        let mut response = Response::builder().status(status);
        for (name, value) in answer.headers() {
            if !is_hop_by_hop(name) && name != header::CONTENT_LENGTH {
                response = response.header(name, value);
            }
        }
        let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
        response.body(Body::from(bytes)).map_err(|e| e.to_string())
    }
}

/// A DynamoDB client like `direct` that sends its requests through `proxy`.
pub fn client_through(
    direct: &aws_sdk_dynamodb::Client,
    proxy: &FaultProxy,
) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        direct
            .config()
            .to_builder()
            .endpoint_url(proxy.url().as_str().trim_end_matches('/'))
            .build(),
    )
}

fn dynamodb_target(headers: &HeaderMap) -> &str {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

impl IntoResponse for Stored {
    fn into_response(self) -> Response {
        let mut response = Response::builder().status(self.status);
        if let Some(content_type) = self.content_type {
            response = response.header(header::CONTENT_TYPE, content_type);
        }
        response
            .body(Body::from(self.body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// Keeps a successful index answer for replay (the first one per query wins) and passes it on.
async fn keep(shared: &Shared, key: String, response: Response) -> Result<Response, String> {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| e.to_string())?;
    let stored = Stored {
        status,
        content_type,
        body,
    };
    if status.is_success() {
        if let Ok(mut answers) = shared.index_answers.lock() {
            answers.entry(key).or_insert_with(|| stored.clone());
        }
    }
    Ok(stored.into_response())
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade"
    )
}

/// Headers go out, the body never does: the connection is aborted after processing.
fn dropped_connection() -> Response {
    let failing = futures::stream::iter([Err::<Bytes, std::io::Error>(std::io::Error::other(
        "chaos proxy: connection dropped after commit",
    ))]);
    Response::builder()
        .status(StatusCode::OK)
        .body(Body::from_stream(failing))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn relay(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = shared.decide(&method, &uri);
    match fault {
        Some(Fault::Unavailable) => {
            return shared.error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "ServiceUnavailable",
            )
        }
        Some(Fault::InternalError) => {
            return shared.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "InternalServerError",
            )
        }
        Some(Fault::Throttled) => {
            return shared.error(
                StatusCode::BAD_REQUEST,
                "ServiceUnavailable",
                "ProvisionedThroughputExceededException",
            )
        }
        Some(Fault::Latency(wait)) => tokio::time::sleep(wait).await,
        _ => {}
    }
    shared.note(&headers, &body);
    let lagging = shared.lagging_key(&headers, &body);
    if let Some(stored) = lagging.as_ref().and_then(|key| {
        shared
            .index_answers
            .lock()
            .ok()
            .and_then(|answers| answers.get(key).cloned())
    }) {
        return stored.into_response();
    }
    let answer = shared.forward(method, &uri, headers, body).await;
    let answer = match (lagging, answer) {
        (Some(key), Ok(response)) => keep(&shared, key, response).await,
        (_, answer) => answer,
    };
    match (fault, answer) {
        (_, Err(e)) => (StatusCode::BAD_GATEWAY, format!("chaos proxy: {e}")).into_response(),
        (Some(Fault::CommitThenDrop), Ok(_)) => dropped_connection(),
        (Some(Fault::CommitThenUnavailable), Ok(_)) => shared.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "ServiceUnavailable",
        ),
        (_, Ok(response)) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_faults_about_its_rate_and_only_its_kinds() {
        let mix = FaultMix {
            rate: 0.25,
            kinds: vec![(Fault::Unavailable, 3), (Fault::CommitThenDrop, 1)],
        };
        let mut rng = StdRng::seed_from_u64(7);
        let draws: Vec<_> = (0..10_000).map(|_| mix.draw(&mut rng)).collect();
        let faulted = draws.iter().flatten().count();
        assert!((2_300..2_700).contains(&faulted), "{faulted}");
        let drops = draws
            .iter()
            .flatten()
            .filter(|f| **f == Fault::CommitThenDrop)
            .count();
        assert!((450..800).contains(&drops), "{drops} of {faulted}");
        assert!(draws
            .iter()
            .flatten()
            .all(|f| matches!(f, Fault::Unavailable | Fault::CommitThenDrop)));
    }

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let mix = FaultMix {
            rate: 0.5,
            kinds: vec![(Fault::InternalError, 1), (Fault::Throttled, 1)],
        };
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200).map(|_| mix.draw(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }
}
