//! Each action's interface: the parameter names FPS accepted for it (protocol §6). Real FPS
//! refused a request carrying any other name ("doesn't conform to the interface
//! specification"), so a renamed or misspelt field fails here, locally, and not in production.
//! Names the emulator does not act on (marketplace fees, descriptors) are still accepted: they
//! were part of the interface.

use crate::error::ApiError;

/// Sent with every request: authentication, time, version (§2.2).
const COMMON: &[&str] = &[
    "Action",
    "AWSAccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "Timestamp",
    "Expires",
    "Version",
];

/// Pay and Reserve take the same parameters (§6.2, §6.3).
const CHARGE: &[&str] = &[
    "SenderTokenId",
    "TransactionAmount.Value",
    "TransactionAmount.CurrencyCode",
    "CallerReference",
    "ChargeFeeTo",
    "CallerDescription",
    "SenderDescription",
    "DescriptorPolicy.SoftDescriptorType",
    "DescriptorPolicy.CSOwner",
    "TransactionTimeoutInMins",
    "OverrideIPNURL",
    "RecipientTokenId",
    "MarketplaceFixedFee.Value",
    "MarketplaceFixedFee.CurrencyCode",
    "MarketplaceVariableFee",
];

/// The parameters `action` accepts besides the common ones; `None` for an unknown action.
pub fn parameters(action: &str) -> Option<&'static [&'static str]> {
    Some(match action {
        "Pay" | "Reserve" => CHARGE,
        "Settle" => &[
            "ReserveTransactionId",
            "TransactionAmount.Value",
            "TransactionAmount.CurrencyCode",
            "OverrideIPNURL",
        ],
        "Refund" => &[
            "TransactionId",
            "CallerReference",
            "RefundAmount.Value",
            "RefundAmount.CurrencyCode",
            "CallerDescription",
            "MarketplaceRefundPolicy",
            "OverrideIPNURL",
        ],
        "Cancel" => &["TransactionId", "Description", "OverrideIPNURL"],
        "CancelToken" => &["TokenId", "ReasonText", "OverrideIPNURL"],
        "GetTransactionStatus" => &["TransactionId"],
        "GetTokenByCaller" => &["CallerReference", "TokenId"],
        "VerifySignature" => &["UrlEndPoint", "HttpParameters"],
        _ => return None,
    })
}

/// Refuses the first parameter that is not part of `action`'s interface (`InvalidRequest`,
/// HTTP 400; nothing is processed).
pub fn check(action: &str, params: &[(String, String)]) -> Result<(), ApiError> {
    let accepted = parameters(action).unwrap_or(&[]);
    match params
        .iter()
        .map(|(name, _)| name.as_str())
        .find(|name| !COMMON.contains(name) && !accepted.contains(name))
    {
        None => Ok(()),
        Some(name) => Err(ApiError::other(
            "InvalidRequest",
            format!(
                "The request doesn't conform to the interface specification in the WSDL. \
                 Element/Parameter {name} is not valid for the action {action}."
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), "x".to_owned()))
            .collect()
    }

    #[test]
    fn every_action_the_api_serves_has_an_interface() {
        for action in super::super::ACTIONS {
            assert!(parameters(action).is_some(), "{action}");
        }
        assert_eq!(parameters("Bogus"), None);
    }

    #[test]
    fn documented_names_pass_and_anything_else_is_named_in_the_refusal() {
        let mut pay = params(COMMON);
        pay.extend(params(&[
            "SenderTokenId",
            "TransactionAmount.Value",
            "TransactionAmount.CurrencyCode",
            "CallerReference",
            "OverrideIPNURL",
        ]));
        assert_eq!(check("Pay", &pay), Ok(()));
        assert_eq!(check("Reserve", &pay), Ok(()));
        for (action, stray) in [
            ("Pay", "TransactionAmount"),
            ("Pay", "CallerRefrence"),
            ("Pay", "ReserveTransactionId"),
            ("Settle", "CallerReference"),
            ("GetTransactionStatus", "CallerReference"),
            ("VerifySignature", "Signature.Value"),
            ("Refund", "TransactionAmount.Value"),
        ] {
            let mut with_stray = params(&["Action", "Version"]);
            with_stray.push((stray.to_owned(), "1".to_owned()));
            let refused = check(action, &with_stray).expect_err(stray);
            assert_eq!(refused.code.as_str(), "InvalidRequest", "{action} {stray}");
            assert_eq!(refused.http_status(), 400);
            assert!(refused.message.contains(stray), "{}", refused.message);
        }
    }
}
