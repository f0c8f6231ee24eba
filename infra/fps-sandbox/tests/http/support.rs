//! Shared helpers: starting a sandbox, buyers, raw signed requests.

#![allow(dead_code)]

use std::time::Duration;

use fps_protocol::cbui::{CbuiReturn, PaymentMethod, SingleUseRequest};
use fps_protocol::client::FpsClient;
use fps_protocol::clock::{fps_timestamp, Clock};
use fps_protocol::money::Amount;
use fps_protocol::signing::{self, Credentials, SignatureMethod, API_PARAMS};
use fps_sandbox::{Decision, Persona, Sandbox, SandboxConfig, SandboxHandle};
use url::Url;

pub const RETURN_URL: &str = "http://127.0.0.1:9/shop/return?order=1001";

pub fn amount(text: &str) -> Amount {
    Amount::parse(text).unwrap()
}

pub async fn start() -> SandboxHandle {
    start_with(SandboxConfig::for_tests()).await
}

pub async fn start_with(config: SandboxConfig) -> SandboxHandle {
    Sandbox::start(config).await.unwrap()
}

pub fn client(sandbox: &SandboxHandle) -> FpsClient {
    sandbox.fps_client().unwrap()
}

pub fn single_use(reference: &str, amount_text: &str, reserve: bool) -> SingleUseRequest {
    SingleUseRequest {
        caller_reference: reference.to_owned(),
        return_url: Url::parse(RETURN_URL).unwrap(),
        amount: amount(amount_text),
        payment_reason: Some("Order #1001: 2 x T-shirt".to_owned()),
        payment_methods: if reserve {
            vec![PaymentMethod::Cc]
        } else {
            vec![]
        },
        reserve,
    }
}

/// Plays the buyer through the CBUI; returns the return URL and its parsed query.
pub async fn buyer(
    sandbox: &SandboxHandle,
    request: &SingleUseRequest,
    persona: Persona,
    decision: Decision,
) -> (Url, CbuiReturn) {
    let url = sandbox.single_use_url(request).unwrap();
    let back = sandbox
        .control()
        .authorize(&url, persona, decision)
        .await
        .unwrap();
    let parsed = CbuiReturn::parse(back.query().unwrap()).unwrap();
    (back, parsed)
}

/// A fresh single-use token from the CBUI.
pub async fn token(
    sandbox: &SandboxHandle,
    reference: &str,
    amount_text: &str,
    persona: Persona,
) -> String {
    let (_, back) = buyer(
        sandbox,
        &single_use(reference, amount_text, false),
        persona,
        Decision::Authorize,
    )
    .await;
    back.token_id.unwrap()
}

/// A reserve-capable (card) token from the CBUI with `reserve=True`.
pub async fn reserve_token(sandbox: &SandboxHandle, reference: &str, amount_text: &str) -> String {
    let (_, back) = buyer(
        sandbox,
        &single_use(reference, amount_text, true),
        Persona::Card,
        Decision::Authorize,
    )
    .await;
    assert_eq!(back.status.code(), "SC");
    back.token_id.unwrap()
}

/// The URL without its query (what a merchant passes as UrlEndPoint).
pub fn end_point(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// Raw requests, signed with the core crate's SigV2 (or not at all).
pub struct Raw {
    pub http: reqwest::Client,
    pub endpoint: Url,
    pub credentials: Credentials,
    pub clock: fps_sandbox::SandboxClock,
}

#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub body: String,
}

impl RawAnswer {
    /// The `<Code>` of an error body.
    pub fn code(&self) -> String {
        between(&self.body, "<Code>", "</Code>").unwrap_or_default()
    }

    pub fn element(&self, name: &str) -> Option<String> {
        between(&self.body, &format!("<{name}>"), &format!("</{name}>"))
    }
}

pub fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let s = text.find(start)? + start.len();
    let e = text[s..].find(end)? + s;
    Some(text[s..e].to_owned())
}

impl Raw {
    pub fn new(sandbox: &SandboxHandle) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            endpoint: sandbox.api_url(),
            credentials: sandbox.credentials(),
            clock: sandbox.clock(),
        }
    }

    /// Action + Version + Timestamp (emulator clock) + `params`, unsigned.
    pub fn params(&self, action: &str, params: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        all.push(("Action".into(), action.into()));
        all.push(("Version".into(), "2010-08-28".into()));
        all.push(("Timestamp".into(), fps_timestamp(self.clock.now())));
        all
    }

    /// Signs for `verb` with `host` as the signed host.
    pub fn sign(&self, params: &mut Vec<(String, String)>, verb: &str, host: &str) {
        signing::sign_params(
            params,
            API_PARAMS,
            &self.credentials,
            SignatureMethod::HmacSha256,
            verb,
            host,
            "/",
        );
    }

    pub fn host_with_port(&self) -> String {
        signing::signing_host(&self.endpoint)
    }

    pub fn host_without_port(&self) -> String {
        self.endpoint.host_str().unwrap().to_owned()
    }

    pub async fn send(&self, verb: &str, params: &[(String, String)]) -> RawAnswer {
        let encoded = signing::encode_params(params);
        self.send_encoded(verb, &encoded).await
    }

    pub async fn send_encoded(&self, verb: &str, encoded: &str) -> RawAnswer {
        let response = if verb == "GET" {
            let mut url = self.endpoint.clone();
            url.set_query(Some(encoded));
            self.http.get(url).send().await.unwrap()
        } else {
            self.http
                .post(self.endpoint.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encoded.to_owned())
                .send()
                .await
                .unwrap()
        };
        let status = response.status().as_u16();
        RawAnswer {
            status,
            body: response.text().await.unwrap(),
        }
    }

    /// A signed POST of `action` with `params`.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> RawAnswer {
        let mut all = self.params(action, params);
        self.sign(&mut all, "POST", &self.host_with_port());
        self.send("POST", &all).await
    }
}
