//! Helpers: a fresh table on moto, raw items, orders in any state.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::config::Intercept;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use checkout_core::adapters::dynamodb::{
    attr, client_from_env, create_table, default_timeouts, DynamoOrderStore, TableCreation,
};
use checkout_core::domain::catalog::{PricedCart, PricedLine};
use checkout_core::domain::money::Amount;
use checkout_core::domain::order::{Lease, Order, OrderState, PaymentAction};
use checkout_core::domain::payment::PaymentMethod;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const NOW: OffsetDateTime = datetime!(2030-03-01 12:00:00.123456789 UTC);

pub fn require_moto() {
    for var in [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ACCESS_KEY_ID",
        "AWS_REGION",
    ] {
        if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
            panic!(
                "{var} is not set: the DynamoDB tests run against moto's server. \
                 Run them with `make test` (or `bash infra/local/test.sh`), which starts moto \
                 and sets AWS_ENDPOINT_URL_DYNAMODB and placeholder credentials."
            );
        }
    }
}

/// DynamoDB features a second-opinion server is known to lack (issue 17 (4)).
const GAPS: &[(&str, &str)] = &[
    ("dynalite", "Streams"),
    ("dynalite", "ReturnValuesOnConditionCheckFailure"),
];

/// `DYNAMODB_SECOND_OPINION` names the server the suite runs against instead of moto
/// (`dynalite`). True when that server lacks `feature`: the caller skips what needs it, and the
/// reason is printed. Unknown servers skip nothing.
pub fn second_opinion_lacks(feature: &str) -> bool {
    let server = std::env::var("DYNAMODB_SECOND_OPINION").unwrap_or_default();
    let lacks = GAPS.contains(&(server.as_str(), feature));
    if lacks {
        println!("SKIPPED on {server}: it does not implement {feature}");
        eprintln!("SKIPPED on {server}: it does not implement {feature}");
    }
    lacks
}

pub fn table_name() -> String {
    format!("orders-test-{}", uuid::Uuid::new_v4().simple())
}

/// A store on a fresh table of its own.
pub async fn store() -> DynamoOrderStore {
    require_moto();
    on_a_fresh_table(client_from_env().await).await
}

/// A store on a fresh table of its own whose client runs `interceptor` around every call: to
/// record what the store sends, or to lose an answer after DynamoDB has committed the write.
pub async fn store_with_interceptor(interceptor: impl Intercept + 'static) -> DynamoOrderStore {
    require_moto();
    let sdk = checkout_core::adapters::aws::sdk_config(default_timeouts()).await;
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(interceptor)
        .build();
    on_a_fresh_table(Client::from_conf(config)).await
}

async fn on_a_fresh_table(client: Client) -> DynamoOrderStore {
    let table = table_name();
    match create_table(&client, &table).await {
        Ok(TableCreation::Created) => {}
        other => panic!("creating {table}: {other:?}"),
    }
    DynamoOrderStore::new(client, table)
}

pub async fn raw_item(
    store: &DynamoOrderStore,
    caller_reference: &str,
) -> HashMap<String, AttributeValue> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            attr::CALLER_REFERENCE,
            AttributeValue::S(caller_reference.into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
        .unwrap_or_else(|| panic!("no item {caller_reference}"))
}

pub fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Decimal {
    match &item[name] {
        AttributeValue::N(text) => Decimal::from_str(text).unwrap(),
        other => panic!("{name} is {other:?}"),
    }
}

pub fn cart() -> PricedCart {
    PricedCart {
        lines: vec![
            PricedLine {
                sku: "TEE".into(),
                name: "T-shirt — \"organic\"".into(),
                unit_price: dec!(12.75),
                quantity: 2,
                line_total: dec!(25.50),
            },
            PricedLine {
                sku: "MUG".into(),
                name: "Mug".into(),
                unit_price: dec!(8.10),
                quantity: 1,
                line_total: dec!(8.10),
            },
        ],
        items_total: dec!(33.60),
        tax: dec!(2.77),
        shipping: dec!(5.00),
        fees: dec!(0.50),
        total: Amount::parse("41.87").unwrap(),
    }
}

pub fn order(id: &str, action: PaymentAction) -> Order {
    Order::new(id.into(), cart(), action, NOW - Duration::hours(2))
}

pub fn lease(owner: &str, expires_at: OffsetDateTime) -> Lease {
    Lease {
        owner: owner.into(),
        expires_at,
    }
}

/// `order` claimed for a card charge by `owner`, lease live for 30 s.
pub fn claimed_by(order: &Order, owner: &str) -> Order {
    order
        .claim_for_charge(
            "tok",
            Some(PaymentMethod::CreditCard),
            lease(owner, NOW + Duration::seconds(30)),
            NOW,
        )
        .unwrap()
}

/// An order in `state` with what that state implies, its due time decided by `tweak`.
pub fn in_state(id: &str, state: OrderState, tweak: impl FnOnce(&mut Order)) -> Order {
    let mut o = order(id, PaymentAction::Reserve);
    o.state = state;
    o.version = 1;
    o.updated_at = NOW - Duration::hours(1);
    tweak(&mut o);
    o
}

pub fn ids(orders: &[Order]) -> Vec<&str> {
    orders.iter().map(|o| o.caller_reference.as_str()).collect()
}

/// What this thread logs (at warn and above) until the guard drops: for the few facts a store
/// reports only to its operators. The tests run on tokio's single-threaded runtime, so
/// everything the store logs is on this thread.
pub fn capture_warnings() -> (tracing::subscriber::DefaultGuard, Logged) {
    let logged = Logged::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(logged.clone())
        .finish();
    (tracing::subscriber::set_default(subscriber), logged)
}

#[derive(Clone, Default)]
pub struct Logged(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logged {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logged {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logged {
    type Writer = Logged;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
