//! Inbound SigV2 verification (§2) with the core crate's signing code, for API calls and CBUI
//! requests alike.

use axum::http::{header, HeaderMap};
use fps_protocol::signing::{self, SignatureMethod, SignatureParamNames};
use url::Url;

use crate::app::App;

/// Why a request's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    MissingKey,
    UnknownKey(String),
    BadVersion(Option<String>),
    BadMethod(Option<String>),
    MissingSignature,
    Mismatch,
}

/// Decision 7: the host as sent (lower-cased), the same without its port, and the public URL's
/// host with and without port (for a sandbox behind a proxy).
pub(crate) fn host_candidates(headers: &HeaderMap, public_url: &Url) -> Vec<String> {
    let mut hosts = Vec::new();
    let mut push = |h: String| {
        if !h.is_empty() && !hosts.contains(&h) {
            hosts.push(h);
        }
    };
    if let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase())
    {
        push(strip_port(&host).to_owned());
        push(host);
    }
    let public = signing::signing_host(public_url);
    push(strip_port(&public).to_owned());
    push(public);
    hosts
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find("]:") {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Checks a SigV2 signature over `verb`, one of the candidate hosts, `path` and every parameter
/// but the signature. Returns the caller's access key id.
pub(crate) fn verify_sigv2(
    app: &App,
    verb: &str,
    hosts: &[String],
    path: &str,
    params: &[(String, String)],
    names: SignatureParamNames,
) -> Result<String, AuthFailure> {
    let key_id = get(params, names.key_id).ok_or(AuthFailure::MissingKey)?;
    let credentials = app
        .callers
        .get(key_id)
        .ok_or_else(|| AuthFailure::UnknownKey(key_id.to_owned()))?;
    let version = get(params, names.version);
    if version != Some("2") {
        return Err(AuthFailure::BadVersion(version.map(str::to_owned)));
    }
    let method_text = get(params, names.method);
    let method = method_text
        .and_then(SignatureMethod::parse)
        .ok_or_else(|| AuthFailure::BadMethod(method_text.map(str::to_owned)))?;
    let signature = get(params, names.signature).ok_or(AuthFailure::MissingSignature)?;
    let query = signing::canonical_query(
        params
            .iter()
            .filter(|(n, _)| n != names.signature)
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let mut ok = false;
    for host in hosts {
        let sts = signing::string_to_sign(verb, host, path, &query);
        // Every candidate is checked (no early exit) so timing says nothing about which one.
        ok |= signing::verify(credentials.secret_key(), method, &sts, signature);
    }
    if ok {
        Ok(key_id.to_owned())
    } else {
        Err(AuthFailure::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ports() {
        assert_eq!(strip_port("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }

    #[test]
    fn candidates_cover_both_forms() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:4000".parse().unwrap());
        let hosts = host_candidates(&headers, &Url::parse("http://127.0.0.1:4000/").unwrap());
        assert_eq!(hosts, ["127.0.0.1", "127.0.0.1:4000"]);
    }
}
