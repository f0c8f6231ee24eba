//! IPN delivery (signed, retried), the state file, and the loopback-only control API.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use fps_protocol::api::{GetTransactionStatus, Pay, VerifySignature};
use fps_protocol::cbui::parse_query;
use fps_protocol::xml::{TransactionStatus, VerificationStatus};
use fps_sandbox::{IpnState, Persona, SandboxConfig};
use tokio::sync::mpsc;
use url::Url;

use crate::support::*;

/// A merchant IPN endpoint: the first `fail_first` posts get HTTP 500.
async fn receiver(fail_first: u32) -> (Url, mpsc::UnboundedReceiver<(String, String)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicU32::new(0));
    let handler = move |path: &'static str| {
        let tx = tx.clone();
        let seen = Arc::clone(&seen);
        move |body: String| {
            let tx = tx.clone();
            let seen = Arc::clone(&seen);
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                let _ = tx.send((path.to_owned(), body));
                StatusCode::OK
            }
        }
    };
    let app = Router::new()
        .route("/ipn", post(handler("/ipn")))
        .route("/override", post(handler("/override")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (Url::parse(&format!("http://{addr}/ipn")).unwrap(), rx)
}

async fn next(
    rx: &mut mpsc::UnboundedReceiver<(String, String)>,
) -> (String, Vec<(String, String)>, String) {
    let (path, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an IPN in time")
        .unwrap();
    let params = parse_query(&body).unwrap();
    (path, params, body)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn ipns_are_signed_retried_and_verifiable() {
    let (ipn_url, mut rx) = receiver(1).await;
    let sandbox = start_with(SandboxConfig::for_tests().with_ipn_url(ipn_url.clone())).await;
    let fps = client(&sandbox);
    let token = sandbox
        .control()
        .token("order-ipn", amount("5.00"), Persona::Card)
        .await
        .unwrap()
        .token_id;
    let id = fps
        .call(&Pay {
            sender_token_id: token,
            amount: amount("5.00"),
            caller_reference: "order-ipn".into(),
            caller_description: None,
            sender_description: None,
            override_ipn_url: None,
        })
        .await
        .unwrap()
        .result
        .transaction_id;

    let (path, pending, body) = next(&mut rx).await;
    assert_eq!(path, "/ipn");
    assert_eq!(param(&pending, "transactionId"), id);
    assert_eq!(param(&pending, "transactionStatus"), "PENDING");
    assert_eq!(param(&pending, "notificationType"), "TransactionStatus");
    assert_eq!(param(&pending, "operation"), "PAY");
    assert_eq!(param(&pending, "callerReference"), "order-ipn");
    assert_eq!(param(&pending, "transactionAmount"), "USD 5.00");
    assert_eq!(param(&pending, "paymentMethod"), "CC");
    assert_eq!(param(&pending, "signatureMethod"), "RSA-SHA1");
    assert_eq!(param(&pending, "signatureVersion"), "2");
    assert_eq!(
        param(&pending, "certificateUrl"),
        sandbox.certificate_url().as_str()
    );
    let verified = fps
        .call(&VerifySignature {
            url_end_point: ipn_url.to_string(),
            http_parameters: body.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        verified.result.verification_status,
        VerificationStatus::Success
    );
    let tampered = body.replace("PENDING", "SUCCESS");
    let refused = fps
        .call(&VerifySignature {
            url_end_point: ipn_url.to_string(),
            http_parameters: tampered,
        })
        .await
        .unwrap();
    assert_eq!(
        refused.result.verification_status,
        VerificationStatus::Failure
    );

    let (_, success, _) = next(&mut rx).await;
    assert_eq!(param(&success, "transactionStatus"), "SUCCESS");
    assert_eq!(param(&success, "statusCode"), "Success");

    let ledger = sandbox.control().ledger().await.unwrap();
    let deliveries = ledger.ipns_for(&id);
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries.iter().all(|d| d.state == IpnState::Delivered));
    assert_eq!(
        deliveries[0].attempts, 2,
        "the first post got a 500 and was retried"
    );
}

#[tokio::test]
async fn override_ipn_url_wins_and_failures_are_bounded() {
    let (ipn_url, mut rx) = receiver(0).await;
    let override_url = ipn_url.join("/override").unwrap();
    let sandbox = start_with(SandboxConfig::for_tests()).await;
    let fps = client(&sandbox);
    let token = sandbox
        .control()
        .token("order-override", amount("2.00"), Persona::Balance)
        .await
        .unwrap()
        .token_id;
    fps.call(&Pay {
        sender_token_id: token,
        amount: amount("2.00"),
        caller_reference: "order-override".into(),
        caller_description: None,
        sender_description: None,
        override_ipn_url: Some(override_url.to_string()),
    })
    .await
    .unwrap();
    let (path, params, _) = next(&mut rx).await;
    assert_eq!(path, "/override");
    assert_eq!(param(&params, "transactionStatus"), "SUCCESS");

    // Nobody listening: attempts stop at the configured bound and the API never waited.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let token = sandbox
        .control()
        .token("order-dead", amount("2.00"), Persona::Balance)
        .await
        .unwrap()
        .token_id;
    let id = fps
        .call(&Pay {
            sender_token_id: token,
            amount: amount("2.00"),
            caller_reference: "order-dead".into(),
            caller_description: None,
            sender_description: None,
            override_ipn_url: Some(format!("http://{dead}/ipn")),
        })
        .await
        .unwrap()
        .result
        .transaction_id;
    let mut state = IpnState::Pending;
    for _ in 0..200 {
        let ledger = sandbox.control().ledger().await.unwrap();
        let d = ledger.ipns_for(&id);
        state = d[0].state;
        if state != IpnState::Pending {
            assert_eq!(d[0].attempts, 4);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(state, IpnState::Failed);
}

#[tokio::test]
async fn the_state_file_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("fps-sandbox-test-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.json");
    let sandbox = start_with(SandboxConfig::for_tests().with_state_file(&path)).await;
    let fps = client(&sandbox);
    let token = sandbox
        .control()
        .token("order-persist", amount("4.00"), Persona::Balance)
        .await
        .unwrap()
        .token_id;
    let id = fps
        .call(&Pay {
            sender_token_id: token.clone(),
            amount: amount("4.00"),
            caller_reference: "order-persist".into(),
            caller_description: None,
            sender_description: None,
            override_ipn_url: None,
        })
        .await
        .unwrap()
        .result
        .transaction_id;
    // Let the periodic writer save the Pay first, so only the clock change is left unsaved.
    let mut saved = false;
    for _ in 0..500 {
        saved = std::fs::read_to_string(&path).is_ok_and(|text| text.contains(id.as_str()));
        if saved {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saved, "the periodic writer saved the Pay");
    sandbox
        .control()
        .advance_clock(Duration::from_secs(3600))
        .await
        .unwrap();
    sandbox.shutdown().await;
    assert!(path.exists());

    let again = start_with(SandboxConfig::for_tests().with_state_file(&path)).await;
    let fps = client(&again);
    let status = fps
        .call(&GetTransactionStatus {
            transaction_id: id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(status.result.transaction_status, TransactionStatus::Success);
    let ledger = again.control().ledger().await.unwrap();
    assert_eq!(ledger.requests("order-persist", "Pay"), 1);
    assert_eq!(
        ledger.token(&token).unwrap().used_by.as_deref(),
        Some(id.as_str())
    );
    let clock = again.control().clock().await.unwrap();
    assert!(clock.offset_ms >= 3_599_000, "the clock offset is kept");
    again.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reset_forgets_everything() {
    let sandbox = start().await;
    let control = sandbox.control();
    control
        .token("order-reset", amount("1.00"), Persona::Card)
        .await
        .unwrap();
    control
        .inject_fault("Pay", fps_sandbox::FaultKind::InternalError, 1)
        .await
        .unwrap();
    control
        .advance_clock(Duration::from_secs(86400))
        .await
        .unwrap();
    control.reset().await.unwrap();
    let ledger = control.ledger().await.unwrap();
    assert!(ledger.tokens.is_empty());
    assert!(control.faults().await.unwrap().is_empty());
    assert!(control.clock().await.unwrap().offset_ms.abs() < 1000);
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// This machine's non-loopback IPv4 address, if it has one.
fn non_loopback_ip() -> Option<Ipv4Addr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    match socket.local_addr().ok()? {
        SocketAddr::V4(a) if !a.ip().is_loopback() && !a.ip().is_unspecified() => Some(*a.ip()),
        _ => None,
    }
}

#[tokio::test]
async fn the_control_api_refuses_non_loopback_peers() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this machine: skipped");
        return;
    };
    let config = SandboxConfig {
        listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        ..SandboxConfig::for_tests()
    };
    let sandbox = start_with(config).await;
    let port = sandbox.local_addr().port();
    let http = reqwest::Client::new();
    let remote = http
        .get(format!("http://{ip}:{port}/_sandbox/ledger"))
        .send()
        .await
        .unwrap();
    assert_eq!(remote.status(), 403);
    let local = http
        .get(format!("http://127.0.0.1:{port}/_sandbox/ledger"))
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
    // The API itself answers anyone.
    let api = http
        .get(format!("http://{ip}:{port}/?Action=Pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
    assert!(api.text().await.unwrap().contains("InvalidClientTokenId"));
}
