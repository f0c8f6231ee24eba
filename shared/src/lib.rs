//! The core of the FPS checkout: everything that is not Lambda glue.
//!
//! - [`money`]: amounts on `rust_decimal`.
//! - [`fps`]: the FPS protocol (SigV2, CBUI, API model, client).
//! - [`clock`]: time as a port.

pub mod clock;
pub mod fps;
pub mod money;
