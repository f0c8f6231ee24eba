//! The AWS SDK configuration every adapter shares: the standard sources (environment, profile,
//! Lambda role), explicit timeouts, and an HTTPS client on rustls with ring — the same TLS
//! crypto reqwest uses, so each binary links one TLS library, not two.
//!
//! The client trusts the Amazon Trust Services roots only (`shared/certs/`), which every AWS
//! service endpoint chains to, instead of the platform's whole store: reading and parsing the
//! system's ~140–400 certificates at every cold start took ~8 ms, most of our init (see the
//! README's benchmark), and no other root should vouch for DynamoDB or Secrets Manager.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext, TrustStore};

/// Amazon Root CA 1–4 and Starfield Services Root G2 (PEM).
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../../certs/amazon-trust-services.pem");

/// Loads the SDK configuration with `timeouts` (the SDK sets none by default). Honours
/// `AWS_ENDPOINT_URL_<SERVICE>` (moto locally). Makes no network call itself: credentials and
/// region are resolved lazily, on the first request.
pub async fn sdk_config(timeouts: TimeoutConfig) -> SdkConfig {
    let mut https =
        aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring));
    if let Ok(tls) = amazon_tls_context() {
        https = https.tls_context(tls);
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https.build_https())
        .timeout_config(timeouts)
        // Lambda gives every function its role's credentials in these variables (and `make
        // dev`/tests set them for moto): reading only them skips building the default chain
        // (profiles, SSO, STS web identity, ECS, IMDS) at every cold start.
        .credentials_provider(EnvironmentVariableCredentialsProvider::new());
    if let Some(region) = ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    {
        loader = loader.region(Region::new(region));
    }
    loader.load().await
}

/// The configuration for a person's tool (`checkout-admin`): the same client and timeouts,
/// with the SDK's whole credentials chain (environment, profile, web identity, container,
/// instance), since an operator's credentials rarely come from the environment alone.
pub async fn operator_sdk_config(timeouts: TimeoutConfig) -> SdkConfig {
    let mut https =
        aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring));
    if let Ok(tls) = amazon_tls_context() {
        https = https.tls_context(tls);
    }
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https.build_https())
        .timeout_config(timeouts)
        .load()
        .await
}

/// `BENCH_TRUST_ROOT_PEM`: a PEM file whose root the functions also trust. Only `make bench`
/// sets it, to put TLS with its own development CA in front of moto and the emulator; a
/// deployed function never has it.
pub const BENCH_TRUST_ROOT_VARIABLE: &str = "BENCH_TRUST_ROOT_PEM";

/// The bench's extra root, when `BENCH_TRUST_ROOT_PEM` names a readable file.
pub fn bench_trust_root() -> Option<Vec<u8>> {
    let path = std::env::var_os(BENCH_TRUST_ROOT_VARIABLE)?;
    std::fs::read(path).ok()
}

/// TLS trusting only [`AMAZON_TRUST_SERVICES_ROOTS`] (and the bench's root when it is set).
pub fn amazon_tls_context() -> Result<TlsContext, aws_smithy_http_client::HttpClientError> {
    let mut roots = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes());
    if let Some(pem) = bench_trust_root() {
        roots = roots.with_pem_certificate(pem);
    }
    TlsContext::builder().with_trust_store(roots).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_holds_the_five_amazon_trust_services_roots() {
        use base64::Engine as _;
        let ders: Vec<Vec<u8>> = AMAZON_TRUST_SERVICES_ROOTS
            .split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|block| {
                let body: String = block
                    .split("-----END CERTIFICATE-----")
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .expect("base64 certificate")
            })
            .collect();
        let names = [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ];
        assert_eq!(ders.len(), names.len());
        for (der, name) in ders.iter().zip(names) {
            assert_eq!(der[0], 0x30, "{name}: a DER SEQUENCE");
            assert!(
                der.windows(name.len()).any(|w| w == name.as_bytes()),
                "{name} is not the subject of the certificate in its place"
            );
        }
        amazon_tls_context().expect("a TLS context from the bundled roots");
    }
}
