//! Issue 18 (5): the deployed shape. Each function's real `bootstrap` binary runs under Amazon's
//! Lambda Runtime Interface Emulator (the one inside the pinned SAM CLI, which `sam local` runs
//! in its container), with the environment `template.yaml` declares resolved for local use, in
//! front of the FPS emulator and moto. Every file in `infra/events/` is invoked, a whole Pay
//! checkout goes through the binaries, hostile API Gateway events hit every route, and the
//! functions' logs are read back: JSON lines with a timestamp and the request id, and EMF
//! metric documents.
//!
//! The binaries are the workspace's debug builds (`make test` builds them first).

mod runtime;

use std::collections::BTreeMap;
use std::time::Duration;

use checkout_core::domain::order::{OrderState, PaymentAction};
use checkout_core::ports::store::OrderStore;
use e2e_tests::chaos::proxy::{FaultMix, FaultProxy, Upstream};
use e2e_tests::iam::{called, granted, LocalNames};
use e2e_tests::{dynamodb_endpoint, fresh_store};
use fps_sandbox::{
    ControlClient, Decision, Persona, Sandbox, SandboxConfig, DEV_ACCESS_KEY_ID, DEV_SECRET_KEY,
};
use serde_json::{json, Value};
use url::Url;

use runtime::{repo_root, Deployed};

/// Every sample event, each invoked below on the function it is for.
const SAMPLES: [&str; 11] = [
    "get-shop.json",
    "post-checkout-json.json",
    "post-checkout-form.json",
    "get-return.json",
    "post-return-retry.json",
    "post-ipn.json",
    "scheduled.json",
    "order-fulfilled.json",
    "refund-requested.json",
    "cancel-requested.json",
    "order-stream.json",
];

#[test]
fn every_sample_event_is_invoked() {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join("infra/events"))
        .expect("infra/events")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json") && name != "env.json")
        .collect();
    files.sort();
    let mut invoked: Vec<String> = SAMPLES.iter().map(|s| (*s).to_owned()).collect();
    invoked.sort();
    assert_eq!(
        files, invoked,
        "a new sample event needs an invocation in tests/tests/deployed/main.rs"
    );
}

fn sample(name: &str) -> Value {
    assert!(SAMPLES.contains(&name), "{name} is not in SAMPLES");
    let path = repo_root().join("infra/events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("event file")).expect("JSON")
}

/// An API Gateway HTTP API (2.0) event, as the template's routes receive them.
fn http_event(method: &str, route: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "shop.example", "content-type": "application/x-www-form-urlencoded", "x-forwarded-proto": "https"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "shop.example",
            "domainPrefix": "shop", "requestId": "req", "routeKey": format!("{method} {route}"),
            "stage": "$default", "time": "02/Dec/2026:12:00:00 +0000", "timeEpoch": 1796212800000_u64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "test"}
        },
        "body": body,
        "isBase64Encoded": false
    })
}

fn status(response: &Value) -> u64 {
    response["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"))
}

fn header<'a>(response: &'a Value, name: &str) -> &'a str {
    response["headers"][name].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_functions_serve_every_sample_event_and_a_checkout_under_the_runtime_emulator() {
    let sandbox = Sandbox::start(SandboxConfig::for_tests())
        .await
        .expect("the FPS emulator");
    let control = sandbox.control();
    let fps = sandbox.base_url().clone();
    let store = fresh_store().await;
    let moto = dynamodb_endpoint();

    // The shop's bus, on moto, for order-events.
    let sdk = checkout_core::adapters::aws::sdk_config(
        checkout_core::adapters::dynamodb::default_timeouts(),
    )
    .await;
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&sdk)
            .endpoint_url(&moto)
            .build(),
    );
    let bus = format!("shop-{}", uuid::Uuid::new_v4().simple());
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("bus");
    // FPS's key pair in a Secrets Manager secret, as deployed: each function reads it at init.
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&sdk)
            .endpoint_url(&moto)
            .build(),
    );
    let secret_arn = secrets
        .create_secret()
        .name(format!("fps-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(
            json!({"accessKeyId": DEV_ACCESS_KEY_ID, "secretKey": DEV_SECRET_KEY}).to_string(),
        )
        .send()
        .await
        .expect("secret")
        .arn
        .expect("the secret's ARN");

    let shop = Url::parse("https://shop.example/").expect("url");
    let local: BTreeMap<String, String> = [
        ("TABLE_NAME", store.table().to_owned()),
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.clone()),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", moto.clone()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("FPS_ENVIRONMENT", "local".into()),
        ("FPS_CREDENTIALS_SECRET_ARN", secret_arn.clone()),
        // Keys that FPS refuses: a function that signed with these did not read the secret.
        ("FPS_ACCESS_KEY_ID", "AKIANOTTHEKEY".into()),
        ("FPS_SECRET_KEY", "not-the-key".into()),
        ("FPS_API_URL", fps.to_string()),
        (
            "FPS_CBUI_URL",
            fps.join("cobranded-ui/actions/start")
                .expect("url")
                .to_string(),
        ),
        ("SHOP_URL", shop.to_string()),
        ("RETURN_URL", shop.join("return").expect("url").to_string()),
        ("IPN_URL", shop.join("ipn").expect("url").to_string()),
        ("EVENT_BUS_NAME", bus.clone()),
        ("DUE_SHARDS", e2e_tests::DUE_SHARDS.count().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    // Each function reaches AWS (moto) through a proxy of its own that records every call.
    let mut calls = BTreeMap::new();
    let start_recorded = |name: &'static str, logical_id: &'static str| {
        let local = local.clone();
        let moto = Url::parse(&moto).expect("moto's URL");
        async move {
            let proxy = FaultProxy::start(Upstream::DynamoDb, moto, FaultMix::none(), 0)
                .await
                .expect("a recording proxy");
            proxy.record();
            let mut local = local;
            for service in ["DYNAMODB", "EVENTBRIDGE", "SECRETS_MANAGER"] {
                local.insert(
                    format!("AWS_ENDPOINT_URL_{service}"),
                    proxy.url().to_string(),
                );
            }
            (Deployed::start(name, logical_id, &local).await, proxy)
        }
    };
    let (start, proxy) = start_recorded("start-checkout", "StartCheckoutFunction").await;
    calls.insert("StartCheckoutFunction", proxy);
    let (ret, proxy) = start_recorded("cbui-return", "CbuiReturnFunction").await;
    calls.insert("CbuiReturnFunction", proxy);
    let (settle, proxy) = start_recorded("settle-reservations", "SettleReservationsFunction").await;
    calls.insert("SettleReservationsFunction", proxy);
    let (ipn, proxy) = start_recorded("fps-notifications", "FpsNotificationsFunction").await;
    calls.insert("FpsNotificationsFunction", proxy);
    let (stream, proxy) = start_recorded("order-events", "OrderEventsFunction").await;
    calls.insert("OrderEventsFunction", proxy);

    // The shop page, and both ways to check out (the sample events).
    let page = start.invoke(&sample("get-shop.json")).await;
    assert_eq!(status(&page), 200, "{page}");
    assert!(
        page["body"].as_str().unwrap_or_default().contains("<form"),
        "{page}"
    );
    let json_checkout = start.invoke(&sample("post-checkout-json.json")).await;
    assert_eq!(
        status(&json_checkout),
        303,
        "{json_checkout}\n{}",
        start.logs()
    );
    // The buyer authorises at the CBUI and comes back: the return is the deployed cbui-return's.
    let order_id = card_checkout(&start, &ret, &control, &fps).await;
    let pending = store
        .get(&order_id)
        .await
        .expect("read")
        .expect("the order");
    assert_eq!(
        pending.state,
        OrderState::PaymentPending,
        "a card payment is pending at first"
    );

    // FPS completes it; the deployed sweep (the schedule's sample event) reconciles the order.
    control
        .advance_clock(Duration::from_secs(2))
        .await
        .expect("advance the emulator");
    let swept = settle.invoke(&sample("scheduled.json")).await;
    assert!(swept.get("errorType").is_none(), "{swept}");
    let order = store
        .get(&order_id)
        .await
        .expect("read")
        .expect("the order");
    assert_eq!(order.state, OrderState::Paid, "{swept}");
    assert_eq!(order.action, PaymentAction::Pay);
    let ledger = control.ledger().await.expect("ledger");
    assert_eq!(ledger.requests(&order_id, "Pay"), 1);
    let charges = ledger.transactions_for(&order_id);
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0].amount, order.amount());
    assert_eq!(
        Some(&charges[0].transaction_id),
        order.transaction_id.as_ref()
    );

    // A second card order is moved on by FPS's notification instead: the IPN FPS sent about its
    // Pay goes to the deployed fps-notifications.
    let second = card_checkout(&start, &ret, &control, &fps).await;
    control
        .advance_clock(Duration::from_secs(2))
        .await
        .expect("advance the emulator");
    let notice = sent_ipn(&control, &second).await;
    let heard = ipn
        .invoke(&http_event("POST", "/ipn", "/ipn", "", Some(&notice)))
        .await;
    assert_eq!(status(&heard), 200, "{heard}");
    let second = store.get(&second).await.expect("read").expect("the order");
    assert_eq!(second.state, OrderState::Paid, "{heard}\n{}", ipn.logs());

    // The remaining sample events, against the sample order this stack does not have.
    let sample_return = ret.invoke(&sample("get-return.json")).await;
    assert!(
        (400..500).contains(&status(&sample_return)),
        "{sample_return}"
    );
    let retry = ret.invoke(&sample("post-return-retry.json")).await;
    assert!((400..500).contains(&status(&retry)), "{retry}");
    let notified = ipn.invoke(&sample("post-ipn.json")).await;
    assert_eq!(status(&notified), 200, "{notified}");
    for file in [
        "order-fulfilled.json",
        "refund-requested.json",
        "cancel-requested.json",
    ] {
        let refused = settle.invoke(&sample(file)).await;
        assert_eq!(refused["errorType"], "UnknownOrder", "{file}: {refused}");
    }
    let announced = stream.invoke(&sample("order-stream.json")).await;
    assert_eq!(announced["batchItemFailures"], json!([]), "{announced}");

    // Hostile events on every route: a 4xx, never a crash (the next invocation is served by
    // the same process, so no second cold start).
    let hostile = [
        (&start, "GET", "/", "/", "a=%ZZ&b=\u{1}", None),
        (
            &start,
            "POST",
            "/checkout",
            "/checkout",
            "",
            Some("sku=%%%&quantity=-1"),
        ),
        (
            &start,
            "POST",
            "/checkout",
            "/checkout",
            "",
            Some("{\"items\":[{\"sku\":\"X\""),
        ),
        (
            &ret,
            "GET",
            "/return",
            "/return",
            "status=SC&tokenID=\u{7f}<script>",
            None,
        ),
        (
            &ret,
            "GET",
            "/return/{orderId}",
            "/return/o-1 x",
            "signature=%",
            None,
        ),
        (
            &ret,
            "POST",
            "/return/{orderId}",
            "/return/o-1",
            "",
            Some("\u{0}"),
        ),
        (
            &ipn,
            "POST",
            "/ipn",
            "/ipn",
            "",
            Some("notificationType=&&&signature=%E0%A4%A"),
        ),
    ];
    for (function, method, route, path, query, body) in hostile {
        let answer = function
            .invoke(&http_event(method, route, path, query, body))
            .await;
        let code = status(&answer);
        assert!(
            (400..500).contains(&code),
            "{method} {path}?{query}: {answer}"
        );
    }
    // A body marked base64 that is not: lambda_http would panic (and the release build abort).
    let mut not_base64 = http_event("POST", "/checkout", "/checkout", "", Some("***"));
    not_base64["isBase64Encoded"] = json!(true);
    let answer = start.invoke(&not_base64).await;
    assert_eq!(status(&answer), 400, "{answer}");
    let again = start.invoke(&sample("get-shop.json")).await;
    assert_eq!(status(&again), 200, "still serving: {again}");

    // Logs: JSON lines with a timestamp, inside the runtime's span with the request id; the
    // return's lines name the order.
    for function in [&start, &ret, &settle, &ipn, &stream] {
        let lines: Vec<Value> = function
            .json_lines()
            .into_iter()
            .filter(|l| l.get("level").is_some())
            .collect();
        assert!(
            !lines.is_empty(),
            "{}: no log lines: {}",
            function.name,
            function.logs()
        );
        for line in &lines {
            assert!(line["timestamp"].is_string(), "{}: {line}", function.name);
        }
        assert!(
            lines
                .iter()
                .any(|l| l.to_string().contains("\"requestId\"")),
            "{}: no line carries the request id",
            function.name
        );
    }
    assert!(
        ret.json_lines()
            .iter()
            .any(|l| l.to_string().contains(&order_id)),
        "cbui-return's lines name the order"
    );

    // Metrics: EMF documents on stdout, each with the invocation's request id.
    for (function, name) in [
        (&start, "start-checkout"),
        (&ret, "cbui-return"),
        (&settle, "settle-reservations"),
        (&ipn, "fps-notifications"),
        (&stream, "order-events"),
    ] {
        let colds = function
            .metrics()
            .iter()
            .filter(|(names, _)| names.iter().any(|n| n == "ColdStart"))
            .count();
        assert_eq!(colds, 1, "{name}: one process served every invocation");
        let cold = function.metric("ColdStart", Some(("Function", name)));
        assert_eq!(cold["ColdStart"], 1, "one cold start: {cold}");
        assert!(cold["requestId"].is_string(), "{cold}");
        let namespace = &cold["_aws"]["CloudWatchMetrics"][0]["Namespace"];
        assert_eq!(namespace, &json!(local_namespace()), "{name}");
    }
    let pay = ret.metric("FpsCalls", Some(("Action", "Pay")));
    assert_eq!(pay["Outcome"], "Pending", "a card payment: {pay}");
    settle.metric("SweepOldestDueSeconds", None);
    let seen = settle.metric("SweepOrdersSeen", None);
    assert_eq!(seen["SweepOrdersSeen"], 1, "{seen}");
    let paid = stream.metric("OrderEvents", Some(("Type", "OrderPaid")));
    assert_eq!(paid["OrderEvents"], 1, "{paid}");
    stream.metric("AmountCaptured", None);

    // Each function called exactly what its role in template.yaml allows: no call without its
    // permission, and no permission its code did not use.
    let template = runtime::template();
    let names = LocalNames {
        table: store.table(),
        event_bus: &bus,
        credentials_secret: &secret_arn,
    };
    for (logical_id, proxy) in &calls {
        let allowed = granted(&template, logical_id).expect("plain Allow statements");
        assert!(!allowed.is_empty(), "{logical_id} has a role");
        assert_eq!(
            called(&proxy.seen(), &names),
            allowed,
            "{logical_id}: what it called (left), what its role allows (right)"
        );
    }

    for function in [start, ret, settle, ipn, stream] {
        function.stop().await;
    }
    sandbox.shutdown().await;
}

/// A form checkout through the deployed start-checkout, authorised by card at the CBUI, and the
/// buyer's return through the deployed cbui-return; the order's id.
async fn card_checkout(
    start: &Deployed,
    ret: &Deployed,
    control: &ControlClient,
    fps: &Url,
) -> String {
    let checkout = start.invoke(&sample("post-checkout-form.json")).await;
    assert_eq!(status(&checkout), 303, "{checkout}");
    let cbui = Url::parse(header(&checkout, "location")).expect("a CBUI link");
    assert!(cbui.as_str().starts_with(fps.as_str()), "{cbui}");
    let back = control
        .authorize(&cbui, Persona::Card, Decision::Authorize)
        .await
        .expect("authorised");
    let order_id = back
        .path_segments()
        .and_then(|mut s| s.next_back())
        .expect("the order's return path")
        .to_owned();
    let returned = ret
        .invoke(&http_event(
            "GET",
            "/return/{orderId}",
            back.path(),
            back.query().unwrap_or_default(),
            None,
        ))
        .await;
    assert_eq!(status(&returned), 200, "{returned}");
    order_id
}

/// The body of the notification FPS sent when `order_id`'s payment succeeded (it delivers from
/// its own clock's tick: wait for it).
async fn sent_ipn(control: &ControlClient, order_id: &str) -> String {
    for _ in 0..100 {
        let ledger = control.ledger().await.expect("ledger");
        let paid = ledger
            .transactions_for(order_id)
            .first()
            .map(|t| t.transaction_id.clone());
        let sent = ledger.ipn_deliveries.iter().find(|d| {
            paid.is_some()
                && d.transaction_id == paid
                && d.transaction_status.as_deref() == Some("SUCCESS")
        });
        if let Some(sent) = sent {
            return sent.body.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("FPS sent no notification of {order_id}'s payment");
}

/// `METRICS_NAMESPACE` as the template sets it, with `Stage` at its default.
fn local_namespace() -> String {
    let template = runtime::template();
    let stage = template["Parameters"]["Stage"]["Default"]
        .as_str()
        .expect("Stage's default")
        .to_owned();
    format!("FpsCheckout/{stage}")
}
