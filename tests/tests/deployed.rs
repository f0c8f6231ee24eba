//! Issue 18 (5): the deployed shape. Each function's real `bootstrap` binary runs under Amazon's
//! Lambda Runtime Interface Emulator (the one inside the pinned SAM CLI, which `sam local` runs
//! in its container), with the environment `template.yaml` declares resolved for local use, in
//! front of the FPS emulator and moto. Every file in `infra/events/` is invoked, a whole Pay
//! checkout goes through the binaries, hostile API Gateway events hit every route, and the
//! functions' logs are read back: JSON lines with a timestamp and the request id, and EMF
//! metric documents.
//!
//! The binaries are the workspace's debug builds (`make test` builds them first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use checkout_core::domain::order::{OrderState, PaymentAction};
use checkout_core::ports::store::OrderStore;
use e2e_tests::{dynamodb_endpoint, fresh_store};
use fps_sandbox::{Decision, Persona, Sandbox, SandboxConfig};
use serde_json::{json, Value};
use url::Url;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// Where Cargo put the debug binaries (honours `CARGO_TARGET_DIR`).
fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                repo_root().join(dir)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: `make test` builds the function binaries first \
         (cargo build --bins -p {name})",
        path.display()
    );
    path
}

/// The RIE inside the pinned SAM CLI's wheel (`make setup` installs it in `.venv-tools`).
fn runtime_interface_emulator() -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    };
    let lib = repo_root().join(".venv-tools/lib");
    let found = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| {
            python
                .path()
                .join("site-packages/samcli/local/rapid")
                .join(format!("aws-lambda-rie-{arch}"))
        })
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "no aws-lambda-rie-{arch} under {}: run `make setup` (installs the pinned SAM CLI)",
            lib.display()
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A YAML value as plain text when it is one; `!Ref Parameter` as the parameter's default.
fn resolved(value: &serde_norway::Value, parameters: &serde_norway::Value) -> Option<String> {
    use serde_norway::Value as Y;
    match value {
        Y::String(s) => Some(s.clone()),
        Y::Number(n) => Some(n.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        Y::Tagged(tagged) if tagged.tag == "Ref" => {
            let name = tagged.value.as_str()?;
            resolved(&parameters.get(name)?.get("Default")?.clone(), parameters)
        }
        // `!Sub` over parameters only (`FpsCheckout/${Stage}`); a resource's id has no local value.
        Y::Tagged(tagged) if tagged.tag == "Sub" => {
            let mut text = tagged.value.as_str()?.to_owned();
            while let Some(start) = text.find("${") {
                let end = start + text[start..].find('}')?;
                let name = &text[start + 2..end];
                let value = resolved(parameters.get(name)?.get("Default")?, parameters)?;
                text.replace_range(start..=end, &value);
            }
            Some(text)
        }
        _ => None,
    }
}

/// The environment `template.yaml` declares for `logical_id` (Globals + its own), each value
/// the template's literal or its parameter's default, else the local value in `local` (the
/// test's endpoints and names, then `infra/events/env.json`). Every declared variable must get
/// a value: a variable the template adds without a local value fails here.
fn environment(logical_id: &str, local: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template");
    let template: serde_norway::Value = serde_norway::from_str(&text).expect("YAML");
    let parameters = &template["Parameters"];
    let env_json: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("infra/events/env.json")).expect("env.json"),
    )
    .expect("env.json is JSON");
    let mut env = BTreeMap::new();
    let declared = [
        &template["Globals"]["Function"]["Environment"]["Variables"],
        &template["Resources"][logical_id]["Properties"]["Environment"]["Variables"],
    ];
    for variables in declared {
        let Some(map) = variables.as_mapping() else {
            continue;
        };
        for (name, value) in map {
            let name = name.as_str().expect("a variable name").to_owned();
            let value = local
                .get(&name)
                .cloned()
                .or_else(|| resolved(value, parameters).filter(|v| !v.is_empty()))
                .or_else(|| env_json[logical_id][&name].as_str().map(str::to_owned))
                .unwrap_or_else(|| {
                    panic!("{logical_id}: template.yaml declares {name}, which has no local value")
                });
            env.insert(name, value);
        }
    }
    // What Lambda itself sets from the function's LoggingConfig (ApplicationLogLevel).
    let level = resolved(
        &template["Resources"][logical_id]["Properties"]["LoggingConfig"]["ApplicationLogLevel"],
        parameters,
    )
    .expect("ApplicationLogLevel");
    env.insert("AWS_LAMBDA_LOG_LEVEL".into(), level);
    env
}

/// One function's bootstrap under the RIE; its stdout (the function's logs) goes to a file.
struct Deployed {
    name: &'static str,
    rie: tokio::process::Child,
    url: Url,
    log: PathBuf,
    http: reqwest::Client,
}

impl Deployed {
    async fn start(name: &'static str, logical_id: &str, local: &BTreeMap<String, String>) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("rie-{name}-{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let rie = tokio::process::Command::new(runtime_interface_emulator())
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg(binary(name))
            .env_clear()
            .envs(environment(logical_id, local))
            // What Lambda provides itself (credentials, region), and the local stand-ins' endpoints.
            .envs(local.iter().filter(|(name, _)| name.starts_with("AWS_")))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::from(out.try_clone().expect("log file")))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .expect("start the RIE");
        let url = Url::parse(&format!(
            "http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        ))
        .expect("url");
        let deployed = Self {
            name,
            rie,
            url,
            log,
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return deployed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name}: the RIE never listened; log: {}", deployed.logs());
    }

    /// What the function returned for `event` (the RIE's invocation response).
    async fn invoke(&self, event: &Value) -> Value {
        let response = self
            .http
            .post(self.url.clone())
            .json(event)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: invoke: {e}; log: {}", self.name, self.logs()));
        let text = response.text().await.expect("body");
        serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{}: not JSON: {text}; log: {}", self.name, self.logs()))
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON lines the function wrote (its logs and its EMF documents).
    fn json_lines(&self) -> Vec<Value> {
        self.logs()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// The EMF documents: (metric names, the document).
    fn metrics(&self) -> Vec<(Vec<String>, Value)> {
        self.json_lines()
            .into_iter()
            .filter(|doc| doc.get("_aws").is_some())
            .map(|doc| {
                let names = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["Name"].as_str().map(str::to_owned))
                    .collect();
                (names, doc)
            })
            .collect()
    }

    /// The first EMF document with `metric`, for its dimensions and value.
    fn metric(&self, metric: &str, dimension: Option<(&str, &str)>) -> Value {
        self.metrics()
            .into_iter()
            .map(|(_, doc)| doc)
            .find(|doc| {
                doc.get(metric).is_some()
                    && dimension.is_none_or(|(name, value)| doc[name] == value)
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: no EMF document with {metric} {dimension:?}; log: {}",
                    self.name,
                    self.logs()
                )
            })
    }

    async fn stop(mut self) {
        let _ = self.rie.kill().await;
        let _ = std::fs::remove_file(&self.log);
    }
}

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
        "a new sample event needs an invocation in deployed.rs"
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
        ("FPS_CREDENTIALS_SECRET_ARN", String::new()),
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

    let start = Deployed::start("start-checkout", "StartCheckoutFunction", &local).await;
    let ret = Deployed::start("cbui-return", "CbuiReturnFunction", &local).await;
    let settle = Deployed::start("settle-reservations", "SettleReservationsFunction", &local).await;
    let ipn = Deployed::start("fps-notifications", "FpsNotificationsFunction", &local).await;
    let stream = Deployed::start("order-events", "OrderEventsFunction", &local).await;

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
    let checkout = start.invoke(&sample("post-checkout-form.json")).await;
    assert_eq!(status(&checkout), 303, "{checkout}");
    let cbui = Url::parse(header(&checkout, "location")).expect("a CBUI link");
    assert!(cbui.as_str().starts_with(fps.as_str()), "{cbui}");

    // The buyer authorises at the CBUI and comes back: the return is the deployed cbui-return's.
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
    let mut not_base64 = http_event("POST", "/checkout", "/checkout", "", Some("***"));
    not_base64["isBase64Encoded"] = json!(true);
    let answer = start.invoke(&not_base64).await;
    assert!(
        answer.get("errorType").is_some() || (400..500).contains(&status(&answer)),
        "{answer}"
    );
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

    for function in [start, ret, settle, ipn, stream] {
        function.stop().await;
    }
    sandbox.shutdown().await;
}

/// `METRICS_NAMESPACE` as the template sets it, with `Stage` at its default.
fn local_namespace() -> String {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template");
    let template: serde_norway::Value = serde_norway::from_str(&text).expect("YAML");
    let stage = template["Parameters"]["Stage"]["Default"]
        .as_str()
        .expect("Stage's default")
        .to_owned();
    format!("FpsCheckout/{stage}")
}
