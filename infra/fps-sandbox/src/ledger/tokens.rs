//! Single-use sender tokens: their lifetime, their state, and minting them (by the CBUI or the
//! control API).

use fps_protocol::money::{Amount, CURRENCY_CODE};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::Ledger;
use crate::ids;
use crate::persona::{Instrument, Persona};

/// Decision 8: a single-use token is valid for 3 hours after authorisation.
pub const TOKEN_LIFETIME: Duration = Duration::hours(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Active,
    Used,
    Expired,
    Cancelled,
}

/// A single-use sender token minted by the CBUI (or installed through the control API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub token_id: String,
    pub caller_key: String,
    pub caller_reference: String,
    pub persona: Persona,
    pub payment_method: Instrument,
    /// The amount the buyer authorised; Pay/Reserve must use exactly this amount.
    pub amount: Amount,
    pub currency: String,
    pub payment_reason: Option<String>,
    pub reserve: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub installed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The instrument's expiry as the return URL shows it (`MM/YYYY`).
    pub expiry: String,
    pub used_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub cancelled_at: Option<OffsetDateTime>,
}

impl Token {
    pub fn state(&self, now: OffsetDateTime) -> TokenState {
        if self.cancelled_at.is_some() {
            TokenState::Cancelled
        } else if self.used_by.is_some() {
            TokenState::Used
        } else if now >= self.expires_at {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
}

impl Ledger {
    /// Mints a single-use token (or installs one with a chosen id, for fixtures).
    #[allow(clippy::too_many_arguments)]
    pub fn mint_token(
        &mut self,
        now: OffsetDateTime,
        caller_key: &str,
        caller_reference: &str,
        persona: Persona,
        payment_method: Instrument,
        amount: Amount,
        payment_reason: Option<String>,
        reserve: bool,
        token_id: Option<String>,
    ) -> Token {
        let token_id = token_id.unwrap_or_else(ids::token_id);
        let expiry_date = now + Duration::days(3 * 365);
        let token = Token {
            token_id: token_id.clone(),
            caller_key: caller_key.to_owned(),
            caller_reference: caller_reference.to_owned(),
            persona,
            payment_method,
            amount,
            currency: CURRENCY_CODE.to_owned(),
            payment_reason,
            reserve,
            installed_at: now,
            expires_at: now + TOKEN_LIFETIME,
            expiry: format!(
                "{:02}/{}",
                u8::from(expiry_date.month()),
                expiry_date.year()
            ),
            used_by: None,
            cancelled_at: None,
        };
        self.tokens.insert(token_id.clone(), token.clone());
        self.caller_references
            .entry(caller_reference.to_owned())
            .or_default()
            .tokens
            .push(token_id);
        token
    }
}
