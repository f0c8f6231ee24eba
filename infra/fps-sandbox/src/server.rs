//! Starting and stopping a sandbox: the router, the per-request log line, the background tick
//! and the state-file writer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use fps_protocol::cbui::SingleUseRequest;
use fps_protocol::client::{ClientConfig, FpsClient};
use fps_protocol::clock::Clock;
use fps_protocol::signing::{Credentials, SignatureMethod};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use crate::api::{self, LoggedAction};
use crate::app::App;
use crate::cbui;
use crate::clock::SandboxClock;
use crate::config::SandboxConfig;
use crate::control;
use crate::faults::Faults;
use crate::keys::OutboundSigner;
use crate::ledger::Ledger;
use crate::ControlClient;

const PERSIST_INTERVAL: Duration = Duration::from_millis(250);
/// Longer delays are clamped (the ledger adds them to the clock).
const MAX_PENDING_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("public URL: {0}")]
    PublicUrl(String),
    #[error("signing key: {0}")]
    Key(#[from] crate::keys::KeyError),
    #[error("state file: {0}")]
    State(String),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("start_at: {0}")]
    Clock(String),
    #[error("no caller is registered")]
    NoCaller,
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Binds, loads the state file (if any) and serves in the background until the handle is
    /// shut down or dropped.
    pub async fn start(config: SandboxConfig) -> Result<SandboxHandle, StartError> {
        if config.callers.is_empty() {
            return Err(StartError::NoCaller);
        }
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let mut public_url = match &config.public_url {
            Some(u) => u.clone(),
            None => Url::parse(&format!("http://{local_addr}/"))
                .map_err(|e| StartError::PublicUrl(e.to_string()))?,
        };
        if !public_url.path().ends_with('/') {
            let path = format!("{}/", public_url.path());
            public_url.set_path(&path);
        }

        let clock = SandboxClock::new();
        if let Some(at) = config.start_at {
            clock
                .set(at)
                .map_err(|e| StartError::Clock(e.to_string()))?;
        }
        let start_offset = clock.offset();
        let mut ledger = Ledger::new();
        if let Some(path) = &config.state_file {
            if let Some(state) = App::load_state(path).map_err(StartError::State)? {
                ledger = state.ledger;
                clock
                    .set_offset(time::Duration::milliseconds(state.clock_offset_ms))
                    .map_err(|e| StartError::State(e.to_string()))?;
                tracing::info!(path = %path.display(), transactions = ledger.transactions.len(), "state loaded");
            }
        }
        let callers: HashMap<String, Credentials> = config
            .callers
            .iter()
            .map(|c| (c.access_key_id().to_owned(), c.clone()))
            .collect();
        let app = Arc::new(App {
            callers,
            first_caller: config.callers.first().map(|c| c.access_key_id().to_owned()),
            public_url: public_url.clone(),
            pending_delay: time::Duration::try_from(config.pending_delay.min(MAX_PENDING_DELAY))
                .unwrap_or(time::Duration::SECOND),
            ipn_url: config.ipn_url.clone(),
            ipn_max_attempts: config.ipn_max_attempts,
            ipn_initial_backoff: config.ipn_initial_backoff,
            clock: clock.clone(),
            start_offset,
            ledger: Mutex::new(ledger),
            faults: Mutex::new(Faults::default()),
            signer: OutboundSigner::development()?,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()?,
            state_file: config.state_file.clone(),
            dirty: AtomicBool::new(false),
        });

        let (stop_tx, stop_rx) = watch::channel(false);
        let router = router(Arc::clone(&app));
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = server_stop.wait_for(|stop| *stop).await;
            };
            let result = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "server stopped");
            }
        });

        let tick_app = Arc::clone(&app);
        let mut tick_stop = stop_rx.clone();
        let tick_every = config.tick_interval.max(Duration::from_millis(1));
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick_every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => tick_app.tick(),
                    _ = tick_stop.changed() => break,
                }
            }
        });

        let persister = config.state_file.as_ref().map(|_| {
            let persist_app = Arc::clone(&app);
            let mut persist_stop = stop_rx.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(PERSIST_INTERVAL);
                loop {
                    tokio::select! {
                        _ = interval.tick() => {
                            let a = Arc::clone(&persist_app);
                            let _ = tokio::task::spawn_blocking(move || a.persist_if_dirty()).await;
                        }
                        _ = persist_stop.changed() => break,
                    }
                }
            })
        });

        tracing::info!(
            %local_addr,
            public_url = %public_url,
            callers = ?app.callers.keys().collect::<Vec<_>>(),
            pending_ms = config.pending_delay.as_millis() as u64,
            ipn_url = config.ipn_url.as_ref().map(Url::as_str).unwrap_or("-"),
            "fps-sandbox listening"
        );
        Ok(SandboxHandle {
            app,
            local_addr,
            public_url,
            stop: stop_tx,
            tasks: vec![Some(server), Some(ticker), persister],
        })
    }
}

fn router(app: Arc<App>) -> Router {
    let control = Router::new()
        .route("/_sandbox/health", get(control::health))
        .route("/_sandbox/ledger", get(control::ledger))
        .route(
            "/_sandbox/clock",
            get(control::get_clock).post(control::set_clock),
        )
        .route("/_sandbox/reset", post(control::reset))
        .route(
            "/_sandbox/faults",
            get(control::list_faults)
                .post(control::add_fault)
                .delete(control::clear_faults),
        )
        .route("/_sandbox/tokens", post(control::install_token))
        .route_layer(middleware::from_fn(control::loopback_only));
    Router::new()
        .route("/", get(api::handle).post(api::handle))
        .route(cbui::START_PATH, get(cbui::start))
        .route(cbui::AUTHORIZE_PATH, post(cbui::authorize))
        .route("/certs/{id}/PKICert.pem", get(cbui::certificate))
        .merge(control)
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(app)
}

async fn not_found() -> Response {
    (axum::http::StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// One line per request: method, path (never the query: it carries signatures), action,
/// status, milliseconds.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let action = response
        .extensions()
        .get::<LoggedAction>()
        .map(|a| a.0.as_str())
        .unwrap_or("-");
    let ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    tracing::info!(
        target: "fps_sandbox::request",
        method = %method,
        path = %path,
        action,
        status = response.status().as_u16(),
        ms,
        "request"
    );
    response
}

/// A running sandbox. Dropping it stops the server (without waiting); prefer
/// [`SandboxHandle::shutdown`] to wait for a clean stop and a final state-file write.
pub struct SandboxHandle {
    app: Arc<App>,
    local_addr: SocketAddr,
    public_url: Url,
    stop: watch::Sender<bool>,
    tasks: Vec<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("local_addr", &self.local_addr)
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

impl SandboxHandle {
    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT/` (or the configured public URL), with a trailing slash.
    pub fn base_url(&self) -> &Url {
        &self.public_url
    }

    /// The FPS API endpoint (`<base>/`): give it to [`ClientConfig`].
    pub fn api_url(&self) -> Url {
        self.public_url.clone()
    }

    /// The CBUI pipeline endpoint (`<base>/cobranded-ui/actions/start`).
    pub fn cbui_url(&self) -> Url {
        self.join(cbui::START_PATH)
    }

    /// `<base>/certs/<id>/PKICert.pem`, as it appears in `certificateUrl`.
    pub fn certificate_url(&self) -> Url {
        Url::parse(&self.app.certificate_url()).unwrap_or_else(|_| self.public_url.clone())
    }

    fn join(&self, path: &str) -> Url {
        self.public_url
            .join(path.trim_start_matches('/'))
            .unwrap_or_else(|_| self.public_url.clone())
    }

    /// The first registered caller (the development pair unless configured otherwise).
    pub fn credentials(&self) -> Credentials {
        self.app
            .first_caller
            .as_ref()
            .and_then(|k| self.app.callers.get(k))
            .cloned()
            .unwrap_or_else(crate::config::dev_credentials)
    }

    /// The emulator clock. It shares state with the running sandbox: give it to an
    /// [`FpsClient`] so Timestamps stay valid after `advance_clock`.
    pub fn clock(&self) -> SandboxClock {
        self.app.clock.clone()
    }

    /// A client config for this sandbox: first caller, POST, short timeouts and backoff.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.api_url(), self.credentials());
        config.connect_timeout = Duration::from_secs(1);
        config.attempt_timeout = Duration::from_secs(5);
        config.overall_timeout = Duration::from_secs(10);
        config.retry.base_backoff = Duration::from_millis(10);
        config.retry.max_backoff = Duration::from_millis(100);
        config
    }

    /// An [`FpsClient`] for this sandbox, on the emulator clock.
    pub fn fps_client(&self) -> Result<FpsClient, fps_protocol::client::BuildError> {
        self.fps_client_with(self.client_config())
    }

    /// An [`FpsClient`] with a config of your own, on the emulator clock.
    pub fn fps_client_with(
        &self,
        config: ClientConfig,
    ) -> Result<FpsClient, fps_protocol::client::BuildError> {
        let clock: Arc<dyn Clock> = Arc::new(self.clock());
        FpsClient::new(config, clock)
    }

    /// The signed CBUI URL for a SingleUse request, as a merchant would build it.
    pub fn single_use_url(
        &self,
        request: &SingleUseRequest,
    ) -> Result<Url, fps_protocol::cbui::CbuiRequestError> {
        request.signed_url(
            &self.cbui_url(),
            &self.credentials(),
            SignatureMethod::HmacSha256,
        )
    }

    /// The routes this sandbox serves, to call in-process (the fuzz targets feed it requests
    /// without a socket); it shares the running sandbox's state.
    pub fn router(&self) -> Router {
        router(Arc::clone(&self.app))
    }

    /// A typed client for the control API (and the CBUI buyer).
    pub fn control(&self) -> ControlClient {
        ControlClient::new(self.public_url.clone())
    }

    /// Stops serving and waits (bounded) for the tasks, then writes the state file.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.iter_mut().filter_map(Option::take) {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        let app = Arc::clone(&self.app);
        let _ = tokio::task::spawn_blocking(move || app.persist_if_dirty()).await;
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.iter_mut().filter_map(Option::take) {
            task.abort();
        }
    }
}
