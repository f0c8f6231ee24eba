//! Typed configuration from the environment. Each loader reports every missing or invalid
//! variable at once, by name, so a function fails fast at init with a useful message.

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

use crate::adapters::dynamodb::DueShards;
use crate::domain::catalog::{Catalog, PricingRule};
use crate::domain::order::PaymentAction;
use fps_protocol::api::{PRODUCTION_API_URL, SANDBOX_API_URL};
use fps_protocol::cbui::{PRODUCTION_CBUI_URL, SANDBOX_CBUI_URL};
use fps_protocol::signing::Credentials;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {}", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Reads variables from somewhere: the process environment, or a map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned().filter(|v| !v.trim().is_empty())
    }
}

/// An [`Env`] that remembers every name asked of it: what a loader reads (the template test
/// compares it with what `template.yaml` declares).
pub struct Recording<E> {
    inner: E,
    asked: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl<E: Env> Recording<E> {
    pub fn new(inner: E) -> Self {
        Self {
            inner,
            asked: Default::default(),
        }
    }

    /// Every name asked so far, present or not.
    pub fn asked(&self) -> std::collections::BTreeSet<String> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl<E: Env> Env for Recording<E> {
    fn var(&self, name: &str) -> Option<String> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.insert(name.to_owned());
        }
        self.inner.var(name)
    }
}

/// Collects problems while reading, so one error lists them all.
struct Reader<'a, E: Env> {
    env: &'a E,
    problems: Vec<String>,
}

impl<'a, E: Env> Reader<'a, E> {
    fn new(env: &'a E) -> Self {
        Self {
            env,
            problems: Vec::new(),
        }
    }

    fn required(&mut self, name: &str) -> Option<String> {
        let value = self.env.var(name);
        if value.is_none() {
            self.problems.push(format!("{name} is missing"));
        }
        value
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.env.var(name)
    }

    fn parsed<T, F: FnOnce(&str) -> Result<T, String>>(
        &mut self,
        name: &str,
        value: Option<String>,
        parse: F,
    ) -> Option<T> {
        let value = value?;
        match parse(&value) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.problems.push(format!("{name} is invalid: {reason}"));
                None
            }
        }
    }

    fn url(&mut self, name: &str, value: Option<String>) -> Option<Url> {
        self.parsed(name, value, |v| Url::parse(v).map_err(|e| e.to_string()))
    }

    fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ConfigError> {
        if !self.problems.is_empty() {
            return Err(ConfigError {
                problems: self.problems,
            });
        }
        value().ok_or_else(|| ConfigError {
            problems: vec!["configuration incomplete".to_owned()],
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FpsEnvironment {
    Production,
    Sandbox,
    /// The local emulator (`infra/fps-sandbox`); endpoints must be given.
    Local,
}

/// Where the FPS key pair comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsSource {
    /// `FPS_ACCESS_KEY_ID` + `FPS_SECRET_KEY` (local development).
    Env(Credentials),
    /// A Secrets Manager secret (ARN in `FPS_CREDENTIALS_SECRET_ARN`) holding
    /// `{"accessKeyId": "…", "secretKey": "…"}`.
    SecretsManager(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FpsConfig {
    pub environment: FpsEnvironment,
    pub api_url: Url,
    pub cbui_url: Url,
    pub credentials: CredentialsSource,
    /// Overall budget for one FPS call, retries included (`FPS_TIMEOUT_MS`, default 20000).
    pub overall_timeout: Duration,
    /// Where FPS posts its notifications (`IPN_URL`, the notifications function's URL): sent
    /// as `OverrideIPNURL` on Pay, Reserve and Settle, and the URL they are verified against.
    /// Without it FPS notifies the account's configured URL, if any, and the sweep alone
    /// reconciles.
    pub ipn_url: Option<Url>,
}

impl FpsConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut r = Reader::new(env);
        let environment = r.required("FPS_ENVIRONMENT");
        let environment = r.parsed("FPS_ENVIRONMENT", environment, |v| match v {
            "production" => Ok(FpsEnvironment::Production),
            "sandbox" => Ok(FpsEnvironment::Sandbox),
            "local" => Ok(FpsEnvironment::Local),
            other => Err(format!("{other:?} is not production, sandbox or local")),
        });
        let (default_api, default_cbui) = match environment {
            Some(FpsEnvironment::Production) => {
                (Some(PRODUCTION_API_URL), Some(PRODUCTION_CBUI_URL))
            }
            Some(FpsEnvironment::Sandbox) => (Some(SANDBOX_API_URL), Some(SANDBOX_CBUI_URL)),
            _ => (None, None),
        };
        let api = r.optional("FPS_API_URL").or(default_api.map(str::to_owned));
        let cbui = r
            .optional("FPS_CBUI_URL")
            .or(default_cbui.map(str::to_owned));
        if environment == Some(FpsEnvironment::Local) {
            if api.is_none() {
                r.problems
                    .push("FPS_API_URL is missing (required when FPS_ENVIRONMENT=local)".into());
            }
            if cbui.is_none() {
                r.problems
                    .push("FPS_CBUI_URL is missing (required when FPS_ENVIRONMENT=local)".into());
            }
        }
        let api_url = r.url("FPS_API_URL", api);
        let cbui_url = r.url("FPS_CBUI_URL", cbui);
        let credentials = match (
            r.optional("FPS_CREDENTIALS_SECRET_ARN"),
            r.optional("FPS_ACCESS_KEY_ID"),
            r.optional("FPS_SECRET_KEY"),
        ) {
            (Some(arn), _, _) => Some(CredentialsSource::SecretsManager(arn)),
            (None, Some(id), Some(secret)) => {
                Some(CredentialsSource::Env(Credentials::new(id, secret)))
            }
            _ => {
                r.problems.push(
                    "FPS credentials are missing: set FPS_CREDENTIALS_SECRET_ARN, or FPS_ACCESS_KEY_ID and FPS_SECRET_KEY".into(),
                );
                None
            }
        };
        let timeout = r.optional("FPS_TIMEOUT_MS");
        let overall_timeout = match timeout {
            None => Some(Duration::from_secs(20)),
            some => r.parsed("FPS_TIMEOUT_MS", some, |v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|ms| (100..=120_000).contains(ms))
                    .map(Duration::from_millis)
                    .ok_or_else(|| "must be milliseconds between 100 and 120000".to_owned())
            }),
        };
        let ipn = r.optional("IPN_URL");
        let ipn_url = match ipn {
            None => Some(None),
            some => r.url("IPN_URL", some).map(Some),
        };
        r.finish(|| {
            Some(FpsConfig {
                environment: environment?,
                api_url: api_url?,
                cbui_url: cbui_url?,
                credentials: credentials?,
                overall_timeout: overall_timeout?,
                ipn_url: ipn_url?,
            })
        })
    }
}

/// An optional whole number of minutes within `range` (`default` when absent).
fn minutes<E: Env>(
    r: &mut Reader<'_, E>,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Option<time::Duration> {
    let value = r.optional(name);
    let minutes = match value {
        None => Some(default),
        value => r.parsed(name, value, |v| {
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|m| range.contains(m))
                .ok_or_else(|| {
                    format!(
                        "{v:?} is not a whole number of minutes from {} to {}",
                        range.start(),
                        range.end()
                    )
                })
        }),
    };
    minutes.map(time::Duration::minutes)
}

/// What a fulfilment may settle, and when it is too late to (settle-reservations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleConfig {
    /// `RESERVE_SAFETY_MARGIN_MINUTES` (default 120): fulfilment is refused for a reserve that
    /// expires sooner than this.
    pub reserve_margin: time::Duration,
    /// `PARTIAL_SETTLEMENT` (`true` / `false`, default false): may a fulfilment settle less
    /// than the order's total?
    pub partial_settlement: bool,
    /// `ABANDON_AFTER_MINUTES` (default 60, the CBUI page's lifetime): an order with no
    /// authorisation at FPS this long after checkout is abandoned.
    pub abandon_after: time::Duration,
}

/// Longest margin that still leaves a day to ship in (the reserve lives 7 days).
const MAX_RESERVE_MARGIN_MINUTES: i64 = 6 * 24 * 60;

impl SettleConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut r = Reader::new(env);
        let margin = r.optional("RESERVE_SAFETY_MARGIN_MINUTES");
        let margin = match margin {
            None => Some(120),
            value => r.parsed("RESERVE_SAFETY_MARGIN_MINUTES", value, |v| {
                v.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|m| (0..=MAX_RESERVE_MARGIN_MINUTES).contains(m))
                    .ok_or_else(|| {
                        format!("{v:?} is not a whole number of minutes from 0 to {MAX_RESERVE_MARGIN_MINUTES}")
                    })
            }),
        };
        let partial = r.optional("PARTIAL_SETTLEMENT");
        let partial = match partial {
            None => Some(false),
            value => r.parsed("PARTIAL_SETTLEMENT", value, |v| match v.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(format!("{other:?} is not true or false")),
            }),
        };
        let abandon_after = minutes(&mut r, "ABANDON_AFTER_MINUTES", 60, 10..=24 * 60);
        r.finish(|| {
            Some(SettleConfig {
                reserve_margin: time::Duration::minutes(margin?),
                partial_settlement: partial?,
                abandon_after: abandon_after?,
            })
        })
    }
}

/// The order table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub table_name: String,
    /// `RETENTION_DAYS` (default 90; `0` keeps every order): how long abandoned and failed
    /// orders stay in the table before its TTL deletes them.
    pub retention: Option<time::Duration>,
    /// `DUE_SHARDS` (default 1, at most 100): how many partition-key values the `byDue` index
    /// is spread over. Raise it, never lower it: orders in a dropped shard would not be swept.
    pub due_shards: DueShards,
}

impl StoreConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut r = Reader::new(env);
        let table = r.required("TABLE_NAME");
        let days = r.optional("RETENTION_DAYS");
        let retention = match days {
            None => Some(Some(time::Duration::days(90))),
            value => r.parsed("RETENTION_DAYS", value, |v| {
                match v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|d| (0..=3650).contains(d))
                {
                    Some(0) => Ok(None),
                    Some(d) => Ok(Some(time::Duration::days(d))),
                    None => Err(format!(
                        "{v:?} is not a whole number of days from 0 to 3650"
                    )),
                }
            }),
        };
        let shards = r.optional("DUE_SHARDS");
        let due_shards = match shards {
            None => Some(DueShards::ONE),
            value => r.parsed("DUE_SHARDS", value, |v| {
                v.trim()
                    .parse::<u16>()
                    .ok()
                    .and_then(DueShards::new)
                    .ok_or_else(|| {
                        format!(
                            "{v:?} is not a whole number of shards from 1 to {}",
                            DueShards::MAX
                        )
                    })
            }),
        };
        r.finish(|| {
            Some(StoreConfig {
                table_name: table?,
                retention: retention?,
                due_shards: due_shards?,
            })
        })
    }
}

/// Where order events go (order-events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// `EVENT_BUS_NAME`: the shop's event bus.
    pub bus_name: String,
    /// `EVENT_SOURCE` (default `shop.checkout`): the events' `source`.
    pub source: String,
}

impl EventsConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut r = Reader::new(env);
        let bus_name = r.required("EVENT_BUS_NAME");
        let source = r
            .optional("EVENT_SOURCE")
            .unwrap_or_else(|| "shop.checkout".to_owned());
        r.finish(|| {
            Some(EventsConfig {
                bus_name: bus_name?,
                source,
            })
        })
    }
}

/// What the buyer-facing functions need besides FPS and the table.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopConfig {
    pub action: PaymentAction,
    /// The public URL of the return handler (`…/return`).
    pub return_url: Url,
    /// The public URL of the shop page (for "keep shopping" and "try again").
    pub shop_url: Url,
    pub catalog: Catalog,
    pub pricing: PricingRule,
    pub merchant_name: String,
    /// `RECOVER_AFTER_MINUTES` (default 10): how long after checkout the sweep first asks FPS
    /// whether the buyer authorised but never came back.
    pub recover_after: time::Duration,
}

impl ShopConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut r = Reader::new(env);
        let action = r.required("PAYMENT_ACTION");
        let action = r.parsed("PAYMENT_ACTION", action, |v| {
            PaymentAction::parse(v).ok_or_else(|| format!("{v:?} is not Pay or Reserve"))
        });
        let return_url = r.required("RETURN_URL");
        let return_url = r.url("RETURN_URL", return_url);
        if let Some(url) = &return_url {
            if let Err(e) = fps_protocol::cbui::validate_return_url(url) {
                r.problems.push(format!("RETURN_URL is invalid: {e}"));
            }
        }
        let shop_url = r.required("SHOP_URL");
        let shop_url = r.url("SHOP_URL", shop_url);
        let catalog = r.required("CATALOG_JSON");
        let catalog = r.parsed("CATALOG_JSON", catalog, |v| {
            Catalog::from_json(v).map_err(|e| e.to_string())
        });
        let pricing = r
            .optional("PRICING_JSON")
            .unwrap_or_else(|| "{}".to_owned());
        let pricing = r.parsed("PRICING_JSON", Some(pricing), |v| {
            PricingRule::from_json(v).map_err(|e| e.to_string())
        });
        let merchant_name = r
            .optional("MERCHANT_NAME")
            .unwrap_or_else(|| "Our shop".to_owned());
        let recover_after = minutes(&mut r, "RECOVER_AFTER_MINUTES", 10, 1..=24 * 60);
        r.finish(|| {
            Some(ShopConfig {
                action: action?,
                return_url: return_url?,
                shop_url: shop_url?,
                catalog: catalog?,
                pricing: pricing?,
                merchant_name,
                recover_after: recover_after?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlement_defaults_and_every_problem_at_once() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let defaults = SettleConfig::from_env(&env(&[])).expect("defaults");
        assert_eq!(defaults.reserve_margin, time::Duration::hours(2));
        assert!(!defaults.partial_settlement);
        let set = SettleConfig::from_env(&env(&[
            ("RESERVE_SAFETY_MARGIN_MINUTES", "30"),
            ("PARTIAL_SETTLEMENT", "true"),
        ]))
        .expect("set");
        assert_eq!(set.reserve_margin, time::Duration::minutes(30));
        assert!(set.partial_settlement);
        let bad = SettleConfig::from_env(&env(&[
            ("RESERVE_SAFETY_MARGIN_MINUTES", "10080"),
            ("PARTIAL_SETTLEMENT", "yes"),
        ]))
        .expect_err("bad");
        assert_eq!(bad.problems.len(), 2, "{bad}");
        assert!(bad.to_string().contains("RESERVE_SAFETY_MARGIN_MINUTES"));
        assert!(bad.to_string().contains("PARTIAL_SETTLEMENT"));
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_every_missing_variable() {
        let err = FpsConfig::from_env(&env(&[])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("FPS_ENVIRONMENT is missing"), "{text}");
        assert!(text.contains("FPS_ACCESS_KEY_ID"), "{text}");
        let err = ShopConfig::from_env(&env(&[("PAYMENT_ACTION", "Charge")])).unwrap_err();
        let text = err.to_string();
        for name in [
            "PAYMENT_ACTION is invalid",
            "RETURN_URL is missing",
            "SHOP_URL is missing",
            "CATALOG_JSON is missing",
        ] {
            assert!(text.contains(name), "{name} not in {text}");
        }
        assert!(StoreConfig::from_env(&env(&[]))
            .unwrap_err()
            .to_string()
            .contains("TABLE_NAME"));
    }

    #[test]
    fn due_shards_default_to_one_and_refuse_what_the_sweep_cannot_read() {
        let read = |shards: &str| {
            StoreConfig::from_env(&env(&[("TABLE_NAME", "t"), ("DUE_SHARDS", shards)]))
        };
        let default = StoreConfig::from_env(&env(&[("TABLE_NAME", "t")])).expect("defaults");
        assert_eq!(default.due_shards, DueShards::ONE);
        assert_eq!(read("16").expect("16").due_shards.count(), 16);
        for bad in ["0", "101", "-1", "four"] {
            let problem = read(bad).expect_err(bad).to_string();
            assert!(problem.contains("DUE_SHARDS"), "{bad}: {problem}");
        }
    }

    #[test]
    fn local_needs_endpoints_and_sandbox_has_defaults() {
        let err = FpsConfig::from_env(&env(&[
            ("FPS_ENVIRONMENT", "local"),
            ("FPS_ACCESS_KEY_ID", "a"),
            ("FPS_SECRET_KEY", "b"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("FPS_API_URL is missing"));
        let ok = FpsConfig::from_env(&env(&[
            ("FPS_ENVIRONMENT", "sandbox"),
            ("FPS_CREDENTIALS_SECRET_ARN", "arn:x"),
        ]))
        .unwrap();
        assert_eq!(ok.api_url.as_str(), SANDBOX_API_URL);
        assert_eq!(
            ok.credentials,
            CredentialsSource::SecretsManager("arn:x".into())
        );
    }

    #[test]
    fn secrets_never_appear_in_errors_or_debug() {
        let cfg = FpsConfig::from_env(&env(&[
            ("FPS_ENVIRONMENT", "sandbox"),
            ("FPS_ACCESS_KEY_ID", "a"),
            ("FPS_SECRET_KEY", "s3cr3t-value"),
        ]))
        .unwrap();
        assert!(!format!("{cfg:?}").contains("s3cr3t-value"));
    }
}
