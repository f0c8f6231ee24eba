//! What the use cases need from the world, as traits in the domain's words.

pub mod clock;
pub mod events;
pub mod gateway;
pub mod store;

/// Any error, kept as the source of a port's error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
