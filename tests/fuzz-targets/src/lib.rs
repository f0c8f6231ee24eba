//! The fuzz targets' bodies (issue 17 (2)). Each takes arbitrary bytes, feeds them to one
//! parser or one whole Lambda HTTP path, and asserts what must hold for any input: no panic,
//! and the target's own property (a round trip, a signature that verifies, no 500). cargo-fuzz
//! (`tests/fuzz`, nightly) calls them; `tests/replay.rs` replays every committed corpus file
//! through them on stable in `make test`.

mod http;
mod parsers;

pub use http::{http_cbui_return, http_fps_notifications, http_start_checkout};
pub use parsers::{cart, cbui_return, dynamodb_item, emulator_api, fps_xml, ipn, sigv2};

/// A target's body: any bytes in, a panic when a property breaks.
pub type Target = fn(&[u8]);

/// Every target by name: its corpus lives in `tests/fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("cbui_return", cbui_return),
    ("fps_xml", fps_xml),
    ("sigv2", sigv2),
    ("cart", cart),
    ("dynamodb_item", dynamodb_item),
    ("emulator_api", emulator_api),
    ("ipn", ipn),
    ("http_start_checkout", http_start_checkout),
    ("http_cbui_return", http_cbui_return),
    ("http_fps_notifications", http_fps_notifications),
];

thread_local! {
    /// One runtime per fuzzing thread: building one per input would dominate the run.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(future))
}
