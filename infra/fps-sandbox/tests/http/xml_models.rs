//! Every answer the emulator writes parses back with the client's parser (one XML model per
//! action, shared).

use fps_protocol::xml::*;
use fps_sandbox::xml_body::{error_xml, to_xml};

fn meta() -> ResponseMetadata {
    ResponseMetadata {
        request_id: "c21e7735-9c08-4cd8-99bf-535a848c79b4:0".into(),
    }
}

fn tx(status: TransactionStatus) -> TransactionResult {
    TransactionResult {
        transaction_id: "14GK6BGKA7U6OU6SUTNLBI5SBBV9PGDJ6UL".into(),
        transaction_status: status,
    }
}

fn round_trip<R: FpsResponse + PartialEq + std::fmt::Debug>(value: R) {
    let xml = to_xml(&value).unwrap();
    let parsed: R = parse_response(200, &xml).unwrap_or_else(|e| panic!("{xml}: {e}"));
    assert_eq!(parsed, value, "{xml}");
}

#[test]
fn every_model_round_trips() {
    let ns = || Some(NAMESPACE_2010.to_owned());
    for status in [
        TransactionStatus::Cancelled,
        TransactionStatus::Failure,
        TransactionStatus::Pending,
        TransactionStatus::Reserved,
        TransactionStatus::Success,
    ] {
        round_trip(PayResponse {
            xmlns: ns(),
            result: tx(status),
            metadata: meta(),
        });
        round_trip(ReserveResponse {
            xmlns: ns(),
            result: tx(status),
            metadata: meta(),
        });
        round_trip(SettleResponse {
            xmlns: ns(),
            result: tx(status),
            metadata: meta(),
        });
        round_trip(RefundResponse {
            xmlns: ns(),
            result: tx(status),
            metadata: meta(),
        });
        round_trip(CancelResponse {
            xmlns: ns(),
            result: tx(status),
            metadata: meta(),
        });
    }
    round_trip(CancelTokenResponse {
        xmlns: ns(),
        metadata: meta(),
    });
    round_trip(GetTransactionStatusResponse {
        xmlns: Some(NAMESPACE_2008.to_owned()),
        result: TransactionStatusResult {
            transaction_id: "14GKE3B85HCMF1BTSH5C4PD2IHZL95RJ2LM".into(),
            transaction_status: TransactionStatus::Success,
            caller_reference: Some("CallerReference07 & <more>".into()),
            status_code: Some("Success".into()),
            status_message: Some("The transaction was successful.".into()),
        },
        metadata: meta(),
    });
    round_trip(GetTokenByCallerResponse {
        xmlns: ns(),
        result: TokenResult {
            token: Token {
                token_id: "A".repeat(64),
                friendly_name: None,
                token_status: TokenStatus::Inactive,
                date_installed: Some("2011-10-03T15:19:30Z".into()),
                caller_reference: Some("order-1".into()),
                token_type: Some("SingleUse".into()),
                old_token_id: None,
                payment_reason: Some("T-shirt \"blue\"".into()),
            },
        },
        metadata: meta(),
    });
    for status in [VerificationStatus::Success, VerificationStatus::Failure] {
        round_trip(VerifySignatureResponse {
            xmlns: ns(),
            result: VerificationResult {
                verification_status: status,
            },
            metadata: meta(),
        });
    }
    let error = error_xml(
        "InvalidParams",
        "a < b & c",
        "50ca0b2f-9435-4852-a889-89d144c07ff6",
    );
    match parse_response::<PayResponse>(400, &error) {
        Err(ResponseError::Fps(e)) => {
            assert_eq!(e.code.as_str(), "InvalidParams");
            assert_eq!(e.message, "a < b & c");
            assert_eq!(
                e.request_id.as_deref(),
                Some("50ca0b2f-9435-4852-a889-89d144c07ff6")
            );
        }
        other => panic!("{other:?}"),
    }
}
