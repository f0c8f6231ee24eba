//! Hearing from FPS (issue 13): the emulator posts its Instant Payment Notifications to the
//! stack's `POST /ipn` over HTTP; the handler verifies each with VerifySignature and moves the
//! order forward — without the sweep — and nothing else.

use checkout_core::domain::order::{OrderState, PaymentAction};
use e2e_tests::{Stack, StackOptions};
use fps_sandbox::{FaultKind, Persona};

async fn stack(action: PaymentAction, pricing: Option<&'static str>) -> Stack {
    let mut options = StackOptions::new(action);
    options.notifications = true;
    if let Some(pricing) = pricing {
        options.pricing = pricing;
    }
    Stack::start_with(options).await
}

/// The notification bodies the emulator posted about `transaction_id`, oldest first, and
/// whether each was answered 200.
async fn posted(stack: &Stack, transaction_id: &str) -> Vec<(String, Option<u16>)> {
    let ledger = stack.control.ledger().await.unwrap();
    ledger
        .ipns_for(transaction_id)
        .into_iter()
        .map(|d| (d.body.clone(), d.last_http_status))
        .collect()
}

/// A card Pay is Pending at first; FPS's SUCCESS notification completes the order with no
/// sweep and no GetTransactionStatus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_pay_is_completed_by_its_notification_without_a_sweep() {
    let stack = stack(PaymentAction::Pay, None).await;
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Card)
        .await;
    let (_, page) = stack.page(&back).await;
    assert!(page.contains("Thank you for your order"), "{page}");
    let order = stack.order_reaches(&cr, OrderState::Paid).await;
    assert_eq!(order.state, OrderState::Paid, "{order:?}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "GetTransactionStatus"), 0, "no sweep");
    assert_eq!(ledger.transactions_for(&cr).len(), 1);
    let tx = order.transaction_id.clone().unwrap();
    // The emulator records an answer once it has it: wait for both to be on record.
    let mut statuses = Vec::new();
    for _ in 0..250 {
        statuses = posted(&stack, &tx).await.into_iter().map(|p| p.1).collect();
        if statuses.len() >= 2 && statuses.iter().all(|s| s.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        statuses.len() >= 2 && statuses.iter().all(|s| *s == Some(200)),
        "{statuses:?}"
    );
    let (_, page) = stack.page(&back).await;
    assert!(page.contains("Your payment was successful"), "{page}");

    // Duplicated and reordered: answered 200, nothing changes.
    let bodies: Vec<String> = posted(&stack, &tx).await.into_iter().map(|p| p.0).collect();
    assert!(bodies.len() >= 2, "PENDING and SUCCESS: {bodies:?}");
    for body in bodies.iter().rev().chain(bodies.iter()) {
        assert_eq!(stack.notify(body).await, 200);
    }
    assert_eq!(stack.order(&cr).await, order, "not a single write");
    stack.shutdown().await;
}

/// A notification whose body was changed, or that carries no signature, is refused (403) and
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_tampered_notification_is_refused_and_changes_nothing() {
    let stack = stack(PaymentAction::Pay, Some(e2e_tests::NO_EXTRAS)).await;
    // 10.64: Pending until FPS times it out.
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::one_of("REVIEW"), Persona::Card)
        .await;
    stack.page(&back).await;
    let pending = stack.order(&cr).await;
    assert_eq!(pending.state, OrderState::PaymentPending);
    let tx = pending.transaction_id.clone().unwrap();
    let mut bodies = Vec::new();
    for _ in 0..200 {
        bodies = posted(&stack, &tx).await;
        if !bodies.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let body = bodies.first().expect("the PENDING notification").0.clone();
    assert!(body.contains("transactionStatus=PENDING"), "{body}");
    let tampered = body.replace("transactionStatus=PENDING", "transactionStatus=SUCCESS");
    assert_eq!(stack.notify(&tampered).await, 403);
    let unsigned: String = body
        .split('&')
        .filter(|p| !p.starts_with("signature="))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(stack.notify(&unsigned).await, 403);
    assert_eq!(
        stack.notify("notificationType=TransactionStatus").await,
        400
    );
    assert_eq!(stack.order(&cr).await, pending);
    stack.shutdown().await;
}

/// The Pay's answer was lost (the connection dropped after FPS took it): the order stays
/// claimed, and FPS's notifications settle the question before any sweep runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_resolves_a_pay_whose_answer_was_lost() {
    let stack = stack(PaymentAction::Pay, None).await;
    let (cr, query) = stack.authorised(Persona::Card).await;
    stack
        .control
        .inject_fault("Pay", FaultKind::DropAfterCommit, 1)
        .await
        .unwrap();
    let done = stack.checkout.complete(&query).await.expect("complete");
    assert!(
        matches!(
            done.order.state,
            OrderState::Charging | OrderState::PaymentPending | OrderState::Paid
        ),
        "{:?}",
        done.order
    );
    let order = stack.order_reaches(&cr, OrderState::Paid).await;
    assert_eq!(order.state, OrderState::Paid, "{order:?}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.transactions_for(&cr).len(), 1, "charged once");
    assert_eq!(ledger.requests(&cr, "Pay"), 1, "no re-drive");
    assert_eq!(
        order.transaction_id.as_deref(),
        Some(ledger.transactions_for(&cr)[0].transaction_id.as_str())
    );
    stack.shutdown().await;
}

/// Reserve and Settle: the reserve is confirmed and the Settle completed by notifications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reserve_and_its_settle_are_completed_by_notifications() {
    let stack = stack(PaymentAction::Reserve, None).await;
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Card)
        .await;
    stack.page(&back).await;
    let reserved = stack.order_reaches(&cr, OrderState::Reserved).await;
    assert_eq!(reserved.state, OrderState::Reserved, "{reserved:?}");
    stack.fulfil(&cr).await;
    let settled = stack.order_reaches(&cr, OrderState::Settled).await;
    assert_eq!(settled.state, OrderState::Settled, "{settled:?}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "Settle"), 1);
    assert_eq!(ledger.requests(&cr, "GetTransactionStatus"), 0, "no sweep");
    stack.shutdown().await;
}

/// Issue 13 (2): the buyer authorised at the CBUI and never came back (the redirect was lost).
/// Ten minutes on, the sweep finds the authorisation with GetTokenByCaller and charges it
/// once; the buyer's late return then shows the payment and charges nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_who_authorised_and_never_came_back_is_charged_once_by_the_sweep() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (cr, lost_redirect) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Balance)
        .await;
    assert_eq!(stack.sweep().await.examined, 0, "not looked for yet");
    stack.clock.advance(time::Duration::minutes(10));
    stack.sweep().await;
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Paid, "{order:?}");
    let (_, page) = stack.page(&lost_redirect).await;
    assert!(page.contains("Your payment was successful"), "{page}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "GetTokenByCaller"), 1);
    assert_eq!(ledger.requests(&cr, "Pay"), 1);
    assert_eq!(ledger.transactions_for(&cr).len(), 1);
    stack.shutdown().await;
}

/// Issue 13 (2): the late return and the sweep's recovery race; the order's conditional claim
/// lets exactly one of them charge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_return_racing_the_recovery_charges_once() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (cr, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Balance)
        .await;
    stack.clock.advance(time::Duration::minutes(10));
    let (page, _) = tokio::join!(stack.page(&back), stack.sweep());
    assert_eq!(page.0, 200, "{}", page.1);
    let order = stack.order_reaches(&cr, OrderState::Paid).await;
    assert_eq!(order.state, OrderState::Paid, "{order:?}");
    let (_, page) = stack.page(&back).await;
    assert!(page.contains("Your payment was successful"), "{page}");
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.transactions_for(&cr).len(), 1, "charged once");
    stack.shutdown().await;
}

/// Issue 13 (2, 3): nobody authorises; the sweep looks, looks again, and once the
/// authorisation page has expired abandons the order, which then carries its TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_nobody_authorises_is_abandoned_then_expires_by_ttl() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let started = stack
        .checkout
        .start(&e2e_tests::sample_cart())
        .await
        .unwrap();
    let cr = started.order.caller_reference;
    stack.clock.advance(time::Duration::minutes(10));
    stack.sweep().await;
    assert_eq!(
        stack.order(&cr).await.state,
        OrderState::AwaitingAuthorization
    );
    stack.clock.advance(time::Duration::minutes(51));
    let summary = stack.sweep().await;
    assert_eq!(summary.abandoned, 1, "{summary:?}");
    let order = stack.order(&cr).await;
    assert_eq!(order.state, OrderState::Abandoned);
    assert_eq!(order.status_code.as_deref(), Some("NotAuthorized"));
    let item = stack
        .store
        .client()
        .get_item()
        .table_name(stack.store.table())
        .key(
            "callerReference",
            aws_sdk_dynamodb::types::AttributeValue::S(cr.clone()),
        )
        .send()
        .await
        .unwrap();
    let expires = item.item().unwrap()["expiresAt"].as_n().unwrap().clone();
    let expected = (order.updated_at + e2e_tests::RETENTION).unix_timestamp();
    assert_eq!(expires, expected.to_string());
    let ledger = stack.control.ledger().await.unwrap();
    assert_eq!(ledger.requests(&cr, "GetTokenByCaller"), 2);
    assert_eq!(ledger.requests(&cr, "Pay"), 0);
    stack.shutdown().await;
}

/// The order table's stream as moto keeps it, read over its DynamoDB Streams API, as the
/// Lambda event the stream's trigger delivers.
async fn stream_batch(stack: &Stack) -> aws_lambda_events::dynamodb::Event {
    let table = stack
        .store
        .client()
        .describe_table()
        .table_name(stack.store.table())
        .send()
        .await
        .unwrap();
    let stream_arn = table
        .table()
        .unwrap()
        .latest_stream_arn()
        .unwrap()
        .to_owned();
    let endpoint = e2e_tests::dynamodb_endpoint();
    let call = |target: &'static str, body: serde_json::Value| {
        let endpoint = endpoint.clone();
        async move {
            reqwest::Client::new()
                .post(endpoint)
                .header("x-amz-target", format!("DynamoDBStreams_20120810.{target}"))
                .header("content-type", "application/x-amz-json-1.0")
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=test/20261202/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x",
                )
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let stream = call(
        "DescribeStream",
        serde_json::json!({"StreamArn": stream_arn}),
    )
    .await;
    let mut records = Vec::new();
    for shard in stream["StreamDescription"]["Shards"].as_array().unwrap() {
        let iterator = call(
            "GetShardIterator",
            serde_json::json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await;
        let got = call(
            "GetRecords",
            serde_json::json!({"ShardIterator": iterator["ShardIterator"]}),
        )
        .await;
        for mut record in got["Records"].as_array().cloned().unwrap_or_default() {
            record["eventSourceARN"] = serde_json::json!(stream_arn);
            records.push(record);
        }
    }
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

/// Issue 13 (4): the table's stream through `order-events` onto an EventBridge bus (moto's),
/// read back from the SQS queue a rule sends them to: one event per state change someone acts
/// on, with the order id and version to deduplicate on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_order_state_change_is_one_event_on_the_bus() {
    let stack = Stack::start(PaymentAction::Pay).await;
    let (paid, back) = stack
        .returned_from_cbui(&e2e_tests::sample_cart(), Persona::Balance)
        .await;
    stack.page(&back).await;
    let started = stack
        .checkout
        .start(&e2e_tests::sample_cart())
        .await
        .unwrap();
    let back = stack
        .authorize(
            &started.cbui_url,
            Persona::Card,
            fps_sandbox::Decision::Cancel,
        )
        .await;
    stack.page(&back).await;
    let abandoned = started.order.caller_reference;
    assert_eq!(stack.order(&paid).await.state, OrderState::Paid);
    assert_eq!(stack.order(&abandoned).await.state, OrderState::Abandoned);

    // The shop's bus on moto, and a queue that receives every order event.
    let sdk = checkout_core::adapters::aws::sdk_config(
        checkout_core::adapters::dynamodb::default_timeouts(),
    )
    .await;
    let endpoint = e2e_tests::dynamodb_endpoint();
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&sdk)
            .endpoint_url(&endpoint)
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .endpoint_url(&endpoint)
            .build(),
    );
    let bus = format!("orders-{}", uuid::Uuid::new_v4().simple());
    events.create_event_bus().name(&bus).send().await.unwrap();
    let queue = sqs.create_queue().queue_name(&bus).send().await.unwrap();
    let queue_url = queue.queue_url().unwrap().to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("order-events")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["shop.checkout"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("order-events")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("sink")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let batch = stream_batch(&stack).await;
    assert!(batch.records.len() >= 5, "{} records", batch.records.len());
    let service = order_events::Service {
        publisher: checkout_core::adapters::eventbridge::EventBridgePublisher::new(
            events.clone(),
            &bus,
            "shop.checkout",
        ),
    };
    let response = order_events::handle(&service, batch).await.unwrap();
    assert!(response.batch_item_failures.is_empty());

    let mut received = Vec::new();
    for _ in 0..20 {
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for message in got.messages() {
            let body: serde_json::Value = serde_json::from_str(message.body().unwrap()).unwrap();
            received.push((
                body["detail-type"].as_str().unwrap().to_owned(),
                body["detail"]["orderId"].as_str().unwrap().to_owned(),
                body["detail"]["version"].as_u64().unwrap(),
            ));
        }
        if received.len() >= 2 {
            break;
        }
    }
    received.sort();
    let paid_version = stack.order(&paid).await.version;
    let abandoned_version = stack.order(&abandoned).await.version;
    let mut expected = vec![
        ("OrderAbandoned".to_owned(), abandoned, abandoned_version),
        ("OrderPaid".to_owned(), paid, paid_version),
    ];
    expected.sort();
    assert_eq!(received, expected);
    stack.shutdown().await;
}
