//! FPS as the payment gateway: the one place that turns the shop's requests into FPS's
//! (CBUI single-use pipeline, Pay, Reserve, Settle, GetTransactionStatus, VerifySignature) and
//! FPS's answers and failures into the port's outcomes. It holds the FPS key pair.

use url::Url;

use fps_protocol::api::{
    Cancel, GetTokenByCaller, GetTransactionStatus, Pay, Refund, Reserve, Settle, VerifySignature,
};
use fps_protocol::cbui::{
    CbuiReturn, CbuiStatus, PaymentMethod as FpsMethod, SingleUseRequest, MAX_PAYMENT_REASON_LEN,
};
use fps_protocol::ipn::{Ipn, IpnOperation, NotificationType};
use fps_protocol::signing::SignatureMethod;
use fps_protocol::xml::{
    CancelResponse, PayResponse, RefundResponse, ReserveResponse, SettleResponse, TokenStatus,
    TransactionResult, VerificationStatus,
};
use fps_protocol::{CallError, ErrorClass, ErrorCode, FpsClient, FpsRequest};

use crate::domain::money::Amount;
use crate::domain::order::PaymentAction;
use crate::domain::payment::{PaymentMethod, TransactionStatus};
use crate::ports::gateway::{
    Accepted, Authorization, AuthorizationRequest, AuthorizationReturn, Charge, GatewayError,
    InvalidNotice, InvalidPaymentRequest, InvalidReturn, Notice, NoticeSubject, PaymentGateway,
    PaymentNotice, RefundCall, TransactionReport,
};

#[derive(Debug, Clone)]
pub struct FpsGateway {
    client: FpsClient,
    /// The CBUI pipeline endpoint (production, sandbox or the emulator).
    cbui_endpoint: Url,
    signature_method: SignatureMethod,
    /// Where FPS posts its notifications about the calls made here (`OverrideIPNURL`).
    ipn_url: Option<Url>,
}

impl FpsGateway {
    /// CBUI links are signed with the client's key pair.
    pub fn new(client: FpsClient, cbui_endpoint: Url) -> Self {
        Self {
            client,
            cbui_endpoint,
            signature_method: SignatureMethod::HmacSha256,
            ipn_url: None,
        }
    }

    /// Pay, Reserve and Settle ask FPS to notify `ipn_url` of every status change.
    pub fn with_ipn_url(mut self, ipn_url: Option<Url>) -> Self {
        self.ipn_url = ipn_url;
        self
    }

    fn override_ipn_url(&self) -> Option<String> {
        self.ipn_url.as_ref().map(|u| u.as_str().to_owned())
    }
}

/// The one mapping from an FPS call's failure to what the shop knows about the money.
pub fn gateway_error(error: CallError) -> GatewayError {
    match error {
        CallError::Rejected(e) if e.class() != ErrorClass::Transient => GatewayError::Refused {
            code: e.code.as_str().to_owned(),
            retry_later: e.class() == ErrorClass::RetryLater,
            authorization_used: matches!(
                e.code,
                ErrorCode::TokenUsageError
                    | ErrorCode::DuplicateRequest
                    | ErrorCode::SameTokenIdUsedMultipleTimes
                    | ErrorCode::TokenNotActive
                    | ErrorCode::TokenNotActiveSender
            ),
            message: e.message,
        },
        // A service failure may follow a processed request (decision 3).
        CallError::Rejected(_) | CallError::OutcomeUnknown { .. } => {
            GatewayError::OutcomeUnknown(Box::new(error))
        }
        CallError::NotSent { .. } => GatewayError::NotSent(Box::new(error)),
    }
}

fn status(status: fps_protocol::TransactionStatus) -> TransactionStatus {
    use fps_protocol::TransactionStatus as Fps;
    match status {
        Fps::Success => TransactionStatus::Success,
        Fps::Pending => TransactionStatus::Pending,
        Fps::Failure => TransactionStatus::Failure,
        Fps::Reserved => TransactionStatus::Reserved,
        Fps::Cancelled => TransactionStatus::Cancelled,
    }
}

fn method(method: FpsMethod) -> PaymentMethod {
    match method {
        FpsMethod::Abt => PaymentMethod::AmazonBalance,
        FpsMethod::Ach => PaymentMethod::BankAccount,
        FpsMethod::Cc => PaymentMethod::CreditCard,
    }
}

/// What a non-success CBUI status means, for the buyer.
fn status_text(status: &CbuiStatus) -> &'static str {
    match status {
        CbuiStatus::SystemError => "Amazon Payments had a problem; please try again later.",
        CbuiStatus::Abandoned => "You cancelled the payment.",
        CbuiStatus::CallerException => "The payment request was not accepted.",
        CbuiStatus::PaymentMethodMismatch => {
            "None of your payment methods can be used for this order."
        }
        CbuiStatus::NotPermitted => "Amazon Payments did not permit this payment.",
        CbuiStatus::NotMarketplace => "This shop is not registered for this payment.",
        _ => "The payment was not authorised.",
    }
}

/// FPS shows at most 160 characters of payment reason: cut longer text with an ellipsis,
/// and drop control characters, which it refuses.
fn payment_reason(description: &str) -> String {
    let text: String = description.chars().filter(|c| !c.is_control()).collect();
    if text.chars().count() <= MAX_PAYMENT_REASON_LEN {
        return text;
    }
    let cut: String = text.chars().take(MAX_PAYMENT_REASON_LEN - 1).collect();
    format!("{cut}…")
}

impl PaymentGateway for FpsGateway {
    fn authorization_url(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> Result<Url, InvalidPaymentRequest> {
        let pipeline = SingleUseRequest {
            caller_reference: request.order_id.to_owned(),
            return_url: request.return_url.clone(),
            amount: request.amount,
            payment_reason: Some(payment_reason(request.description)),
            // A reserve can only hold a card.
            payment_methods: if request.reserve {
                vec![FpsMethod::Cc]
            } else {
                vec![]
            },
            reserve: request.reserve,
        };
        pipeline
            .signed_url(
                &self.cbui_endpoint,
                &self.client.config().credentials,
                self.signature_method,
            )
            .map_err(|e| InvalidPaymentRequest(Box::new(e)))
    }

    fn read_return(&self, raw_query: &str) -> Result<AuthorizationReturn, InvalidReturn> {
        let ret = CbuiReturn::parse(raw_query).map_err(|e| InvalidReturn(Box::new(e)))?;
        let outcome = if ret.status.is_success() {
            Authorization::Authorized {
                token: ret.token_id.clone(),
                method: ret.status.payment_method().map(method),
            }
        } else if ret.status == CbuiStatus::Abandoned {
            Authorization::Abandoned
        } else {
            Authorization::Declined {
                code: ret.status.code().to_owned(),
                message: ret
                    .error_message
                    .clone()
                    .unwrap_or_else(|| status_text(&ret.status).to_owned()),
            }
        };
        Ok(AuthorizationReturn {
            order_id: ret.caller_reference.clone(),
            outcome,
            signed: ret.has_signature_fields(),
            raw_query: ret.raw_query,
        })
    }

    async fn verify_return(
        &self,
        return_url: &Url,
        ret: &AuthorizationReturn,
    ) -> Result<bool, GatewayError> {
        self.verify(return_url, &ret.raw_query).await
    }

    async fn charge(&self, charge: Charge<'_>) -> Result<Accepted, GatewayError> {
        match charge.action {
            PaymentAction::Pay => {
                let request = Pay {
                    sender_token_id: charge.token_id.to_owned(),
                    amount: charge.amount,
                    caller_reference: charge.caller_reference.to_owned(),
                    caller_description: charge.description,
                    sender_description: None,
                    override_ipn_url: self.override_ipn_url(),
                };
                self.transaction_call(&request).await
            }
            PaymentAction::Reserve => {
                let request = Reserve {
                    sender_token_id: charge.token_id.to_owned(),
                    amount: charge.amount,
                    caller_reference: charge.caller_reference.to_owned(),
                    caller_description: charge.description,
                    sender_description: None,
                    override_ipn_url: self.override_ipn_url(),
                };
                self.transaction_call(&request).await
            }
        }
    }

    async fn settle(
        &self,
        reserve_transaction_id: &str,
        amount: Option<Amount>,
    ) -> Result<Accepted, GatewayError> {
        let request = Settle {
            reserve_transaction_id: reserve_transaction_id.to_owned(),
            amount,
            override_ipn_url: self.override_ipn_url(),
        };
        self.transaction_call(&request).await
    }

    async fn refund(&self, call: RefundCall<'_>) -> Result<Accepted, GatewayError> {
        let request = Refund {
            transaction_id: call.transaction_id.to_owned(),
            caller_reference: call.caller_reference.to_owned(),
            amount: Some(call.amount),
            caller_description: call.reason.map(|r| payment_reason(&r)),
            override_ipn_url: self.override_ipn_url(),
        };
        self.transaction_call(&request).await
    }

    async fn cancel(
        &self,
        reserve_transaction_id: &str,
        reason: Option<String>,
    ) -> Result<Accepted, GatewayError> {
        let request = Cancel {
            transaction_id: reserve_transaction_id.to_owned(),
            description: reason.map(|r| payment_reason(&r)),
            override_ipn_url: self.override_ipn_url(),
        };
        self.transaction_call(&request).await
    }

    fn read_notice(&self, raw_body: &str) -> Result<Notice, InvalidNotice> {
        let ipn = Ipn::parse(raw_body).map_err(|e| InvalidNotice(Box::new(e)))?;
        let (Some(transaction_id), Some(fps_status)) =
            (ipn.transaction_id.clone(), ipn.transaction_status)
        else {
            return Ok(Notice::Other {
                what: format!("{:?}", ipn.notification_type),
            });
        };
        if ipn.notification_type != NotificationType::TransactionStatus {
            return Ok(Notice::Other {
                what: format!("{:?}", ipn.notification_type),
            });
        }
        let about = match &ipn.operation {
            Some(IpnOperation::Pay) => NoticeSubject::Charge,
            Some(IpnOperation::Reserve) => NoticeSubject::Reserve,
            Some(IpnOperation::Settle) => NoticeSubject::Settle,
            Some(IpnOperation::Cancel | IpnOperation::CancelTransaction) => {
                NoticeSubject::Cancellation
            }
            Some(IpnOperation::Refund) => NoticeSubject::Refund,
            _ => NoticeSubject::Other,
        };
        Ok(Notice::Payment(PaymentNotice {
            order_id: ipn.caller_reference.clone(),
            transaction_id,
            status: status(fps_status),
            code: ipn.status_code.clone(),
            message: ipn.status_message.clone(),
            about,
            signed: ipn.has_signature_fields(),
            raw_body: ipn.raw_body,
        }))
    }

    async fn verify_notice(
        &self,
        end_point: &Url,
        notice: &PaymentNotice,
    ) -> Result<bool, GatewayError> {
        self.verify(end_point, &notice.raw_body).await
    }

    async fn find_authorization(&self, order_id: &str) -> Result<Option<String>, GatewayError> {
        let request = GetTokenByCaller::CallerReference(order_id.to_owned());
        match self.client.call(&request).await.map_err(gateway_error) {
            Ok(response) => {
                let token = response.result.token;
                Ok((token.token_status == TokenStatus::Active).then_some(token.token_id))
            }
            // No token was ever installed for this reference: the buyer did not authorise.
            Err(GatewayError::Refused { code, .. }) if code == "InvalidCallerReference" => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn authorization_spent(&self, order_id: &str) -> Result<bool, GatewayError> {
        self.token_spent(order_id).await
    }

    async fn transaction_status(
        &self,
        transaction_id: &str,
    ) -> Result<TransactionReport, GatewayError> {
        let request = GetTransactionStatus {
            transaction_id: transaction_id.to_owned(),
        };
        let result = self
            .client
            .call(&request)
            .await
            .map_err(gateway_error)?
            .result;
        Ok(TransactionReport {
            status: status(result.transaction_status),
            code: result.status_code,
            message: result.status_message,
        })
    }
}

/// The answers that carry a transaction: Pay, Reserve, Settle, Refund, Cancel.
trait TransactionAnswer {
    fn transaction(self) -> TransactionResult;
}

macro_rules! transaction_answers {
    ($($response:ty),*) => {
        $(impl TransactionAnswer for $response {
            fn transaction(self) -> TransactionResult {
                self.result
            }
        })*
    };
}

transaction_answers!(
    PayResponse,
    ReserveResponse,
    SettleResponse,
    RefundResponse,
    CancelResponse
);

impl FpsGateway {
    /// VerifySignature: did FPS sign `http_parameters` (a return's query, an IPN's body),
    /// received at exactly `end_point`?
    async fn verify(&self, end_point: &Url, http_parameters: &str) -> Result<bool, GatewayError> {
        let request = VerifySignature {
            url_end_point: end_point.as_str().to_owned(),
            http_parameters: http_parameters.to_owned(),
        };
        let response = self.client.call(&request).await.map_err(gateway_error)?;
        Ok(response.result.verification_status == VerificationStatus::Success)
    }

    /// Makes a call that answers with a transaction, in the port's words.
    async fn transaction_call<R>(&self, request: &R) -> Result<Accepted, GatewayError>
    where
        R: FpsRequest,
        R::Response: TransactionAnswer,
    {
        let answer = self
            .client
            .call(request)
            .await
            .map_err(gateway_error)
            .map(|response| response.transaction());
        let outcome = match &answer {
            Ok(result) => match status(result.transaction_status) {
                TransactionStatus::Success | TransactionStatus::Reserved => "Accepted",
                TransactionStatus::Pending => "Pending",
                TransactionStatus::Failure | TransactionStatus::Cancelled => "Declined",
            },
            Err(GatewayError::Refused { code, .. }) => {
                crate::telemetry::decline(code);
                "Refused"
            }
            Err(GatewayError::OutcomeUnknown(_)) => "OutcomeUnknown",
            Err(GatewayError::NotSent(_)) => "NotSent",
        };
        crate::telemetry::fps_call(R::ACTION, outcome);
        let result = answer?;
        Ok(Accepted {
            transaction_id: result.transaction_id,
            status: status(result.transaction_status),
        })
    }

    /// GetTokenByCaller with the order's CallerReference: the single-use token is spent once
    /// a Pay or Reserve used it (FPS reports it Inactive).
    async fn token_spent(&self, order_id: &str) -> Result<bool, GatewayError> {
        let request = GetTokenByCaller::CallerReference(order_id.to_owned());
        let result = self
            .client
            .call(&request)
            .await
            .map_err(gateway_error)?
            .result;
        Ok(result.token.token_status == TokenStatus::Inactive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fps_protocol::client::TransportError;
    use fps_protocol::xml::ResponseError;
    use fps_protocol::{ErrorCode, FpsError};

    fn rejected(code: &str, http_status: u16) -> CallError {
        CallError::Rejected(FpsError {
            code: ErrorCode::parse(code),
            message: "m".into(),
            request_id: None,
            http_status,
        })
    }

    fn garbled() -> TransportError {
        TransportError::Response(ResponseError::Invalid {
            http_status: 200,
            reason: "not XML".into(),
        })
    }

    #[test]
    fn every_call_failure_maps_to_one_outcome() {
        let refused = |e: GatewayError| match e {
            GatewayError::Refused { retry_later, .. } => Some(retry_later),
            _ => None,
        };
        // (failure, Some(retry_later) when refused, None when not a refusal)
        assert_eq!(
            refused(gateway_error(rejected("TransactionDenied", 400))),
            Some(false)
        );
        assert_eq!(
            refused(gateway_error(rejected("InsufficientBalance", 400))),
            Some(true)
        );
        assert!(matches!(
            gateway_error(rejected("InternalError", 500)),
            GatewayError::OutcomeUnknown(_)
        ));
        assert!(matches!(
            gateway_error(rejected("TransactionDenied", 503)),
            GatewayError::OutcomeUnknown(_)
        ));
        assert!(matches!(
            gateway_error(CallError::OutcomeUnknown {
                attempts: 1,
                source: garbled(),
            }),
            GatewayError::OutcomeUnknown(_)
        ));
        assert!(matches!(
            gateway_error(CallError::NotSent {
                attempts: 4,
                source: garbled(),
            }),
            GatewayError::NotSent(_)
        ));
    }

    #[test]
    fn a_refusal_for_a_used_token_says_so() {
        for (code, used) in [
            ("TokenUsageError", true),
            ("DuplicateRequest", true),
            ("TokenNotActive_Sender", true),
            ("TransactionDenied", false),
        ] {
            let GatewayError::Refused {
                authorization_used, ..
            } = gateway_error(rejected(code, 400))
            else {
                panic!("a refusal");
            };
            assert_eq!(authorization_used, used, "{code}");
        }
    }

    #[test]
    fn refusals_keep_fps_code_and_message() {
        let GatewayError::Refused { code, message, .. } =
            gateway_error(rejected("InvalidAccountState_Sender", 400))
        else {
            panic!("a refusal");
        };
        assert_eq!(code, "InvalidAccountState_Sender");
        assert_eq!(message, "m");
    }

    fn gateway() -> FpsGateway {
        let credentials = fps_protocol::signing::Credentials::new("AKID", "secret");
        let clock: std::sync::Arc<dyn fps_protocol::clock::Clock> =
            std::sync::Arc::new(fps_protocol::clock::SystemClock);
        let config = fps_protocol::ClientConfig::new(
            Url::parse("https://fps.test/").expect("url"),
            credentials,
        );
        FpsGateway::new(
            FpsClient::new(config, clock).expect("client"),
            Url::parse("https://cbui.test/pipeline").expect("url"),
        )
    }

    #[test]
    fn cbui_returns_read_as_the_shop_understands_them() {
        let signed = "&signature=c2ln&signatureVersion=2&signatureMethod=RSA-SHA1&certificateUrl=https%3A%2F%2Fcert.test%2F";
        let token = |t: &str| Some(t.to_owned());
        let cases: [(&str, Authorization); 6] = [
            (
                "status=SC&tokenID=T1",
                Authorization::Authorized {
                    token: token("T1"),
                    method: Some(PaymentMethod::CreditCard),
                },
            ),
            (
                "status=SA&tokenID=T2",
                Authorization::Authorized {
                    token: token("T2"),
                    method: Some(PaymentMethod::AmazonBalance),
                },
            ),
            (
                "status=SB",
                Authorization::Authorized {
                    token: None,
                    method: Some(PaymentMethod::BankAccount),
                },
            ),
            ("status=A", Authorization::Abandoned),
            (
                "status=NP&errorMessage=Sender+unverified",
                Authorization::Declined {
                    code: "NP".into(),
                    message: "Sender unverified".into(),
                },
            ),
            (
                "status=PE",
                Authorization::Declined {
                    code: "PE".into(),
                    message: "None of your payment methods can be used for this order.".into(),
                },
            ),
        ];
        let gateway = gateway();
        for (query, outcome) in cases {
            let raw = format!("{query}&callerReference=o-1{signed}");
            let ret = gateway.read_return(&raw).expect(query);
            assert_eq!(ret.outcome, outcome, "{query}");
            assert_eq!(ret.order_id.as_deref(), Some("o-1"));
            assert!(ret.signed, "{query}");
            assert_eq!(ret.raw_query, raw, "kept byte for byte");
        }
        let unsigned = gateway
            .read_return("status=SC&tokenID=T&callerReference=o-1")
            .expect("reads");
        assert!(!unsigned.signed);
        let anonymous = gateway.read_return("status=A").expect("reads");
        assert_eq!(anonymous.order_id, None);
        assert!(gateway.read_return("tokenID=T").is_err(), "no status");
        assert!(gateway.read_return("").is_err());
    }

    #[test]
    fn payment_reasons_fit_fps_limit() {
        assert_eq!(payment_reason("Acme: 1 × Mug"), "Acme: 1 × Mug");
        assert_eq!(payment_reason("a\nb"), "ab");
        let long = "x".repeat(200);
        let cut = payment_reason(&long);
        assert_eq!(cut.chars().count(), MAX_PAYMENT_REASON_LEN);
        assert!(cut.ends_with('…'));
    }
}
