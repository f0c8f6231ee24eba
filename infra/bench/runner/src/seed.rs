//! Orders for the functions to work on, made with the real use cases against the emulator and
//! moto directly (not through the counting proxies): checkouts the buyer has authorised, and
//! reservations, optionally marked fulfilled.

use std::sync::Arc;

use checkout_core::adapters::dynamodb::{
    client_from_env, create_table, DueShards, DynamoOrderStore,
};
use checkout_core::adapters::fps::FpsGateway;
use checkout_core::domain::catalog::{CartLine, Catalog, PricingRule};
use checkout_core::domain::order::{OrderState, PaymentAction};
use checkout_core::ports::clock::{Clock, SystemClock};
use checkout_core::ports::store::OrderStore;
use checkout_core::use_cases::checkout::{Checkout, CheckoutSettings};
use checkout_core::use_cases::settle::{Settlement, SweepSettings};
use fps_sandbox::{ControlClient, Decision, Persona, SandboxHandle};
use futures::{StreamExt, TryStreamExt};
use url::Url;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// What the shop sells in the bench (the functions get the same JSON).
pub const CATALOG: &str = r#"{"products":[
  {"sku":"TEE-BLUE-L","name":"T-shirt (blue, L)","unitPrice":"12.75"},
  {"sku":"MUG","name":"Enamel mug","unitPrice":"8.10"}
]}"#;
pub const PRICING: &str =
    r#"{"taxRate":"0.0825","shipping":"5.00","freeShippingOver":"50.00","handlingFee":"0.50"}"#;
pub const MERCHANT: &str = "Bench Shop";
/// Never fetched: the functions only sign and compare it.
pub const RETURN_URL: &str = "http://127.0.0.1:9/return";
pub const SHOP_URL: &str = "http://127.0.0.1:9/";

/// Seeding runs this many orders at once.
const SEED_CONCURRENCY: usize = 8;

/// A fresh order table on moto (its own per phase, so phases never see each other's orders).
pub async fn fresh_table(phase: &str) -> Result<String, Error> {
    let client = client_from_env().await;
    let table = format!("orders-bench-{phase}-{}", uuid::Uuid::new_v4().simple());
    create_table(&client, &table).await?;
    Ok(table)
}

/// Stores the FPS key pair in moto's Secrets Manager the way the SAM template's secret holds
/// it; returns the secret's ARN.
pub async fn create_secret(
    moto: &Url,
    credentials: &fps_protocol::signing::Credentials,
) -> Result<String, Error> {
    let value = serde_json::json!({
        "accessKeyId": credentials.access_key_id(),
        "secretKey": credentials.secret_key(),
    });
    let body = serde_json::json!({
        "Name": format!("fps-bench-{}", uuid::Uuid::new_v4().simple()),
        "SecretString": value.to_string(),
    });
    // moto picks the service from the credential scope; it checks no signature.
    let answer: serde_json::Value = reqwest::Client::new()
        .post(moto.clone())
        .header("X-Amz-Target", "secretsmanager.CreateSecret")
        .header("Content-Type", "application/x-amz-json-1.1")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=bench/20261128/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    answer
        .get("ARN")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("CreateSecret answered {answer}").into())
}

pub struct Seeder<S> {
    checkout: Checkout<S, FpsGateway>,
    settlement: Settlement<S, FpsGateway>,
    control: ControlClient,
}

impl Seeder<DynamoOrderStore> {
    /// Seeds `table` on moto.
    pub async fn on_table(
        sandbox: &SandboxHandle,
        table: &str,
        action: PaymentAction,
    ) -> Result<Self, Error> {
        Self::on_sharded_table(sandbox, table, action, DueShards::ONE).await
    }

    /// Seeds `table`, its due orders spread over `shards` (as functions with DUE_SHARDS write).
    pub async fn on_sharded_table(
        sandbox: &SandboxHandle,
        table: &str,
        action: PaymentAction,
        shards: DueShards,
    ) -> Result<Self, Error> {
        let store = DynamoOrderStore::new(client_from_env().await, table).with_due_shards(shards);
        Self::new(sandbox, store, action)
    }
}

impl<S: OrderStore + Clone> Seeder<S> {
    pub fn new(sandbox: &SandboxHandle, store: S, action: PaymentAction) -> Result<Self, Error> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let settings = CheckoutSettings {
            catalog: Catalog::from_json(CATALOG)?,
            pricing: PricingRule::from_json(PRICING)?,
            action,
            return_url: Url::parse(RETURN_URL)?,
            merchant_name: MERCHANT.to_owned(),
            lease: time::Duration::seconds(60),
            wait_for_winner: std::time::Duration::from_secs(3),
            recover_after: time::Duration::minutes(10),
        };
        Ok(Self {
            checkout: Checkout::new(
                store.clone(),
                FpsGateway::new(sandbox.fps_client()?, sandbox.cbui_url()),
                clock.clone(),
                settings,
            ),
            settlement: Settlement::new(
                store,
                FpsGateway::new(sandbox.fps_client()?, sandbox.cbui_url()),
                clock,
                SweepSettings::default(),
            ),
            control: sandbox.control(),
        })
    }

    /// Starts a checkout and plays the buyer authorising it with a card: returns the query
    /// string FPS sends the browser back with (the order is not charged yet).
    pub async fn authorised_return(&self) -> Result<(String, String), Error> {
        let cart = [
            CartLine {
                sku: "TEE-BLUE-L".to_owned(),
                quantity: 2,
            },
            CartLine {
                sku: "MUG".to_owned(),
                quantity: 1,
            },
        ];
        let started = self.checkout.start(&cart).await?;
        let back = self
            .control
            .authorize(&started.cbui_url, Persona::Card, Decision::Authorize)
            .await?;
        let query = back.query().unwrap_or("").to_owned();
        Ok((started.order.caller_reference, query))
    }

    /// `n` authorised checkouts: their return query strings.
    pub async fn authorised_returns(&self, n: usize) -> Result<Vec<String>, Error> {
        futures::stream::iter(0..n)
            .map(|_| async { self.authorised_return().await.map(|(_, q)| q) })
            .buffer_unordered(SEED_CONCURRENCY)
            .try_collect()
            .await
    }

    /// `n` reserved orders, marked fulfilled when asked: their CallerReferences. A card
    /// Reserve answers Pending; the emulator's clock is moved past its delay and a sweep
    /// reconciles every order to Reserved before any is marked fulfilled.
    pub async fn reservations(&self, n: usize, fulfilled: bool) -> Result<Vec<String>, Error> {
        let references: Vec<String> = futures::stream::iter(0..n)
            .map(|_| async {
                let (caller_reference, query) = self.authorised_return().await?;
                let completion = self.checkout.complete(&query).await?;
                match completion.order.state {
                    OrderState::Reserved | OrderState::ReservePending => Ok(caller_reference),
                    other => Err::<_, Error>(
                        format!(
                            "seeded reservation {caller_reference} is {}",
                            other.as_str()
                        )
                        .into(),
                    ),
                }
            })
            .buffer_unordered(SEED_CONCURRENCY)
            .try_collect()
            .await?;
        self.control
            .advance_clock(std::time::Duration::from_secs(5))
            .await?;
        let summary = self
            .settlement
            .sweep(tokio::time::Instant::now() + std::time::Duration::from_secs(600))
            .await;
        if summary.reserved as usize + summary.skipped as usize != n || summary.errors > 0 {
            return Err(format!("reconciling the seeded reservations: {summary:?}").into());
        }
        if fulfilled {
            futures::stream::iter(&references)
                .map(|cr| async move { self.settlement.mark_fulfilled(cr, None).await })
                .buffer_unordered(SEED_CONCURRENCY)
                .try_collect::<Vec<_>>()
                .await?;
        }
        Ok(references)
    }
}
