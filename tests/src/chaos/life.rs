//! One order's life as a buyer, a warehouse and an operator live it, with the duplicates and
//! kills real traffic brings; and the background traffic around it (overlapping sweeps,
//! replayed and reordered IPNs).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use checkout_core::domain::catalog::CartLine;
use checkout_core::domain::order::PaymentAction;
use fps_sandbox::{Decision, Persona};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::stack::ChaosStack;
use super::{Tally, NOTHING_CHARGED};
use crate::event;

/// What happens to an order after the buyer's return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterSale {
    /// Nothing: a Pay stays paid; a reserve is never fulfilled and must expire unsettled.
    Nothing,
    /// `OrderFulfilled`, twice at once (EventBridge delivers at least once).
    Fulfil { explicit_amount: bool },
    /// Recorded as shipped; the sweep settles it.
    MarkFulfilled,
    /// The operator cancels the reserve.
    Cancel,
    /// Fulfilment arrives just before the 7-day line, racing the clock jump across it.
    LateFulfil,
    /// The operator refunds (part of) what was captured, the request sent three times at once;
    /// a reserve is fulfilled first.
    Refund { partial: bool },
}

/// An order's seeded plan.
#[derive(Debug, Clone)]
pub struct OrderPlan {
    pub index: usize,
    pub action: PaymentAction,
    pub persona: Persona,
    pub cart: Vec<CartLine>,
    pub decision: Decision,
    /// The buyer never comes back from the CBUI: the sweep must find the authorisation.
    pub lost_return: bool,
    pub refreshes: u8,
    pub after_sale: AfterSale,
    pub seed: u64,
}

const SKUS: [&str; 3] = ["TEE-BLUE-L", "MUG", "XSS"];

impl OrderPlan {
    pub fn draw(campaign_seed: u64, index: usize) -> Self {
        let seed = campaign_seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = StdRng::seed_from_u64(seed);
        let action = if rng.gen_bool(0.55) {
            PaymentAction::Pay
        } else {
            PaymentAction::Reserve
        };
        // Reserves are for cards only (the CBUI offers nothing else with reserve=True).
        let persona = match (action, rng.gen_range(0..3)) {
            (PaymentAction::Reserve, _) | (_, 0) => Persona::Card,
            (_, 1) => Persona::Bank,
            _ => Persona::Balance,
        };
        let lines = rng.gen_range(1..=3);
        let cart = SKUS
            .choose_multiple(&mut rng, lines)
            .map(|sku| CartLine {
                sku: (*sku).to_owned(),
                quantity: rng.gen_range(1..=4),
            })
            .collect();
        let decision = if rng.gen_bool(0.05) {
            Decision::Cancel
        } else {
            Decision::Authorize
        };
        let after_sale = match (action, rng.gen_range(0..100)) {
            (PaymentAction::Pay, 0..=64) => AfterSale::Nothing,
            (PaymentAction::Pay, 65..=84) => AfterSale::Refund { partial: true },
            (PaymentAction::Pay, _) => AfterSale::Refund { partial: false },
            (PaymentAction::Reserve, 0..=29) => AfterSale::Fulfil {
                explicit_amount: rng.gen_bool(0.5),
            },
            (PaymentAction::Reserve, 30..=44) => AfterSale::MarkFulfilled,
            (PaymentAction::Reserve, 45..=59) => AfterSale::Cancel,
            (PaymentAction::Reserve, 60..=74) => AfterSale::LateFulfil,
            (PaymentAction::Reserve, 75..=89) => AfterSale::Refund {
                partial: rng.gen_bool(0.5),
            },
            (PaymentAction::Reserve, _) => AfterSale::Nothing,
        };
        Self {
            index,
            action,
            persona,
            cart,
            decision,
            lost_return: rng.gen_bool(0.05),
            refreshes: rng.gen_range(0..=2),
            after_sale,
            seed,
        }
    }
}

/// Runs `work` as one invocation; with the order's crash chance, the invocation is killed
/// (its future dropped) after a random few milliseconds, at whatever await point it reached.
pub async fn invoke<F: Future>(
    tally: &Tally,
    rng: &mut StdRng,
    crash_chance: f64,
    site: &'static str,
    work: F,
) -> Option<F::Output> {
    if !rng.gen_bool(crash_chance) {
        return Some(work.await);
    }
    let after = Duration::from_micros(rng.gen_range(0..30_000));
    match tokio::time::timeout(after, work).await {
        Ok(output) => Some(output),
        Err(_) => {
            tally.crash(site);
            None
        }
    }
}

fn get(path_and_query: &str) -> lambda_http::Request {
    let mut request = lambda_http::Request::new(lambda_http::Body::Empty);
    if let Ok(uri) = path_and_query.parse() {
        *request.uri_mut() = uri;
    }
    request
}

/// The buyer's browser loads the return URL; the page is recorded for the order.
async fn load_return(
    stack: &ChaosStack,
    tally: &Tally,
    rng: &mut StdRng,
    order_id: &str,
    path_and_query: &str,
    crash_chance: f64,
) {
    tally.count("returns sent");
    let work = cbui_return::handle(&stack.ret, get(path_and_query));
    if let Some(Ok(response)) = invoke(tally, rng, crash_chance, "return", work).await {
        let status = response.status().as_u16();
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        tally.page(order_id, status, body.contains(NOTHING_CHARGED));
    }
}

/// Phase one: the buyer checks out, authorises (or leaves) in the CBUI and comes back, five
/// tabs at once, then refreshes. Returns the order id once the order exists.
pub async fn buy(
    stack: &ChaosStack,
    tally: &Tally,
    plan: &OrderPlan,
    crash_chance: f64,
) -> Option<String> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let checkout = match plan.action {
        PaymentAction::Pay => &stack.pay,
        PaymentAction::Reserve => &stack.reserve,
    };
    // Starting has no money at stake: the buyer tries again on an error page.
    let mut started = None;
    for _ in 0..5 {
        match invoke(
            tally,
            &mut rng,
            crash_chance,
            "start",
            checkout.start(&plan.cart),
        )
        .await
        {
            Some(Ok(s)) => {
                started = Some(s);
                break;
            }
            Some(Err(e)) => {
                tally.note(format!("start failed: {e}"));
                tally.count("starts retried")
            }
            None => tally.count("starts retried"),
        }
    }
    let Some(started) = started else {
        tally.count("buyers who gave up starting");
        return None;
    };
    let order_id = started.order.caller_reference.clone();
    let back = match stack
        .control
        .authorize(&started.cbui_url, plan.persona, plan.decision)
        .await
    {
        Ok(url) => url,
        Err(e) => {
            tally.note(format!("{order_id}: the CBUI failed: {e}"));
            return Some(order_id);
        }
    };
    if plan.lost_return {
        tally.count("returns lost");
        return Some(order_id);
    }
    let target = format!("{}?{}", back.path(), back.query().unwrap_or_default());
    let tabs: Vec<_> = (0..5)
        .map(|tab| {
            let mut tab_rng = StdRng::seed_from_u64(plan.seed.wrapping_add(tab + 1));
            let (target, order_id) = (target.clone(), order_id.clone());
            async move {
                load_return(stack, tally, &mut tab_rng, &order_id, &target, crash_chance).await
            }
        })
        .collect();
    futures::future::join_all(tabs).await;
    for _ in 0..plan.refreshes {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..50))).await;
        load_return(stack, tally, &mut rng, &order_id, &target, crash_chance).await;
    }
    Some(order_id)
}

/// Who sends events to settle-reservations: the stack, the tally and the kill chance, which
/// every delivery shares.
#[derive(Clone, Copy)]
struct Courier<'a> {
    stack: &'a ChaosStack,
    tally: &'a Tally,
    crash_chance: f64,
}

impl Courier<'_> {
    /// Sends an event as one invocation; EventBridge resends a failed or killed one (up to
    /// three times here).
    async fn deliver(
        self,
        rng: &mut StdRng,
        site: &'static str,
        detail_type: &str,
        detail: serde_json::Value,
    ) {
        // One event id for every delivery: a redelivery is the same event.
        let event = event(detail_type, detail);
        for _ in 0..3 {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let work = self.stack.settle.handle(event.clone(), deadline);
            match invoke(self.tally, rng, self.crash_chance, site, work).await {
                Some(Ok(_)) => return,
                Some(Err(settle_reservations::HandlerError::BadEvent(e))) => {
                    self.tally.note(format!("{site}: bad event: {e}"));
                    return;
                }
                Some(Err(_)) => self.tally.count("events refused or failed"),
                None => {}
            }
        }
    }
}

/// Phase two or three: what the warehouse and the operator do with the order.
pub async fn after_sale(
    stack: &ChaosStack,
    tally: &Tally,
    plan: &OrderPlan,
    order_id: &str,
    late: bool,
    crash_chance: f64,
) {
    let mut rng = StdRng::seed_from_u64(plan.seed.rotate_left(17));
    let courier = Courier {
        stack,
        tally,
        crash_chance,
    };
    let fulfil = |amount: Option<String>| {
        let mut detail = serde_json::json!({ "callerReference": order_id });
        if let Some(amount) = amount {
            detail["amount"] = serde_json::json!(amount);
        }
        detail
    };
    let total = match stack.direct_store_order(order_id).await {
        Some(order) => order.amount().to_fps_string(),
        None => return,
    };
    let twice = |detail: serde_json::Value, site: &'static str, rng: &mut StdRng| {
        let event = (detail, rng.gen::<u64>(), rng.gen::<u64>());
        async move {
            let (detail, a, b) = event;
            let mut first = StdRng::seed_from_u64(a);
            let mut second = StdRng::seed_from_u64(b);
            futures::join!(
                courier.deliver(&mut first, site, "OrderFulfilled", detail.clone()),
                courier.deliver(&mut second, site, "OrderFulfilled", detail),
            );
        }
    };
    match (plan.after_sale, late) {
        (AfterSale::LateFulfil, true) => twice(fulfil(None), "fulfil", &mut rng).await,
        (_, true) | (AfterSale::Nothing | AfterSale::LateFulfil, false) => {}
        (AfterSale::Fulfil { explicit_amount }, false) => {
            let amount = explicit_amount.then(|| total.clone());
            twice(fulfil(amount), "fulfil", &mut rng).await;
        }
        (AfterSale::MarkFulfilled, false) => {
            if invoke(tally, &mut rng, crash_chance, "mark fulfilled", async {
                stack.settle.settlement.mark_fulfilled(order_id, None).await
            })
            .await
            .is_none()
            {
                let _ = stack.settle.settlement.mark_fulfilled(order_id, None).await;
            }
        }
        (AfterSale::Cancel, false) => {
            let detail = serde_json::json!({"callerReference": order_id, "reason": "buyer asked"});
            courier
                .deliver(&mut rng, "cancel", "CancelRequested", detail)
                .await;
        }
        (AfterSale::Refund { partial }, false) => {
            if plan.action == PaymentAction::Reserve {
                twice(fulfil(None), "fulfil", &mut rng).await;
            }
            let amount = partial.then(|| "1.00".to_owned());
            let request_id = format!("refund-{order_id}-1");
            let detail = serde_json::json!({
                "callerReference": order_id,
                "amount": amount,
                "reason": "returned",
                "requestedBy": "chaos operator",
                "requestId": request_id,
            });
            let seeds: Vec<u64> = (0..3).map(|_| rng.gen()).collect();
            let sends = seeds.into_iter().map(|seed| {
                let detail = detail.clone();
                async move {
                    let mut rng = StdRng::seed_from_u64(seed);
                    courier
                        .deliver(&mut rng, "refund", "RefundRequested", detail)
                        .await
                }
            });
            futures::future::join_all(sends).await;
            if partial {
                // A second, different refund for what is left.
                let detail = serde_json::json!({
                    "callerReference": order_id,
                    "reason": "the rest",
                    "requestId": format!("refund-{order_id}-2"),
                });
                courier
                    .deliver(&mut rng, "refund", "RefundRequested", detail)
                    .await;
            }
        }
    }
}

/// Three sweeps at a time, over and over, until `stop`; each may be killed mid-sweep.
pub async fn sweeper(
    stack: &ChaosStack,
    tally: &Tally,
    seed: u64,
    crash_chance: f64,
    stop: &AtomicBool,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !stop.load(Ordering::SeqCst) {
        let seeds: Vec<u64> = (0..3).map(|_| rng.gen()).collect();
        let sweeps = seeds.into_iter().map(|seed| async move {
            let mut rng = StdRng::seed_from_u64(seed);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..40))).await;
            tally.count("sweeps");
            let scheduled = event("Scheduled Event", serde_json::json!({}));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            invoke(
                tally,
                &mut rng,
                crash_chance,
                "sweep",
                stack.settle.handle(scheduled, deadline),
            )
            .await;
        });
        futures::future::join_all(sweeps).await;
        // moto's index queries read the whole table: a sweep every half second or so.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..900))).await;
    }
}

/// Posts IPNs FPS already delivered again, a few at a time in shuffled order (FPS resends and
/// does not keep order), until `stop`.
pub async fn ipn_replayer(
    stack: &ChaosStack,
    tally: &Tally,
    seed: u64,
    crash_chance: f64,
    stop: &AtomicBool,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(800..1600))).await;
        let Ok(ledger) = stack.control.ledger().await else {
            continue;
        };
        let mut bodies: Vec<String> = ledger
            .ipn_deliveries
            .iter()
            .map(|d| d.body.clone())
            .collect();
        bodies.shuffle(&mut rng);
        for body in bodies.into_iter().take(8) {
            tally.count("IPNs replayed");
            let mut request = lambda_http::Request::new(lambda_http::Body::Text(body));
            *request.method_mut() = lambda_http::http::Method::POST;
            if let Ok(uri) = "/ipn".parse() {
                *request.uri_mut() = uri;
            }
            request.headers_mut().insert(
                "content-type",
                lambda_http::http::HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            let notifications = Arc::clone(&stack.notifications);
            let work = async move { fps_notifications::handle(&notifications, request).await };
            invoke(tally, &mut rng, crash_chance, "ipn", work).await;
        }
    }
}
