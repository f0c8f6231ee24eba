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
