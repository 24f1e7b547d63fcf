//! Helpers shared by the integration tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs the real binary with a private HOME/XDG dirs, so nothing from the
/// machine's own config leaks in and nothing is written outside `home`.
pub fn pulsewatch(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pulsewatch"))
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .output()
        .expect("run pulsewatch")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// (status code, body) of one HTTP/1.1 request to a server on loopback
/// (None while it does not answer).
pub fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// The body of `GET path`.
pub fn get_text(port: u16, path: &str) -> Option<String> {
    http(port, "GET", path).map(|(_, body)| body)
}

/// The body of `GET path`, parsed as JSON.
pub fn get_json(port: u16, path: &str) -> Option<serde_json::Value> {
    get_text(port, path).and_then(|body| serde_json::from_str(&body).ok())
}

/// A loopback port that refuses connections: 9 (discard) is below the
/// range the system hands out for port 0, so no test's server gets it, and
/// nothing on these machines serves it. (A free port picked and released
/// could be taken by a concurrent test before it is dialled.)
pub const REFUSING_PORT: u16 = 9;

/// A loopback port nothing listens on right now. Only for a server that
/// [`spawn_on_free_port`] retries: a concurrent test can take it before the
/// server binds it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Starts a `pulsewatch serve` told to listen on `127.0.0.1:0` (over HTTP
/// or HTTPS; the system
/// gives it a free port: one picked here and released could be taken by a
/// concurrent test first), its stderr in `log_path`, and waits for it to
/// say which port it bound. Panics, with its log, if it ends first.
pub fn spawn_listening(mut command: Command, log_path: &Path) -> (Child, u16) {
    let log = std::fs::File::create(log_path).expect("log file");
    let mut child = command.stderr(log).spawn().expect("spawn");
    let started = std::time::Instant::now();
    loop {
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        let port = log
            .lines()
            .find_map(|l| l.strip_prefix("pulsewatch serve: listening on "))
            .and_then(|l| l.split_once("://127.0.0.1:").map(|(_, port)| port))
            .and_then(|p| p.trim().parse::<u16>().ok());
        if let Some(port) = port {
            return (child, port);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("serve ended ({status}) before listening:\n{log}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "serve did not say where it listens:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `start(port)` on a free loopback port and waits until `ours(port)`
/// says the server there is this one (not another test's that took the port
/// first); when the process ends before that (its port was taken), starts
/// it again on another port.
pub fn spawn_on_free_port(
    mut start: impl FnMut(u16) -> Command,
    mut ours: impl FnMut(u16) -> bool,
) -> (Child, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut child = start(port).spawn().expect("spawn");
        let started = std::time::Instant::now();
        loop {
            if ours(port) {
                return (child, port);
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the server on port {port} did not come up"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    panic!("five ports in a row were taken before the server bound them");
}
