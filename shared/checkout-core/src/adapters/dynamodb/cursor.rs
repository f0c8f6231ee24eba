//! The opaque cursor of [`crate::ports::store::DuePage`]: for each shard of the `byDue` index,
//! where it resumes — from its start, after an index key (`callerReference`, `dueBucket`,
//! `dueAt`), or done — as JSON in URL-safe base64. Keyset paging: orders that leave the index
//! between pages (the sweep settled them) shift nothing.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::due::DueShards;
use super::item::{attr, parse_timestamp};
use crate::ports::store::StoreError;

const KEY_ATTRIBUTES: [&str; 3] = [attr::CALLER_REFERENCE, attr::DUE_BUCKET, attr::DUE_AT];

/// An index key: the ExclusiveStartKey of a shard's next Query.
pub type IndexKey = HashMap<String, AttributeValue>;

/// Where one shard of the due index resumes.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardPosition {
    Start,
    After(IndexKey),
    Done,
}

/// A cursor too long to have come from us is refused before decoding (about 200 bytes a shard).
const MAX_CURSOR_LEN: usize = 256 * DueShards::MAX as usize;

fn invalid(reason: impl std::fmt::Display) -> StoreError {
    // `StoreError` has no variant for bad input; `Corrupt` is the non-retryable one.
    StoreError::Corrupt {
        caller_reference: "(due-page cursor)".to_owned(),
        source: format!("malformed due-page cursor: {reason}").into(),
    }
}

/// The index key of an item (or a LastEvaluatedKey).
pub fn index_key(item: &HashMap<String, AttributeValue>) -> Result<IndexKey, StoreError> {
    KEY_ATTRIBUTES
        .iter()
        .map(|name| match item.get(*name) {
            Some(AttributeValue::S(value)) => {
                Ok(((*name).to_owned(), AttributeValue::S(value.clone())))
            }
            _ => Err(invalid(format!("index key has no string {name}"))),
        })
        .collect()
}

/// Encodes the shards' positions; `None` when every shard is done (the last page).
pub fn encode(positions: &[ShardPosition]) -> Result<Option<String>, StoreError> {
    if positions.iter().all(|p| *p == ShardPosition::Done) {
        return Ok(None);
    }
    let mut plain = Vec::with_capacity(positions.len());
    for position in positions {
        plain.push(match position {
            ShardPosition::Done => None,
            ShardPosition::Start => Some(BTreeMap::new()),
            ShardPosition::After(key) => {
                let mut fields = BTreeMap::new();
                for (name, value) in index_key(key)? {
                    if let AttributeValue::S(value) = value {
                        fields.insert(name, value);
                    }
                }
                Some(fields)
            }
        });
    }
    let json = serde_json::to_vec(&plain).map_err(|e| invalid(e.to_string()))?;
    Ok(Some(URL_SAFE_NO_PAD.encode(json)))
}

/// Decodes a cursor back into one position per shard, checking it is one of ours and was made
/// for this many shards.
pub fn decode(cursor: &str, shards: DueShards) -> Result<Vec<ShardPosition>, StoreError> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid("empty or too long"));
    }
    let json = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid("not base64"))?;
    let plain: Vec<Option<BTreeMap<String, String>>> =
        serde_json::from_slice(&json).map_err(|_| invalid("not a JSON list of shard positions"))?;
    if plain.len() != usize::from(shards.count()) {
        return Err(invalid(format!(
            "made for {} shards, the index has {}",
            plain.len(),
            shards.count()
        )));
    }
    let mut positions = Vec::with_capacity(plain.len());
    for (index, position) in (0_u16..).zip(plain) {
        positions.push(match position {
            None => ShardPosition::Done,
            Some(fields) if fields.is_empty() => ShardPosition::Start,
            Some(fields) => ShardPosition::After(key_of_shard(fields, index)?),
        });
    }
    Ok(positions)
}

fn key_of_shard(plain: BTreeMap<String, String>, shard: u16) -> Result<IndexKey, StoreError> {
    if plain.len() != KEY_ATTRIBUTES.len() || KEY_ATTRIBUTES.iter().any(|k| !plain.contains_key(*k))
    {
        return Err(invalid("wrong key attributes"));
    }
    let get = |name: &str| plain.get(name).map(String::as_str).unwrap_or_default();
    if get(attr::CALLER_REFERENCE).is_empty() {
        return Err(invalid("empty callerReference"));
    }
    if get(attr::DUE_BUCKET) != DueShards::bucket(shard) {
        return Err(invalid("dueBucket of another shard"));
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

    fn key(shard: u16) -> IndexKey {
        HashMap::from([
            (
                attr::CALLER_REFERENCE.to_owned(),
                AttributeValue::S("o-1".into()),
            ),
            (
                attr::DUE_BUCKET.to_owned(),
                AttributeValue::S(DueShards::bucket(shard)),
            ),
            (
                attr::DUE_AT.to_owned(),
                AttributeValue::S("2024-05-01T10:00:00.000000000Z".into()),
            ),
        ])
    }

    fn shards(n: u16) -> DueShards {
        DueShards::new(n).expect("a valid count")
    }

    #[test]
    fn round_trips() {
        let positions = vec![
            ShardPosition::After(key(0)),
            ShardPosition::Done,
            ShardPosition::Start,
            ShardPosition::After(key(3)),
        ];
        let cursor = encode(&positions).unwrap().expect("not the last page");
        assert!(cursor
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode(&cursor, shards(4)).unwrap(), positions);
        assert_eq!(encode(&vec![ShardPosition::Done; 3]).unwrap(), None);
    }

    #[test]
    fn malformed_cursors_are_errors() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let one = |s: &str| b64(&format!("[{s}]"));
        let bad = [
            String::new(),
            "not base64!".to_owned(),
            "A".repeat(MAX_CURSOR_LEN + 1),
            b64("[1,2]"),
            b64(r#"{"callerReference":"o","dueBucket":"due","dueAt":"2024-05-01T10:00:00Z"}"#),
            one("{\"callerReference\":\"o\"}"),
            one(r#"{"callerReference":"o","dueBucket":"due","dueAt":"soon"}"#),
            one(r#"{"callerReference":"o","dueBucket":"other","dueAt":"2024-05-01T10:00:00Z"}"#),
            one(r#"{"callerReference":"o","dueBucket":"due#1","dueAt":"2024-05-01T10:00:00Z"}"#),
            one(r#"{"callerReference":"","dueBucket":"due","dueAt":"2024-05-01T10:00:00Z"}"#),
            one(
                r#"{"callerReference":"o","dueBucket":"due","dueAt":"2024-05-01T10:00:00Z","x":"y"}"#,
            ),
            one(r#"{"callerReference":1,"dueBucket":"due","dueAt":"2024-05-01T10:00:00Z"}"#),
            // Made for two shards; the index has one.
            b64("[{},null]"),
        ];
        for cursor in bad {
            assert!(
                matches!(decode(&cursor, shards(1)), Err(StoreError::Corrupt { .. })),
                "{cursor:?}"
            );
        }
        let mut no_due = key(0);
        no_due.remove(attr::DUE_AT);
        assert!(encode(&[ShardPosition::After(no_due)]).is_err());
    }
}
