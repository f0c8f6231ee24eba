//! What the client reports when a request may have been processed: against a raw loopback
//! peer that answers 503 once and then stops listening.

use std::sync::Arc;
use std::time::Duration;

use fps_protocol::api::GetTransactionStatus;
use fps_protocol::clock::SystemClock;
use fps_protocol::signing::Credentials;
use fps_protocol::{CallError, ClientConfig, FpsClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const UNAVAILABLE: &str = "<?xml version=\"1.0\"?>\n<Response><Errors><Error><Code>ServiceUnavailable</Code><Message>down</Message></Error></Errors><RequestID>r-1</RequestID></Response>";

/// After a 503 (which may follow processing, decision 3) the resends cannot connect: the call
/// is an unknown outcome, not "never sent".
#[tokio::test]
async fn a_503_then_no_connection_is_an_unknown_outcome() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let peer = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut request = vec![0u8; 64 * 1024];
        let _ = socket.read(&mut request).await;
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{UNAVAILABLE}",
            UNAVAILABLE.len()
        );
        socket.write_all(answer.as_bytes()).await.expect("answer");
        // The listener is dropped here: every later connection is refused.
    });
    let mut config = ClientConfig::new(
        url::Url::parse(&format!("http://{address}/")).expect("url"),
        Credentials::new("AKID", "secret"),
    );
    config.retry.base_backoff = Duration::from_millis(5);
    let client = FpsClient::new(config, Arc::new(SystemClock)).expect("client");
    let request = GetTransactionStatus {
        transaction_id: "TX-1".into(),
    };
    let first = client.call(&request);
    let (outcome, _) = tokio::join!(first, peer);
    let error = outcome.expect_err("no answer after the 503");
    assert!(
        matches!(error, CallError::OutcomeUnknown { .. }),
        "{error:?}"
    );
    assert!(error.may_have_committed());
}
