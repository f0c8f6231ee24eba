//! Running a release function binary the way Lambda does: a fresh process whose only
//! configuration is its environment, talking to the Runtime API at `AWS_LAMBDA_RUNTIME_API`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// A function binary and the environment it is deployed with.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: &'static str,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
}

pub struct Running {
    child: tokio::process::Child,
}

impl Function {
    /// Starts the function against the Runtime API at `runtime_api`; its stdout and stderr are
    /// appended to `log`.
    pub fn spawn(&self, runtime_api: &str, log: &Path) -> std::io::Result<Running> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let err = out.try_clone()?;
        let mut command = tokio::process::Command::new(&self.binary);
        // Nothing from the caller's environment leaks in (no ~/.aws, no proxies): only what
        // Lambda itself would set plus the function's configuration.
        command
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", self.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        Ok(Running {
            child: command.spawn()?,
        })
    }
}

impl Running {
    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// CPU time (user + system) the process has used so far, in nanoseconds: the sum of its
    /// live threads' `/proc/<pid>/task/<tid>/schedstat` (nanosecond resolution, where
    /// `/proc/<pid>/stat` counts 10 ms ticks). The functions run one thread (tokio's current-
    /// thread runtime) plus blocking-pool threads for DNS, which live 10 s after their last
    /// use: longer than any gap in a warm run.
    pub fn cpu_time(&self) -> Option<std::time::Duration> {
        let pid = self.child.id()?;
        let mut total: u64 = 0;
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            total += stat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
        Some(std::time::Duration::from_nanos(total))
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
