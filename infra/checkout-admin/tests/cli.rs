//! `checkout-admin` run as a process against the local stack: moto for the table, the FPS
//! emulator, and settle-reservations behind a local Lambda Invoke endpoint (what
//! `AWS_ENDPOINT_URL_LAMBDA` points the SDK at).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use checkout_core::domain::order::{OrderState, PaymentAction};
use e2e_tests::{SettleService, Stack};
use fps_sandbox::{FaultKind, Persona};

type Reply = tokio::sync::oneshot::Sender<(bool, serde_json::Value)>;
type Invocations = tokio::sync::mpsc::Receiver<(String, Reply)>;

/// Serves `POST /2015-03-31/functions/{name}/invocations` as Lambda would, handing each payload
/// to [`serve_invocations`], which runs the stack's settle service on the test's own task.
async fn invoke_endpoint() -> (String, tokio::task::JoinHandle<()>, Invocations) {
    async fn invoke(
        State(tx): State<tokio::sync::mpsc::Sender<(String, Reply)>>,
        body: String,
    ) -> axum::response::Response {
        let (reply, answer) = tokio::sync::oneshot::channel();
        if tx.send((body, reply)).await.is_err() {
            return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        match answer.await {
            Ok((false, value)) => axum::Json(value).into_response(),
            Ok((true, value)) => {
                ([("x-amz-function-error", "Unhandled")], axum::Json(value)).into_response()
            }
            Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            axum::routing::post(invoke),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server, rx)
}

/// The function's side of each invocation: the handler's JSON answer, or its error as the
/// runtime reports it (`errorType` from the function's diagnostics).
async fn serve_invocations(settle: Arc<SettleService>, mut invocations: Invocations) {
    while let Some((body, reply)) = invocations.recv().await {
        let answer = match serde_json::from_str::<
            aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value>,
        >(&body)
        {
            Err(e) => (
                true,
                serde_json::json!({"errorType": "Runtime.UnmarshalError", "errorMessage": e.to_string()}),
            ),
            Ok(event) => {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                match settle.handle(event, deadline).await {
                    Ok(outcome) => (false, serde_json::to_value(outcome).unwrap()),
                    Err(e) => {
                        let d = lambda_runtime::Diagnostic::from(e);
                        (
                            true,
                            serde_json::json!({"errorType": d.error_type, "errorMessage": d.error_message}),
                        )
                    }
                }
            }
        };
        let _ = reply.send(answer);
    }
}

struct Admin {
    table: String,
    lambda: String,
}

impl Admin {
    /// Runs `checkout-admin args…`; (exit code, stdout, stderr).
    async fn run(&self, args: &[&str]) -> (u8, String, String) {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let (table, lambda) = (self.table.clone(), self.lambda.clone());
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_checkout-admin"))
                .args(&args)
                .env("TABLE_NAME", table)
                .env("SETTLE_FUNCTION", "settle-reservations")
                .env("AWS_ENDPOINT_URL_LAMBDA", lambda)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "local")
                .env("AWS_SECRET_ACCESS_KEY", "local")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .output()
        })
        .await
        .expect("join")
        .expect("run checkout-admin");
        (
            u8::try_from(output.status.code().unwrap_or(-1)).unwrap_or(255),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

async fn admin_for(stack: &Stack) -> (Admin, tokio::task::JoinHandle<()>, Invocations) {
    let (lambda, server, invocations) = invoke_endpoint().await;
    (
        Admin {
            table: stack.store.table().to_owned(),
            lambda,
        },
        server,
        invocations,
    )
}

/// Runs `steps` while the settle service answers the CLI's invocations.
async fn with_function<F: std::future::Future<Output = ()>>(
    stack: &Stack,
    invocations: Invocations,
    steps: F,
) {
    tokio::select! {
        _ = serve_invocations(stack.settle.clone(), invocations) => panic!("the endpoint stopped"),
        _ = steps => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_list_and_refund_from_the_command_line() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (admin, server, invocations) = admin_for(&stack).await;
    with_function(&stack, invocations, async {
        let (cr, back) = stack
            .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Balance)
            .await;
        stack.page(&back).await;
        let tx = stack.order(&cr).await.transaction_id.unwrap();

        let (code, out, err) = admin.run(&["show", &cr]).await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("State       Paid") && out.contains("FPS now:     Success"),
            "{out}"
        );
        let (code, out, _) = admin.run(&["show", &tx]).await;
        assert_eq!(code, 0);
        assert!(out.contains(&cr), "found by its transaction id: {out}");
        let (code, out, _) = admin.run(&["list", "--state", "Paid"]).await;
        assert_eq!(code, 0);
        assert!(out.contains(&cr), "{out}");

        let (code, out, err) = admin
            .run(&[
                "refund",
                &cr,
                "5.00",
                "--reason",
                "chipped mug",
                "--request-id",
                "t-1",
            ])
            .await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("refund Pending"), "{out}");
        // Another refund while this one is with FPS: refused, saying why.
        let (code, _, err) = admin.run(&["refund", &cr, "1.00", "--reason", "x"]).await;
        assert_eq!(code, 4, "{err}");
        assert!(err.contains("in progress"), "{err}");
        stack.advance_emulator(Duration::from_secs(2)).await;
        stack.sweep().await;
        let (code, _, err) = admin.run(&["refund", &cr, "999.00", "--reason", "x"]).await;
        assert_eq!(code, 4, "{err}");
        assert!(err.contains("AboveRefundable"), "{err}");
        let (code, _, err) = admin.run(&["refund", &cr, "five", "--reason", "x"]).await;
        assert_eq!(code, 2, "{err}");
        let (code, _, err) = admin.run(&["show", "o-nobody"]).await;
        assert_eq!(code, 3, "{err}");
        let (code, _, err) = admin.run(&["list", "--state", "Bogus"]).await;
        assert_eq!(code, 2, "{err}");

        let (code, out, _) = admin.run(&["--json", "show", &cr]).await;
        assert_eq!(code, 0);
        let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(shown["order"]["refunds"][0]["status"], "Refunded");
        assert_eq!(shown["order"]["refunded"], "5.00");
        let ledger = stack.control.ledger().await.unwrap();
        assert_eq!(ledger.requests(&format!("{cr}-refund-1"), "Refund"), 1);
        assert_eq!(ledger.requests(&format!("{cr}-refund-2"), "Refund"), 0);
    })
    .await;
    server.abort();
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_redrive_from_the_command_line() {
    let stack = Stack::start(PaymentAction::Reserve).await;
    let (admin, server, invocations) = admin_for(&stack).await;
    with_function(&stack, invocations, async {
        let (cr, back) = stack
            .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Card)
            .await;
        stack.page(&back).await;
        stack.advance_emulator(Duration::from_secs(2)).await;
        stack.sweep().await;
        let (code, out, err) = admin
            .run(&["cancel", &cr, "--reason", "out of stock"])
            .await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("Cancelled"), "{out}");
        let (code, _, err) = admin.run(&["cancel", &cr, "--reason", "again"]).await;
        assert_eq!(code, 0, "asking again reports the cancel: {err}");
        let (code, _, err) = admin.run(&["redrive", &cr]).await;
        assert_eq!(code, 4, "only an order that needs attention: {err}");

        // A Reserve whose answer was lost and whose re-drive was refused as a used token needs
        // attention; the operator puts it back, and the sweep finds the one reserve.
        let (cr, query) = stack.authorised(Persona::Card).await;
        stack
            .control
            .inject_fault("Reserve", FaultKind::DropAfterCommit, 1)
            .await
            .unwrap();
        stack.checkout.complete(&query).await.expect("complete");
        stack
            .control
            .inject_fault("Reserve", FaultKind::TokenUsageError, 1)
            .await
            .unwrap();
        stack.clock.advance(time::Duration::seconds(61));
        stack.sweep().await;
        assert_eq!(stack.order(&cr).await.state, OrderState::NeedsAttention);
        let (code, out, err) = admin.run(&["redrive", &cr]).await;
        assert_eq!(code, 0, "{out}{err}");
        stack.advance_emulator(Duration::from_secs(2)).await;
        stack.sweep().await;
        assert_eq!(stack.order(&cr).await.state, OrderState::Reserved);
        let ledger = stack.control.ledger().await.unwrap();
        assert_eq!(ledger.transactions_for(&cr).len(), 1, "one reserve in all");
    })
    .await;
    server.abort();
    stack.shutdown().await;
}
