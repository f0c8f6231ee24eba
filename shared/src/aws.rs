//! The AWS SDK configuration every adapter shares: the standard sources (environment, profile,
//! Lambda role), explicit timeouts, and an HTTPS client on rustls with ring — the same TLS
//! crypto reqwest uses, so each binary links one TLS library, not two.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// Loads the SDK configuration with `timeouts` (the SDK sets none by default). Honours
/// `AWS_ENDPOINT_URL_<SERVICE>` (moto locally). Makes no network call itself: credentials and
/// region are resolved lazily, on the first request.
pub async fn sdk_config(timeouts: TimeoutConfig) -> SdkConfig {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .timeout_config(timeouts)
        .load()
        .await
}
