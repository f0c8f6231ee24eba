//! Building the real adapters once, at a function's init: JSON logs, the FPS client (with its
//! key pair from the environment or Secrets Manager) and the DynamoDB order store.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, CredentialsSource, FpsConfig, StoreConfig};
use crate::fps::signing::Credentials;
use crate::fps::{ClientConfig, FpsClient};
use crate::store::dynamodb::DynamoOrderStore;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("FPS credentials secret: {0}")]
    Secret(String),
    #[error("HTTP client: {0}")]
    Http(String),
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
            let config = crate::aws::sdk_config(crate::store::dynamodb::default_timeouts()).await;
            let client = aws_sdk_secretsmanager::Client::new(&config);
            let output = client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| {
                    InitError::Secret(format!(
                        "GetSecretValue failed: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    ))
                })?;
            let text = output
                .secret_string()
                .ok_or_else(|| InitError::Secret("the secret has no string value".to_owned()))?;
            // Never include the secret's text in an error.
            let value: SecretValue = serde_json::from_str(text).map_err(|_| {
                InitError::Secret(
                    "the secret must be JSON {\"accessKeyId\":…,\"secretKey\":…}".to_owned(),
                )
            })?;
            Ok(Credentials::new(value.access_key_id, value.secret_key))
        }
    }
}

/// The FPS client, configured from `FpsConfig`.
pub async fn fps_client(config: &FpsConfig, clock: Arc<dyn Clock>) -> Result<FpsClient, InitError> {
    let credentials = credentials(&config.credentials).await?;
    let mut client_config = ClientConfig::new(config.api_url.clone(), credentials);
    client_config.overall_timeout = config.overall_timeout;
    client_config.attempt_timeout = config.overall_timeout.min(client_config.attempt_timeout);
    FpsClient::new(client_config, clock).map_err(|e| InitError::Http(e.to_string()))
}

pub async fn order_store(config: &StoreConfig) -> DynamoOrderStore {
    DynamoOrderStore::from_env(config.table_name.clone()).await
}

pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// The buyer-facing use cases as both HTTP functions build them at init: configuration from
/// the environment, the FPS client, the order store.
pub async fn checkout_from_env() -> Result<
    (
        crate::checkout::Checkout<DynamoOrderStore, FpsClient>,
        crate::config::ShopConfig,
    ),
    InitError,
> {
    use crate::config::{ProcessEnv, ShopConfig};
    let fps = FpsConfig::from_env(&ProcessEnv)?;
    let store = StoreConfig::from_env(&ProcessEnv)?;
    let shop = ShopConfig::from_env(&ProcessEnv)?;
    let clock = system_clock();
    let gateway = fps_client(&fps, clock.clone()).await?;
    let settings = crate::checkout::CheckoutSettings::new(
        &shop,
        &fps,
        gateway.config().credentials.clone(),
        crate::fps::signing::SignatureMethod::HmacSha256,
    );
    let checkout =
        crate::checkout::Checkout::new(order_store(&store).await, gateway, clock, settings);
    Ok((checkout, shop))
}
