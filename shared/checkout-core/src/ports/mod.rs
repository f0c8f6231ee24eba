//! What the use cases need from the world, as traits in the domain's words.

pub mod clock;
pub mod gateway;
pub mod store;
