//! The chaos campaign (`make chaos`): many orders through the real handlers, the emulator and
//! moto while a quarter of FPS requests and a share of DynamoDB requests fail, invocations are
//! killed mid-flight, returns come five at a time, IPNs are replayed out of order, sweeps
//! overlap and the clocks jump across the reserve's 7-day line. Then every order is checked
//! against FPS's ledger ([`invariants`]).
//!
//! The seed fixes every draw: the orders' plans, where invocations are killed, which requests
//! the proxies fault. The interleaving of concurrent tasks is the scheduler's, so a run with
//! the same seed meets the same faults in a possibly different order.

pub mod invariants;
pub mod life;
pub mod proxy;
pub mod report;
pub mod stack;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;

use life::OrderPlan;
use stack::ChaosStack;

/// What the buyer's page must never say once FPS has moved or may move their money.
pub const NOTHING_CHARGED: &str = "Nothing was charged";

#[derive(Debug, Clone)]
pub struct Campaign {
    pub seed: u64,
    pub orders: usize,
    /// Orders in flight at once.
    pub concurrency: usize,
    /// The chance that an invocation is killed mid-flight.
    pub crash_chance: f64,
}

impl Campaign {
    pub fn new(seed: u64, orders: usize) -> Self {
        Self {
            seed,
            orders,
            concurrency: 12,
            crash_chance: 0.1,
        }
    }
}

/// Counters the campaign's tasks share.
#[derive(Debug, Default)]
pub struct Tally {
    counts: Mutex<BTreeMap<&'static str, u64>>,
    crashes: Mutex<BTreeMap<&'static str, u64>>,
    /// Per order: the status of each page the buyer saw, and whether it said
    /// [`NOTHING_CHARGED`].
    pages: Mutex<BTreeMap<String, Vec<(u16, bool)>>>,
    notes: Mutex<Vec<String>>,
}

impl Tally {
    pub fn count(&self, what: &'static str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(what).or_default() += 1;
        }
    }

    pub fn crash(&self, site: &'static str) {
        if let Ok(mut crashes) = self.crashes.lock() {
            *crashes.entry(site).or_default() += 1;
        }
    }

    pub fn page(&self, order_id: &str, status: u16, nothing_charged: bool) {
        if let Ok(mut pages) = self.pages.lock() {
            pages
                .entry(order_id.to_owned())
                .or_default()
                .push((status, nothing_charged));
        }
    }

    pub fn note(&self, note: String) {
        if let Ok(mut notes) = self.notes.lock() {
            notes.push(note);
        }
    }

    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn crashes(&self) -> BTreeMap<&'static str, u64> {
        self.crashes.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn pages(&self) -> BTreeMap<String, Vec<(u16, bool)>> {
        self.pages.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

/// Runs `phase` for every order, `concurrency` at a time, with overlapping sweeps and IPN
/// replays going on around it.
async fn with_background<F, Fut>(
    stack: &ChaosStack,
    tally: &Tally,
    campaign: &Campaign,
    salt: u64,
    work: F,
) where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let stop = AtomicBool::new(false);
    let orders = futures::stream::iter(0..campaign.orders)
        .map(work)
        .buffer_unordered(campaign.concurrency.max(1))
        .collect::<Vec<()>>();
    let orders = async {
        orders.await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let seed = campaign.seed.wrapping_add(salt);
    futures::join!(
        orders,
        life::sweeper(stack, tally, seed, campaign.crash_chance, &stop),
        life::ipn_replayer(stack, tally, seed ^ 1, campaign.crash_chance, &stop),
    );
}

/// The whole campaign; the report says what was injected and what the checks found.
pub async fn run(campaign: &Campaign) -> report::Report {
    let begun = std::time::Instant::now();
    let stack = ChaosStack::start(campaign.seed).await;
    let tally = Tally::default();
    let plans: Vec<OrderPlan> = (0..campaign.orders)
        .map(|i| OrderPlan::draw(campaign.seed, i))
        .collect();
    let ids: Mutex<BTreeMap<usize, String>> = Mutex::default();

    // 1. Checkouts and returns.
    with_background(&stack, &tally, campaign, 1, |i| {
        let (stack, tally, plans, ids) = (&stack, &tally, &plans, &ids);
        async move {
            if let Some(id) = life::buy(stack, tally, &plans[i], campaign.crash_chance).await {
                if let Ok(mut ids) = ids.lock() {
                    ids.insert(i, id);
                }
            }
        }
    })
    .await;
    let ids = ids.into_inner().unwrap_or_default();
    let id_of = |i: usize| ids.get(&i).cloned();

    // 2. Leases and the lost-return window run out; pending payments settle at FPS.
    stack.jump(time::Duration::minutes(15)).await;

    // 3. Fulfilments, cancels and refunds.
    with_background(&stack, &tally, campaign, 2, |i| {
        let (stack, tally, plans) = (&stack, &tally, &plans);
        let id = id_of(i);
        async move {
            if let Some(id) = id {
                life::after_sale(stack, tally, &plans[i], &id, false, campaign.crash_chance).await;
            }
        }
    })
    .await;

    // 4. Across the 7-day line: late fulfilments race a jump past it.
    stack
        .jump(time::Duration::days(7) - time::Duration::minutes(45))
        .await;
    let late = with_background(&stack, &tally, campaign, 3, |i| {
        let (stack, tally, plans) = (&stack, &tally, &plans);
        let id = id_of(i);
        async move {
            if let Some(id) = id {
                life::after_sale(stack, tally, &plans[i], &id, true, campaign.crash_chance).await;
            }
        }
    });
    let jump = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stack.jump(time::Duration::minutes(40)).await;
    };
    futures::join!(late, jump);

    // 5. The faults stop; the clocks move past every lease, and sweeps run until one finds
    //    nothing due (as the schedule would, every few minutes).
    stack.fps_proxy.calm();
    stack.dynamodb_proxy.calm();
    stack.jump(time::Duration::hours(4)).await;
    for _ in 0..30 {
        let scheduled = crate::event("Scheduled Event", serde_json::json!({}));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let due = match stack.settle.handle(scheduled, deadline).await {
            Ok(settle_reservations::Outcome::Swept(summary)) => summary.examined,
            _ => 1,
        };
        // IPNs still in the emulator's queue land meanwhile.
        tokio::time::sleep(Duration::from_millis(200)).await;
        if due == 0 {
            break;
        }
        stack.jump(time::Duration::minutes(5)).await;
    }

    // 6. The checks.
    let orders = stack
        .direct_store
        .list(None, None, usize::MAX)
        .await
        .expect("read every order");
    let ledger = stack.control.ledger().await.expect("read the ledger");
    let violations = invariants::check(&orders, &ledger, &tally.pages());
    let report = report::Report {
        seed: campaign.seed,
        orders_planned: campaign.orders,
        orders,
        fps: stack.fps_proxy.counts(),
        dynamodb: stack.dynamodb_proxy.counts(),
        tally_counts: tally.counts(),
        crashes: tally.crashes(),
        notes: tally.notes(),
        violations,
        elapsed: begun.elapsed(),
    };
    stack.shutdown().await;
    report
}
