//! The merchant's domain: pure types and rules, no I/O.

pub mod catalog;
pub mod events;
pub mod order;
pub mod payment;

/// FPS moves US dollars in cents between fixed limits; the shop's money is the same type.
pub use fps_protocol::money;
