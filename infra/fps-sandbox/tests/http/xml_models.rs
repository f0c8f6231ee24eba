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

/// Every element path (`PayResponse/PayResult/TransactionId`), namespaces and text ignored.
fn element_paths(xml: &str) -> std::collections::BTreeSet<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut stack, mut paths) = (Vec::<String>::new(), std::collections::BTreeSet::new());
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                stack.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                paths.insert(stack.join("/"));
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                paths.insert(format!("{}/{name}", stack.join("/")));
            }
            Ok(Event::End(_)) => {
                stack.pop();
            }
            Ok(Event::Eof) => return paths,
            Err(e) => panic!("{e}: {xml}"),
            _ => {}
        }
    }
}

fn sample(name: &str) -> String {
    let path = format!(
        "{}/../../shared/fps-protocol/tests/fixtures/xml/{name}.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Issue 17 (5): the emulator writes its answers with the client's own models, so a wrong
/// element name on both sides would pass the round trips above. Its answers must have the
/// verbatim samples' element structure, element for element.
#[test]
fn answers_have_the_element_structure_of_the_verbatim_samples() {
    let ns = || Some(NAMESPACE_2008.to_owned());
    let status = TransactionStatus::Pending;
    let cases: Vec<(&str, String)> = vec![
        (
            "pay_2008",
            to_xml(&PayResponse {
                xmlns: ns(),
                result: tx(status),
                metadata: meta(),
            })
            .unwrap(),
        ),
        (
            "reserve_2008",
            to_xml(&ReserveResponse {
                xmlns: ns(),
                result: tx(status),
                metadata: meta(),
            })
            .unwrap(),
        ),
        (
            "settle_2008",
            to_xml(&SettleResponse {
                xmlns: ns(),
                result: tx(status),
                metadata: meta(),
            })
            .unwrap(),
        ),
        (
            "refund_2008",
            to_xml(&RefundResponse {
                xmlns: ns(),
                result: tx(status),
                metadata: meta(),
            })
            .unwrap(),
        ),
        (
            "cancel_2008",
            to_xml(&CancelResponse {
                xmlns: ns(),
                result: tx(status),
                metadata: meta(),
            })
            .unwrap(),
        ),
        (
            "cancel_token_2008",
            to_xml(&CancelTokenResponse {
                xmlns: ns(),
                metadata: meta(),
            })
            .unwrap(),
        ),
        (
            "get_transaction_status_2008",
            to_xml(&GetTransactionStatusResponse {
                xmlns: ns(),
                result: TransactionStatusResult {
                    transaction_id: "14GKE3B85HCMF1BTSH5C4PD2IHZL95RJ2LM".into(),
                    transaction_status: TransactionStatus::Success,
                    caller_reference: Some("CallerReference07".into()),
                    status_code: Some("Success".into()),
                    status_message: Some("The transaction was successful.".into()),
                },
                metadata: meta(),
            })
            .unwrap(),
        ),
        (
            "verify_signature_2008",
            to_xml(&VerifySignatureResponse {
                xmlns: ns(),
                result: VerificationResult {
                    verification_status: VerificationStatus::Success,
                },
                metadata: meta(),
            })
            .unwrap(),
        ),
        (
            "error_invalid_params",
            error_xml("InvalidParams", "m", "50ca0b2f"),
        ),
    ];
    for (name, written) in cases {
        assert_eq!(
            element_paths(&written),
            element_paths(&sample(name)),
            "{name}: the emulator wrote\n{written}"
        );
    }
}
