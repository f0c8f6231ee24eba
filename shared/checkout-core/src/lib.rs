//! The merchant's checkout: domain, use cases, the ports they need, and the adapters that
//! plug AWS and FPS into those ports.
//!
//! - [`domain`]: money, catalog pricing, the order and its legal transitions (pure, no I/O).
//! - [`ports`]: what the use cases ask of the world, in the domain's words: the order store,
//!   the payment gateway, the clock.
//! - [`use_cases`]: `checkout` (start, complete a return) and `settle` (fulfilment, sweep),
//!   generic over the ports and unit-tested with in-memory fakes.
//! - [`adapters`]: DynamoDB store, in-memory store, the FPS gateway, the AWS SDK setup.
//! - [`web`]: the HTTP functions' shared layer: pages, responses, headers.
//! - [`config`], [`wiring`]: configuration from the environment; building it all at init.
//! - [`telemetry`]: the metrics the functions emit (CloudWatch embedded metric format).
//! - `testing` (feature `testing`, and this crate's own tests): a scripted gateway, a store
//!   that fails or races on cue, fixtures — for unit tests here and in the functions.
//!
//! The FPS wire protocol itself is the `fps-protocol` crate; only [`adapters::fps`] (and the
//! wiring that builds it) speaks it.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod ports;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod use_cases;
pub mod web;
pub mod wiring;
