//! The Co-Branded UI: the signed SingleUse pipeline request, and the return URL it sends the
//! buyer back to (protocol reference §3, §4).

use std::fmt;

use url::Url;

use crate::money::{Amount, CURRENCY_CODE};
use crate::signing::{self, Credentials, SignatureMethod, CBUI_PARAMS};

pub const PRODUCTION_CBUI_URL: &str =
    "https://authorize.payments.amazon.com/cobranded-ui/actions/start";
pub const SANDBOX_CBUI_URL: &str =
    "https://authorize.payments-sandbox.amazon.com/cobranded-ui/actions/start";
/// The only pipeline version FPS 2010-08-28 uses.
pub const PIPELINE_VERSION: &str = "2009-01-09";
pub const MAX_CALLER_REFERENCE_LEN: usize = 128;
/// FPS documents 160 characters for descriptions; the buyer sees this text.
pub const MAX_PAYMENT_REASON_LEN: usize = 160;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PaymentMethod {
    /// Amazon Payments balance transfer.
    Abt,
    /// Bank account debit.
    Ach,
    /// Credit card.
    Cc,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Abt => "ABT",
            Self::Ach => "ACH",
            Self::Cc => "CC",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ABT" => Some(Self::Abt),
            "ACH" => Some(Self::Ach),
            "CC" => Some(Self::Cc),
            _ => None,
        }
    }

    /// Parses the comma-separated CBUI form (`ABT,ACH,CC`).
    pub fn parse_list(text: &str) -> Option<Vec<Self>> {
        text.split(',').map(|m| Self::parse(m.trim())).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CbuiRequestError {
    #[error("callerReference must be 1 to {MAX_CALLER_REFERENCE_LEN} printable characters")]
    CallerReference,
    #[error("returnURL must be https (or http on a loopback host) without a fragment: {0}")]
    ReturnUrl(String),
    #[error("paymentReason must be at most {MAX_PAYMENT_REASON_LEN} characters without control characters")]
    PaymentReason,
    #[error("reserve=True needs a credit card: paymentMethod must be CC")]
    ReserveNeedsCard,
    #[error("paymentMethod must name at least one method")]
    NoPaymentMethod,
}

/// Checks a CallerReference for FPS: 1–128 bytes, printable, no whitespace at the ends.
pub fn validate_caller_reference(value: &str) -> Result<(), CbuiRequestError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_CALLER_REFERENCE_LEN
        && value.trim() == value
        && !value.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(CbuiRequestError::CallerReference)
    }
}

/// A return URL must be https, except on a loopback host where local development uses http.
pub fn validate_return_url(url: &Url) -> Result<(), CbuiRequestError> {
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if scheme_ok && url.host().is_some() && url.fragment().is_none() {
        Ok(())
    } else {
        Err(CbuiRequestError::ReturnUrl(url.to_string()))
    }
}

/// A SingleUse pipeline request: the buyer authorises one payment of `amount`.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleUseRequest {
    pub caller_reference: String,
    pub return_url: Url,
    pub amount: Amount,
    pub payment_reason: Option<String>,
    /// Empty means "let FPS offer its default" (decision 4: `ABT,ACH,CC`).
    pub payment_methods: Vec<PaymentMethod>,
    /// The token will be used for Reserve: card only.
    pub reserve: bool,
}

impl SingleUseRequest {
    /// Validates the request and returns its parameters, unsigned.
    pub fn params(&self) -> Result<Vec<(String, String)>, CbuiRequestError> {
        validate_caller_reference(&self.caller_reference)?;
        validate_return_url(&self.return_url)?;
        if let Some(reason) = &self.payment_reason {
            if reason.chars().count() > MAX_PAYMENT_REASON_LEN
                || reason.chars().any(char::is_control)
            {
                return Err(CbuiRequestError::PaymentReason);
            }
        }
        let mut methods = self.payment_methods.clone();
        if self.reserve {
            if methods.is_empty() {
                methods.push(PaymentMethod::Cc);
            }
            if methods != [PaymentMethod::Cc] {
                return Err(CbuiRequestError::ReserveNeedsCard);
            }
        }
        let mut params = vec![
            ("callerReference".to_owned(), self.caller_reference.clone()),
            ("currencyCode".to_owned(), CURRENCY_CODE.to_owned()),
            ("pipelineName".to_owned(), "SingleUse".to_owned()),
            ("returnURL".to_owned(), self.return_url.to_string()),
            ("transactionAmount".to_owned(), self.amount.to_fps_string()),
            ("version".to_owned(), PIPELINE_VERSION.to_owned()),
        ];
        if !methods.is_empty() {
            let list: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
            params.push(("paymentMethod".to_owned(), list.join(",")));
        }
        if let Some(reason) = &self.payment_reason {
            params.push(("paymentReason".to_owned(), reason.clone()));
        }
        if self.reserve {
            params.push(("reserve".to_owned(), "True".to_owned()));
        }
        Ok(params)
    }

    /// The URL to redirect the buyer to: `endpoint?…&signature=…`, signed with SigV2 over GET.
    pub fn signed_url(
        &self,
        endpoint: &Url,
        credentials: &Credentials,
        method: SignatureMethod,
    ) -> Result<Url, CbuiRequestError> {
        let mut params = self.params()?;
        signing::sign_params(
            &mut params,
            CBUI_PARAMS,
            credentials,
            method,
            "GET",
            &signing::signing_host(endpoint),
            endpoint.path(),
        );
        let mut url = endpoint.clone();
        url.set_query(Some(&signing::encode_params(&params)));
        Ok(url)
    }
}

/// The `status` the CBUI puts on the return URL (§4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CbuiStatus {
    /// Authorised with the Amazon Payments balance.
    SuccessBalance,
    /// Authorised with a bank account.
    SuccessBank,
    /// Authorised with a credit card.
    SuccessCard,
    /// Amazon system error.
    SystemError,
    /// The buyer abandoned the pipeline.
    Abandoned,
    /// The caller's request was invalid; see `errorMessage`.
    CallerException,
    /// The buyer has none of the requested payment methods.
    PaymentMethodMismatch,
    /// Not permitted (unverified sender, sender = recipient, …).
    NotPermitted,
    /// Caller not registered as a third-party caller.
    NotMarketplace,
    /// Anything else, kept verbatim.
    Unknown(String),
}

impl CbuiStatus {
    pub fn parse(code: &str) -> Self {
        match code {
            "SA" => Self::SuccessBalance,
            "SB" => Self::SuccessBank,
            "SC" => Self::SuccessCard,
            "SE" => Self::SystemError,
            "A" => Self::Abandoned,
            "CE" => Self::CallerException,
            "PE" => Self::PaymentMethodMismatch,
            "NP" => Self::NotPermitted,
            "NM" => Self::NotMarketplace,
            other => Self::Unknown(other.to_owned()),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::SuccessBalance => "SA",
            Self::SuccessBank => "SB",
            Self::SuccessCard => "SC",
            Self::SystemError => "SE",
            Self::Abandoned => "A",
            Self::CallerException => "CE",
            Self::PaymentMethodMismatch => "PE",
            Self::NotPermitted => "NP",
            Self::NotMarketplace => "NM",
            Self::Unknown(code) => code,
        }
    }

    /// SA, SB and SC: the buyer authorised the payment and a token was installed.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Self::SuccessBalance | Self::SuccessBank | Self::SuccessCard
        )
    }

    /// The instrument the buyer chose, when the status says.
    pub fn payment_method(&self) -> Option<PaymentMethod> {
        match self {
            Self::SuccessBalance => Some(PaymentMethod::Abt),
            Self::SuccessBank => Some(PaymentMethod::Ach),
            Self::SuccessCard => Some(PaymentMethod::Cc),
            _ => None,
        }
    }
}

impl fmt::Display for CbuiStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnParseError {
    #[error("the return query is empty")]
    Empty,
    #[error("the return query has no status")]
    MissingStatus,
    #[error("parameter {0:?} appears more than once")]
    Repeated(String),
    #[error("parameter {0:?} is not valid UTF-8 once decoded")]
    NotUtf8(String),
    #[error("the return query is longer than {0} bytes")]
    TooLong(usize),
}

/// Return queries are a few hundred bytes; anything far larger is not from the CBUI.
pub const MAX_RETURN_QUERY_LEN: usize = 16 * 1024;

/// What the CBUI appended to the return URL. `raw_query` is kept byte for byte: VerifySignature
/// needs exactly what was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CbuiReturn {
    pub raw_query: String,
    pub status: CbuiStatus,
    pub token_id: Option<String>,
    pub caller_reference: Option<String>,
    pub expiry: Option<String>,
    pub error_message: Option<String>,
    pub signature: Option<String>,
    pub signature_method: Option<String>,
    pub signature_version: Option<String>,
    pub certificate_url: Option<String>,
    /// Every decoded parameter, in the order received.
    pub params: Vec<(String, String)>,
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XY` a byte.
pub fn form_decode(text: &str) -> Result<String, std::str::Utf8Error> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
}

/// Splits and decodes a query string; repeated names are an error (the result would be
/// ambiguous), and so is a name or value that does not decode to UTF-8.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, ReturnParseError> {
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = form_decode(name).map_err(|_| ReturnParseError::NotUtf8(name.to_owned()))?;
        let value = form_decode(value).map_err(|_| ReturnParseError::NotUtf8(name.clone()))?;
        if params.iter().any(|(n, _)| *n == name) {
            return Err(ReturnParseError::Repeated(name));
        }
        params.push((name, value));
    }
    Ok(params)
}

impl CbuiReturn {
    /// Parses the query string of the return request (with or without the leading `?`).
    pub fn parse(raw_query: &str) -> Result<Self, ReturnParseError> {
        let raw = raw_query.strip_prefix('?').unwrap_or(raw_query);
        if raw.len() > MAX_RETURN_QUERY_LEN {
            return Err(ReturnParseError::TooLong(MAX_RETURN_QUERY_LEN));
        }
        if raw.is_empty() {
            return Err(ReturnParseError::Empty);
        }
        let params = parse_query(raw)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let status = get("status").ok_or(ReturnParseError::MissingStatus)?;
        Ok(Self {
            raw_query: raw.to_owned(),
            status: CbuiStatus::parse(&status),
            token_id: get("tokenID"),
            caller_reference: get("callerReference"),
            expiry: get("expiry"),
            error_message: get("errorMessage"),
            signature: get("signature"),
            signature_method: get("signatureMethod"),
            signature_version: get("signatureVersion"),
            certificate_url: get("certificateUrl"),
            params,
        })
    }

    /// The pre-checks Amazon's own utilities make before asking VerifySignature (§5.1).
    pub fn has_signature_fields(&self) -> bool {
        self.signature.as_deref().is_some_and(|s| !s.is_empty())
            && self.signature_version.as_deref() == Some("2")
            && self.signature_method.as_deref() == Some("RSA-SHA1")
            && self.certificate_url.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> SingleUseRequest {
        SingleUseRequest {
            caller_reference: "order-1".into(),
            return_url: Url::parse("https://shop.example.com/return").unwrap(),
            amount: Amount::parse("1.00").unwrap(),
            payment_reason: None,
            payment_methods: vec![],
            reserve: false,
        }
    }

    #[test]
    fn validates_inputs() {
        let mut r = request();
        r.caller_reference = "x".repeat(129);
        assert_eq!(r.params(), Err(CbuiRequestError::CallerReference));
        r.caller_reference = String::new();
        assert_eq!(r.params(), Err(CbuiRequestError::CallerReference));
        let mut r = request();
        r.return_url = Url::parse("http://shop.example.com/return").unwrap();
        assert!(matches!(r.params(), Err(CbuiRequestError::ReturnUrl(_))));
        r.return_url = Url::parse("http://127.0.0.1:9000/return").unwrap();
        assert!(r.params().is_ok());
        r.return_url = Url::parse("http://localhost/return").unwrap();
        assert!(r.params().is_ok());
        let mut r = request();
        r.reserve = true;
        r.payment_methods = vec![PaymentMethod::Cc, PaymentMethod::Ach];
        assert_eq!(r.params(), Err(CbuiRequestError::ReserveNeedsCard));
        r.payment_methods = vec![];
        let p = r.params().unwrap();
        assert!(p.contains(&("paymentMethod".into(), "CC".into())));
        assert!(p.contains(&("reserve".into(), "True".into())));
        let mut r = request();
        r.payment_reason = Some("a\nb".into());
        assert_eq!(r.params(), Err(CbuiRequestError::PaymentReason));
    }

    #[test]
    fn unknown_status_does_not_panic() {
        let r = CbuiReturn::parse("status=ZZ").unwrap();
        assert_eq!(r.status, CbuiStatus::Unknown("ZZ".into()));
        assert!(!r.status.is_success());
    }

    #[test]
    fn malformed_queries_are_errors() {
        assert_eq!(CbuiReturn::parse(""), Err(ReturnParseError::Empty));
        assert_eq!(
            CbuiReturn::parse("tokenID=X"),
            Err(ReturnParseError::MissingStatus)
        );
        assert_eq!(
            CbuiReturn::parse("status=SC&status=A"),
            Err(ReturnParseError::Repeated("status".into()))
        );
        assert!(matches!(
            CbuiReturn::parse("status=SC&callerReference=%FF%FE"),
            Err(ReturnParseError::NotUtf8(_))
        ));
        assert!(matches!(
            CbuiReturn::parse(&format!("status=SC&x={}", "a".repeat(20_000))),
            Err(ReturnParseError::TooLong(_))
        ));
    }
}
