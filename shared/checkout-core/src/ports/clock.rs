//! Time as a port: the use cases age leases and reserves with it, tests move it. The trait
//! is the protocol crate's (the FPS client stamps requests with the same clock).

pub use fps_protocol::clock::{Clock, ManualClock, SystemClock};
