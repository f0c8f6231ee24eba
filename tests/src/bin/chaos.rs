//! `make chaos`: SEED (default: random, printed) and ORDERS (default 1,000). Exits 1 when an
//! invariant is broken or the FPS fault share falls under 20 %.

use e2e_tests::chaos::{self, Campaign};

fn number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok().filter(|v| !v.is_empty())?;
    match text.parse() {
        Ok(n) => Some(n),
        Err(_) => {
            eprintln!("{name}={text} is not a whole number");
            std::process::exit(2);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seed = number("SEED").unwrap_or_else(rand::random);
    let orders = number("ORDERS").unwrap_or(1_000) as usize;
    println!("chaos: SEED={seed} ORDERS={orders} (repeat with these)");
    let report = chaos::run(&Campaign::new(seed, orders)).await;
    println!("{}", report.table());
    print!("{}", report.details());
    let share = report.fps.faulted_share();
    if share < 0.2 {
        println!("FPS fault share {:.1} % is under 20 %", 100.0 * share);
        std::process::exit(1);
    }
    if !report.violations.is_empty() {
        std::process::exit(1);
    }
}
