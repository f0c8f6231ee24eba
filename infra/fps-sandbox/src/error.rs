//! API errors: a code from §6.11 (or a generic AWS one), a message, and the HTTP status that
//! goes with it (decision 3).

use fps_protocol::error::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A code outside the §6.11 table (`InvalidAction`, …).
    pub fn other(code: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Other(code.to_owned()), message)
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }

    pub fn missing(name: &str) -> Self {
        Self::invalid_params(format!("{name} is missing."))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalError, message)
    }

    /// Decision 3: 403 for authentication, 500 InternalError, 503 ServiceUnavailable, else 400.
    pub fn http_status(&self) -> u16 {
        match self.code {
            ErrorCode::SignatureDoesNotMatch
            | ErrorCode::InvalidClientTokenId
            | ErrorCode::AuthFailure
            | ErrorCode::InvalidSignature => 403,
            ErrorCode::InternalError => 500,
            ErrorCode::ServiceUnavailable => 503,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
