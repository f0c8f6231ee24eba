//! Amazon Flexible Payments Service (API 2010-08-28) and its Co-Branded UI, as a merchant's
//! client and a local emulator both need them. Section and decision numbers in the docs refer
//! to the repository's protocol reference, `docs/protocol.md`.
//!
//! - [`money`]: FPS amounts (US dollars, cents, its limits).
//! - [`signing`]: Signature Version 2 for API calls and CBUI requests.
//! - [`cbui`]: the single-use pipeline request and the return URL.
//! - [`ipn`]: the Instant Payment Notifications FPS posts to the merchant.
//! - [`api`]: typed API requests; [`xml`]: typed responses and error bodies.
//! - [`error`]: the error code table and [`ErrorClass`]; [`retry`]: the client's resend policy.
//! - [`client`]: the HTTP client, explicit about what is known when a call fails.
//! - [`clock`]: time as a port (requests are stamped with it).
//!
//! No AWS SDK, no storage, no HTML.

pub mod api;
pub mod cbui;
pub mod client;
pub mod clock;
pub mod error;
pub mod ipn;
pub mod money;
pub mod retry;
pub mod signing;
pub mod xml;

pub use api::FpsRequest;
pub use client::{CallError, ClientConfig, FpsClient, HttpVerb};
pub use error::{ErrorClass, ErrorCode, FpsError};
pub use retry::RetryPolicy;
pub use xml::TransactionStatus;
