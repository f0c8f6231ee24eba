//! AWS Signature Version 2, as FPS and the CBUI use it (protocol reference §2).
//!
//! This is the one implementation in the project: the client signs with it and the emulator
//! verifies with it.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 3986: everything but `A-Z a-z 0-9 - _ . ~` is escaped, with upper-case hex.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The same set, keeping `/` (for the path of the string to sign).
const RFC3986_PATH: &AsciiSet = &RFC3986.remove(b'/');

/// Percent-encodes one name or value exactly as SigV2 requires (space → `%20`, `~` literal).
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, RFC3986).to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureMethod {
    #[default]
    HmacSha256,
    HmacSha1,
}

impl SignatureMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HmacSha256 => "HmacSHA256",
            Self::HmacSha1 => "HmacSHA1",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "HmacSHA256" => Some(Self::HmacSha256),
            "HmacSHA1" => Some(Self::HmacSha1),
            _ => None,
        }
    }
}

impl fmt::Display for SignatureMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS access key pair. The secret never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_key: String,
}

impl Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_key: secret_key.into(),
        }
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Only the signer needs this; keep it out of format strings.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Sorted by name in byte order, each name and value RFC 3986 encoded, joined `k=v&k=v`.
/// The caller leaves the signature parameter out.
pub fn canonical_query<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut pairs: Vec<(&str, &str)> = params.into_iter().collect();
    // Byte order on names (upper case before lower case); values break ties so that the
    // result does not depend on input order when a name repeats.
    pairs.sort_unstable();
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&encode(name));
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

/// `VERB\nhost\n/path\ncanonical-query`, host lower-cased, path segments encoded, `/` kept.
pub fn string_to_sign(verb: &str, host: &str, path: &str, canonical_query: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let path = utf8_percent_encode(path, RFC3986_PATH);
    format!(
        "{}\n{}\n{}\n{}",
        verb.to_ascii_uppercase(),
        host.to_ascii_lowercase(),
        path,
        canonical_query
    )
}

fn mac_sha256(secret: &str, data: &str) -> Hmac<sha2::Sha256> {
    // HMAC takes keys of any length, so new_from_slice cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data.as_bytes());
    mac
}

fn mac_sha1(secret: &str, data: &str) -> Hmac<sha1::Sha1> {
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data.as_bytes());
    mac
}

/// Base64 (standard alphabet, padded) HMAC of the string to sign.
pub fn sign(secret_key: &str, method: SignatureMethod, string_to_sign: &str) -> String {
    let bytes = match method {
        SignatureMethod::HmacSha256 => mac_sha256(secret_key, string_to_sign)
            .finalize()
            .into_bytes()
            .to_vec(),
        SignatureMethod::HmacSha1 => mac_sha1(secret_key, string_to_sign)
            .finalize()
            .into_bytes()
            .to_vec(),
    };
    BASE64.encode(bytes)
}

/// Checks a Base64 signature in constant time (the MAC comparison does not stop early).
pub fn verify(
    secret_key: &str,
    method: SignatureMethod,
    string_to_sign: &str,
    signature_b64: &str,
) -> bool {
    let Ok(given) = BASE64.decode(signature_b64.trim()) else {
        return false;
    };
    match method {
        SignatureMethod::HmacSha256 => mac_sha256(secret_key, string_to_sign)
            .verify_slice(&given)
            .is_ok(),
        SignatureMethod::HmacSha1 => mac_sha1(secret_key, string_to_sign)
            .verify_slice(&given)
            .is_ok(),
    }
}

/// The `host[:port]` to sign for a URL: lower case, port only when it is not the scheme's
/// default (as Amazon's SDKs do).
pub fn signing_host(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Names of the parameters a signed request carries.
#[derive(Debug, Clone, Copy)]
pub struct SignatureParamNames {
    pub key_id: &'static str,
    pub method: &'static str,
    pub version: &'static str,
    pub signature: &'static str,
}

/// API calls use upper-camel names.
pub const API_PARAMS: SignatureParamNames = SignatureParamNames {
    key_id: "AWSAccessKeyId",
    method: "SignatureMethod",
    version: "SignatureVersion",
    signature: "Signature",
};

/// CBUI requests use lower-camel names.
pub const CBUI_PARAMS: SignatureParamNames = SignatureParamNames {
    key_id: "callerKey",
    method: "signatureMethod",
    version: "signatureVersion",
    signature: "signature",
};

/// Adds the key id, method and version parameters, then the signature over all of them.
pub fn sign_params(
    params: &mut Vec<(String, String)>,
    names: SignatureParamNames,
    credentials: &Credentials,
    method: SignatureMethod,
    verb: &str,
    host: &str,
    path: &str,
) {
    params.retain(|(name, _)| {
        name != names.signature
            && name != names.key_id
            && name != names.method
            && name != names.version
    });
    params.push((names.key_id.to_owned(), credentials.access_key_id.clone()));
    params.push((names.method.to_owned(), method.as_str().to_owned()));
    params.push((names.version.to_owned(), "2".to_owned()));
    let query = canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let signature = sign(
        credentials.secret_key(),
        method,
        &string_to_sign(verb, host, path, &query),
    );
    params.push((names.signature.to_owned(), signature));
}

/// Encodes parameters for the wire with the same RFC 3986 rule (safe for query and form body).
pub fn encode_params(params: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&encode(name));
        out.push('=');
        out.push_str(&encode(value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_exactly_rfc3986() {
        assert_eq!(encode("a b"), "a%20b");
        assert_eq!(encode("~-_."), "~-_.");
        assert_eq!(encode("a+b/c=d"), "a%2Bb%2Fc%3Dd");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode("*"), "%2A");
    }

    #[test]
    fn sorts_upper_case_before_lower_case() {
        let q = canonical_query([("b", "1"), ("B", "2"), ("a", "3")]);
        assert_eq!(q, "B=2&a=3&b=1");
    }

    #[test]
    fn empty_path_signs_as_slash() {
        assert_eq!(
            string_to_sign("get", "Example.COM", "", "x=1"),
            "GET\nexample.com\n/\nx=1"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials::new("AKID", "very-secret");
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn verify_rejects_garbage_without_panicking() {
        assert!(!verify(
            "k",
            SignatureMethod::HmacSha256,
            "s",
            "not base64!!"
        ));
        assert!(!verify("k", SignatureMethod::HmacSha1, "s", ""));
    }
}
