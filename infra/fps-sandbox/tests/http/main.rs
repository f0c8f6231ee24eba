//! The emulator over real HTTP on 127.0.0.1:0, driven by the core crate's FpsClient and by
//! raw signed requests.

mod support;

mod cbui;
mod errors;
mod faults;
mod fixture;
mod ipn_and_state;
mod lifecycle;
mod verify_signature;
mod xml_models;
