//! The events the functions receive, built from the sample events in `infra/events/` (the same
//! files `cargo lambda invoke` and `sam local invoke` use).

use std::path::PathBuf;

use serde_json::{json, Map, Value};

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

pub fn load(name: &str) -> Result<Value, String> {
    let path = events_dir().join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `POST /checkout` with a two-line cart (the sample's form body).
pub fn checkout_form() -> Result<Value, String> {
    load("post-checkout-form.json")
}

/// The browser coming back from the CBUI with `query`, to the order's own return URL.
pub fn cbui_return(query: &str) -> Result<Value, String> {
    let mut event = load("get-return.json")?;
    let params: Map<String, Value> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    // The CBUI sends the buyer back to the order's own return URL (`…/return/<order id>`),
    // which is also the URL VerifySignature is asked with.
    if let Some(Value::String(order_id)) = params.get("callerReference") {
        let path = format!("/return/{order_id}");
        event["rawPath"] = Value::String(path.clone());
        event["routeKey"] = Value::String("GET /return/{orderId}".to_owned());
        event["requestContext"]["http"]["path"] = Value::String(path);
        event["requestContext"]["routeKey"] = Value::String("GET /return/{orderId}".to_owned());
        event["pathParameters"] = json!({ "orderId": order_id });
    }
    event["rawQueryString"] = Value::String(query.to_owned());
    event["queryStringParameters"] = Value::Object(params);
    Ok(event)
}

/// `OrderFulfilled` for one order (settle the whole reserve).
pub fn order_fulfilled(caller_reference: &str) -> Result<Value, String> {
    let mut event = load("order-fulfilled.json")?;
    event["detail"] = json!({ "callerReference": caller_reference });
    Ok(event)
}

/// The EventBridge schedule's event.
pub fn scheduled() -> Result<Value, String> {
    load("scheduled.json")
}
