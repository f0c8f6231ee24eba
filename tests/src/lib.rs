//! The local stack for end-to-end tests, in one process: the FPS emulator on loopback, a
//! fresh table on moto's DynamoDB server, and the two HTTP functions' handlers served over real
//! HTTP (the same `handle` the Lambda runtime calls; only the runtime adapter differs).

pub mod chaos;
pub mod iam;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use checkout_core::adapters::dynamodb::{
    client_from_env, create_table, DueShards, DynamoOrderStore,
};
use checkout_core::adapters::fps::FpsGateway;
use checkout_core::config::ShopConfig;
use checkout_core::domain::catalog::{Catalog, PricingRule};
use checkout_core::domain::order::{Order, OrderState, PaymentAction};
use checkout_core::ports::clock::{Clock, ManualClock};
use checkout_core::ports::store::OrderStore;
use checkout_core::use_cases::checkout::{Checkout, CheckoutSettings};
use checkout_core::use_cases::settle::{Settlement, SweepSettings, SweepSummary};
use fps_sandbox::{ControlClient, Decision, Persona, Sandbox, SandboxConfig, SandboxHandle};
use url::Url;

pub type Store = DynamoOrderStore;
pub type StartService = start_checkout::Service<Store, FpsGateway>;
pub type ReturnService = cbui_return::Service<Store, FpsGateway>;
pub type SettleService = settle_reservations::Service<Store, FpsGateway>;
pub type NotificationService = checkout_core::use_cases::notify::Notifications<Store, FpsGateway>;

/// The catalog every e2e test uses. Prices are chosen so totals hit the emulator's decline
/// table only where a test wants it (with [`NO_EXTRAS`] pricing, a gift card's cents are the
/// FPS amount's: `.61` TransactionDenied, `.62` InsufficientBalance, `.64` Pending until it
/// times out, `.65` InvalidAccountState_Sender, `.66` AccountLimitsExceeded).
pub const CATALOG: &str = r#"{"products":[
  {"sku":"TEE-BLUE-L","name":"T-shirt (blue, L)","unitPrice":"12.75"},
  {"sku":"MUG","name":"Mug","unitPrice":"8.10"},
  {"sku":"DECLINE","name":"Gift card that the bank declines","unitPrice":"10.61"},
  {"sku":"SHORT","name":"Gift card the balance cannot cover","unitPrice":"10.62"},
  {"sku":"REVIEW","name":"Gift card held for manual review","unitPrice":"10.64"},
  {"sku":"FROZEN","name":"Gift card from a frozen account","unitPrice":"10.65"},
  {"sku":"LIMIT","name":"Gift card over the account's limit","unitPrice":"10.66"},
  {"sku":"XSS","name":"<script>alert('pwned')</script> Poster","unitPrice":"4.00"}
]}"#;
pub const PRICING: &str =
    r#"{"taxRate":"0.0825","shipping":"5.00","freeShippingOver":"50.00","handlingFee":"0.50"}"#;
/// No tax or shipping, so a product's price is the FPS amount (for the decline table).
pub const NO_EXTRAS: &str = "{}";

/// The DynamoDB endpoint, from `make test` (which starts moto's server).
pub fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL_DYNAMODB is not set: run these tests with `make test`, which starts moto's DynamoDB server")
    })
}

/// A fresh, uniquely named order table on the test DynamoDB server.
pub async fn fresh_store() -> Store {
    dynamodb_endpoint();
    let client = client_from_env().await;
    let table = format!("orders-e2e-{}", uuid::Uuid::new_v4().simple());
    create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("create table {table}: {e}"));
    // As deployed (RETENTION_DAYS' default): abandoned and failed orders carry their TTL; due
    // orders are spread over several shards of the due index, so every sweep reads them all.
    DynamoOrderStore::new(client, table)
        .with_retention(Some(RETENTION))
        .with_due_shards(DUE_SHARDS)
}

/// A fresh store whose requests pass through a fault-free proxy in front of moto.
pub async fn proxied_store() -> (Store, chaos::proxy::FaultProxy) {
    let direct = fresh_store().await;
    let moto = Url::parse(&dynamodb_endpoint()).expect("DynamoDB endpoint");
    let quiet = chaos::proxy::FaultMix::none();
    let proxy = chaos::proxy::FaultProxy::start(chaos::proxy::Upstream::DynamoDb, moto, quiet, 0)
        .await
        .expect("DynamoDB proxy");
    let client = chaos::proxy::client_through(direct.client(), &proxy);
    let store = DynamoOrderStore::new(client, direct.table())
        .with_retention(Some(RETENTION))
        .with_due_shards(DUE_SHARDS);
    (store, proxy)
}

/// The due index's shards in the end-to-end stores.
pub const DUE_SHARDS: DueShards = match DueShards::new(3) {
    Some(shards) => shards,
    None => DueShards::ONE,
};

/// How long the test stores keep abandoned and failed orders.
pub const RETENTION: time::Duration = time::Duration::days(90);

pub struct StackOptions {
    pub action: PaymentAction,
    pub pricing: &'static str,
    pub sandbox: SandboxConfig,
    /// Pay, Reserve and Settle ask FPS to post notifications to the stack's `/ipn` (off by
    /// default: most tests want the sweep alone to move pending orders, deterministically).
    pub notifications: bool,
    /// `PARTIAL_SETTLEMENT`: `OrderFulfilled` may settle less than the reserve.
    pub partial_settlement: bool,
    /// The functions reach DynamoDB through a fault-free [`chaos::proxy::FaultProxy`]
    /// (`Stack::dynamodb_proxy`), which can record their requests or play a lagging index.
    pub dynamodb_proxy: bool,
}

impl StackOptions {
    pub fn new(action: PaymentAction) -> Self {
        Self {
            action,
            pricing: PRICING,
            sandbox: SandboxConfig::for_tests(),
            notifications: false,
            partial_settlement: false,
            dynamodb_proxy: false,
        }
    }
}

pub struct Stack {
    /// Between the functions and moto, when [`StackOptions::dynamodb_proxy`] asked for it.
    pub dynamodb_proxy: Option<chaos::proxy::FaultProxy>,
    pub sandbox: SandboxHandle,
    pub control: ControlClient,
    pub store: Store,
    /// The functions' clock (leases, reserve age). The emulator has its own.
    pub clock: ManualClock,
    pub checkout: Arc<Checkout<Store, FpsGateway>>,
    pub settle: Arc<SettleService>,
    pub shop_url: Url,
    pub return_url: Url,
    /// Where the stack's notification handler listens (`POST`).
    pub ipn_url: Url,
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

struct Handlers {
    start: StartService,
    ret: ReturnService,
    notifications: NotificationService,
}

async fn serve(
    State(h): State<Arc<Handlers>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response()
        }
    };
    let lambda_body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        lambda_http::Body::Binary(bytes.to_vec())
    };
    let request = lambda_http::Request::from_parts(parts, lambda_body);
    let path = request.uri().path();
    let result = if path == "/return" || path.starts_with("/return/") {
        cbui_return::handle(&h.ret, request).await
    } else if path == "/ipn" {
        fps_notifications::handle(&h.notifications, request).await
    } else {
        start_checkout::handle(&h.start, request).await
    };
    match result {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let bytes = match body {
                lambda_http::Body::Empty => Vec::new(),
                lambda_http::Body::Text(t) => t.into_bytes(),
                lambda_http::Body::Binary(b) => b,
                _ => Vec::new(),
            };
            axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
        }
        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// One of `sku`: with [`NO_EXTRAS`] pricing its price is the amount FPS sees.
pub fn one_of(sku: &str) -> Vec<checkout_core::domain::catalog::CartLine> {
    vec![checkout_core::domain::catalog::CartLine {
        sku: sku.into(),
        quantity: 1,
    }]
}

/// Two T-shirts and a mug: the cart most journeys buy.
pub fn sample_cart() -> Vec<checkout_core::domain::catalog::CartLine> {
    use checkout_core::domain::catalog::CartLine;
    vec![
        CartLine {
            sku: "TEE-BLUE-L".into(),
            quantity: 2,
        },
        CartLine {
            sku: "MUG".into(),
            quantity: 1,
        },
    ]
}

impl Stack {
    /// Starts a checkout for [`sample_cart`] and plays the buyer; returns (caller reference, raw
    /// return query). The buyer comes back to the order's own return URL.
    pub async fn authorised(&self, persona: fps_sandbox::Persona) -> (String, String) {
        let started = self.checkout.start(&sample_cart()).await.expect("start");
        let back = self
            .authorize(&started.cbui_url, persona, fps_sandbox::Decision::Authorize)
            .await;
        assert_eq!(
            back.path(),
            format!(
                "{}/{}",
                self.return_url.path(),
                started.order.caller_reference
            )
        );
        (
            started.order.caller_reference,
            back.query().unwrap_or_default().to_owned(),
        )
    }

    /// Starts a checkout for `cart` and plays the buyer; returns (caller reference, the URL the
    /// CBUI sends the browser back to).
    pub async fn returned_from_cbui(
        &self,
        cart: &[checkout_core::domain::catalog::CartLine],
        persona: fps_sandbox::Persona,
    ) -> (String, Url) {
        let started = self.checkout.start(cart).await.expect("start");
        let back = self
            .authorize(&started.cbui_url, persona, fps_sandbox::Decision::Authorize)
            .await;
        (started.order.caller_reference, back)
    }

    /// GETs a page from the shop (the buyer's browser, redirects not followed): status, body.
    pub async fn page(&self, url: &Url) -> (u16, String) {
        let response = self.http.get(url.clone()).send().await.expect("GET page");
        let status = response.status().as_u16();
        (status, response.text().await.expect("page body"))
    }

    /// Waits (up to 10 s) until the order stands in `state`; returns it as it then stands.
    pub async fn order_reaches(&self, caller_reference: &str, state: OrderState) -> Order {
        let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let order = self.order(caller_reference).await;
            if order.state == state || tokio::time::Instant::now() >= give_up {
                return order;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Posts a notification body to the stack's `/ipn`, as FPS does; the HTTP status.
    pub async fn notify(&self, body: &str) -> u16 {
        self.http
            .post(self.ipn_url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST /ipn")
            .status()
            .as_u16()
    }

    /// Moves the emulator's clock (due transitions happen before it answers).
    pub async fn advance_emulator(&self, by: std::time::Duration) {
        self.control
            .advance_clock(by)
            .await
            .expect("advance emulator clock");
    }

    pub async fn start(action: PaymentAction) -> Self {
        Self::start_with(StackOptions::new(action)).await
    }

    pub async fn start_with(options: StackOptions) -> Self {
        let sandbox = Sandbox::start(options.sandbox)
            .await
            .expect("start the FPS emulator");
        let control = sandbox.control();
        let (store, dynamodb_proxy) = if options.dynamodb_proxy {
            let (store, proxy) = proxied_store().await;
            (store, Some(proxy))
        } else {
            (fresh_store().await, None)
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let shop_url = Url::parse(&format!("http://{addr}/")).expect("shop url");
        let return_url = shop_url.join("return").expect("return url");
        let clock = ManualClock::new(time::OffsetDateTime::now_utc());
        let app_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let shop = ShopConfig {
            action: options.action,
            return_url: return_url.clone(),
            shop_url: shop_url.clone(),
            catalog: Catalog::from_json(CATALOG).expect("catalog"),
            pricing: PricingRule::from_json(options.pricing).expect("pricing"),
            merchant_name: "Test Shop".to_owned(),
            recover_after: time::Duration::minutes(10),
        };
        let settings = || CheckoutSettings {
            catalog: shop.catalog.clone(),
            pricing: shop.pricing.clone(),
            action: shop.action,
            return_url: return_url.clone(),
            merchant_name: shop.merchant_name.clone(),
            lease: time::Duration::seconds(60),
            // A ceiling, not a delay: losers stop waiting as soon as the winner has written.
            wait_for_winner: std::time::Duration::from_secs(15),
            recover_after: shop.recover_after,
        };
        let ipn_url = shop_url.join("ipn").expect("ipn url");
        let notify_to = options.notifications.then(|| ipn_url.clone());
        let fps = || {
            FpsGateway::new(
                sandbox.fps_client().expect("fps client"),
                sandbox.cbui_url(),
            )
            .with_ipn_url(notify_to.clone())
        };
        let checkout = Arc::new(Checkout::new(
            store.clone(),
            fps(),
            app_clock.clone(),
            settings(),
        ));
        let handlers = Arc::new(Handlers {
            start: start_checkout::Service {
                checkout: Checkout::new(store.clone(), fps(), app_clock.clone(), settings()),
                shop: shop.clone(),
                security: checkout_core::web::SecurityHeaders::new(&sandbox.cbui_url()),
            },
            ret: cbui_return::Service {
                checkout: Checkout::new(store.clone(), fps(), app_clock.clone(), settings()),
                shop: shop.clone(),
                security: checkout_core::web::SecurityHeaders::new(&sandbox.cbui_url()),
            },
            notifications: checkout_core::use_cases::notify::Notifications::new(
                store.clone(),
                fps(),
                app_clock.clone(),
                ipn_url.clone(),
            ),
        });
        let settle = Arc::new(settle_reservations::Service {
            settlement: Settlement::new(
                store.clone(),
                fps(),
                app_clock.clone(),
                SweepSettings {
                    stop_before_deadline: std::time::Duration::from_secs(1),
                    partial_settlement: options.partial_settlement,
                    ..SweepSettings::default()
                },
            ),
            after_sale: checkout_core::use_cases::after_sale::AfterSale::new(
                store.clone(),
                fps(),
                app_clock.clone(),
                time::Duration::seconds(60),
            ),
        });
        let app = axum::Router::new().fallback(serve).with_state(handlers);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Stack {
            dynamodb_proxy,
            sandbox,
            control,
            store,
            clock,
            checkout,
            settle,
            shop_url,
            return_url,
            ipn_url,
            http,
            server,
        }
    }

    /// Reads an order straight from the table.
    pub async fn order(&self, caller_reference: &str) -> Order {
        self.store
            .get(caller_reference)
            .await
            .expect("read order")
            .unwrap_or_else(|| panic!("no order {caller_reference}"))
    }

    /// Plays the buyer in the emulator's CBUI; returns the URL it sends the browser back to.
    pub async fn authorize(&self, cbui_url: &Url, persona: Persona, decision: Decision) -> Url {
        self.control
            .authorize(cbui_url, persona, decision)
            .await
            .expect("CBUI authorisation")
    }

    /// Runs one scheduled sweep with a generous deadline.
    pub async fn sweep(&self) -> SweepSummary {
        let event = event("Scheduled Event", serde_json::json!({}));
        match self
            .settle
            .handle(
                event,
                tokio::time::Instant::now() + std::time::Duration::from_secs(60),
            )
            .await
        {
            Ok(settle_reservations::Outcome::Swept(summary)) => summary,
            other => panic!("sweep: {other:?}"),
        }
    }

    /// Sends an `OrderFulfilled` event for an order (it settles at once).
    pub async fn fulfil(&self, caller_reference: &str) -> settle_reservations::Outcome {
        self.try_fulfil(caller_reference)
            .await
            .expect("OrderFulfilled")
    }

    /// Sends an `OrderFulfilled` event for an order; the handler's answer, refusals included.
    pub async fn try_fulfil(
        &self,
        caller_reference: &str,
    ) -> Result<settle_reservations::Outcome, settle_reservations::HandlerError> {
        let event = event(
            "OrderFulfilled",
            serde_json::json!({"callerReference": caller_reference}),
        );
        self.settle
            .handle(
                event,
                tokio::time::Instant::now() + std::time::Duration::from_secs(10),
            )
            .await
    }

    /// Records an order as shipped without settling it (the sweep settles it).
    pub async fn mark_fulfilled(&self, caller_reference: &str) {
        self.settle
            .settlement
            .mark_fulfilled(caller_reference, None)
            .await
            .expect("mark fulfilled");
    }

    pub async fn shutdown(self) {
        self.server.abort();
        self.sandbox.shutdown().await;
    }
}

/// An EventBridge event as the Lambda receives it.
pub fn event(
    detail_type: &str,
    detail: serde_json::Value,
) -> aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value> {
    serde_json::from_value(serde_json::json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": if detail_type == "Scheduled Event" { "aws.events" } else { "shop.fulfilment" },
        "account": "123456789012",
        "time": "2026-11-28T08:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }))
    .expect("event")
}
