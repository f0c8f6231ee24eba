//! The emulator's outbound signature (decision 5, protocol reference §5.2): RSA-SHA1,
//! PKCS#1 v1.5, over `VERB\nhost[:port]\n/path\ncanonical-query` of the receiving URL, with a
//! development key whose certificate the emulator serves under `/certs/<id>/PKICert.pem`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use fps_protocol::signing;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use url::Url;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

/// Committed development key: public knowledge, development and tests only (see `keys/README.md`).
pub const DEV_KEY_PEM: &str = include_str!("../keys/dev-key.pem");
/// Self-signed certificate for [`DEV_KEY_PEM`].
pub const DEV_CERT_PEM: &str = include_str!("../keys/PKICert.pem");
/// The directory name in `certificateUrl` (`/certs/<id>/PKICert.pem`).
pub const DEV_CERT_ID: &str = "sandbox01";

pub const SIGNATURE_METHOD: &str = "RSA-SHA1";
pub const SIGNATURE_VERSION: &str = "2";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key: {0}")]
    Key(String),
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("the certificate does not hold the signing key's public key")]
    Mismatch,
}

/// Signs what the emulator sends (CBUI returns, IPNs) and checks it again for VerifySignature.
#[derive(Clone)]
pub struct OutboundSigner {
    signing: SigningKey<Sha1>,
    verifying: VerifyingKey<Sha1>,
    certificate_pem: String,
    certificate_id: String,
}

impl std::fmt::Debug for OutboundSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundSigner")
            .field("certificate_id", &self.certificate_id)
            .finish_non_exhaustive()
    }
}

impl OutboundSigner {
    /// The committed development key and certificate.
    pub fn development() -> Result<Self, KeyError> {
        Self::from_pem(DEV_KEY_PEM, DEV_CERT_PEM, DEV_CERT_ID)
    }

    /// A PKCS#8 private key and the X.509 certificate of its public key. Verification uses the
    /// certificate's key, i.e. exactly what `certificateUrl` serves.
    pub fn from_pem(key_pem: &str, cert_pem: &str, certificate_id: &str) -> Result<Self, KeyError> {
        let private =
            RsaPrivateKey::from_pkcs8_pem(key_pem).map_err(|e| KeyError::Key(e.to_string()))?;
        let cert =
            Certificate::from_pem(cert_pem).map_err(|e| KeyError::Certificate(e.to_string()))?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        let public = RsaPublicKey::from_public_key_der(&spki)
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        if public != private.to_public_key() {
            return Err(KeyError::Mismatch);
        }
        Ok(Self {
            signing: SigningKey::<Sha1>::new(private),
            verifying: VerifyingKey::<Sha1>::new(public),
            certificate_pem: cert_pem.to_owned(),
            certificate_id: certificate_id.to_owned(),
        })
    }

    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    pub fn certificate_id(&self) -> &str {
        &self.certificate_id
    }

    /// `<public-url>certs/<id>/PKICert.pem`.
    pub fn certificate_url(&self, public_url: &Url) -> String {
        let path = format!("certs/{}/PKICert.pem", self.certificate_id);
        public_url
            .join(&path)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| format!("{public_url}{path}"))
    }

    /// Base64 RSA-SHA1 signature of a string to sign.
    pub fn sign(&self, string_to_sign: &str) -> Result<String, KeyError> {
        let signature: Signature = self
            .signing
            .try_sign(string_to_sign.as_bytes())
            .map_err(|e| KeyError::Key(e.to_string()))?;
        Ok(BASE64.encode(signature.to_bytes()))
    }

    /// Checks a Base64 signature (line breaks inside the Base64 are tolerated, as FPS sent them).
    pub fn verify(&self, string_to_sign: &str, signature_b64: &str) -> bool {
        let compact: String = signature_b64
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let Ok(bytes) = BASE64.decode(compact) else {
            return false;
        };
        let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
            return false;
        };
        self.verifying
            .verify(string_to_sign.as_bytes(), &signature)
            .is_ok()
    }

    /// Appends `signatureVersion`, `signatureMethod`, `certificateUrl` and `signature` to
    /// `appended`, signing `existing` (the receiving URL's own query) + `appended` for `verb`
    /// on `target`'s host and path (§5.2).
    pub fn sign_outbound(
        &self,
        verb: &str,
        target: &Url,
        existing: &[(String, String)],
        appended: &mut Vec<(String, String)>,
        certificate_url: &str,
    ) -> Result<(), KeyError> {
        appended.retain(|(name, _)| {
            !matches!(
                name.as_str(),
                "signature" | "signatureVersion" | "signatureMethod" | "certificateUrl"
            )
        });
        appended.push(("signatureVersion".into(), SIGNATURE_VERSION.into()));
        appended.push(("signatureMethod".into(), SIGNATURE_METHOD.into()));
        appended.push(("certificateUrl".into(), certificate_url.to_owned()));
        let sts = outbound_string_to_sign(verb, target, existing.iter().chain(appended.iter()));
        let signature = self.sign(&sts)?;
        appended.push(("signature".into(), signature));
        Ok(())
    }
}

/// §5.2: `VERB\nlower(host[:port if not default])\n/path\ncanonical(params except signature)`.
pub fn outbound_string_to_sign<'a, I>(verb: &str, target: &Url, params: I) -> String
where
    I: IntoIterator<Item = &'a (String, String)>,
{
    let query = signing::canonical_query(
        params
            .into_iter()
            .filter(|(name, _)| name != "signature")
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    signing::string_to_sign(verb, &signing::signing_host(target), target.path(), &query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_key_matches_its_certificate_and_round_trips() {
        let signer = OutboundSigner::development().unwrap();
        let sig = signer.sign("GET\nexample.com\n/r\na=1").unwrap();
        assert!(signer.verify("GET\nexample.com\n/r\na=1", &sig));
        assert!(!signer.verify("GET\nexample.com\n/r\na=2", &sig));
        assert!(!signer.verify("GET\nexample.com\n/r\na=1", "garbage"));
        // FPS sometimes wrapped the Base64 at 76 characters.
        let wrapped = format!("{}\n{}", &sig[..76], &sig[76..]);
        assert!(signer.verify("GET\nexample.com\n/r\na=1", &wrapped));
    }

    #[test]
    fn a_foreign_certificate_is_refused() {
        let err = OutboundSigner::from_pem(DEV_KEY_PEM, "not a cert", "x");
        assert!(matches!(err, Err(KeyError::Certificate(_))));
    }
}
