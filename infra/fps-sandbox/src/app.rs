//! The running sandbox's shared state: ledger, faults, clock, keys, IPN delivery, persistence.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fps_protocol::clock::Clock;
use fps_protocol::signing::{self, Credentials};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use crate::clock::SandboxClock;
use crate::faults::Faults;
use crate::keys::OutboundSigner;
use crate::ledger::{IpnDelivery, IpnState, Ledger, Notification};

const MAX_IPN_BACKOFF: Duration = Duration::from_secs(30);
const IPN_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct App {
    pub callers: HashMap<String, Credentials>,
    /// The first registered caller's access key id (the control API's default).
    pub first_caller: Option<String>,
    pub public_url: Url,
    pub pending_delay: time::Duration,
    pub ipn_url: Option<Url>,
    pub ipn_max_attempts: u32,
    pub ipn_initial_backoff: Duration,
    pub clock: SandboxClock,
    pub start_offset: time::Duration,
    pub ledger: Mutex<Ledger>,
    pub faults: Mutex<Faults>,
    pub signer: OutboundSigner,
    pub http: reqwest::Client,
    pub state_file: Option<PathBuf>,
    pub dirty: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `--state-file` content.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PersistedState {
    pub format: u32,
    /// Emulator clock minus real time, in milliseconds.
    pub clock_offset_ms: i64,
    pub ledger: Ledger,
}

impl App {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn certificate_url(&self) -> String {
        self.signer.certificate_url(&self.public_url)
    }

    /// Runs `f` on the ledger after applying every transition due now, then sends the IPNs
    /// they owe (in the background: never blocks the caller).
    pub fn with_ledger<R>(self: &Arc<Self>, f: impl FnOnce(&mut Ledger, OffsetDateTime) -> R) -> R {
        let now = self.now();
        let (result, notifications) = {
            let mut ledger = lock(&self.ledger);
            ledger.advance(now);
            let result = f(&mut ledger, now);
            (result, ledger.take_notifications())
        };
        self.mark_dirty();
        self.dispatch(notifications);
        result
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    /// The background tick: lazily-due transitions happen even when nobody asks.
    pub fn tick(self: &Arc<Self>) {
        let now = self.now();
        let notifications = {
            let mut ledger = lock(&self.ledger);
            ledger.advance(now);
            ledger.take_notifications()
        };
        if !notifications.is_empty() {
            self.mark_dirty();
            self.dispatch(notifications);
        }
    }

    /// Something the state file keeps changed (the ledger or the clock).
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn reset(self: &Arc<Self>) {
        *lock(&self.ledger) = Ledger::new();
        self.faults().clear();
        // The start offset was accepted at start; it can only have drifted past 2999 in theory.
        let _ = self.clock.set_offset(self.start_offset);
        self.mark_dirty();
    }

    fn dispatch(self: &Arc<Self>, notifications: Vec<Notification>) {
        if notifications.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no async runtime: IPNs not sent");
            return;
        };
        let certificate_url = self.certificate_url();
        for notification in notifications {
            let target = notification
                .override_url
                .as_deref()
                .and_then(|u| Url::parse(u).ok())
                .or_else(|| self.ipn_url.clone());
            let Some(target) = target else {
                continue;
            };
            let mut params = notification.params;
            if let Err(e) =
                self.signer
                    .sign_outbound("POST", &target, &[], &mut params, &certificate_url)
            {
                tracing::error!(error = %e, "could not sign an IPN");
                continue;
            }
            let body = signing::encode_params(&params);
            let now = self.now();
            let id = {
                let mut ledger = lock(&self.ledger);
                let id = ledger.next_ipn_id();
                ledger.record_ipn(IpnDelivery {
                    id,
                    url: target.to_string(),
                    notification_type: notification.notification_type,
                    transaction_id: notification.transaction_id,
                    transaction_status: notification
                        .transaction_status
                        .map(|s| s.ipn_form().to_owned()),
                    body: body.clone(),
                    attempts: 0,
                    state: IpnState::Pending,
                    last_http_status: None,
                    last_error: None,
                    created_at: now,
                });
                id
            };
            runtime.spawn(deliver(Arc::clone(self), id, target, body));
        }
    }

    // ----- persistence ---------------------------------------------------------------------

    pub fn load_state(path: &Path) -> Result<Option<PersistedState>, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes the state file if anything changed since the last write (atomic rename).
    pub fn persist_if_dirty(&self) {
        let Some(path) = &self.state_file else {
            return;
        };
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let state = PersistedState {
            format: 1,
            clock_offset_ms: i64::try_from(self.clock.offset().whole_milliseconds())
                .unwrap_or_default(),
            ledger: lock(&self.ledger).clone(),
        };
        let result = serde_json::to_vec_pretty(&state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, bytes)?;
                std::fs::rename(&tmp, path)
            });
        if let Err(e) = result {
            tracing::error!(path = %path.display(), error = %e, "could not write the state file");
            self.mark_dirty();
        }
    }
}

/// Posts one IPN, retrying with doubling backoff up to the configured number of attempts.
async fn deliver(app: Arc<App>, id: u64, target: Url, body: String) {
    let mut backoff = app.ipn_initial_backoff;
    let attempts = app.ipn_max_attempts.max(1);
    for attempt in 1..=attempts {
        let result = app
            .http
            .post(target.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .timeout(IPN_TIMEOUT)
            .body(body.clone())
            .send()
            .await;
        let (delivered, status, error) = match result {
            Ok(response) => (
                response.status().is_success(),
                Some(response.status().as_u16()),
                None,
            ),
            Err(e) => (false, None, Some(e.to_string())),
        };
        {
            let mut ledger = lock(&app.ledger);
            ledger.update_ipn(id, |d| {
                d.attempts = attempt;
                d.last_http_status = status;
                d.last_error = error.clone();
                if delivered {
                    d.state = IpnState::Delivered;
                } else if attempt == attempts {
                    d.state = IpnState::Failed;
                }
            });
        }
        app.mark_dirty();
        if delivered {
            tracing::info!(ipn = id, url = %target, attempt, "IPN delivered");
            return;
        }
        tracing::warn!(ipn = id, url = %target, attempt, ?status, error = error.as_deref().unwrap_or(""), "IPN not delivered");
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2).min(MAX_IPN_BACKOFF);
        }
    }
}
