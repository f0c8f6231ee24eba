//! A typed client for the control API, and a scripted buyer for the CBUI.

use std::time::Duration;

use fps_protocol::money::Amount;
use fps_protocol::xml::TransactionStatus;
use reqwest::redirect::Policy;
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::OffsetDateTime;
use url::Url;

use crate::cbui::AUTHORIZE_PATH;
use crate::control::{ClockRequest, ClockView, InstallToken, LedgerSnapshot};
use crate::faults::{FaultKind, FaultSpec};
use crate::ledger::{Token, Transaction};
use crate::persona::{Decision, Persona};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        body: String,
    },
    #[error("{0}")]
    Unexpected(String),
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// Talks to `/_sandbox/…` and plays the buyer on the CBUI pages.
#[derive(Debug, Clone)]
pub struct ControlClient {
    http: reqwest::Client,
    base: Url,
}

impl ControlClient {
    /// `base`: the sandbox's base URL (`http://127.0.0.1:PORT/`).
    pub fn new(base: Url) -> Self {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { http, base }
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, ControlError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ControlError::Unexpected(format!("{path}: {e}")))
    }

    async fn read<T: DeserializeOwned>(
        what: &str,
        response: reqwest::Response,
    ) -> Result<T, ControlError> {
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            return Err(ControlError::Status {
                what: what.to_owned(),
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_str(&body)
            .map_err(|e| ControlError::Unexpected(format!("{what}: {e}: {body}")))
    }

    async fn expect_ok(what: &str, response: reqwest::Response) -> Result<(), ControlError> {
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(ControlError::Status {
            what: what.to_owned(),
            status: status.as_u16(),
            body: response.text().await.unwrap_or_default(),
        })
    }

    async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ControlError> {
        let response = self.http.post(self.url(path)?).json(body).send().await?;
        Self::read(path, response).await
    }

    /// `GET /_sandbox/ledger`.
    pub async fn ledger(&self) -> Result<LedgerSnapshot, ControlError> {
        let response = self.http.get(self.url("_sandbox/ledger")?).send().await?;
        Self::read("ledger", response).await
    }

    /// One transaction from the ledger.
    pub async fn transaction(&self, id: &str) -> Result<Transaction, ControlError> {
        self.ledger()
            .await?
            .ledger
            .transactions
            .get(id)
            .cloned()
            .ok_or_else(|| ControlError::Unexpected(format!("no transaction {id}")))
    }

    /// `GET /_sandbox/clock`.
    pub async fn clock(&self) -> Result<ClockView, ControlError> {
        let response = self.http.get(self.url("_sandbox/clock")?).send().await?;
        Self::read("clock", response).await
    }

    /// The emulator's current time.
    pub async fn now(&self) -> Result<OffsetDateTime, ControlError> {
        Ok(self.clock().await?.now)
    }

    /// Moves the emulator clock forward; due transitions (and their IPNs) happen at once.
    pub async fn advance_clock(&self, by: Duration) -> Result<ClockView, ControlError> {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.post_json(
            "_sandbox/clock",
            &ClockRequest {
                advance_ms: Some(ms),
                ..ClockRequest::default()
            },
        )
        .await
    }

    /// Makes the emulator clock read `at` (it keeps running from there).
    pub async fn set_clock(&self, at: OffsetDateTime) -> Result<ClockView, ControlError> {
        let text = at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| ControlError::Unexpected(e.to_string()))?;
        self.post_json(
            "_sandbox/clock",
            &ClockRequest {
                set: Some(text),
                ..ClockRequest::default()
            },
        )
        .await
    }

    /// Forgets everything: ledger, faults, clock offset.
    pub async fn reset(&self) -> Result<(), ControlError> {
        let response = self.http.post(self.url("_sandbox/reset")?).send().await?;
        Self::expect_ok("reset", response).await
    }

    /// Injects a fault for the next `count` requests of `action` (`"*"`: any action).
    pub async fn inject_fault(
        &self,
        action: &str,
        kind: FaultKind,
        count: u32,
    ) -> Result<Vec<FaultSpec>, ControlError> {
        self.post_json("_sandbox/faults", &FaultSpec::new(action, kind, count))
            .await
    }

    /// The faults not yet used up.
    pub async fn faults(&self) -> Result<Vec<FaultSpec>, ControlError> {
        let response = self.http.get(self.url("_sandbox/faults")?).send().await?;
        Self::read("faults", response).await
    }

    pub async fn clear_faults(&self) -> Result<(), ControlError> {
        let response = self
            .http
            .delete(self.url("_sandbox/faults")?)
            .send()
            .await?;
        Self::expect_ok("faults", response).await
    }

    /// Installs a single-use token without the CBUI.
    pub async fn install_token(&self, request: &InstallToken) -> Result<Token, ControlError> {
        self.post_json("_sandbox/tokens", request).await
    }

    /// Shortcut: a token for `persona` (card, bank, balance) authorising `amount`.
    pub async fn token(
        &self,
        caller_reference: &str,
        amount: Amount,
        persona: Persona,
    ) -> Result<Token, ControlError> {
        self.install_token(&InstallToken {
            token_id: None,
            caller_reference: caller_reference.to_owned(),
            amount,
            persona,
            caller_key: None,
            payment_reason: None,
            reserve: false,
        })
        .await
    }

    /// Polls the ledger until the transaction has `status` (or `timeout` passes).
    pub async fn wait_for_status(
        &self,
        transaction_id: &str,
        status: TransactionStatus,
        timeout: Duration,
    ) -> Result<Transaction, ControlError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ledger = self.ledger().await?;
            if let Some(tx) = ledger.transactions.get(transaction_id) {
                if tx.status == status {
                    return Ok(tx.clone());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ControlError::Timeout(format!(
                    "{transaction_id} to be {}",
                    status.as_str()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Plays the buyer: opens the signed CBUI URL, picks `persona`, answers `decision`, and
    /// returns where the CBUI sends the browser back (the merchant's returnURL with `status`,
    /// `tokenID`, `signature`, …). A request the CBUI refuses with `status=CE` returns that
    /// redirect directly; an error page is a [`ControlError::Status`].
    pub async fn authorize(
        &self,
        cbui_url: &Url,
        persona: Persona,
        decision: Decision,
    ) -> Result<Url, ControlError> {
        let response = self.http.get(cbui_url.clone()).send().await?;
        let status = response.status();
        if status.is_redirection() {
            return location(response);
        }
        let body = response.text().await?;
        if !status.is_success() {
            return Err(ControlError::Status {
                what: "cbui start".to_owned(),
                status: status.as_u16(),
                body,
            });
        }
        let session = hidden_value(&body, "session").ok_or_else(|| {
            ControlError::Unexpected("the authorisation page has no session field".to_owned())
        })?;
        let target = cbui_url
            .join(AUTHORIZE_PATH)
            .map_err(|e| ControlError::Unexpected(e.to_string()))?;
        let form = [
            ("session", session.as_str()),
            ("persona", persona.as_str()),
            ("decision", decision.as_str()),
        ];
        let response = self.http.post(target).form(&form).send().await?;
        if response.status().is_redirection() {
            return location(response);
        }
        Err(ControlError::Status {
            what: "cbui authorize".to_owned(),
            status: response.status().as_u16(),
            body: response.text().await.unwrap_or_default(),
        })
    }
}

fn location(response: reqwest::Response) -> Result<Url, ControlError> {
    let value = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ControlError::Unexpected("a redirect without Location".to_owned()))?;
    Url::parse(value).map_err(|e| ControlError::Unexpected(format!("Location {value}: {e}")))
}

/// The value of `<input … name="NAME" value="…">` on the page.
fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let start = html.find(&marker)? + marker.len();
    let tag_end = html[start..].find('>')? + start;
    let tag = &html[start..tag_end];
    let value_start = tag.find("value=\"")? + "value=\"".len();
    let value_end = tag[value_start..].find('"')? + value_start;
    Some(tag[value_start..value_end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_field() {
        let html = r#"<form><input type="hidden" name="session" value="abc123"><input name="x" value="y"></form>"#;
        assert_eq!(hidden_value(html, "session").as_deref(), Some("abc123"));
        assert_eq!(hidden_value(html, "missing"), None);
    }
}
