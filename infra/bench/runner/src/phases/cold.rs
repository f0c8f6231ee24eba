//! Cold phase (issue 14): the first request after a cold start, with TLS in front of moto,
//! Secrets Manager (moto's) and the emulator, as every dependency is in AWS. For each fresh
//! process: start → first `/next` (init, with the FPS secret fetched over TLS), the first
//! invocation's answer (which opens the DynamoDB and FPS connections), and a second
//! invocation (warm, connections kept alive). Target: cold first response ≤ init + warm
//! response + one extra round trip.

use std::time::{Duration, Instant};

use checkout_core::domain::order::PaymentAction;
use serde_json::Value;

use super::checks::ok;
use super::{Bench, RETURN, START};
use crate::events;
use crate::process::Function;
use crate::proxy::Service;
use crate::report::Line;
use crate::seed::{self, Error, Seeder};
use crate::stats::{median, ms};
use crate::stub::RuntimeStub;
use crate::tls::DevCa;

struct ColdStart {
    init: Duration,
    first: Duration,
    warm: Duration,
    /// The warm invocation's DynamoDB calls, as the counting proxy timed them.
    dynamodb_calls: Vec<Duration>,
}

impl Bench {
    pub(super) async fn cold_first_requests(&mut self) -> Result<(), Error> {
        let starts = self.cli.starts;
        println!("bench: cold first request over TLS, {starts} starts each");
        let ca = DevCa::new()?;
        let root = self.cli.out_dir.join("bench-ca.pem");
        std::fs::write(&root, &ca.root_pem)?;
        let fps = ca.front(&self.fps_proxy).await?;
        let dynamodb = ca.front(&self.dynamodb_proxy).await?;
        let secrets = ca.front(&self.moto).await?;
        let arn = seed::create_secret(&self.moto, &self.sandbox.credentials()).await?;
        let over_tls = |mut function: Function| {
            function
                .env
                .retain(|(k, _)| k != "FPS_ACCESS_KEY_ID" && k != "FPS_SECRET_KEY");
            for (name, value) in [
                ("FPS_API_URL", fps.to_string()),
                (
                    "AWS_ENDPOINT_URL_DYNAMODB",
                    dynamodb.as_str().trim_end_matches('/').to_owned(),
                ),
                (
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                    secrets.as_str().trim_end_matches('/').to_owned(),
                ),
                ("FPS_CREDENTIALS_SECRET_ARN", arn.clone()),
                ("BENCH_TRUST_ROOT_PEM", root.display().to_string()),
            ] {
                function.env.retain(|(k, _)| k != name);
                function.env.push((name.to_owned(), value));
            }
            function
        };

        let table = seed::fresh_table("cold-start").await?;
        let start = over_tls(self.function(START, &table, PaymentAction::Pay));
        let start_events = vec![events::checkout_form()?; 2 * starts];
        let start_runs = self.cold_starts(&start, &start_events).await?;

        let table = seed::fresh_table("cold-return").await?;
        let seeder = Seeder::on_table(&self.sandbox, &table, PaymentAction::Pay).await?;
        let return_events = seeder
            .authorised_returns(2 * starts)
            .await?
            .iter()
            .map(|q| events::cbui_return(q))
            .collect::<Result<Vec<_>, _>>()?;
        let ret = over_tls(self.function(RETURN, &table, PaymentAction::Pay));
        let return_runs = self.cold_starts(&ret, &return_events).await?;

        // One extra round trip: a DynamoDB call as the warm invocations made it (median).
        let round_trip = median(
            &start_runs
                .iter()
                .chain(&return_runs)
                .flat_map(|r| r.dynamodb_calls.iter().copied())
                .collect::<Vec<_>>(),
        );
        for (name, runs) in [(START, &start_runs), (RETURN, &return_runs)] {
            let init = median(&runs.iter().map(|r| r.init).collect::<Vec<_>>());
            let first = median(&runs.iter().map(|r| r.first).collect::<Vec<_>>());
            let warm = median(&runs.iter().map(|r| r.warm).collect::<Vec<_>>());
            let budget = init + warm + round_trip;
            self.report.push(
                Line::new(
                    "Cold first response (TLS)",
                    name,
                    format!(
                        "{} (init {} + first answer {}; warm answer {})",
                        ms(first),
                        ms(init),
                        ms(first.saturating_sub(init)),
                        ms(warm)
                    ),
                )
                .baseline(format!("one round trip {}", ms(round_trip)))
                .target(
                    format!("≤ init + warm + one round trip = {}", ms(budget)),
                    first <= budget,
                ),
            );
        }
        Ok(())
    }

    /// Fresh processes, each given two events (first, then warm).
    async fn cold_starts(
        &self,
        function: &Function,
        events: &[Value],
    ) -> Result<Vec<ColdStart>, Error> {
        let mut runs = Vec::new();
        for pair in events.chunks(2) {
            let [first_event, warm_event] = pair else {
                continue;
            };
            let stub = RuntimeStub::start().await?;
            let started = Instant::now();
            let running = function.spawn(&stub.api_address(), &self.log(function.name))?;
            let ready = stub.wait_for_start(Duration::from_secs(10)).await?;
            let first = stub.invoke(first_event, Duration::from_secs(30)).await?;
            ok(&first).map_err(|e| format!("{} cold: {e}: {}", function.name, first.body))?;
            self.recorder.take();
            let warm = stub.invoke(warm_event, Duration::from_secs(30)).await?;
            let dynamodb_calls = self
                .recorder
                .take()
                .iter()
                .filter(|c| c.service == Service::DynamoDb)
                .map(|c| c.end.saturating_duration_since(c.start))
                .collect();
            ok(&warm).map_err(|e| format!("{} warm: {e}: {}", function.name, warm.body))?;
            running.stop().await;
            runs.push(ColdStart {
                init: ready.saturating_duration_since(started),
                first: first.answered.saturating_duration_since(started),
                warm: warm.latency(),
                dynamodb_calls,
            });
        }
        Ok(runs)
    }
}
