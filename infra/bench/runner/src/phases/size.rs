//! Size phase: the zipped arm64 `bootstrap` of every function next to the baseline's.

use super::{Bench, BASELINE, FUNCTIONS};
use crate::report::Line;

const ZIP_LIMIT_BYTES: u64 = 3_500_000;

impl Bench {
    /// Zipped arm64 `bootstrap` as cargo-lambda packs it for upload.
    pub(super) fn sizes(&mut self) {
        let size = |name: &str| {
            std::fs::metadata(self.cli.lambda_dir.join(name).join("bootstrap.zip"))
                .map(|m| m.len())
                .ok()
        };
        let mb = |bytes: u64| format!("{:.2} MB", bytes as f64 / 1e6);
        let baseline = size(BASELINE);
        self.report.push(
            Line::new(
                "Size (zip, arm64)",
                BASELINE,
                baseline.map(mb).unwrap_or_else(|| "not built".to_owned()),
            )
            .baseline("—"),
        );
        for name in FUNCTIONS {
            let line = match size(name) {
                Some(bytes) => Line::new("Size (zip, arm64)", name, mb(bytes))
                    .baseline(baseline.map(mb).unwrap_or_default())
                    .target("≤ 3.50 MB", bytes <= ZIP_LIMIT_BYTES),
                None => {
                    Line::new("Size (zip, arm64)", name, "not built").target("≤ 3.50 MB", false)
                }
            };
            self.report.push(line);
        }
    }
}
