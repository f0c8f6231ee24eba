//! Each function's debug `bootstrap` under the RIE, with the environment `template.yaml`
//! declares resolved for local use; its stdout (logs and EMF documents) read back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use url::Url;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

/// `template.yaml`, its tags kept.
pub fn template() -> serde_norway::Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template");
    serde_norway::from_str(&text).expect("YAML")
}

/// Where Cargo put the debug binaries (honours `CARGO_TARGET_DIR`).
fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                repo_root().join(dir)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"));
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: `make test` builds the function binaries first \
         (cargo build --bins -p {name})",
        path.display()
    );
    path
}

/// The RIE inside the pinned SAM CLI's wheel (`make setup` installs it in `.venv-tools`).
fn runtime_interface_emulator() -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    };
    let lib = repo_root().join(".venv-tools/lib");
    let found = std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| {
            python
                .path()
                .join("site-packages/samcli/local/rapid")
                .join(format!("aws-lambda-rie-{arch}"))
        })
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "no aws-lambda-rie-{arch} under {}: run `make setup` (installs the pinned SAM CLI)",
            lib.display()
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A YAML value as plain text when it is one; `!Ref Parameter` as the parameter's default.
fn resolved(value: &serde_norway::Value, parameters: &serde_norway::Value) -> Option<String> {
    use serde_norway::Value as Y;
    match value {
        Y::String(s) => Some(s.clone()),
        Y::Number(n) => Some(n.to_string()),
        Y::Bool(b) => Some(b.to_string()),
        Y::Tagged(tagged) if tagged.tag == "Ref" => {
            let name = tagged.value.as_str()?;
            resolved(&parameters.get(name)?.get("Default")?.clone(), parameters)
        }
        // `!Sub` over parameters only (`FpsCheckout/${Stage}`); a resource's id has no local value.
        Y::Tagged(tagged) if tagged.tag == "Sub" => {
            let mut text = tagged.value.as_str()?.to_owned();
            while let Some(start) = text.find("${") {
                let end = start + text[start..].find('}')?;
                let name = &text[start + 2..end];
                let value = resolved(parameters.get(name)?.get("Default")?, parameters)?;
                text.replace_range(start..=end, &value);
            }
            Some(text)
        }
        _ => None,
    }
}

/// The environment `template.yaml` declares for `logical_id` (Globals + its own), each value
/// the template's literal or its parameter's default, else the local value in `local` (the
/// test's endpoints and names, then `infra/events/env.json`). Every declared variable must get
/// a value: a variable the template adds without a local value fails here.
fn environment(logical_id: &str, local: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let template = template();
    let parameters = &template["Parameters"];
    let env_json: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("infra/events/env.json")).expect("env.json"),
    )
    .expect("env.json is JSON");
    let mut env = BTreeMap::new();
    let declared = [
        &template["Globals"]["Function"]["Environment"]["Variables"],
        &template["Resources"][logical_id]["Properties"]["Environment"]["Variables"],
    ];
    for variables in declared {
        let Some(map) = variables.as_mapping() else {
            continue;
        };
        for (name, value) in map {
            let name = name.as_str().expect("a variable name").to_owned();
            let value = local
                .get(&name)
                .cloned()
                .or_else(|| resolved(value, parameters).filter(|v| !v.is_empty()))
                .or_else(|| env_json[logical_id][&name].as_str().map(str::to_owned))
                .unwrap_or_else(|| {
                    panic!("{logical_id}: template.yaml declares {name}, which has no local value")
                });
            env.insert(name, value);
        }
    }
    // What Lambda itself sets from the function's LoggingConfig (ApplicationLogLevel).
    let level = resolved(
        &template["Resources"][logical_id]["Properties"]["LoggingConfig"]["ApplicationLogLevel"],
        parameters,
    )
    .expect("ApplicationLogLevel");
    env.insert("AWS_LAMBDA_LOG_LEVEL".into(), level);
    env
}

/// One function's bootstrap under the RIE; its stdout (the function's logs) goes to a file.
pub struct Deployed {
    pub name: &'static str,
    rie: tokio::process::Child,
    url: Url,
    log: PathBuf,
    http: reqwest::Client,
}

impl Deployed {
    pub async fn start(
        name: &'static str,
        logical_id: &str,
        local: &BTreeMap<String, String>,
    ) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("rie-{name}-{port}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let rie = tokio::process::Command::new(runtime_interface_emulator())
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg(binary(name))
            .env_clear()
            .envs(environment(logical_id, local))
            // What Lambda provides itself (credentials, region), and the local stand-ins' endpoints.
            .envs(local.iter().filter(|(name, _)| name.starts_with("AWS_")))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::from(out.try_clone().expect("log file")))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .expect("start the RIE");
        let url = Url::parse(&format!(
            "http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
        ))
        .expect("url");
        let deployed = Self {
            name,
            rie,
            url,
            log,
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return deployed;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name}: the RIE never listened; log: {}", deployed.logs());
    }

    /// What the function returned for `event` (the RIE's invocation response).
    pub async fn invoke(&self, event: &Value) -> Value {
        let response = self
            .http
            .post(self.url.clone())
            .json(event)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: invoke: {e}; log: {}", self.name, self.logs()));
        let text = response.text().await.expect("body");
        serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{}: not JSON: {text}; log: {}", self.name, self.logs()))
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON lines the function wrote (its logs and its EMF documents).
    pub fn json_lines(&self) -> Vec<Value> {
        self.logs()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// The EMF documents: (metric names, the document).
    pub fn metrics(&self) -> Vec<(Vec<String>, Value)> {
        self.json_lines()
            .into_iter()
            .filter(|doc| doc.get("_aws").is_some())
            .map(|doc| {
                let names = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["Name"].as_str().map(str::to_owned))
                    .collect();
                (names, doc)
            })
            .collect()
    }

    /// The first EMF document with `metric`, for its dimensions and value.
    pub fn metric(&self, metric: &str, dimension: Option<(&str, &str)>) -> Value {
        self.metrics()
            .into_iter()
            .map(|(_, doc)| doc)
            .find(|doc| {
                doc.get(metric).is_some()
                    && dimension.is_none_or(|(name, value)| doc[name] == value)
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: no EMF document with {metric} {dimension:?}; log: {}",
                    self.name,
                    self.logs()
                )
            })
    }

    pub async fn stop(mut self) {
        let _ = self.rie.kill().await;
        let _ = std::fs::remove_file(&self.log);
    }
}
