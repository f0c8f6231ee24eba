//! Issue 18 (6): `make dev` never claims what is not true. On free ports it brings the whole
//! stack up, the shop loads, and Ctrl-C stops everything it started; with a port taken by
//! something that accepts connections and never answers, it stops at once and names the
//! variable to change.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository root")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

fn make_dev(fps_port: u16, lambda_port: u16, state: &Path) -> tokio::process::Command {
    let mut command = Command::new("make");
    command
        .arg("--no-print-directory")
        .arg("dev")
        .current_dir(repo_root())
        .env("FPS_PORT", fps_port.to_string())
        .env("LAMBDA_PORT", lambda_port.to_string())
        .env("DEV_STATE_DIR", state)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: Ctrl-C goes to the whole group, as a terminal sends it.
        .process_group(0);
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    command
}

#[tokio::test]
async fn a_port_that_accepts_and_never_answers_stops_make_dev_naming_the_variable() {
    // Accepts connections (the kernel completes the handshake) and never reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = silent.local_addr().expect("addr").port();
    let state = std::env::temp_dir().join(format!("dev-taken-{taken}"));
    for (fps, lambda, variable) in [
        (taken, free_port(), "FPS_PORT"),
        (free_port(), taken, "LAMBDA_PORT"),
    ] {
        let started = Instant::now();
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            make_dev(fps, lambda, &state).output(),
        )
        .await
        .expect("make dev must not hang on a silent port")
        .expect("run make dev");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{variable}: {stderr}");
        assert!(
            stderr.contains(variable) && stderr.contains(&taken.to_string()),
            "names {variable} and the port: {stderr}"
        );
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("FPS emulator at"),
            "claims nothing it did not start"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    }
    let _ = std::fs::remove_dir_all(&state);
    drop(silent);
}

/// Whatever happens, the stack's processes do not outlive the test.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

#[tokio::test]
async fn make_dev_serves_the_shop_and_ctrl_c_stops_everything_it_started() {
    let (fps, lambda) = (free_port(), free_port());
    let state = std::env::temp_dir().join(format!("dev-stack-{fps}"));
    let mut dev = make_dev(fps, lambda, &state)
        .spawn()
        .expect("start make dev");
    let group = dev.id().expect("a pid");
    let _stop_on_failure = Group(group);
    let mut lines = BufReader::new(dev.stdout.take().expect("stdout")).lines();
    // The first build of the functions may take minutes on a cold target directory.
    let shop = tokio::time::timeout(Duration::from_secs(900), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(url) = line.trim().strip_prefix("Shop:") {
                return url.trim().to_owned();
            }
        }
        let mut stderr = String::new();
        if let Some(mut err) = dev.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = err.read_to_string(&mut stderr).await;
        }
        panic!("make dev ended without printing the shop's URL: {stderr}");
    })
    .await
    .expect("make dev printed the shop's URL");
    assert!(shop.contains(&format!("127.0.0.1:{lambda}")), "{shop}");
    assert!(listening(fps), "the emulator it announced is listening");

    let page = reqwest::Client::new()
        .get(&shop)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("load the shop");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("body").contains("<form"));
    let moto_pid: i32 = std::fs::read_to_string(state.join("moto/pid"))
        .expect("moto's pid file")
        .trim()
        .parse()
        .expect("a pid");

    // Ctrl-C: SIGINT to the process group.
    let interrupted = Command::new("kill")
        .args(["-INT", "--", &format!("-{group}")])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let status = tokio::time::timeout(Duration::from_secs(60), dev.wait())
        .await
        .expect("stopped within a minute")
        .expect("exit status");
    assert!(!status.success(), "interrupted: {status:?}");
    for port in [fps, lambda] {
        assert!(!listening(port), "port {port} released");
    }
    let moto_alive = Command::new("kill")
        .args(["-0", &moto_pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .expect("kill -0")
        .success();
    assert!(!moto_alive, "moto stopped");
    let _ = std::fs::remove_dir_all(&state);
}
