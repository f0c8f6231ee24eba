//! Test doubles for unit tests of the use cases and the functions: a scripted payment gateway that records what it
//! was asked, a store wrapper that fails or races on cue, and the fixtures they share. The
//! real adapters are tested against moto and the emulator; these make every branch reachable
//! in milliseconds.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use time::macros::datetime;
use time::OffsetDateTime;
use url::Url;

use crate::adapters::memory::MemoryStore;
use crate::config::ShopConfig;
use crate::domain::catalog::{CartLine, Catalog, PricingRule};
use crate::domain::money::Amount;
use crate::domain::order::{Order, PaymentAction};
use crate::domain::payment::{PaymentMethod, TransactionStatus};
use crate::ports::clock::ManualClock;
use crate::ports::gateway::{
    Accepted, Authorization, AuthorizationRequest, AuthorizationReturn, Charge, GatewayError,
    InvalidNotice, InvalidPaymentRequest, InvalidReturn, Notice, PaymentGateway, PaymentNotice,
    RefundCall, TransactionReport,
};
use crate::ports::store::{DuePage, OrderStore, StoreError};
use crate::use_cases::checkout::{Checkout, CheckoutSettings};
use crate::web::{SecurityHeaders, Service};

pub const START: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

pub fn clock() -> ManualClock {
    ManualClock::new(START)
}

pub fn settings(action: PaymentAction) -> CheckoutSettings {
    CheckoutSettings {
        catalog: Catalog::from_json(
            r#"{"products":[{"sku":"MUG","name":"Mug","unitPrice":"8.10"}]}"#,
        )
        .expect("catalog"),
        pricing: PricingRule::from_json("{}").expect("pricing"),
        action,
        return_url: Url::parse("https://shop.test/return").expect("url"),
        merchant_name: "Test Shop".to_owned(),
        lease: time::Duration::seconds(60),
        wait_for_winner: std::time::Duration::from_millis(200),
        recover_after: time::Duration::minutes(10),
    }
}

pub fn mugs(quantity: u32) -> Vec<CartLine> {
    vec![CartLine {
        sku: "MUG".into(),
        quantity,
    }]
}

/// What the fake gateway answers to one call.
#[derive(Debug, Clone)]
pub enum Answer {
    Accept(TransactionStatus),
    Refuse(&'static str),
    RefuseForNow(&'static str),
    Unknown,
    NotSent,
    /// Never answers (a call that outlives the invocation).
    Hang,
    /// Refused because the authorisation is already used.
    RefuseUsed(&'static str),
}

impl Answer {
    fn into_result<T>(
        self,
        accepted: impl FnOnce(TransactionStatus) -> T,
    ) -> Result<T, GatewayError> {
        match self {
            Self::Accept(status) => Ok(accepted(status)),
            Self::Refuse(code) => Err(GatewayError::Refused {
                code: code.to_owned(),
                message: format!("{code} message"),
                retry_later: false,
                authorization_used: false,
            }),
            Self::RefuseForNow(code) => Err(GatewayError::Refused {
                code: code.to_owned(),
                message: format!("{code} message"),
                retry_later: true,
                authorization_used: false,
            }),
            Self::RefuseUsed(code) => Err(GatewayError::Refused {
                code: code.to_owned(),
                message: format!("{code} message"),
                retry_later: false,
                authorization_used: true,
            }),
            Self::Unknown | Self::Hang => Err(GatewayError::OutcomeUnknown("timed out".into())),
            Self::NotSent => Err(GatewayError::NotSent("connection refused".into())),
        }
    }
}

/// One call the use case made.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Verify {
        return_url: String,
        raw_query: String,
    },
    Charge {
        action: PaymentAction,
        token: String,
        amount: Amount,
        reference: String,
    },
    Settle {
        transaction_id: String,
        amount: Option<Amount>,
    },
    Status(String),
    Spent(String),
    FindAuthorization(String),
    Refund {
        transaction_id: String,
        reference: String,
        amount: Amount,
    },
    Cancel(String),
    VerifyNotice {
        end_point: String,
        raw_body: String,
    },
}

/// A gateway that answers from per-operation scripts (accepting when a script runs out) and
/// records every call.
#[derive(Default)]
pub struct FakeGateway {
    returns: Mutex<HashMap<String, AuthorizationReturn>>,
    notices: Mutex<HashMap<String, Notice>>,
    verify: Mutex<VecDeque<Result<bool, ()>>>,
    charges: Mutex<VecDeque<Answer>>,
    settles: Mutex<VecDeque<Answer>>,
    statuses: Mutex<VecDeque<Answer>>,
    spent: Mutex<VecDeque<Result<bool, ()>>>,
    found: Mutex<VecDeque<Result<Option<String>, ()>>>,
    refunds: Mutex<VecDeque<Answer>>,
    cancels: Mutex<VecDeque<Answer>>,
    refuse_links: Mutex<bool>,
    calls: Mutex<Vec<Call>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeGateway {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Registers what `raw_query` reads as; returns the query to pass to `complete`.
    pub fn will_read(&self, raw_query: &str, ret: AuthorizationReturn) -> String {
        lock(&self.returns).insert(raw_query.to_owned(), ret);
        raw_query.to_owned()
    }

    /// Registers what a notification body reads as; returns the body to pass on.
    pub fn will_read_notice(&self, raw_body: &str, notice: Notice) -> String {
        lock(&self.notices).insert(raw_body.to_owned(), notice);
        raw_body.to_owned()
    }

    /// Answers for `verify_return` and `verify_notice` alike (`Ok(true)` when they run out).
    pub fn verify_answers(&self, answer: Result<bool, ()>) {
        lock(&self.verify).push_back(answer);
    }

    pub fn charge_answers(&self, answer: Answer) {
        lock(&self.charges).push_back(answer);
    }

    pub fn settle_answers(&self, answer: Answer) {
        lock(&self.settles).push_back(answer);
    }

    pub fn status_answers(&self, answer: Answer) {
        lock(&self.statuses).push_back(answer);
    }

    pub fn spent_answers(&self, answer: Result<bool, ()>) {
        lock(&self.spent).push_back(answer);
    }

    /// Answers for `refund` (accepted `Success` when they run out).
    pub fn refund_answers(&self, answer: Answer) {
        lock(&self.refunds).push_back(answer);
    }

    /// Answers for `cancel` (accepted `Cancelled` when they run out).
    pub fn cancel_answers(&self, answer: Answer) {
        lock(&self.cancels).push_back(answer);
    }

    /// Answers for `find_authorization` (`Ok(None)`, nothing found, when they run out).
    pub fn found_answers(&self, answer: Result<Option<String>, ()>) {
        lock(&self.found).push_back(answer);
    }

    pub fn refuse_links(&self) {
        *lock(&self.refuse_links) = true;
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    pub fn charges(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| matches!(c, Call::Charge { .. }))
            .count()
    }

    fn record(&self, call: Call) {
        lock(&self.calls).push(call);
    }
}

/// A signed return for `order_id`, authorised with `method`.
pub fn authorized(order_id: &str, method: PaymentMethod) -> AuthorizationReturn {
    AuthorizationReturn {
        order_id: Some(order_id.to_owned()),
        outcome: Authorization::Authorized {
            token: Some(format!("tok-{order_id}")),
            method: Some(method),
        },
        signed: true,
        raw_query: format!("return-for-{order_id}"),
    }
}

impl PaymentGateway for Arc<FakeGateway> {
    fn authorization_url(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> Result<Url, InvalidPaymentRequest> {
        if *lock(&self.refuse_links) {
            return Err(InvalidPaymentRequest("refused by the fake".into()));
        }
        let mut url = Url::parse("https://cbui.test/pipeline").expect("url");
        url.query_pairs_mut()
            .append_pair("ref", request.order_id)
            .append_pair("amount", &request.amount.to_fps_string())
            .append_pair("reserve", &request.reserve.to_string())
            .append_pair("return", request.return_url.as_str())
            .append_pair("reason", request.description);
        Ok(url)
    }

    fn read_return(&self, raw_query: &str) -> Result<AuthorizationReturn, InvalidReturn> {
        lock(&self.returns)
            .get(raw_query)
            .cloned()
            .ok_or_else(|| InvalidReturn("not a return the fake knows".into()))
    }

    async fn verify_return(
        &self,
        return_url: &Url,
        ret: &AuthorizationReturn,
    ) -> Result<bool, GatewayError> {
        self.record(Call::Verify {
            return_url: return_url.to_string(),
            raw_query: ret.raw_query.clone(),
        });
        match lock(&self.verify).pop_front().unwrap_or(Ok(true)) {
            Ok(verified) => Ok(verified),
            Err(()) => Err(GatewayError::NotSent("verify: connection refused".into())),
        }
    }

    async fn charge(&self, charge: Charge<'_>) -> Result<Accepted, GatewayError> {
        self.record(Call::Charge {
            action: charge.action,
            token: charge.token_id.to_owned(),
            amount: charge.amount,
            reference: charge.caller_reference.to_owned(),
        });
        let answer =
            lock(&self.charges)
                .pop_front()
                .unwrap_or(Answer::Accept(match charge.action {
                    PaymentAction::Pay => TransactionStatus::Success,
                    PaymentAction::Reserve => TransactionStatus::Reserved,
                }));
        if matches!(answer, Answer::Hang) {
            std::future::pending::<()>().await;
        }
        // FPS answers a repeated CallerReference with the same transaction.
        let transaction_id = format!("TX-{}", charge.caller_reference);
        answer.into_result(|status| Accepted {
            transaction_id,
            status,
        })
    }

    async fn settle(
        &self,
        reserve_transaction_id: &str,
        amount: Option<Amount>,
    ) -> Result<Accepted, GatewayError> {
        self.record(Call::Settle {
            transaction_id: reserve_transaction_id.to_owned(),
            amount,
        });
        let answer = lock(&self.settles)
            .pop_front()
            .unwrap_or(Answer::Accept(TransactionStatus::Success));
        let transaction_id = reserve_transaction_id.to_owned();
        answer.into_result(|status| Accepted {
            transaction_id,
            status,
        })
    }

    fn read_notice(&self, raw_body: &str) -> Result<Notice, InvalidNotice> {
        lock(&self.notices)
            .get(raw_body)
            .cloned()
            .ok_or_else(|| InvalidNotice("not a notice the fake knows".into()))
    }

    async fn verify_notice(
        &self,
        end_point: &Url,
        notice: &PaymentNotice,
    ) -> Result<bool, GatewayError> {
        self.record(Call::VerifyNotice {
            end_point: end_point.to_string(),
            raw_body: notice.raw_body.clone(),
        });
        match lock(&self.verify).pop_front().unwrap_or(Ok(true)) {
            Ok(verified) => Ok(verified),
            Err(()) => Err(GatewayError::NotSent("verify: connection refused".into())),
        }
    }

    async fn refund(&self, call: RefundCall<'_>) -> Result<Accepted, GatewayError> {
        self.record(Call::Refund {
            transaction_id: call.transaction_id.to_owned(),
            reference: call.caller_reference.to_owned(),
            amount: call.amount,
        });
        let answer = lock(&self.refunds)
            .pop_front()
            .unwrap_or(Answer::Accept(TransactionStatus::Success));
        // A repeated reference is the same refund.
        let transaction_id = format!("TX-{}", call.caller_reference);
        answer.into_result(|status| Accepted {
            transaction_id,
            status,
        })
    }

    async fn cancel(
        &self,
        reserve_transaction_id: &str,
        _reason: Option<String>,
    ) -> Result<Accepted, GatewayError> {
        self.record(Call::Cancel(reserve_transaction_id.to_owned()));
        let answer = lock(&self.cancels)
            .pop_front()
            .unwrap_or(Answer::Accept(TransactionStatus::Cancelled));
        let transaction_id = reserve_transaction_id.to_owned();
        answer.into_result(|status| Accepted {
            transaction_id,
            status,
        })
    }

    async fn find_authorization(&self, order_id: &str) -> Result<Option<String>, GatewayError> {
        self.record(Call::FindAuthorization(order_id.to_owned()));
        lock(&self.found)
            .pop_front()
            .unwrap_or(Ok(None))
            .map_err(|()| GatewayError::NotSent("token lookup: connection refused".into()))
    }

    async fn authorization_spent(&self, order_id: &str) -> Result<bool, GatewayError> {
        self.record(Call::Spent(order_id.to_owned()));
        lock(&self.spent)
            .pop_front()
            .unwrap_or(Ok(false))
            .map_err(|()| GatewayError::NotSent("token lookup: connection refused".into()))
    }

    async fn transaction_status(
        &self,
        transaction_id: &str,
    ) -> Result<TransactionReport, GatewayError> {
        self.record(Call::Status(transaction_id.to_owned()));
        let answer = lock(&self.statuses)
            .pop_front()
            .unwrap_or(Answer::Accept(TransactionStatus::Success));
        answer.into_result(|status| TransactionReport {
            status,
            code: None,
            message: None,
        })
    }
}

/// What the wrapped store does on its next matching call.
pub enum Cue {
    /// `get` fails as if DynamoDB were down.
    GetFails,
    /// `due` (the sweep's index Query) fails as if DynamoDB were down.
    DueFails,
    /// The next `transition` finds the order already moved by someone else: `race` is applied
    /// to the stored order first (another invocation's write), then the call goes ahead.
    RaceBeforeTransition(Box<dyn FnOnce(&Order) -> Order + Send>),
    /// The next `transition` fails as if DynamoDB were down (nothing written).
    TransitionFails,
    /// The next `transition` goes through (to cue a later one).
    TransitionPasses,
}

/// The in-memory store, with cues for failures and races.
#[derive(Default)]
pub struct CuedStore {
    pub inner: MemoryStore,
    cues: Mutex<VecDeque<Cue>>,
    creates: Mutex<u32>,
}

fn unavailable(what: &str) -> StoreError {
    StoreError::Unavailable {
        context: format!("{what} (cued)"),
        source: "the fake store is down".into(),
    }
}

impl CuedStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Orders created through the port (test setup with `put` not counted).
    pub fn creates(&self) -> u32 {
        *lock(&self.creates)
    }

    pub fn cue(&self, cue: Cue) {
        lock(&self.cues).push_back(cue);
    }

    pub async fn order(&self, caller_reference: &str) -> Order {
        self.inner
            .get(caller_reference)
            .await
            .expect("memory store")
            .expect("the order exists")
    }

    /// Replaces the stored order (a test's setup), whatever its version.
    pub async fn put(&self, order: Order) {
        if let Ok(Some(stored)) = self.inner.get(&order.caller_reference).await {
            let mut next = order.clone();
            next.version = stored.version + 1;
            self.inner
                .transition(&stored, &next)
                .await
                .expect("overwrite");
        } else {
            self.inner.create(&order).await.expect("create");
        }
    }

    fn take(&self, wanted: impl Fn(&Cue) -> bool) -> Option<Cue> {
        let mut cues = lock(&self.cues);
        let at = cues.iter().position(wanted)?;
        cues.remove(at)
    }
}

impl OrderStore for CuedStore {
    async fn create(&self, order: &Order) -> Result<(), StoreError> {
        *lock(&self.creates) += 1;
        self.inner.create(order).await
    }

    async fn get(&self, caller_reference: &str) -> Result<Option<Order>, StoreError> {
        if self.take(|c| matches!(c, Cue::GetFails)).is_some() {
            return Err(unavailable("GetItem"));
        }
        self.inner.get(caller_reference).await
    }

    async fn transition(&self, previous: &Order, next: &Order) -> Result<(), StoreError> {
        let cue = self.take(|c| {
            matches!(
                c,
                Cue::RaceBeforeTransition(_) | Cue::TransitionFails | Cue::TransitionPasses
            )
        });
        match cue {
            Some(Cue::TransitionFails) => return Err(unavailable("PutItem")),
            Some(Cue::RaceBeforeTransition(race)) => {
                let stored = self.order(&previous.caller_reference).await;
                let winner = race(&stored);
                self.inner.transition(&stored, &winner).await?;
            }
            _ => {}
        }
        self.inner.transition(previous, next).await
    }

    async fn find_by_transaction_id(
        &self,
        transaction_id: &str,
    ) -> Result<Option<Order>, StoreError> {
        self.inner.find_by_transaction_id(transaction_id).await
    }

    async fn due(
        &self,
        now: OffsetDateTime,
        page_size: u32,
        cursor: Option<String>,
    ) -> Result<DuePage, StoreError> {
        if self.take(|c| matches!(c, Cue::DueFails)).is_some() {
            return Err(unavailable("Query (due)"));
        }
        self.inner.due(now, page_size, cursor).await
    }
}

/// API Gateway v2 events for `path` with bytes a real client can send but `http::Uri` (or a
/// URL parser) refuses, each named by what was crafted (issue 12, item 7).
pub fn crafted_http_events(path: &str) -> Vec<(&'static str, serde_json::Value)> {
    let event = |raw_path: &str, raw_query: &str, host: &str, proto: &str| {
        serde_json::json!({
            "version": "2.0",
            "routeKey": format!("GET {path}"),
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": {"host": host, "x-forwarded-proto": proto, "accept": "text/html"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "a1b2c3d4e5",
                "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "a1b2c3d4e5",
                "http": {"method": "GET", "path": raw_path, "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.10", "userAgent": "test"},
                "requestId": "req-1", "routeKey": format!("GET {path}"), "stage": "$default",
                "time": "01/Dec/2026:10:00:00 +0000", "timeEpoch": 1796119200000u64
            },
            "isBase64Encoded": false
        })
    };
    let host = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com";
    vec![
        (
            "a double quote in the query",
            event(path, "status=SC&x=\"1\"", host, "https"),
        ),
        (
            "angle brackets in the query",
            event(path, "status=<script>", host, "https"),
        ),
        (
            "a space in the query",
            event(path, "status=S C&callerReference=o 1", host, "https"),
        ),
        (
            "a space in the path",
            event(&format!("{path} x"), "", host, "https"),
        ),
        (
            "a host that is not a host",
            event(path, "", "bad host", "https"),
        ),
        (
            "a scheme that is not a scheme",
            event(path, "", host, "ht tp"),
        ),
        (
            "a scheme too long for http::Uri",
            event(path, "", host, &"a".repeat(70)),
        ),
        ("a body marked base64 that is not base64", {
            let mut event = event(path, "", host, "https");
            event["body"] = serde_json::json!("cart=not base64!");
            event["isBase64Encoded"] = serde_json::json!(true);
            event
        }),
    ]
}

/// An HTTP function's service on the fakes (the functions' unit tests).
pub struct WebWorld {
    pub store: Arc<CuedStore>,
    pub gateway: Arc<FakeGateway>,
    pub service: Service<Arc<CuedStore>, Arc<FakeGateway>>,
}

pub fn web_world(action: PaymentAction) -> WebWorld {
    let settings = settings(action);
    let shop = ShopConfig {
        action: settings.action,
        return_url: settings.return_url.clone(),
        shop_url: settings.return_url.join("/").expect("url"),
        catalog: settings.catalog.clone(),
        pricing: settings.pricing.clone(),
        merchant_name: settings.merchant_name.clone(),
        recover_after: time::Duration::minutes(10),
    };
    let store = CuedStore::new();
    let gateway = FakeGateway::new();
    let checkout = Checkout::new(store.clone(), gateway.clone(), Arc::new(clock()), settings);
    WebWorld {
        store,
        gateway,
        service: Service {
            checkout,
            shop,
            security: SecurityHeaders::new(&Url::parse("https://cbui.test/").expect("url")),
        },
    }
}

/// Feeds every [`crafted_http_events`] event for `path` through `handler` behind the function's
/// real Lambda adapter ([`crate::web::lambda::adapter`]) and asserts each gets a 400.
pub async fn assert_crafted_events_get_400<S, E>(path: &str, handler: S)
where
    S: lambda_http::Service<
        lambda_http::Request,
        Response = lambda_http::Response<lambda_http::Body>,
        Error = E,
    >,
    S::Future: Send,
    E: std::fmt::Debug,
{
    use lambda_http::Service as _;
    let mut adapter = crate::web::lambda::adapter(handler);
    for (what, event) in crafted_http_events(path) {
        let payload: lambda_http::request::LambdaRequest =
            serde_json::from_value(event).expect(what);
        let event = lambda_http::LambdaEvent::new(payload, lambda_http::Context::default());
        let response = adapter.call(event).await.expect(what);
        let response = serde_json::to_value(&response).expect("JSON");
        assert_eq!(response["statusCode"], 400, "{what}: {response}");
    }
}
