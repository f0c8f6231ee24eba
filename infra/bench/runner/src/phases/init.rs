//! Init phase: process start → first `/next` for every function and the baseline, plus the
//! start with the FPS key pair fetched from Secrets Manager.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use checkout_core::domain::order::PaymentAction;

use super::{Bench, BASELINE, FUNCTIONS, RETURN, SETTLE, START};
use crate::process::Function;
use crate::report::Line;
use crate::seed::{self, Error};
use crate::stats::{median, ms};
use crate::stub::RuntimeStub;

const INIT_RATIO: f64 = 1.25;

impl Bench {
    /// Median process start → first `/next` over `starts` fresh processes.
    async fn median_init(&self, function: &Function) -> Result<Duration, Error> {
        let mut times = Vec::new();
        for _ in 0..self.cli.starts {
            times.push(self.start_once(function).await?);
        }
        Ok(median(&times))
    }

    /// One fresh process: start → first `/next`.
    async fn start_once(&self, function: &Function) -> Result<Duration, Error> {
        let stub = RuntimeStub::start().await?;
        let started = Instant::now();
        let running = function.spawn(&stub.api_address(), &self.log(function.name))?;
        let ready = stub.wait_for_start(Duration::from_secs(10)).await;
        running.stop().await;
        Ok(ready?.saturating_duration_since(started))
    }

    /// Process start → first `/next`, median of `starts` fresh processes.
    pub(super) async fn init_times(&mut self) -> Result<(), Error> {
        println!("bench: init time, {} starts each", self.cli.starts);
        let table = seed::fresh_table("init").await?;
        // Round robin, so a noisy moment on the machine hits every binary alike.
        let functions: Vec<Function> = [BASELINE, START, RETURN, SETTLE]
            .into_iter()
            .map(|name| self.function(name, &table, PaymentAction::Pay))
            .collect();
        let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        for _ in 0..self.cli.starts {
            for function in &functions {
                let took = self.start_once(function).await?;
                times.entry(function.name).or_default().push(took);
            }
        }
        let calls = self.recorder.take();
        if !calls.is_empty() {
            return Err(format!("a function made network calls during init: {calls:?}").into());
        }
        let medians: BTreeMap<&str, Duration> = times
            .iter()
            .map(|(name, times)| (*name, median(times)))
            .collect();
        let baseline = medians[BASELINE];
        self.report
            .push(Line::new("Init (median)", BASELINE, ms(baseline)).baseline("—"));
        for name in FUNCTIONS {
            let value = medians[name];
            let ratio = value.as_secs_f64() / baseline.as_secs_f64().max(1e-9);
            self.report.push(
                Line::new(
                    "Init (median)",
                    name,
                    format!("{} ({ratio:.2}×)", ms(value)),
                )
                .baseline(ms(baseline))
                .target(format!("≤ {INIT_RATIO}× baseline"), ratio <= INIT_RATIO),
            );
        }
        // In AWS, init also fetches the FPS key pair from Secrets Manager: the same code path
        // against moto's Secrets Manager (loopback, plain HTTP: a lower bound).
        let arn = seed::create_secret(&self.moto, &self.sandbox.credentials()).await?;
        let mut function = self.function(START, &table, PaymentAction::Pay);
        function
            .env
            .retain(|(k, _)| k != "FPS_ACCESS_KEY_ID" && k != "FPS_SECRET_KEY");
        function
            .env
            .push(("FPS_CREDENTIALS_SECRET_ARN".to_owned(), arn));
        function.env.push((
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
            self.moto.as_str().trim_end_matches('/').to_owned(),
        ));
        let with_secret = self.median_init(&function).await?;
        let extra = with_secret.saturating_sub(medians[START]);
        self.report.push(
            Line::new(
                "Init + secret fetch",
                START,
                format!("{} (+{} for GetSecretValue)", ms(with_secret), ms(extra)),
            )
            .baseline(ms(baseline)),
        );
        Ok(())
    }
}
