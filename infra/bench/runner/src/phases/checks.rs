//! Checks on a function's answer, for the warm runs and the sweep.

use serde_json::Value;

use crate::stub::Answer;

pub(super) fn ok(answer: &Answer) -> Result<(), String> {
    if answer.ok {
        Ok(())
    } else {
        Err("the function reported an error".to_owned())
    }
}

pub(super) fn status(answer: &Answer, expected: u64) -> Result<(), String> {
    let body: Value = serde_json::from_str(&answer.body).map_err(|e| e.to_string())?;
    match body.get("statusCode").and_then(Value::as_u64) {
        Some(code) if code == expected => Ok(()),
        other => Err(format!("statusCode {other:?}, expected {expected}")),
    }
}

pub(super) fn contains(answer: &Answer, needle: &str) -> Result<(), String> {
    if answer.body.contains(needle) {
        Ok(())
    } else {
        Err(format!("the answer lacks {needle:?}"))
    }
}
