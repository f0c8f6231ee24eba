//! A recording reverse proxy in front of the emulator and of moto: every request the function
//! makes is forwarded unchanged and noted (service, operation, index, start, end), so the
//! bench counts round trips and sequential waits where they happen — on the wire.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use url::Url;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    DynamoDb,
    Fps,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DynamoDb => "DynamoDB",
            Self::Fps => "FPS",
        }
    }
}

/// One request as seen on the wire.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: Service,
    /// `PutItem`, `Query`, `Pay`, `VerifySignature`…
    pub operation: String,
    /// DynamoDB `IndexName` (Query), when there is one.
    pub index: Option<String>,
    pub start: Instant,
    pub end: Instant,
}

#[derive(Default)]
pub struct Recorder {
    calls: Mutex<Vec<Call>>,
}

impl Recorder {
    /// Everything recorded since the last `take`.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn push(&self, call: Call) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(call);
    }
}

struct Proxy {
    service: Service,
    upstream: Url,
    http: reqwest::Client,
    recorder: Arc<Recorder>,
}

/// Starts a proxy for `service` in front of `upstream`; returns its base URL.
pub async fn start(
    service: Service,
    upstream: Url,
    recorder: Arc<Recorder>,
) -> std::io::Result<Url> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let state = Arc::new(Proxy {
        service,
        upstream,
        http,
        recorder,
    });
    let app = axum::Router::new().fallback(forward).with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Url::parse(&format!("http://{address}/")).map_err(std::io::Error::other)
}

fn operation(service: Service, request: &Request, body: &[u8]) -> (String, Option<String>) {
    match service {
        Service::DynamoDb => {
            let target = request
                .headers()
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let op = target.rsplit('.').next().unwrap_or("").to_owned();
            let index = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("IndexName")?.as_str().map(str::to_owned));
            (op, index)
        }
        Service::Fps => {
            let query = request.uri().query().unwrap_or("").as_bytes();
            let action = form_urlencoded::parse(query)
                .chain(form_urlencoded::parse(body))
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            (action, None)
        }
    }
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let start = Instant::now();
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(body) => body,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
    };
    let request = Request::from_parts(parts, Body::empty());
    let (op, index) = operation(proxy.service, &request, &body);
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let Ok(url) = proxy.upstream.join(path) else {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    };
    let mut upstream = proxy.http.request(request.method().clone(), url);
    for (name, value) in request.headers() {
        // The signatures cover the Host as the client sent it: pass it through unchanged.
        if !hop_by_hop(name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.body(body).send().await;
    let response = match answer {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            match answer.bytes().await {
                Ok(bytes) => {
                    let mut response = Response::new(Body::from(bytes));
                    *response.status_mut() = status;
                    for (name, value) in &headers {
                        if !hop_by_hop(name) {
                            response.headers_mut().insert(name, value.clone());
                        }
                    }
                    response
                }
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    proxy.recorder.push(Call {
        service: proxy.service,
        operation: op,
        index,
        start,
        end: Instant::now(),
    });
    response
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "content-length" | "transfer-encoding" | "keep-alive" | "upgrade"
    )
}
