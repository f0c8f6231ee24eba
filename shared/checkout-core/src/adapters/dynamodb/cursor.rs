//! The opaque cursor of [`crate::ports::store::DuePage`]: the `byDue` index key of the last order
//! handed out (`callerReference`, `dueBucket`, `dueAt`), as JSON in URL-safe base64. Keyset
//! paging: orders that leave the index between pages (the sweep settled them) shift nothing.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::item::{attr, parse_timestamp, DUE_BUCKET};
use crate::ports::store::StoreError;

const KEY_ATTRIBUTES: [&str; 3] = [attr::CALLER_REFERENCE, attr::DUE_BUCKET, attr::DUE_AT];

/// A cursor too long to have come from us is refused before decoding.
const MAX_CURSOR_LEN: usize = 2048;

fn invalid(reason: impl std::fmt::Display) -> StoreError {
    // `StoreError` has no variant for bad input; `Corrupt` is the non-retryable one.
    StoreError::Corrupt {
        caller_reference: "(due-page cursor)".to_owned(),
        source: format!("malformed due-page cursor: {reason}").into(),
    }
}

/// Encodes an index key (LastEvaluatedKey, or the key of the last order on the page).
pub fn encode(key: &HashMap<String, AttributeValue>) -> Result<String, StoreError> {
    let mut plain = BTreeMap::new();
    for name in KEY_ATTRIBUTES {
        match key.get(name) {
            Some(AttributeValue::S(value)) => {
                plain.insert(name, value.as_str());
            }
            _ => return Err(invalid(format!("index key has no string {name}"))),
        }
    }
    let json = serde_json::to_vec(&plain).map_err(|e| invalid(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// Decodes a cursor back into an ExclusiveStartKey, checking it is one of ours.
pub fn decode(cursor: &str) -> Result<HashMap<String, AttributeValue>, StoreError> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid("empty or too long"));
    }
    let json = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid("not base64"))?;
    let plain: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| invalid("not a JSON object of strings"))?;
    if plain.len() != KEY_ATTRIBUTES.len() || KEY_ATTRIBUTES.iter().any(|k| !plain.contains_key(*k))
    {
        return Err(invalid("wrong key attributes"));
    }
    let get = |name: &str| plain.get(name).map(String::as_str).unwrap_or_default();
    if get(attr::CALLER_REFERENCE).is_empty() {
        return Err(invalid("empty callerReference"));
    }
    if get(attr::DUE_BUCKET) != DUE_BUCKET {
        return Err(invalid("unknown dueBucket"));
    }
    parse_timestamp(get(attr::DUE_AT)).map_err(invalid)?;
    Ok(plain
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                attr::CALLER_REFERENCE.to_owned(),
                AttributeValue::S("o-1".into()),
            ),
            (
                attr::DUE_BUCKET.to_owned(),
                AttributeValue::S(DUE_BUCKET.into()),
            ),
            (
                attr::DUE_AT.to_owned(),
                AttributeValue::S("2024-05-01T10:00:00.000000000Z".into()),
            ),
        ])
    }

    #[test]
    fn round_trips() {
        let cursor = encode(&key()).unwrap();
        assert!(cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode(&cursor).unwrap(), key());
    }

    #[test]
    fn malformed_cursors_are_errors() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let bad = [
            String::new(),
            "not base64!".to_owned(),
            "A".repeat(5000),
            b64("[1,2]"),
            b64("{\"callerReference\":\"o\"}"),
            b64(r#"{"callerReference":"o","dueBucket":"due","dueAt":"soon"}"#),
            b64(r#"{"callerReference":"o","dueBucket":"other","dueAt":"2024-05-01T10:00:00Z"}"#),
            b64(r#"{"callerReference":"","dueBucket":"due","dueAt":"2024-05-01T10:00:00Z"}"#),
            b64(
                r#"{"callerReference":"o","dueBucket":"due","dueAt":"2024-05-01T10:00:00Z","x":"y"}"#,
            ),
            b64(r#"{"callerReference":1,"dueBucket":"due","dueAt":"2024-05-01T10:00:00Z"}"#),
        ];
        for cursor in bad {
            assert!(
                matches!(decode(&cursor), Err(StoreError::Corrupt { .. })),
                "{cursor:?}"
            );
        }
        let mut no_due = key();
        no_due.remove(attr::DUE_AT);
        assert!(encode(&no_due).is_err());
    }
}
