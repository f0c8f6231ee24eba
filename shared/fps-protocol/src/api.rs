//! One typed request per FPS action (§6). Each knows its action name, its parameters and the
//! response type it expects; the client adds the common and signature parameters.

use crate::money::{Amount, CURRENCY_CODE};
use crate::xml::{
    CancelResponse, CancelTokenResponse, FpsResponse, GetTokenByCallerResponse,
    GetTransactionStatusResponse, PayResponse, RefundResponse, ReserveResponse, SettleResponse,
    VerifySignatureResponse,
};

/// The API version this crate speaks.
pub const API_VERSION: &str = "2010-08-28";
pub const PRODUCTION_API_URL: &str = "https://fps.amazonaws.com/";
pub const SANDBOX_API_URL: &str = "https://fps.sandbox.amazonaws.com/";

pub type Params = Vec<(&'static str, String)>;

pub trait FpsRequest {
    const ACTION: &'static str;
    type Response: FpsResponse;
    /// The action's own parameters (no Action, Version, Timestamp or signature fields).
    fn params(&self) -> Params;
    /// VerifySignature may be sent unsigned (§2.2); everything else is signed.
    const SIGNED: bool = true;
}

fn push_opt(params: &mut Params, name: &'static str, value: &Option<String>) {
    if let Some(v) = value {
        params.push((name, v.clone()));
    }
}

fn push_amount(params: &mut Params, prefix: Prefix, amount: &Amount) {
    let (value, currency) = match prefix {
        Prefix::Transaction => ("TransactionAmount.Value", "TransactionAmount.CurrencyCode"),
        Prefix::Refund => ("RefundAmount.Value", "RefundAmount.CurrencyCode"),
    };
    params.push((value, amount.to_fps_string()));
    params.push((currency, CURRENCY_CODE.to_owned()));
}

enum Prefix {
    Transaction,
    Refund,
}

/// Pay: charge the sender's token now.
#[derive(Debug, Clone, PartialEq)]
pub struct Pay {
    pub sender_token_id: String,
    pub amount: Amount,
    pub caller_reference: String,
    pub caller_description: Option<String>,
    pub sender_description: Option<String>,
    pub override_ipn_url: Option<String>,
}

/// Reserve: authorise the amount on a credit card; Settle captures it later.
#[derive(Debug, Clone, PartialEq)]
pub struct Reserve {
    pub sender_token_id: String,
    pub amount: Amount,
    pub caller_reference: String,
    pub caller_description: Option<String>,
    pub sender_description: Option<String>,
    pub override_ipn_url: Option<String>,
}

fn charge_params(
    token: &str,
    amount: &Amount,
    caller_reference: &str,
    caller_description: &Option<String>,
    sender_description: &Option<String>,
    override_ipn_url: &Option<String>,
) -> Params {
    let mut p = vec![
        ("SenderTokenId", token.to_owned()),
        ("CallerReference", caller_reference.to_owned()),
    ];
    push_amount(&mut p, Prefix::Transaction, amount);
    push_opt(&mut p, "CallerDescription", caller_description);
    push_opt(&mut p, "SenderDescription", sender_description);
    push_opt(&mut p, "OverrideIPNURL", override_ipn_url);
    p
}

impl FpsRequest for Pay {
    const ACTION: &'static str = "Pay";
    type Response = PayResponse;
    fn params(&self) -> Params {
        charge_params(
            &self.sender_token_id,
            &self.amount,
            &self.caller_reference,
            &self.caller_description,
            &self.sender_description,
            &self.override_ipn_url,
        )
    }
}

impl FpsRequest for Reserve {
    const ACTION: &'static str = "Reserve";
    type Response = ReserveResponse;
    fn params(&self) -> Params {
        charge_params(
            &self.sender_token_id,
            &self.amount,
            &self.caller_reference,
            &self.caller_description,
            &self.sender_description,
            &self.override_ipn_url,
        )
    }
}

/// Settle: capture a reserve, once, for at most the reserved amount (default: all of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Settle {
    pub reserve_transaction_id: String,
    pub amount: Option<Amount>,
    pub override_ipn_url: Option<String>,
}

impl FpsRequest for Settle {
    const ACTION: &'static str = "Settle";
    type Response = SettleResponse;
    fn params(&self) -> Params {
        let mut p = vec![("ReserveTransactionId", self.reserve_transaction_id.clone())];
        if let Some(amount) = &self.amount {
            push_amount(&mut p, Prefix::Transaction, amount);
        }
        push_opt(&mut p, "OverrideIPNURL", &self.override_ipn_url);
        p
    }
}

/// Refund: a new transaction, with its own CallerReference, back to the sender.
#[derive(Debug, Clone, PartialEq)]
pub struct Refund {
    pub transaction_id: String,
    pub caller_reference: String,
    pub amount: Option<Amount>,
    pub caller_description: Option<String>,
    pub override_ipn_url: Option<String>,
}

impl FpsRequest for Refund {
    const ACTION: &'static str = "Refund";
    type Response = RefundResponse;
    fn params(&self) -> Params {
        let mut p = vec![
            ("TransactionId", self.transaction_id.clone()),
            ("CallerReference", self.caller_reference.clone()),
        ];
        if let Some(amount) = &self.amount {
            push_amount(&mut p, Prefix::Refund, amount);
        }
        push_opt(&mut p, "CallerDescription", &self.caller_description);
        push_opt(&mut p, "OverrideIPNURL", &self.override_ipn_url);
        p
    }
}

/// Cancel a reserved or pending transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancel {
    pub transaction_id: String,
    pub description: Option<String>,
    pub override_ipn_url: Option<String>,
}

impl FpsRequest for Cancel {
    const ACTION: &'static str = "Cancel";
    type Response = CancelResponse;
    fn params(&self) -> Params {
        let mut p = vec![("TransactionId", self.transaction_id.clone())];
        push_opt(&mut p, "Description", &self.description);
        push_opt(&mut p, "OverrideIPNURL", &self.override_ipn_url);
        p
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CancelToken {
    pub token_id: String,
    pub reason_text: Option<String>,
}

impl FpsRequest for CancelToken {
    const ACTION: &'static str = "CancelToken";
    type Response = CancelTokenResponse;
    fn params(&self) -> Params {
        let mut p = vec![("TokenId", self.token_id.clone())];
        push_opt(&mut p, "ReasonText", &self.reason_text);
        p
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GetTransactionStatus {
    pub transaction_id: String,
}

impl FpsRequest for GetTransactionStatus {
    const ACTION: &'static str = "GetTransactionStatus";
    type Response = GetTransactionStatusResponse;
    fn params(&self) -> Params {
        vec![("TransactionId", self.transaction_id.clone())]
    }
}

/// Recovers a token when the CBUI redirect never arrived (§6.9).
#[derive(Debug, Clone, PartialEq)]
pub enum GetTokenByCaller {
    CallerReference(String),
    TokenId(String),
}

impl FpsRequest for GetTokenByCaller {
    const ACTION: &'static str = "GetTokenByCaller";
    type Response = GetTokenByCallerResponse;
    fn params(&self) -> Params {
        match self {
            Self::CallerReference(r) => vec![("CallerReference", r.clone())],
            Self::TokenId(t) => vec![("TokenId", t.clone())],
        }
    }
}

/// Asks FPS whether a return URL or IPN really came from it (§5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct VerifySignature {
    /// The URL that received the data, without its query, exactly as configured.
    pub url_end_point: String,
    /// The raw query string (return URL) or form body (IPN), exactly as received.
    pub http_parameters: String,
}

impl FpsRequest for VerifySignature {
    const ACTION: &'static str = "VerifySignature";
    type Response = VerifySignatureResponse;
    fn params(&self) -> Params {
        vec![
            ("UrlEndPoint", self.url_end_point.clone()),
            ("HttpParameters", self.http_parameters.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_flattened_as_fps_expects() {
        let pay = Pay {
            sender_token_id: "T".into(),
            amount: Amount::parse("25.5").unwrap(),
            caller_reference: "order-1".into(),
            caller_description: None,
            sender_description: None,
            override_ipn_url: None,
        };
        let p = pay.params();
        assert!(p.contains(&("TransactionAmount.Value", "25.50".into())));
        assert!(p.contains(&("TransactionAmount.CurrencyCode", "USD".into())));
        let refund = Refund {
            transaction_id: "1X".into(),
            caller_reference: "r".into(),
            amount: Some(Amount::parse("1").unwrap()),
            caller_description: None,
            override_ipn_url: None,
        };
        assert!(refund
            .params()
            .contains(&("RefundAmount.Value", "1.00".into())));
        let settle = Settle {
            reserve_transaction_id: "1X".into(),
            amount: None,
            override_ipn_url: None,
        };
        assert_eq!(
            settle.params(),
            vec![("ReserveTransactionId", "1X".to_owned())]
        );
    }
}
