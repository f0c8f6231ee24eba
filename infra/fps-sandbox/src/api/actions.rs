//! The actions themselves: each request, once authenticated and checked, run against the
//! ledger and answered with the protocol crate's XML models (protocol §6).

use super::*;

fn metadata(request_id: &str) -> ResponseMetadata {
    ResponseMetadata {
        request_id: format!("{request_id}:0"),
    }
}

fn render<T: Serialize>(value: &T) -> Result<String, ApiError> {
    crate::xml_body::to_xml(value)
        .map_err(|e| ApiError::internal(format!("could not write XML: {e}")))
}

fn transaction_result(outcome: Outcome) -> TransactionResult {
    TransactionResult {
        transaction_id: outcome.transaction_id,
        transaction_status: outcome.status,
    }
}

pub(super) fn run_action(
    app: &Arc<App>,
    action: &str,
    caller: Option<&str>,
    request: &Request<'_>,
    namespace: &str,
    request_id: &str,
) -> Result<String, ApiError> {
    let xmlns = Some(namespace.to_owned());
    if action == "VerifySignature" {
        let status = verify_signature(app, request)?;
        return render(&VerifySignatureResponse {
            xmlns,
            result: VerificationResult {
                verification_status: status,
            },
            metadata: metadata(request_id),
        });
    }
    let caller = caller.ok_or_else(|| ApiError::internal("unauthenticated request"))?;
    let delay = app.pending_delay;
    match action {
        "Pay" | "Reserve" => {
            let operation = if action == "Pay" {
                Operation::Pay
            } else {
                Operation::Reserve
            };
            let token = request.require("SenderTokenId")?;
            if !ids::is_token_id_shaped(token) {
                return Err(ApiError::invalid_params(format!(
                    "SenderTokenId has to be a valid token ID. Specified value: {token}"
                )));
            }
            let amount = request
                .amount("TransactionAmount", true)?
                .ok_or_else(|| ApiError::missing("TransactionAmount.Value"))?;
            let charge = ChargeRequest {
                caller_key: caller.to_owned(),
                operation,
                sender_token_id: token.to_owned(),
                amount,
                currency: CURRENCY_CODE.to_owned(),
                caller_reference: request.caller_reference()?,
                caller_description: request.text("CallerDescription", MAX_DESCRIPTION_LEN)?,
                sender_description: request.text("SenderDescription", MAX_DESCRIPTION_LEN)?,
                override_ipn_url: request.url("OverrideIPNURL")?,
            };
            let outcome = app.with_ledger(|l, now| l.charge(now, delay, charge))?;
            let result = transaction_result(outcome);
            let metadata = metadata(request_id);
            if operation == Operation::Pay {
                render(&PayResponse {
                    xmlns,
                    result,
                    metadata,
                })
            } else {
                render(&ReserveResponse {
                    xmlns,
                    result,
                    metadata,
                })
            }
        }
        "Settle" => {
            let id = request.require("ReserveTransactionId")?;
            let amount = request.amount("TransactionAmount", false)?;
            let ipn = request.url("OverrideIPNURL")?;
            let outcome =
                app.with_ledger(|l, now| l.settle(now, delay, caller, id, amount, ipn))?;
            render(&SettleResponse {
                xmlns,
                result: transaction_result(outcome),
                metadata: metadata(request_id),
            })
        }
        "Refund" => {
            let refund = RefundRequest {
                caller_key: caller.to_owned(),
                transaction_id: request.require("TransactionId")?.to_owned(),
                caller_reference: request.caller_reference()?,
                amount: request.amount("RefundAmount", false)?,
                caller_description: request.text("CallerDescription", MAX_DESCRIPTION_LEN)?,
                override_ipn_url: request.url("OverrideIPNURL")?,
            };
            let outcome = app.with_ledger(|l, now| l.refund(now, delay, refund))?;
            render(&RefundResponse {
                xmlns,
                result: transaction_result(outcome),
                metadata: metadata(request_id),
            })
        }
        "Cancel" => {
            let id = request.require("TransactionId")?;
            request.text("Description", MAX_DESCRIPTION_LEN)?;
            let ipn = request.url("OverrideIPNURL")?;
            let outcome = app.with_ledger(|l, now| l.cancel(now, caller, id, ipn))?;
            render(&CancelResponse {
                xmlns,
                result: transaction_result(outcome),
                metadata: metadata(request_id),
            })
        }
        "CancelToken" => {
            let id = request.require("TokenId")?;
            let reason = request.text("ReasonText", MAX_DESCRIPTION_LEN)?;
            let ipn = request.url("OverrideIPNURL")?;
            app.with_ledger(|l, now| l.cancel_token(now, caller, id, reason.as_deref(), ipn))?;
            render(&CancelTokenResponse {
                xmlns,
                metadata: metadata(request_id),
            })
        }
        "GetTransactionStatus" => {
            let id = request.require("TransactionId")?;
            let result = app.with_ledger(|l, _| {
                l.transaction_status(caller, id)
                    .map(|tx| TransactionStatusResult {
                        transaction_id: tx.transaction_id.clone(),
                        transaction_status: tx.status,
                        caller_reference: Some(tx.caller_reference.clone()),
                        status_code: Some(tx.status_code.clone()),
                        status_message: Some(tx.status_message.clone()),
                    })
            })?;
            render(&GetTransactionStatusResponse {
                xmlns,
                result,
                metadata: metadata(request_id),
            })
        }
        "GetTokenByCaller" => {
            let reference = request.get("CallerReference");
            let token_id = request.get("TokenId");
            let token = app.with_ledger(|l, now| {
                l.token_by_caller(caller, reference, token_id)
                    .map(|t| xml::Token {
                        token_id: t.token_id.clone(),
                        friendly_name: None,
                        token_status: if t.state(now) == TokenState::Active {
                            TokenStatus::Active
                        } else {
                            TokenStatus::Inactive
                        },
                        date_installed: Some(fps_timestamp(t.installed_at)),
                        caller_reference: Some(t.caller_reference.clone()),
                        token_type: Some("SingleUse".to_owned()),
                        old_token_id: None,
                        payment_reason: t.payment_reason.clone(),
                    })
            })?;
            render(&GetTokenByCallerResponse {
                xmlns,
                result: TokenResult { token },
                metadata: metadata(request_id),
            })
        }
        other => Err(ApiError::other(
            "InvalidAction",
            format!("The action {other} is not valid for this web service."),
        )),
    }
}

/// §5.1 / §5.2: recompute the RSA-SHA1 check over `UrlEndPoint` and `HttpParameters` exactly
/// as given. Return URLs are signed with GET and IPNs with POST; either verb is accepted.
fn verify_signature(app: &App, request: &Request<'_>) -> Result<VerificationStatus, ApiError> {
    let end_point = request.require("UrlEndPoint")?;
    let Some(http_parameters) = request.get("HttpParameters") else {
        return Err(ApiError::missing("HttpParameters"));
    };
    let Ok(received) = parse_query(http_parameters) else {
        return Ok(VerificationStatus::Failure);
    };
    let get = |name: &str| {
        received
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if get("certificateUrl").is_none() {
        return Err(ApiError::invalid_params(
            "certificateUrl is missing in 'HttpParameters'.",
        ));
    }
    let url = Url::parse(end_point).map_err(|_| {
        ApiError::invalid_params(format!(
            "UrlEndPoint has to be an absolute URL. Specified value: {end_point}"
        ))
    })?;
    if end_point.contains(['?', '#']) {
        return Ok(VerificationStatus::Failure);
    }
    let (Some(signature), Some("RSA-SHA1"), Some("2")) = (
        get("signature"),
        get("signatureMethod"),
        get("signatureVersion"),
    ) else {
        return Ok(VerificationStatus::Failure);
    };
    // Signed by this FPS's key, so it must name this FPS's certificate: a return or IPN that
    // points its verifier at another host is not ours.
    if get("certificateUrl") != Some(app.certificate_url().as_str()) {
        return Ok(VerificationStatus::Failure);
    }
    // The verb the data was sent with (§5.2): IPNs (which carry `notificationType`) are
    // POSTed, returns are GET. Only that one is tried.
    let verb = if get("notificationType").is_some() {
        "POST"
    } else {
        "GET"
    };
    let sts = outbound_string_to_sign(verb, &url, received.iter());
    let ok = app.signer.verify(&sts, signature);
    Ok(if ok {
        VerificationStatus::Success
    } else {
        VerificationStatus::Failure
    })
}
