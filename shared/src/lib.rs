//! The core of the FPS checkout: everything that is not Lambda glue.
//!
//! - [`money`], [`catalog`]: amounts on `rust_decimal`; server-side cart pricing.
//! - [`order`]: the order and its legal state transitions (pure).
//! - [`fps`]: the FPS protocol (SigV2, CBUI, API model, client).
//! - [`store`]: the order store port and its DynamoDB adapter.
//! - [`gateway`]: the payment gateway port (FPS).
//! - [`checkout`], [`settle`]: the use cases, generic over the ports.
//! - [`clock`]: time as a port.

pub mod aws;
pub mod catalog;
pub mod checkout;
pub mod clock;
pub mod config;
pub mod fps;
pub mod gateway;
pub mod money;
pub mod order;
pub mod pages;
pub mod settle;
pub mod store;
pub mod wiring;
