//! The FPS API client: built once, shared, explicit about time and about what is known when a
//! call fails.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tracing::{debug, warn};
use url::Url;

use crate::api::{FpsRequest, API_VERSION};
use crate::clock::{fps_timestamp, Clock};
use crate::error::{ErrorClass, FpsError};
use crate::retry::{AttemptFailure, RetryPolicy};
use crate::signing::{self, Credentials, SignatureMethod, API_PARAMS};
use crate::xml::{parse_response, ResponseError};

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
    /// When an attempt's failure is worth sending the same request again.
    pub retry: RetryPolicy,
    /// A root certificate (PEM) to trust besides the public ones: the bench's development CA
    /// in front of the emulator. `None` in production.
    pub extra_root_pem: Option<Vec<u8>>,
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
            retry: RetryPolicy::default(),
            extra_root_pem: None,
        }
    }
}

/// How a call failed, and what that says about the money.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// FPS answered with an error: nothing was done, unless the error is
    /// [`ErrorClass::Transient`] (see [`CallError::may_have_committed`]).
    #[error(transparent)]
    Rejected(FpsError),
    /// The request left and no usable answer came back (timeout, dropped connection, garbled
    /// body): FPS may or may not have acted. Resolve later with the same CallerReference.
    #[error("outcome unknown after {attempts} attempt(s): {source}")]
    OutcomeUnknown {
        attempts: u32,
        #[source]
        source: TransportError,
    },
    /// FPS was never reached (connection refused, DNS, TLS): nothing happened.
    #[error("FPS not reached after {attempts} attempt(s): {source}")]
    NotSent {
        attempts: u32,
        #[source]
        source: TransportError,
    },
}

impl CallError {
    /// True unless FPS definitively answered "no". A caller holding money must then keep the
    /// order for reconciliation rather than mark it failed.
    pub fn may_have_committed(&self) -> bool {
        match self {
            Self::Rejected(e) => e.class() == ErrorClass::Transient,
            Self::OutcomeUnknown { .. } => true,
            Self::NotSent { .. } => false,
        }
    }
}

/// Why no usable answer came back.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error(transparent)]
    Request(reqwest::Error),
    #[error("reading the answer")]
    Body(#[source] reqwest::Error),
    #[error(transparent)]
    Response(ResponseError),
    /// A resend was refused after an earlier attempt that may have been processed.
    #[error("a resend was refused after an attempt that may have gone through: {0}")]
    RefusedAfterUncertainAttempt(FpsError),
}

/// The HTTP client could not be built (its TLS backend failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("could not build the FPS HTTP client")]
pub struct BuildError(#[from] reqwest::Error);

enum Attempt<T> {
    Done(T),
    Rejected(FpsError),
    Unknown(TransportError),
    NotSent(TransportError),
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
    pub fn new(config: ClientConfig, clock: Arc<dyn Clock>) -> Result<Self, BuildError> {
        let mut http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.attempt_timeout)
            .pool_idle_timeout(Duration::from_secs(50));
        if let Some(pem) = &config.extra_root_pem {
            http = http.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        let http = http.build()?;
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

    /// Sends one action, sending it again as [`RetryPolicy::backoff_after`] says, within the
    /// overall timeout.
    pub async fn call<R: FpsRequest>(&self, request: &R) -> Result<R::Response, CallError> {
        let deadline = tokio::time::Instant::now() + self.config.overall_timeout;
        let mut attempt: u32 = 0;
        // An earlier attempt's service failure may have followed processing (decision 3).
        let mut earlier_may_have_committed = false;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let timeout = remaining.min(self.config.attempt_timeout);
            let (failure, error) = match self.attempt(request, timeout).await {
                Attempt::Done(response) => return Ok(response),
                // After an attempt that may have gone through, a refusal of the resend (the token
                // is used, a duplicate request) says nothing about that first attempt: the
                // outcome is unknown, to be resolved under the same CallerReference (decision 9).
                Attempt::Rejected(error)
                    if earlier_may_have_committed && error.class() != ErrorClass::Transient =>
                {
                    warn!(action = R::ACTION, attempt, code = %error.code, "FPS refused a resend of a request that may have gone through");
                    return Err(CallError::OutcomeUnknown {
                        attempts: attempt,
                        source: TransportError::RefusedAfterUncertainAttempt(error),
                    });
                }
                Attempt::Rejected(error) => {
                    earlier_may_have_committed |= error.class() == ErrorClass::Transient;
                    (
                        AttemptFailure::Rejected(error.class()),
                        CallError::Rejected(error),
                    )
                }
                // Nothing left this time, but an earlier attempt may have been processed.
                Attempt::NotSent(source) if earlier_may_have_committed => (
                    AttemptFailure::NotSent,
                    CallError::OutcomeUnknown {
                        attempts: attempt,
                        source,
                    },
                ),
                Attempt::NotSent(source) => (
                    AttemptFailure::NotSent,
                    CallError::NotSent {
                        attempts: attempt,
                        source,
                    },
                ),
                Attempt::Unknown(source) => {
                    warn!(action = R::ACTION, attempt, error = %source, "FPS outcome unknown");
                    (
                        AttemptFailure::OutcomeUnknown,
                        CallError::OutcomeUnknown {
                            attempts: attempt,
                            source,
                        },
                    )
                }
            };
            let Some(ceiling) = self.config.retry.backoff_after(failure, attempt) else {
                return Err(error);
            };
            let backoff = full_jitter(ceiling);
            if tokio::time::Instant::now() + backoff >= deadline {
                return Err(error);
            }
            debug!(action = R::ACTION, attempt, %error, ?backoff, "retrying FPS call");
            tokio::time::sleep(backoff).await;
        }
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
            Err(e) if e.is_connect() => return Attempt::NotSent(TransportError::Request(e)),
            Err(e) => return Attempt::Unknown(TransportError::Request(e)),
        };
        let status = response.status().as_u16();
        let body = match response.text().await {
            Ok(body) => body,
            Err(e) => return Attempt::Unknown(TransportError::Body(e)),
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
                    code: crate::error::ErrorCode::ServiceUnavailable,
                    message: reason,
                    request_id: None,
                    http_status,
                })
            }
            Err(invalid @ ResponseError::Invalid { .. }) => {
                Attempt::Unknown(TransportError::Response(invalid))
            }
        }
    }
}

/// A pause drawn uniformly below `ceiling` ("full jitter"), so clients that failed together do
/// not retry together.
fn full_jitter(ceiling: Duration) -> Duration {
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
}
