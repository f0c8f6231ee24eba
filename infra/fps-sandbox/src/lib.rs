//! A local, stateful emulator of Amazon FPS (API 2010-08-28) and its Co-Branded UI, for
//! development, tests and demos. See `README.md` in this crate for the HTTP surface; "§N" and
//! "decision N" in comments refer to the protocol reference, `docs/protocol.md`.
//!
//! In-process use (tests):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fps_sandbox::{Sandbox, SandboxConfig, Persona, Decision};
//! let sandbox = Sandbox::start(SandboxConfig::for_tests()).await?;
//! let fps = sandbox.fps_client()?;            // fps_protocol's FpsClient, on the emulator clock
//! let control = sandbox.control();            // ledger, clock, faults, reset, the CBUI buyer
//! # let request: fps_protocol::cbui::SingleUseRequest = todo!();
//! let cbui = sandbox.single_use_url(&request)?;
//! let back = control.authorize(&cbui, Persona::Card, Decision::Authorize).await?;
//! let ledger = control.ledger().await?;
//! assert_eq!(ledger.requests("order-1", "Pay"), 0);
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod app;
mod auth;
mod cbui;
mod client;
mod config;
mod control;
mod error;
mod ids;
mod server;

pub mod clock;
pub mod declines;
pub mod faults;
pub mod keys;
pub mod ledger;
pub mod persona;
pub mod xml_body;

pub use api::{parse_timestamp, ACTIONS, TIMESTAMP_WINDOW, VERSIONS};
pub use cbui::{AUTHORIZE_PATH, START_PATH};
pub use client::{ControlClient, ControlError};
pub use clock::SandboxClock;
pub use config::{dev_credentials, SandboxConfig, DEV_ACCESS_KEY_ID, DEV_SECRET_KEY};
pub use control::{ClockRequest, ClockView, InstallToken, LedgerSnapshot};
pub use error::ApiError;
pub use faults::{FaultKind, FaultSpec, CBUI_ACTION};
pub use ledger::{
    CallerReferenceActivity, IpnDelivery, IpnState, Ledger, Operation, StatusChange, Token,
    TokenState, Transaction,
};
pub use persona::{Decision, Instrument, Persona};
pub use server::{Sandbox, SandboxHandle, StartError};
