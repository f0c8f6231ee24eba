//! The XML bodies FPS answers with (§6, §10.3): one model per action, read with quick-xml's
//! serde support and written by the emulator with the same types.

use quick_xml::events::Event;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, FpsError};

pub const NAMESPACE_2010: &str = "http://fps.amazonaws.com/doc/2010-08-28/";
pub const NAMESPACE_2008: &str = "http://fps.amazonaws.com/doc/2008-09-17/";
/// FPS answers are a few kilobytes; refuse to parse anything absurdly larger.
pub const MAX_BODY_LEN: usize = 256 * 1024;

/// A success body of one action.
pub trait FpsResponse: DeserializeOwned + Serialize {
    /// The root element's name, e.g. `PayResponse`.
    const ROOT: &'static str;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransactionStatus {
    Cancelled,
    Failure,
    Pending,
    Reserved,
    Success,
}

impl TransactionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "Cancelled",
            Self::Failure => "Failure",
            Self::Pending => "Pending",
            Self::Reserved => "Reserved",
            Self::Success => "Success",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Cancelled" => Some(Self::Cancelled),
            "Failure" => Some(Self::Failure),
            "Pending" => Some(Self::Pending),
            "Reserved" => Some(Self::Reserved),
            "Success" => Some(Self::Success),
            _ => None,
        }
    }

    /// Upper-case form used in IPNs (`SUCCESS`, `RESERVED`, …).
    pub fn ipn_form(self) -> &'static str {
        match self {
            Self::Cancelled => "CANCELLED",
            Self::Failure => "FAILURE",
            Self::Pending => "PENDING",
            Self::Reserved => "RESERVED",
            Self::Success => "SUCCESS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMetadata {
    #[serde(rename = "RequestId")]
    pub request_id: String,
}

/// `{TransactionId, TransactionStatus}`: the result of Pay, Reserve, Settle, Refund, Cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionResult {
    #[serde(rename = "TransactionId")]
    pub transaction_id: String,
    #[serde(rename = "TransactionStatus")]
    pub transaction_status: TransactionStatus,
}

macro_rules! response {
    ($(#[$doc:meta])* $name:ident, $root:literal, $result_tag:literal, $result:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename = $root)]
        pub struct $name {
            #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
            pub xmlns: Option<String>,
            #[serde(rename = $result_tag)]
            pub result: $result,
            #[serde(rename = "ResponseMetadata")]
            pub metadata: ResponseMetadata,
        }

        impl FpsResponse for $name {
            const ROOT: &'static str = $root;
        }
    };
}

response!(PayResponse, "PayResponse", "PayResult", TransactionResult);
response!(
    ReserveResponse,
    "ReserveResponse",
    "ReserveResult",
    TransactionResult
);
response!(
    /// Decision 1: the reserve's own TransactionId comes back.
    SettleResponse,
    "SettleResponse",
    "SettleResult",
    TransactionResult
);
response!(
    RefundResponse,
    "RefundResponse",
    "RefundResult",
    TransactionResult
);
response!(
    CancelResponse,
    "CancelResponse",
    "CancelResult",
    TransactionResult
);
response!(
    GetTransactionStatusResponse,
    "GetTransactionStatusResponse",
    "GetTransactionStatusResult",
    TransactionStatusResult
);
response!(
    GetTokenByCallerResponse,
    "GetTokenByCallerResponse",
    "GetTokenByCallerResult",
    TokenResult
);
response!(
    VerifySignatureResponse,
    "VerifySignatureResponse",
    "VerifySignatureResult",
    VerificationResult
);

/// CancelToken answers with metadata only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CancelTokenResponse")]
pub struct CancelTokenResponse {
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(rename = "ResponseMetadata")]
    pub metadata: ResponseMetadata,
}

impl FpsResponse for CancelTokenResponse {
    const ROOT: &'static str = "CancelTokenResponse";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionStatusResult {
    #[serde(rename = "TransactionId")]
    pub transaction_id: String,
    #[serde(rename = "TransactionStatus")]
    pub transaction_status: TransactionStatus,
    #[serde(
        rename = "CallerReference",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub caller_reference: Option<String>,
    #[serde(
        rename = "StatusCode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_code: Option<String>,
    #[serde(
        rename = "StatusMessage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResult {
    #[serde(rename = "Token")]
    pub token: Token,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    #[serde(rename = "TokenId")]
    pub token_id: String,
    #[serde(
        rename = "FriendlyName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub friendly_name: Option<String>,
    #[serde(rename = "TokenStatus")]
    pub token_status: TokenStatus,
    #[serde(
        rename = "DateInstalled",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub date_installed: Option<String>,
    #[serde(
        rename = "CallerReference",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub caller_reference: Option<String>,
    #[serde(rename = "TokenType", default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(
        rename = "OldTokenId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub old_token_id: Option<String>,
    #[serde(
        rename = "PaymentReason",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub payment_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenStatus {
    Active,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationResult {
    #[serde(rename = "VerificationStatus")]
    pub verification_status: VerificationStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerificationStatus {
    Success,
    Failure,
}

/// The REST error body: `<Response><Errors><Error>…</Error></Errors><RequestID>…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Response")]
pub struct ErrorBody {
    #[serde(rename = "Errors")]
    pub errors: ErrorList,
    #[serde(rename = "RequestID", default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorList {
    #[serde(rename = "Error", default)]
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorItem {
    #[serde(rename = "Code")]
    pub code: String,
    #[serde(rename = "Message", default)]
    pub message: String,
}

/// The WSDL's `<ErrorResponse>` shape, which some endpoints used.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename = "ErrorResponse")]
struct WsdlErrorBody {
    #[serde(rename = "Error")]
    error: WsdlError,
    #[serde(rename = "RequestId", default)]
    request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct WsdlError {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: &str, request_id: &str) -> Self {
        Self {
            errors: ErrorList {
                errors: vec![ErrorItem {
                    code: code.to_owned(),
                    message: message.to_owned(),
                }],
            },
            request_id: Some(request_id.to_owned()),
        }
    }
}

/// Why a body could not be turned into the expected answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// FPS answered with an error body.
    #[error(transparent)]
    Fps(FpsError),
    /// The body is not a well-formed answer of the expected kind.
    #[error("invalid FPS response (HTTP {http_status}): {reason}")]
    Invalid { http_status: u16, reason: String },
}

fn invalid(http_status: u16, reason: impl Into<String>) -> ResponseError {
    ResponseError::Invalid {
        http_status,
        reason: reason.into(),
    }
}

/// The root element's local name and its default namespace, if any.
fn root_of(body: &str) -> Result<(String, Option<String>), String> {
    let mut reader = quick_xml::Reader::from_str(body);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let mut xmlns = None;
                for attr in e.attributes() {
                    let attr = attr.map_err(|err| err.to_string())?;
                    if attr.key.as_ref() == b"xmlns" {
                        let value = attr.unescape_value().map_err(|err| err.to_string())?;
                        xmlns = Some(value.into_owned());
                    }
                }
                return Ok((name, xmlns));
            }
            Ok(Event::Eof) => return Err("no root element".to_owned()),
            Ok(_) => {}
            Err(err) => return Err(err.to_string()),
        }
    }
}

/// Turns an HTTP answer into the expected response, an [`FpsError`], or an invalid-body error.
pub fn parse_response<R: FpsResponse>(http_status: u16, body: &str) -> Result<R, ResponseError> {
    if body.len() > MAX_BODY_LEN {
        return Err(invalid(
            http_status,
            format!("body longer than {MAX_BODY_LEN} bytes"),
        ));
    }
    let (root, xmlns) = root_of(body).map_err(|e| invalid(http_status, e))?;
    match root.as_str() {
        "Response" => {
            let parsed: ErrorBody =
                quick_xml::de::from_str(body).map_err(|e| invalid(http_status, e.to_string()))?;
            let first = parsed
                .errors
                .errors
                .into_iter()
                .next()
                .ok_or_else(|| invalid(http_status, "error body without an Error"))?;
            Err(ResponseError::Fps(FpsError {
                code: ErrorCode::parse(&first.code),
                message: first.message,
                request_id: parsed.request_id,
                http_status,
            }))
        }
        "ErrorResponse" => {
            let parsed: WsdlErrorBody =
                quick_xml::de::from_str(body).map_err(|e| invalid(http_status, e.to_string()))?;
            Err(ResponseError::Fps(FpsError {
                code: ErrorCode::parse(&parsed.error.code),
                message: parsed.error.message,
                request_id: parsed.request_id,
                http_status,
            }))
        }
        _ if http_status != 200 => Err(invalid(http_status, format!("unexpected <{root}>"))),
        _ if root != R::ROOT => Err(invalid(
            http_status,
            format!("expected <{}>, got <{root}>", R::ROOT),
        )),
        _ => {
            match xmlns.as_deref() {
                Some(NAMESPACE_2010) | Some(NAMESPACE_2008) => {}
                other => {
                    return Err(invalid(
                        http_status,
                        format!("unknown namespace {other:?} on <{root}>"),
                    ))
                }
            }
            quick_xml::de::from_str(body).map_err(|e| invalid(http_status, e.to_string()))
        }
    }
}
