//! The stack a chaos campaign drives: the real handlers, the FPS emulator and moto, with a
//! fault proxy in front of each service. Handlers are called in-process so that an invocation
//! can be "killed" (its future dropped) at any await point; IPNs come over real HTTP.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use checkout_core::adapters::dynamodb::{create_table, DynamoOrderStore};
use checkout_core::adapters::fps::FpsGateway;
use checkout_core::config::ShopConfig;
use checkout_core::domain::catalog::{Catalog, PricingRule};
use checkout_core::domain::order::PaymentAction;
use checkout_core::ports::clock::{Clock, ManualClock};
use checkout_core::use_cases::after_sale::AfterSale;
use checkout_core::use_cases::checkout::{Checkout, CheckoutSettings};
use checkout_core::use_cases::notify::Notifications;
use checkout_core::use_cases::settle::{Settlement, SweepSettings};
use fps_sandbox::{ControlClient, Sandbox, SandboxConfig, SandboxHandle};
use url::Url;

use super::proxy::{Fault, FaultMix, FaultProxy, Upstream};
use crate::{ReturnService, SettleService, Store, CATALOG, DUE_SHARDS, PRICING, RETENTION};

/// The FPS client gives up on an attempt after this long; a latency fault waits longer, so the
/// request reaches FPS after the client stopped listening.
pub const FPS_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(800);

/// A quarter of FPS API requests (each attempt, resends included) is faulted.
pub fn fps_faults() -> FaultMix {
    FaultMix {
        rate: 0.25,
        kinds: vec![
            (Fault::Unavailable, 30),
            (Fault::InternalError, 20),
            (
                Fault::Latency(FPS_ATTEMPT_TIMEOUT + Duration::from_millis(300)),
                10,
            ),
            (Fault::CommitThenDrop, 25),
            (Fault::CommitThenUnavailable, 15),
        ],
    }
}

/// DynamoDB requests fail less often (the SDK resends each up to three times).
pub fn dynamodb_faults() -> FaultMix {
    FaultMix {
        rate: 0.08,
        kinds: vec![
            (Fault::InternalError, 25),
            (Fault::Throttled, 35),
            (Fault::Latency(Duration::from_millis(40)), 25),
            (Fault::CommitThenDrop, 15),
        ],
    }
}

pub struct ChaosStack {
    pub sandbox: SandboxHandle,
    pub control: ControlClient,
    pub fps_proxy: FaultProxy,
    pub dynamodb_proxy: FaultProxy,
    /// Through the DynamoDB proxy: what the handlers use.
    pub store: Store,
    /// Straight to moto: what the campaign's checks read.
    pub direct_store: Store,
    pub clock: ManualClock,
    pub pay: Checkout<Store, FpsGateway>,
    pub reserve: Checkout<Store, FpsGateway>,
    pub ret: ReturnService,
    pub notifications: Arc<Notifications<Store, FpsGateway>>,
    pub settle: SettleService,
    pub ipn_url: Url,
    ipn_server: tokio::task::JoinHandle<()>,
}

async fn serve_ipn(
    State(notifications): State<Arc<Notifications<Store, FpsGateway>>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes): Result<Bytes, _> = axum::body::to_bytes(body, 64 * 1024).await else {
        return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let request = lambda_http::Request::from_parts(parts, lambda_http::Body::Binary(bytes.into()));
    match fps_notifications::handle(&notifications, request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            axum::response::Response::from_parts(parts, axum::body::Body::from(body.to_vec()))
        }
        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

impl ChaosStack {
    pub async fn start(seed: u64) -> Self {
        let sandbox = Sandbox::start(SandboxConfig::for_tests())
            .await
            .expect("start the FPS emulator");
        let control = sandbox.control();
        let moto = Url::parse(&crate::dynamodb_endpoint()).expect("DynamoDB endpoint");
        let fps_proxy = FaultProxy::start(Upstream::Fps, sandbox.api_url(), fps_faults(), seed)
            .await
            .expect("FPS fault proxy");
        let dynamodb_proxy = FaultProxy::start(
            Upstream::DynamoDb,
            moto.clone(),
            dynamodb_faults(),
            seed.wrapping_add(1),
        )
        .await
        .expect("DynamoDB fault proxy");

        let direct = checkout_core::adapters::dynamodb::client_from_env().await;
        let table = format!("orders-chaos-{}", uuid::Uuid::new_v4().simple());
        create_table(&direct, &table)
            .await
            .unwrap_or_else(|e| panic!("create table {table}: {e}"));
        let proxied = super::proxy::client_through(&direct, &dynamodb_proxy);
        let store = DynamoOrderStore::new(proxied, table.clone())
            .with_retention(Some(RETENTION))
            .with_due_shards(DUE_SHARDS);
        // The checks read the whole table at once from a busy moto: patient timeouts.
        let patient = aws_sdk_dynamodb::Client::from_conf(
            direct
                .config()
                .to_builder()
                .timeout_config(
                    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                        .operation_attempt_timeout(Duration::from_secs(60))
                        .operation_timeout(Duration::from_secs(300))
                        .build(),
                )
                .build(),
        );
        let direct_store = DynamoOrderStore::new(patient, table)
            .with_retention(Some(RETENTION))
            .with_due_shards(DUE_SHARDS);

        let ipn_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let ipn_url = Url::parse(&format!(
            "http://{}/ipn",
            ipn_listener.local_addr().expect("addr")
        ))
        .expect("ipn url");
        let shop_url = Url::parse("http://127.0.0.1:9/").expect("shop url");
        let return_url = shop_url.join("return").expect("return url");
        let clock = ManualClock::new(time::OffsetDateTime::now_utc());
        let app_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let shop = ShopConfig {
            action: PaymentAction::Pay,
            return_url: return_url.clone(),
            shop_url,
            catalog: Catalog::from_json(CATALOG).expect("catalog"),
            pricing: PricingRule::from_json(PRICING).expect("pricing"),
            merchant_name: "Chaos Shop".to_owned(),
            recover_after: time::Duration::minutes(10),
        };
        let settings = |action| CheckoutSettings {
            catalog: shop.catalog.clone(),
            pricing: shop.pricing.clone(),
            action,
            return_url: return_url.clone(),
            merchant_name: shop.merchant_name.clone(),
            lease: time::Duration::seconds(60),
            wait_for_winner: Duration::from_secs(5),
            recover_after: shop.recover_after,
        };
        let mut config = sandbox.client_config();
        config.endpoint = fps_proxy.url().clone();
        config.attempt_timeout = FPS_ATTEMPT_TIMEOUT;
        config.overall_timeout = Duration::from_secs(4);
        let fps = || {
            FpsGateway::new(
                sandbox.fps_client_with(config.clone()).expect("fps client"),
                sandbox.cbui_url(),
            )
            .with_ipn_url(Some(ipn_url.clone()))
        };
        let checkout =
            |action| Checkout::new(store.clone(), fps(), app_clock.clone(), settings(action));
        let notifications = Arc::new(Notifications::new(
            store.clone(),
            fps(),
            app_clock.clone(),
            ipn_url.clone(),
        ));
        let settle = settle_reservations::Service {
            settlement: Settlement::new(
                store.clone(),
                fps(),
                app_clock.clone(),
                SweepSettings {
                    stop_before_deadline: Duration::from_secs(1),
                    ..SweepSettings::default()
                },
            ),
            after_sale: AfterSale::new(
                store.clone(),
                fps(),
                app_clock.clone(),
                time::Duration::seconds(60),
            ),
        };
        let ret = cbui_return::Service {
            checkout: checkout(PaymentAction::Pay),
            shop: shop.clone(),
            security: checkout_core::web::SecurityHeaders::new(&sandbox.cbui_url()),
        };
        let app = axum::Router::new()
            .fallback(serve_ipn)
            .with_state(Arc::clone(&notifications));
        let ipn_server = tokio::spawn(async move {
            let _ = axum::serve(ipn_listener, app).await;
        });
        let (pay, reserve) = (
            checkout(PaymentAction::Pay),
            checkout(PaymentAction::Reserve),
        );
        Self {
            control,
            fps_proxy,
            dynamodb_proxy,
            store,
            direct_store,
            clock,
            pay,
            reserve,
            ret,
            notifications,
            settle,
            ipn_url,
            ipn_server,
            sandbox,
        }
    }

    /// Moves both clocks, the functions' and the emulator's, by the same amount.
    pub async fn jump(&self, by: time::Duration) {
        self.clock.advance(by);
        let std = Duration::from_secs(by.whole_seconds().max(0) as u64);
        self.control
            .advance_clock(std)
            .await
            .expect("advance the emulator clock");
    }

    pub async fn shutdown(self) {
        self.ipn_server.abort();
        self.sandbox.shutdown().await;
    }
}

impl ChaosStack {
    /// The order as the table holds it, read past the fault proxy.
    pub async fn direct_store_order(
        &self,
        order_id: &str,
    ) -> Option<checkout_core::domain::order::Order> {
        use checkout_core::ports::store::OrderStore;
        self.direct_store.get(order_id).await.ok().flatten()
    }
}
