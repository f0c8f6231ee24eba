//! How a sandbox is set up: callers, URLs, timings, IPN, persistence.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use fps_protocol::signing::Credentials;
use time::OffsetDateTime;
use url::Url;

/// The documented development caller (access key id). Not a secret.
pub const DEV_ACCESS_KEY_ID: &str = "AKIAFPSSANDBOXDEVKEY";
/// The documented development secret key. Not a secret: never use it outside the sandbox.
pub const DEV_SECRET_KEY: &str = "fps-sandbox-dev-secret-not-for-production";

/// The development key pair the sandbox accepts unless told otherwise.
pub fn dev_credentials() -> Credentials {
    Credentials::new(DEV_ACCESS_KEY_ID, DEV_SECRET_KEY)
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen; port 0 picks a free port (see `SandboxHandle::base_url`).
    pub listen: SocketAddr,
    /// Registered callers (access key id + secret). Default: the development pair.
    pub callers: Vec<Credentials>,
    /// The URL the sandbox is reached at, used in redirects and `certificateUrl`.
    /// Default: `http://<bound address>/`.
    pub public_url: Option<Url>,
    /// How long (emulator clock) a Pending card/bank payment, reserve, settle or refund takes
    /// to complete.
    pub pending_delay: Duration,
    /// Where IPNs go when a request gives no `OverrideIPNURL`. None: only overrides get IPNs.
    pub ipn_url: Option<Url>,
    /// Attempts per IPN (first try included) and the first backoff (doubling, capped at 30 s).
    pub ipn_max_attempts: u32,
    pub ipn_initial_backoff: Duration,
    /// Persist the ledger here (JSON), and load it at start.
    pub state_file: Option<PathBuf>,
    /// How often the background tick applies due transitions (and so fires their IPNs).
    pub tick_interval: Duration,
    /// Start the emulator clock at this moment instead of now.
    pub start_at: Option<OffsetDateTime>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            callers: vec![dev_credentials()],
            public_url: None,
            pending_delay: Duration::from_millis(1000),
            ipn_url: None,
            ipn_max_attempts: 6,
            ipn_initial_backoff: Duration::from_millis(500),
            state_file: None,
            tick_interval: Duration::from_millis(100),
            start_at: None,
        }
    }
}

impl SandboxConfig {
    /// Quick settings for tests: 127.0.0.1:0, development caller, Pending resolves after
    /// 100 ms, a 10 ms tick, IPN retries 10 ms apart.
    pub fn for_tests() -> Self {
        Self {
            pending_delay: Duration::from_millis(100),
            tick_interval: Duration::from_millis(10),
            ipn_max_attempts: 4,
            ipn_initial_backoff: Duration::from_millis(10),
            ..Self::default()
        }
    }

    pub fn with_pending_delay(mut self, delay: Duration) -> Self {
        self.pending_delay = delay;
        self
    }

    pub fn with_ipn_url(mut self, url: Url) -> Self {
        self.ipn_url = Some(url);
        self
    }

    pub fn with_caller(mut self, credentials: Credentials) -> Self {
        self.callers.push(credentials);
        self
    }

    pub fn with_state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    pub fn with_start_at(mut self, at: OffsetDateTime) -> Self {
        self.start_at = Some(at);
        self
    }
}
