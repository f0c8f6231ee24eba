//! Building the real adapters once, at a function's init: JSON logs, the FPS gateway (with its
//! key pair from the environment or Secrets Manager) and the DynamoDB order store. One entry
//! per kind of function: [`web_service`] for the two HTTP functions, [`settlement`] for the
//! sweep, [`notifications`] for FPS's notifications, [`event_publisher`] for order events. Each
//! reads its configuration from an [`Env`]: the process environment in `main`, a recording map
//! in the test that checks `template.yaml` declares what the code reads.

use std::sync::Arc;

use fps_protocol::signing::Credentials;
use fps_protocol::{ClientConfig, FpsClient};

use crate::adapters::dynamodb::DynamoOrderStore;
use crate::adapters::eventbridge::EventBridgePublisher;
use crate::adapters::fps::FpsGateway;
use crate::config::{
    ConfigError, CredentialsSource, Env, EventsConfig, FpsConfig, SettleConfig, ShopConfig,
    StoreConfig,
};
use crate::ports::clock::{Clock, SystemClock};
use crate::use_cases::after_sale::AfterSale;
use crate::use_cases::checkout::{Checkout, CheckoutSettings};
use crate::use_cases::notify::Notifications;
use crate::use_cases::settle::{Settlement, SweepSettings};
use crate::web::{SecurityHeaders, Service};

/// The web service as the HTTP functions run it.
pub type LiveWebService = Service<DynamoOrderStore, FpsGateway>;
/// The settlement as the sweep runs it.
pub type LiveSettlement = Settlement<DynamoOrderStore, FpsGateway>;
/// Refunds and cancels as settle-reservations runs them.
pub type LiveAfterSale = AfterSale<DynamoOrderStore, FpsGateway>;
/// The notification handler as `fps-notifications` runs it.
pub type LiveNotifications = Notifications<DynamoOrderStore, FpsGateway>;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("FPS credentials secret: GetSecretValue failed")]
    SecretUnreadable(#[source] aws_sdk_secretsmanager::Error),
    /// Never carries the secret's text.
    #[error("FPS credentials secret: {0}")]
    SecretMalformed(&'static str),
    #[error("HTTP client")]
    Http(#[source] fps_protocol::client::BuildError),
}

/// JSON logs on stdout (what CloudWatch wants) at the level Lambda's `ApplicationLogLevel` sets
/// (`AWS_LAMBDA_LOG_LEVEL`), else `RUST_LOG` (locally), else `info`. One level, not per-module
/// directives: EnvFilter compiles its directive regex at every cold start (about a millisecond
/// of init here).
pub fn init_logging() {
    let level = log_level(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing::subscriber::set_global_default(json_logs(level, std::io::stdout));
}

/// Lambda's levels are `TRACE` … `ERROR` and `FATAL` (which Rust logging does not have: errors
/// only). Something unreadable falls back to the next source, then to `info`.
fn log_level(
    lambda: Option<&str>,
    rust_log: Option<&str>,
) -> tracing_subscriber::filter::LevelFilter {
    use tracing_subscriber::filter::LevelFilter;
    let parse = |value: &str| -> Option<LevelFilter> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("fatal") {
            return Some(LevelFilter::ERROR);
        }
        value.parse::<LevelFilter>().ok()
    };
    lambda
        .and_then(parse)
        .or_else(|| rust_log.and_then(parse))
        .unwrap_or(LevelFilter::INFO)
}

/// The log format: one JSON object per line with its `timestamp` (RFC 3339, UTC) and the fields
/// of every span it happens in (the runtime's `requestId` and `xrayTraceId`, the use case's
/// `caller_reference`, which is the order id).
fn json_logs<W>(
    level: tracing_subscriber::filter::LevelFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        // Every enclosing span, not just the innermost: the runtime's span has the requestId,
        // the use case's the order id.
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_writer(writer)
        .finish()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretValue {
    access_key_id: String,
    secret_key: String,
}

/// Reads the key pair. In AWS this is one Secrets Manager call at init (~20–40 ms); locally
/// it comes from the environment and costs nothing.
pub async fn credentials(source: &CredentialsSource) -> Result<Credentials, InitError> {
    match source {
        CredentialsSource::Env(credentials) => Ok(credentials.clone()),
        CredentialsSource::SecretsManager(arn) => {
            let config =
                crate::adapters::aws::sdk_config(crate::adapters::dynamodb::default_timeouts())
                    .await;
            let client = aws_sdk_secretsmanager::Client::new(&config);
            let output = client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| InitError::SecretUnreadable(e.into()))?;
            let text = output
                .secret_string()
                .ok_or(InitError::SecretMalformed("the secret has no string value"))?;
            // Never include the secret's text in an error.
            let value: SecretValue = serde_json::from_str(text).map_err(|_| {
                InitError::SecretMalformed(
                    "the secret must be JSON {\"accessKeyId\":…,\"secretKey\":…}",
                )
            })?;
            Ok(Credentials::new(value.access_key_id, value.secret_key))
        }
    }
}

/// The FPS gateway (client and CBUI endpoint), configured from `FpsConfig`.
pub async fn fps_gateway(
    config: &FpsConfig,
    clock: Arc<dyn Clock>,
) -> Result<FpsGateway, InitError> {
    let credentials = credentials(&config.credentials).await?;
    let mut client_config = ClientConfig::new(config.api_url.clone(), credentials);
    client_config.overall_timeout = config.overall_timeout;
    client_config.attempt_timeout = config.overall_timeout.min(client_config.attempt_timeout);
    client_config.extra_root_pem = crate::adapters::aws::bench_trust_root();
    let client = FpsClient::new(client_config, clock).map_err(InitError::Http)?;
    Ok(FpsGateway::new(client, config.cbui_url.clone()).with_ipn_url(config.ipn_url.clone()))
}

pub async fn order_store(config: &StoreConfig) -> DynamoOrderStore {
    DynamoOrderStore::from_env(config.table_name.clone())
        .await
        .with_retention(config.retention)
        .with_due_shards(config.due_shards)
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The web service both HTTP functions build at init: configuration from the environment,
/// the FPS gateway, the order store, the shop and its security headers.
pub async fn web_service(env: &impl Env) -> Result<LiveWebService, InitError> {
    let fps = FpsConfig::from_env(env)?;
    let store = StoreConfig::from_env(env)?;
    let shop = ShopConfig::from_env(env)?;
    let clock = system_clock();
    let gateway = fps_gateway(&fps, clock.clone()).await?;
    let settings = CheckoutSettings::new(&shop, &fps);
    let checkout = Checkout::new(order_store(&store).await, gateway, clock, settings);
    Ok(Service {
        checkout,
        shop,
        security: SecurityHeaders::new(&fps.cbui_url),
    })
}

/// The settlement as the sweep builds it at init (it stops taking orders one FPS call's
/// budget before its deadline), and the after-sale use cases on the same gateway and table.
pub async fn settlement(env: &impl Env) -> Result<(LiveSettlement, LiveAfterSale), InitError> {
    let fps = FpsConfig::from_env(env)?;
    let store = StoreConfig::from_env(env)?;
    let clock = system_clock();
    let gateway = fps_gateway(&fps, clock.clone()).await?;
    let settings = sweep_settings(&fps, &SettleConfig::from_env(env)?);
    let store = order_store(&store).await;
    let after_sale = AfterSale::new(
        store.clone(),
        gateway.clone(),
        clock.clone(),
        settings.lease,
    );
    Ok((Settlement::new(store, gateway, clock, settings), after_sale))
}

/// The notification handler as `fps-notifications` builds it at init: it verifies against
/// `IPN_URL`, which it therefore requires.
pub async fn notifications(env: &impl Env) -> Result<LiveNotifications, InitError> {
    let fps = FpsConfig::from_env(env)?;
    let store = StoreConfig::from_env(env)?;
    let Some(ipn_url) = fps.ipn_url.clone() else {
        return Err(ConfigError {
            problems: vec!["IPN_URL is missing (the URL FPS posts notifications to)".into()],
        }
        .into());
    };
    let clock = system_clock();
    let gateway = fps_gateway(&fps, clock.clone()).await?;
    Ok(Notifications::new(
        order_store(&store).await,
        gateway,
        clock,
        ipn_url,
    ))
}

/// The order events' publisher as `order-events` builds it at init (no FPS key, no table).
pub async fn event_publisher(env: &impl Env) -> Result<EventBridgePublisher, InitError> {
    let config = EventsConfig::from_env(env)?;
    Ok(EventBridgePublisher::from_env(config.bus_name, config.source).await)
}

/// The sweep's settings from the configuration. A claim's lease outlives any FPS call that
/// may still land: a re-driven Settle makes two calls in a row (status, then Settle), each
/// with the whole retry budget; and the sweep stops taking orders one budget before its
/// deadline.
pub fn sweep_settings(fps: &FpsConfig, settle: &SettleConfig) -> SweepSettings {
    let budget = time::Duration::try_from(fps.overall_timeout).unwrap_or(time::Duration::MAX);
    SweepSettings {
        lease: budget.saturating_mul(2).saturating_add(LEASE_MARGIN),
        stop_before_deadline: fps.overall_timeout,
        reserve_margin: settle.reserve_margin,
        partial_settlement: settle.partial_settlement,
        abandon_after: settle.abandon_after,
        ..SweepSettings::default()
    }
}

/// How much longer than an FPS call's whole budget a claim is held.
const LEASE_MARGIN: time::Duration = time::Duration::seconds(30);

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Issue 12 (12): a line logged inside a use case's span still carries the runtime's
    /// requestId (from the invocation's span) and the order id.
    #[test]
    fn every_line_carries_the_request_id_and_the_order_id() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = json_logs(tracing_subscriber::filter::LevelFilter::INFO, move || {
            writer.clone()
        });
        tracing::subscriber::with_default(subscriber, || {
            // As lambda_runtime opens it around every invocation.
            let invocation = tracing::info_span!("Lambda runtime invoke", requestId = "req-42");
            let _invocation = invocation.enter();
            let complete = tracing::info_span!("complete", caller_reference = "o-7");
            let _complete = complete.enter();
            tracing::warn!("VerifySignature: Failure");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
        assert!(text.contains("req-42"), "{line}");
        assert!(text.contains("o-7"), "{line}");
        assert_eq!(line["level"], "WARN");
        let stamp = line["timestamp"].as_str().expect("a timestamp");
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339");
    }

    /// Issue 18 (3): Lambda's ApplicationLogLevel wins over RUST_LOG; FATAL means errors only.
    #[test]
    fn the_log_level_follows_lambdas_setting_first() {
        use tracing_subscriber::filter::LevelFilter as L;
        let cases = [
            (Some("DEBUG"), Some("error"), L::DEBUG),
            (Some("WARN"), None, L::WARN),
            (Some("FATAL"), None, L::ERROR),
            (Some("trace"), None, L::TRACE),
            (Some("loud"), Some("warn"), L::WARN),
            (None, Some("debug"), L::DEBUG),
            (None, Some("nonsense"), L::INFO),
            (None, None, L::INFO),
        ];
        for (lambda, rust_log, expected) in cases {
            assert_eq!(
                log_level(lambda, rust_log),
                expected,
                "{lambda:?} {rust_log:?}"
            );
        }
    }

    /// Issue 12 (8): a claim never lapses while its FPS call may still land, whatever
    /// FPS_TIMEOUT_MS says.
    #[test]
    fn the_sweeps_lease_outlives_the_longest_fps_call() {
        let env = |timeout_ms: &str| -> std::collections::BTreeMap<String, String> {
            [
                ("FPS_ENVIRONMENT", "sandbox"),
                (
                    "FPS_CREDENTIALS_SECRET_ARN",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:fps",
                ),
                ("FPS_TIMEOUT_MS", timeout_ms),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
        };
        let settle = SettleConfig::from_env(&std::collections::BTreeMap::<String, String>::new())
            .expect("defaults");
        for timeout_ms in ["5000", "20000", "120000"] {
            let fps = FpsConfig::from_env(&env(timeout_ms)).expect("config");
            let settings = sweep_settings(&fps, &settle);
            let call = time::Duration::try_from(fps.overall_timeout).expect("duration");
            assert!(settings.lease > call, "{timeout_ms}: {:?}", settings.lease);
            assert_eq!(settings.stop_before_deadline, fps.overall_timeout);
        }
    }
}
