//! Building the real adapters once, at a function's init: JSON logs, the FPS gateway (with its
//! key pair from the environment or Secrets Manager) and the DynamoDB order store. One entry
//! per kind of function: [`web_service_from_env`] for the two HTTP functions, [`settlement_from_env`]
//! for the sweep.

use std::sync::Arc;

use fps_protocol::signing::Credentials;
use fps_protocol::{ClientConfig, FpsClient};

use crate::adapters::dynamodb::DynamoOrderStore;
use crate::adapters::fps::FpsGateway;
use crate::config::{
    ConfigError, CredentialsSource, FpsConfig, ProcessEnv, SettleConfig, ShopConfig, StoreConfig,
};
use crate::ports::clock::{Clock, SystemClock};
use crate::use_cases::checkout::{Checkout, CheckoutSettings};
use crate::use_cases::settle::{Settlement, SweepSettings};
use crate::web::{SecurityHeaders, Service};

/// The web service as the HTTP functions run it.
pub type LiveWebService = Service<DynamoOrderStore, FpsGateway>;
/// The settlement as the sweep runs it.
pub type LiveSettlement = Settlement<DynamoOrderStore, FpsGateway>;

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

/// JSON logs on stdout (what CloudWatch wants) at the level `RUST_LOG` names (`error`, `warn`,
/// `info`, `debug`, `trace`; default `info`). One level, not per-module directives: EnvFilter
/// compiles its directive regex at every cold start (about a millisecond of init here).
pub fn init_logging() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| {
            v.trim()
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .ok()
        })
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init();
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
    let client = FpsClient::new(client_config, clock).map_err(InitError::Http)?;
    Ok(FpsGateway::new(client, config.cbui_url.clone()))
}

pub async fn order_store(config: &StoreConfig) -> DynamoOrderStore {
    DynamoOrderStore::from_env(config.table_name.clone()).await
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The web service both HTTP functions build at init: configuration from the environment,
/// the FPS gateway, the order store, the shop and its security headers.
pub async fn web_service_from_env() -> Result<LiveWebService, InitError> {
    let fps = FpsConfig::from_env(&ProcessEnv)?;
    let store = StoreConfig::from_env(&ProcessEnv)?;
    let shop = ShopConfig::from_env(&ProcessEnv)?;
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

/// The settlement as the sweep builds it at init. It stops taking orders one FPS call's
/// budget before its deadline.
pub async fn settlement_from_env() -> Result<LiveSettlement, InitError> {
    let fps = FpsConfig::from_env(&ProcessEnv)?;
    let store = StoreConfig::from_env(&ProcessEnv)?;
    let clock = system_clock();
    let gateway = fps_gateway(&fps, clock.clone()).await?;
    let settle = SettleConfig::from_env(&ProcessEnv)?;
    let settings = SweepSettings {
        stop_before_deadline: fps.overall_timeout,
        reserve_margin: settle.reserve_margin,
        partial_settlement: settle.partial_settlement,
        ..SweepSettings::default()
    };
    Ok(Settlement::new(
        order_store(&store).await,
        gateway,
        clock,
        settings,
    ))
}
