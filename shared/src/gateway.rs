//! The payment gateway port: the four things the use cases ask of FPS. [`FpsClient`] implements
//! it over HTTP; unit tests use a fake.

use std::future::Future;

use crate::fps::api::{GetTransactionStatus, Pay, Reserve, Settle, VerifySignature};
use crate::fps::xml::{TransactionResult, TransactionStatusResult, VerificationStatus};
use crate::fps::{CallError, FpsClient};
use crate::money::Amount;
use crate::order::PaymentAction;

/// A charge to make with a buyer's single-use token.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge<'a> {
    pub action: PaymentAction,
    pub token_id: &'a str,
    pub amount: Amount,
    pub caller_reference: &'a str,
    pub description: Option<String>,
}

pub trait PaymentGateway: Send + Sync {
    /// Did FPS sign this return? (`VerifySignature` with the exact endpoint and raw query.)
    fn verify_return(
        &self,
        url_end_point: &str,
        raw_query: &str,
    ) -> impl Future<Output = Result<bool, CallError>> + Send;

    /// Pay or Reserve.
    fn charge(
        &self,
        charge: Charge<'_>,
    ) -> impl Future<Output = Result<TransactionResult, CallError>> + Send;

    fn settle(
        &self,
        reserve_transaction_id: &str,
        amount: Option<Amount>,
    ) -> impl Future<Output = Result<TransactionResult, CallError>> + Send;

    fn transaction_status(
        &self,
        transaction_id: &str,
    ) -> impl Future<Output = Result<TransactionStatusResult, CallError>> + Send;
}

impl PaymentGateway for FpsClient {
    async fn verify_return(&self, url_end_point: &str, raw_query: &str) -> Result<bool, CallError> {
        let request = VerifySignature {
            url_end_point: url_end_point.to_owned(),
            http_parameters: raw_query.to_owned(),
        };
        let response = self.call(&request).await?;
        Ok(response.result.verification_status == VerificationStatus::Success)
    }

    async fn charge(&self, charge: Charge<'_>) -> Result<TransactionResult, CallError> {
        match charge.action {
            PaymentAction::Pay => {
                let request = Pay {
                    sender_token_id: charge.token_id.to_owned(),
                    amount: charge.amount,
                    caller_reference: charge.caller_reference.to_owned(),
                    caller_description: charge.description,
                    sender_description: None,
                    override_ipn_url: None,
                };
                Ok(self.call(&request).await?.result)
            }
            PaymentAction::Reserve => {
                let request = Reserve {
                    sender_token_id: charge.token_id.to_owned(),
                    amount: charge.amount,
                    caller_reference: charge.caller_reference.to_owned(),
                    caller_description: charge.description,
                    sender_description: None,
                    override_ipn_url: None,
                };
                Ok(self.call(&request).await?.result)
            }
        }
    }

    async fn settle(
        &self,
        reserve_transaction_id: &str,
        amount: Option<Amount>,
    ) -> Result<TransactionResult, CallError> {
        let request = Settle {
            reserve_transaction_id: reserve_transaction_id.to_owned(),
            amount,
            override_ipn_url: None,
        };
        Ok(self.call(&request).await?.result)
    }

    async fn transaction_status(
        &self,
        transaction_id: &str,
    ) -> Result<TransactionStatusResult, CallError> {
        let request = GetTransactionStatus {
            transaction_id: transaction_id.to_owned(),
        };
        Ok(self.call(&request).await?.result)
    }
}
