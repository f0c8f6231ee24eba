//! A minimal Lambda Runtime API (`/2018-06-01/runtime/...`) on loopback: it hands the function
//! one event at a time, notes when the process first asked for work (the end of its init) and
//! times every invocation from hand-out to answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot, Notify};

/// What the function answered to one event.
#[derive(Debug)]
pub struct Answer {
    /// `/response` (true) or `/error` (false).
    pub ok: bool,
    pub body: String,
    /// When the event left the stub and when the answer arrived.
    pub handed_out: Instant,
    pub answered: Instant,
}

impl Answer {
    pub fn latency(&self) -> Duration {
        self.answered.saturating_duration_since(self.handed_out)
    }
}

struct Pending {
    id: String,
    body: String,
    deadline: Duration,
    reply: oneshot::Sender<Answer>,
}

struct Waiting {
    reply: oneshot::Sender<Answer>,
    handed_out: Instant,
}

struct Inner {
    first_next: Mutex<Option<Instant>>,
    init_error: Mutex<Option<String>>,
    started: Notify,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: Mutex<HashMap<String, Waiting>>,
}

pub struct RuntimeStub {
    address: SocketAddr,
    inner: Arc<Inner>,
    sender: mpsc::UnboundedSender<Pending>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Debug)]
pub enum StubError {
    /// The process never asked for work (or reported an init error).
    NoStart(String),
    Timeout,
    Gone,
}

impl std::fmt::Display for StubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoStart(why) => write!(f, "the function did not start: {why}"),
            Self::Timeout => write!(f, "the function did not answer in time"),
            Self::Gone => write!(f, "the runtime stub stopped"),
        }
    }
}

impl std::error::Error for StubError {}

impl RuntimeStub {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            first_next: Mutex::new(None),
            init_error: Mutex::new(None),
            started: Notify::new(),
            queue: tokio::sync::Mutex::new(receiver),
            waiting: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            inner,
            sender,
            server,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn api_address(&self) -> String {
        self.address.to_string()
    }

    /// When the function first called `/next`: the end of its init.
    pub async fn wait_for_start(&self, timeout: Duration) -> Result<Instant, StubError> {
        let give_up = Instant::now() + timeout;
        loop {
            let notified = self.inner.started.notified();
            if let Some(error) = lock(&self.inner.init_error).clone() {
                return Err(StubError::NoStart(format!("init error: {error}")));
            }
            if let Some(at) = *lock(&self.inner.first_next) {
                return Ok(at);
            }
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StubError::NoStart(format!("no /next within {timeout:?}")));
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), notified).await;
        }
    }

    /// Sends one event and waits for the function's answer.
    pub async fn invoke(
        &self,
        event: &serde_json::Value,
        budget: Duration,
    ) -> Result<Answer, StubError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            id: uuid::Uuid::new_v4().to_string(),
            body: event.to_string(),
            deadline: budget,
            reply,
        };
        self.sender.send(pending).map_err(|_| StubError::Gone)?;
        match tokio::time::timeout(budget + Duration::from_secs(5), answer).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(StubError::Gone),
            Err(_) => Err(StubError::Timeout),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    {
        let mut first = lock(&inner.first_next);
        if first.is_none() {
            *first = Some(Instant::now());
            inner.started.notify_waiters();
        }
    }
    let pending = {
        let mut queue = inner.queue.lock().await;
        queue.recv().await
    };
    let Some(pending) = pending else {
        return StatusCode::GONE.into_response();
    };
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        + pending.deadline;
    let mut headers = HeaderMap::new();
    let pairs = [
        ("lambda-runtime-aws-request-id", pending.id.clone()),
        (
            "lambda-runtime-deadline-ms",
            deadline_ms.as_millis().to_string(),
        ),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    lock(&inner.waiting).insert(
        pending.id,
        Waiting {
            reply: pending.reply,
            handed_out: Instant::now(),
        },
    );
    (StatusCode::OK, headers, pending.body).into_response()
}

fn finish(inner: &Inner, id: &str, ok: bool, body: Bytes) -> StatusCode {
    let answered = Instant::now();
    match lock(&inner.waiting).remove(id) {
        Some(waiting) => {
            let _ = waiting.reply.send(Answer {
                ok,
                body: String::from_utf8_lossy(&body).into_owned(),
                handed_out: waiting.handed_out,
                answered,
            });
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&inner, &id, true, body)
}

async fn error(State(inner): State<Arc<Inner>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&inner, &id, false, body)
}

async fn init_error(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    *lock(&inner.init_error) = Some(String::from_utf8_lossy(&body).into_owned());
    inner.started.notify_waiters();
    StatusCode::ACCEPTED
}
