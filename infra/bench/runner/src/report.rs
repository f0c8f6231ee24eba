//! The bench's one table: every measure next to its baseline and target, printed and written
//! to `target/bench/report.md` with the date and the machine.

use std::fmt::Write as _;
use std::path::Path;

/// Whether a line's target is met; `Gate` lines fail the bench when missed (a regression in
/// round trips), `Target` lines are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Target,
    Gate,
    Info,
}

#[derive(Debug, Clone)]
pub struct Line {
    pub measure: String,
    pub subject: String,
    pub value: String,
    pub baseline: String,
    pub target: String,
    pub met: Option<bool>,
    pub kind: Kind,
}

impl Line {
    pub fn new(measure: &str, subject: &str, value: impl Into<String>) -> Self {
        Self {
            measure: measure.to_owned(),
            subject: subject.to_owned(),
            value: value.into(),
            baseline: String::new(),
            target: String::new(),
            met: None,
            kind: Kind::Info,
        }
    }

    pub fn baseline(mut self, baseline: impl Into<String>) -> Self {
        self.baseline = baseline.into();
        self
    }

    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = target.into();
        self.met = Some(met);
        self.kind = Kind::Target;
        self
    }

    pub fn gate(mut self, budget: impl Into<String>, met: bool) -> Self {
        self.target = budget.into();
        self.met = Some(met);
        self.kind = Kind::Gate;
        self
    }

    fn verdict(&self) -> &'static str {
        match (self.met, self.kind) {
            (None, _) => "",
            (Some(true), _) => "met",
            (Some(false), Kind::Gate) => "**REGRESSION**",
            (Some(false), _) => "**missed**",
        }
    }
}

#[derive(Default)]
pub struct Report {
    pub lines: Vec<Line>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn push(&mut self, line: Line) {
        println!(
            "  {:<22} {:<22} {:<28} {}",
            line.measure,
            line.subject,
            line.value,
            line.verdict()
        );
        self.lines.push(line);
    }

    pub fn regressions(&self) -> Vec<&Line> {
        self.lines
            .iter()
            .filter(|l| l.kind == Kind::Gate && l.met == Some(false))
            .collect()
    }

    pub fn markdown(&self, header: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{header}\n");
        let _ = writeln!(out, "| Measure | Function | Value | Baseline | Target | |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for l in &self.lines {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                l.measure,
                l.subject,
                l.value,
                l.baseline,
                l.target,
                l.verdict()
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }

    pub fn write(&self, path: &Path, header: &str) -> std::io::Result<String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = self.markdown(header);
        std::fs::write(path, &text)?;
        Ok(text)
    }
}

/// Date, CPU and kernel of the machine the figures come from.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {memory_gib}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
