//! The FPS API client: built once, shared, explicit about time and about what is known when a
//! call fails.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tracing::{debug, warn};
use url::Url;

use super::api::{FpsRequest, API_VERSION};
use super::error::FpsError;
use super::signing::{self, Credentials, SignatureMethod, API_PARAMS};
use super::xml::{parse_response, ResponseError};
use crate::clock::{fps_timestamp, Clock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVerb {
    Get,
    /// Form body, as Amazon's own SDK sent it.
    #[default]
    Post,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://fps.amazonaws.com/`, the sandbox, or a local emulator.
    pub endpoint: Url,
    pub credentials: Credentials,
    pub signature_method: SignatureMethod,
    pub verb: HttpVerb,
    pub connect_timeout: Duration,
    /// One HTTP exchange.
    pub attempt_timeout: Duration,
    /// All attempts and backoff together.
    pub overall_timeout: Duration,
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with full jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl ClientConfig {
    pub fn new(endpoint: Url, credentials: Credentials) -> Self {
        Self {
            endpoint,
            credentials,
            signature_method: SignatureMethod::HmacSha256,
            verb: HttpVerb::Post,
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(8),
            overall_timeout: Duration::from_secs(20),
            max_attempts: 4,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// How a call failed, and what that says about the money.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// FPS answered with an error: nothing was done (or, for a transient code after the
    /// retries ran out, FPS may still have done it: see [`CallError::may_have_committed`]).
    #[error(transparent)]
    Rejected(FpsError),
    /// The request left and no usable answer came back (timeout, dropped connection, garbled
    /// body): FPS may or may not have acted. Resolve later with the same CallerReference.
    #[error("outcome unknown after {attempts} attempt(s): {reason}")]
    OutcomeUnknown { attempts: u32, reason: String },
    /// FPS was never reached (connection refused, DNS, TLS): nothing happened.
    #[error("FPS not reached after {attempts} attempt(s): {reason}")]
    NotSent { attempts: u32, reason: String },
}

impl CallError {
    /// True unless FPS definitively answered "no". A caller holding money must then keep the
    /// order for reconciliation rather than mark it failed.
    pub fn may_have_committed(&self) -> bool {
        match self {
            Self::Rejected(e) => e.is_transient(),
            Self::OutcomeUnknown { .. } => true,
            Self::NotSent { .. } => false,
        }
    }

    pub fn fps_error(&self) -> Option<&FpsError> {
        match self {
            Self::Rejected(e) => Some(e),
            _ => None,
        }
    }
}

enum Attempt<T> {
    Done(T),
    Rejected(FpsError),
    Unknown(String),
    NotSent(String),
}

#[derive(Clone)]
pub struct FpsClient {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FpsClient")
            .field("endpoint", &self.config.endpoint.as_str())
            .finish_non_exhaustive()
    }
}

impl FpsClient {
    pub fn new(config: ClientConfig, clock: Arc<dyn Clock>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.attempt_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .build()?;
        Ok(Self {
            http,
            config: Arc::new(config),
            clock,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The full, signed parameter list for one attempt (a fresh Timestamp each time; every
    /// significant parameter, CallerReference included, stays the same).
    pub fn signed_params<R: FpsRequest>(
        &self,
        request: &R,
        verb: HttpVerb,
    ) -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = request
            .params()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        params.push(("Action".to_owned(), R::ACTION.to_owned()));
        params.push(("Version".to_owned(), API_VERSION.to_owned()));
        if R::SIGNED {
            params.push(("Timestamp".to_owned(), fps_timestamp(self.clock.now())));
            let verb = match verb {
                HttpVerb::Get => "GET",
                HttpVerb::Post => "POST",
            };
            signing::sign_params(
                &mut params,
                API_PARAMS,
                &self.config.credentials,
                self.config.signature_method,
                verb,
                &signing::signing_host(&self.config.endpoint),
                self.config.endpoint.path(),
            );
        }
        params
    }

    /// Sends one action, retrying transient failures with backoff within the overall timeout.
    pub async fn call<R: FpsRequest>(&self, request: &R) -> Result<R::Response, CallError> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.config.overall_timeout;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let timeout = remaining.min(self.config.attempt_timeout);
            let outcome = self.attempt(request, timeout).await;
            let retry_reason = match outcome {
                Attempt::Done(response) => return Ok(response),
                Attempt::Unknown(reason) => {
                    warn!(action = R::ACTION, attempt, %reason, "FPS outcome unknown");
                    return Err(CallError::OutcomeUnknown {
                        attempts: attempt,
                        reason,
                    });
                }
                Attempt::Rejected(error) if !error.is_transient() => {
                    return Err(CallError::Rejected(error))
                }
                Attempt::Rejected(error) => Err(CallError::Rejected(error)),
                Attempt::NotSent(reason) => Err(CallError::NotSent {
                    attempts: attempt,
                    reason,
                }),
            };
            let backoff = self.backoff(attempt);
            let out_of_time = tokio::time::Instant::now() + backoff >= deadline;
            if attempt >= self.config.max_attempts || out_of_time {
                return retry_reason;
            }
            if let Err(e) = &retry_reason {
                debug!(action = R::ACTION, attempt, error = %e, ?backoff, "retrying FPS call");
            }
            tokio::time::sleep(backoff).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.config.max_backoff);
        let millis = u64::try_from(exp.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
    }

    async fn attempt<R: FpsRequest>(&self, request: &R, timeout: Duration) -> Attempt<R::Response> {
        let verb = self.config.verb;
        let params = self.signed_params(request, verb);
        let encoded = signing::encode_params(&params);
        let builder = match verb {
            HttpVerb::Get => {
                let mut url = self.config.endpoint.clone();
                url.set_query(Some(&encoded));
                self.http.get(url)
            }
            HttpVerb::Post => self
                .http
                .post(self.config.endpoint.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(encoded),
        };
        let response = match builder.timeout(timeout).send().await {
            Ok(response) => response,
            // Connecting failed: the request never left, so nothing can have happened.
            Err(e) if e.is_connect() => return Attempt::NotSent(e.to_string()),
            Err(e) => return Attempt::Unknown(e.to_string()),
        };
        let status = response.status().as_u16();
        let body = match response.text().await {
            Ok(body) => body,
            Err(e) => return Attempt::Unknown(format!("reading the answer: {e}")),
        };
        match parse_response::<R::Response>(status, &body) {
            Ok(parsed) => Attempt::Done(parsed),
            Err(ResponseError::Fps(error)) => Attempt::Rejected(error),
            Err(ResponseError::Invalid {
                http_status,
                reason,
            }) if matches!(http_status, 500 | 502 | 503 | 504) => {
                // A proxy or load balancer answered: treat it like FPS's own 5xx.
                Attempt::Rejected(FpsError {
                    code: super::error::ErrorCode::ServiceUnavailable,
                    message: reason,
                    request_id: None,
                    http_status,
                })
            }
            Err(ResponseError::Invalid { reason, .. }) => Attempt::Unknown(reason),
        }
    }
}
