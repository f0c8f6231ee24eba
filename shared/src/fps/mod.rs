//! Talking FPS: signing, the CBUI, the API model and the client.

pub mod api;
pub mod cbui;
pub mod client;
pub mod error;
pub mod signing;
pub mod xml;

pub use api::FpsRequest;
pub use client::{CallError, ClientConfig, FpsClient, HttpVerb};
pub use error::{ErrorCode, FpsError};
pub use xml::TransactionStatus;
