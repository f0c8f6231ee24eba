//! The buyer's journey in a real browser: Debian's Chromium, headless, driven through
//! chromedriver (WebDriver) with fantoccini. Screenshots of every step go to
//! `target/screenshots/*.png`.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use checkout_core::domain::order::{OrderState, PaymentAction};
use e2e_tests::Stack;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free loopback port, in a process group of its own, and a directory for
/// its browsers' profiles. On drop the whole group goes (chromedriver and any Chromium a failed
/// test did not close) and then the profiles (~2.5 MB each).
struct Driver {
    child: Child,
    port: u16,
    profiles: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profiles);
    }
}

fn start_driver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "Chromium and chromedriver are missing: run `make test` (its setup installs Debian's chromium and chromium-driver)"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let profiles =
        std::env::temp_dir().join(format!("e2e-chromium-{}", uuid::Uuid::new_v4().simple()));
    Driver {
        child,
        port,
        profiles,
    }
}

async fn browser(driver: &Driver, width: u32) -> Client {
    let profile = driver
        .profiles
        .join(uuid::Uuid::new_v4().simple().to_string());
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", format!("--window-size={width},900"), format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let caps = caps.as_object().cloned().unwrap();
    for _ in 0..50 {
        if let Ok(client) = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
        {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer");
}

async fn shot(client: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// The page's visible text. A navigation can replace the document between finding `body` and
/// reading it (a stale element), so this is a `Result` the waiting loop may retry.
async fn body_text(client: &Client) -> Result<String, fantoccini::error::CmdError> {
    client.find(Locator::Css("body")).await?.text().await
}

async fn set_quantity(client: &Client, sku: &str, quantity: u32) {
    // Each quantity input follows the hidden sku input in the same cell.
    let css = format!("input[type=hidden][value='{sku}'] + input[name=quantity]");
    let input = client
        .find(Locator::Css(&css))
        .await
        .expect("quantity input");
    input.clear().await.unwrap();
    input.send_keys(&quantity.to_string()).await.unwrap();
}

/// Polls until the page shows `needle`. Errors while the browser is between documents (stale
/// or missing `body`) are expected mid-navigation and retried until the deadline.
async fn wait_for_text(client: &Client, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        match body_text(client).await {
            Ok(text) if text.contains(needle) => return text,
            Ok(text) => last = text,
            Err(error) => last = format!("(page not readable: {error})"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("page never showed {needle:?}: {last}");
}

/// Clicks the element `css` selects; `what` names it in the failure message.
async fn click(client: &Client, css: &str, what: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{what} ({css}) not found: {e}"));
    element
        .click()
        .await
        .unwrap_or_else(|e| panic!("{what} ({css}) not clickable: {e}"));
}

async fn authorise_as_card_holder(client: &Client) {
    click(client, "input[name=persona][value=card]", "card persona").await;
    click(
        client,
        "button[name=decision][value=authorize]",
        "Authorise",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyer_pays_in_a_real_browser() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let driver = start_driver();
    let client = browser(&driver, 1280).await;

    client.goto(stack.shop_url.as_str()).await.unwrap();
    let shop = wait_for_text(&client, "Pay Now").await;
    assert!(
        shop.contains("<script>alert('pwned')</script> Poster"),
        "markup shown as text: {shop}"
    );
    assert_eq!(client.title().await.unwrap(), "Shop · Test Shop");
    set_quantity(&client, "TEE-BLUE-L", 2).await;
    set_quantity(&client, "MUG", 1).await;
    shot(&client, "pay-1-shop").await;
    click(&client, "button[type=submit]", "Pay Now").await;

    let cbui = wait_for_text(&client, "41.87").await;
    assert!(
        cbui.contains("Test Shop") || cbui.contains("Authorise"),
        "{cbui}"
    );
    shot(&client, "pay-2-authorise").await;
    authorise_as_card_holder(&client).await;

    let thanks = wait_for_text(&client, "Thank you for your order").await;
    shot(&client, "pay-3-thank-you").await;
    for expected in [
        "T-shirt (blue, L)",
        "Mug",
        "$25.50",
        "$8.10",
        "$2.77",
        "$5.00",
        "$0.50",
        "$41.87",
        "Pending",
        "Keep shopping",
    ] {
        assert!(
            thanks.contains(expected),
            "{expected:?} missing from the thank-you page: {thanks}"
        );
    }
    let ledger = stack.control.ledger().await.unwrap();
    let pays: Vec<_> = ledger
        .transactions_in_order()
        .into_iter()
        .filter(|t| t.operation.as_str() == "Pay")
        .collect();
    assert_eq!(pays.len(), 1);
    let cr = pays[0].caller_reference.clone();
    assert_eq!(ledger.requests(&cr, "Pay"), 1);
    assert_eq!(stack.order(&cr).await.state, OrderState::PaymentPending);

    // Refresh: same page, still one Pay.
    client.refresh().await.unwrap();
    wait_for_text(&client, "Thank you for your order").await;
    assert_eq!(
        stack.control.ledger().await.unwrap().requests(&cr, "Pay"),
        1
    );

    // The same page on a phone-sized window.
    let phone = browser(&driver, 390).await;
    phone
        .goto(client.current_url().await.unwrap().as_str())
        .await
        .unwrap();
    wait_for_text(&phone, "Thank you for your order").await;
    shot(&phone, "pay-4-thank-you-phone").await;
    phone.close().await.unwrap();
    client.close().await.unwrap();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyer_cancels_then_tries_again_and_is_charged_once() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let driver = start_driver();
    let client = browser(&driver, 1280).await;

    client.goto(stack.shop_url.as_str()).await.unwrap();
    wait_for_text(&client, "Pay Now").await;
    set_quantity(&client, "MUG", 2).await;
    click(&client, "button[type=submit]", "Pay Now").await;
    wait_for_text(&client, "23.04").await;
    click(&client, "button[name=decision][value=cancel]", "Cancel").await;

    let cancelled = wait_for_text(&client, "Payment cancelled").await;
    assert!(cancelled.contains("Nothing was charged"));
    shot(&client, "abandon-1-cancelled").await;
    click(&client, "form button[type=submit]", "Try again").await;

    wait_for_text(&client, "23.04").await;
    shot(&client, "abandon-2-authorise-again").await;
    authorise_as_card_holder(&client).await;
    let thanks = wait_for_text(&client, "Thank you for your order").await;
    assert!(thanks.contains("$23.04") && thanks.contains("Mug"));
    shot(&client, "abandon-3-thank-you").await;

    let ledger = stack.control.ledger().await.unwrap();
    let pays: Vec<_> = ledger
        .transactions_in_order()
        .into_iter()
        .filter(|t| t.operation.as_str() == "Pay")
        .collect();
    assert_eq!(pays.len(), 1, "charged once");
    let orders_with_pay: u32 = ledger
        .transactions_in_order()
        .iter()
        .map(|t| ledger.requests(&t.caller_reference, "Pay"))
        .sum();
    assert_eq!(orders_with_pay, 1);
    client.close().await.unwrap();
    stack.shutdown().await;
}
