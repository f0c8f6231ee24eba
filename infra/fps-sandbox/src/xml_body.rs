//! The emulator's side of the XML models: writing answers as FPS wrote them. (The protocol
//! crate's models are shared with the client, which only reads them.)

use fps_protocol::xml::ErrorBody;
use serde::Serialize;

/// Writes a response body.
pub fn to_xml<T: Serialize>(value: &T) -> Result<String, quick_xml::SeError> {
    quick_xml::se::to_string(value)
}

/// Writes an error body with the XML declaration FPS put on them.
pub fn error_xml(code: &str, message: &str, request_id: &str) -> String {
    let body = to_xml(&ErrorBody::new(code, message, request_id)).unwrap_or_default();
    format!("<?xml version=\"1.0\"?>\n{body}")
}

/// Writes an error body in the WSDL's `<ErrorResponse>` shape (§6.11): `Type` is `Receiver`
/// for the service's own failures, `Sender` otherwise.
pub fn error_response_xml(code: &str, message: &str, request_id: &str, http_status: u16) -> String {
    use quick_xml::escape::escape;
    let kind = if http_status >= 500 {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>",
        fps_protocol::xml::NAMESPACE_2010,
        escape(code),
        escape(message),
        escape(request_id),
    )
}

#[cfg(test)]
mod tests {
    use fps_protocol::xml::{parse_response, PayResponse, ResponseError};

    #[test]
    fn the_wsdl_error_shape_reads_back_as_the_same_error() {
        let body = super::error_response_xml("TransactionDenied", "No <way> & no", "req-1", 400);
        match parse_response::<PayResponse>(400, &body) {
            Err(ResponseError::Fps(e)) => {
                assert_eq!(e.code.as_str(), "TransactionDenied");
                assert_eq!(e.message, "No <way> & no");
                assert_eq!(e.request_id.as_deref(), Some("req-1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(super::error_response_xml("InternalError", "x", "r", 500)
            .contains("<Type>Receiver</Type>"));
    }
}
