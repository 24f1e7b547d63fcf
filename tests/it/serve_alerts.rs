//! Alerts are never lost: a real Alertmanager (notifying a webhook the test
//! listens on) is stopped while an alert it was told about resolves; the
//! daemon keeps the resolve in its outbox, is itself restarted meanwhile,
//! and delivers it once Alertmanager is back, which notifies the
//! resolution. The anomaly is the test's own: a target it serves through
//! the test Prometheus' file_sd directory, switched when the test is ready
//! (no wall-clock schedule).

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::serve::{KillOnDrop, start_serve, wait_for};
use crate::support::{get_json, get_text, http};

/// A target serving `pulse_value{test="ID"} VALUE`.
fn pulse_target(id: &str, value: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let id = id.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let body = format!(
                "# TYPE pulse_value gauge\npulse_value{{test=\"{id}\"}} {}\n",
                value.load(Ordering::Relaxed)
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// A series the test drives: `max(pulse_value{test="ID"})`, served by a
/// target of its own that the test Prometheus finds through its file_sd
/// directory (the file is removed on drop, also when the test fails).
/// Tests that follow it set `detection.probation_rows: 40`: the ensemble
/// marks a jump from a flat line only with about 30 rows behind it, so a
/// shorter probation would end before the detectors can alarm and a jump
/// sent then would go unmarked.
pub(crate) struct Pulse {
    pub id: String,
    value: Arc<AtomicU64>,
    targets: PathBuf,
}

impl Pulse {
    /// Starts at 1; `prefix` and the test's temporary directory make the id.
    pub fn start(prefix: &str, home: &Path) -> Self {
        let sd_dir = std::env::var("PULSEWATCH_TEST_FILE_SD_DIR").expect(
            "PULSEWATCH_TEST_FILE_SD_DIR is not set: run the suite with `bash tests/run.sh`",
        );
        let id = format!(
            "{prefix}-{}",
            home.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let value = Arc::new(AtomicU64::new(1));
        let port = pulse_target(&id, Arc::clone(&value));
        let targets = Path::new(&sd_dir).join(format!("{id}.json"));
        std::fs::write(
            &targets,
            format!(r#"[{{"targets": ["127.0.0.1:{port}"]}}]"#),
        )
        .expect("targets");
        Self { id, value, targets }
    }

    /// The PromQL that reads it.
    pub fn query(&self) -> String {
        format!("max(pulse_value{{test=\"{}\"}})", self.id)
    }

    pub fn set(&self, value: u64) {
        self.value.store(value, Ordering::Relaxed);
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.targets);
    }
}

/// A webhook receiver: every notification's JSON, in arrival order.
fn webhook_sink(received: Arc<Mutex<Vec<serde_json::Value>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 8192];
            let body = loop {
                let Ok(n) = stream.read(&mut buffer) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                let Some((head, body)) = text.split_once("\r\n\r\n") else {
                    continue;
                };
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .and_then(|v| v.trim().parse::<usize>().ok())
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    break Some(body[..length].to_owned());
                }
            };
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if let Some(json) = body.and_then(|b| serde_json::from_str(&b).ok()) {
                received.lock().expect("lock").push(json);
            }
        }
    });
    port
}

/// A loopback port below the system's ephemeral range (which every other
/// test's port-0 bind draws from), free now: Alertmanager has to come back
/// on the same one after its restart.
fn port_outside_the_ephemeral_range() -> u16 {
    let low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32768);
    let span = low.saturating_sub(20000).max(1);
    for attempt in 0..200u32 {
        let port = 20000 + (std::process::id().wrapping_mul(7919) + attempt * 104_729) % span;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
    panic!("no free port below {low}");
}

fn start_alertmanager(config: &Path, storage: &Path, port: u16, id: &str) -> KillOnDrop {
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager");
    let mut child = KillOnDrop(child);
    wait_for("Alertmanager to come up", || {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("Alertmanager ended ({status}): port {port} taken?");
        }
        get_json(port, "/api/v2/status").is_some_and(|status| {
            status["config"]["original"]
                .as_str()
                .is_some_and(|original| original.contains(id))
        })
    });
    child
}

/// SIGTERM, then wait: Alertmanager saves its notification log, serve
/// closes its events.
pub(crate) fn terminate(child: &mut Child) {
    // SAFETY: kill(2) on a child this test started and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

fn notified(received: &Mutex<Vec<serde_json::Value>>, status: &str) -> bool {
    received.lock().expect("lock").iter().any(|n| {
        n["alerts"].as_array().is_some_and(|alerts| {
            alerts
                .iter()
                .any(|a| a["labels"]["metric"] == "pulse" && a["status"] == status)
        })
    })
}

/// A sample of serve's `/metrics`.
pub(crate) fn sample(port: u16, series: &str) -> Option<f64> {
    get_text(port, "/metrics")?
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_resolve_survives_alertmanager_and_serve_restarting() {
    let prom_url = crate::fleet::prom_url();
    let home = tempfile::tempdir().expect("tempdir");
    let pulse = Pulse::start("outage", home.path());
    let id = pulse.id.clone();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = webhook_sink(Arc::clone(&received));
    let am_config = home.path().join("alertmanager.yml");
    std::fs::write(
        &am_config,
        format!(
            "route:\n  receiver: {id}\n  group_by: [alertname, metric]\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: {id}\n    \
             webhook_configs:\n      - url: http://127.0.0.1:{sink}/\n        send_resolved: true\n"
        ),
    )
    .expect("am config");
    let am_storage = home.path().join("am");
    let am_port = port_outside_the_ephemeral_range();
    let mut alertmanager = start_alertmanager(&am_config, &am_storage, am_port, &id);

    let config = home.path().join("serve.yml");
    std::fs::write(
        &config,
        format!(
            "prometheus:\n  url: {prom_url}\n  step: 1s\n  window: 5m\nmetrics:\n  \
             pulse: '{}'\ndashboard:\n  refresh_interval: 1\n\
             prophet_model:\n  enabled: false\nlstm_model:\n  enabled: false\n  save_path: {}\n\
             detection:\n  probation_rows: 40\n",
            pulse.query(),
            home.path().join("model").display()
        ),
    )
    .expect("config");
    let am_url = format!("http://127.0.0.1:{am_port}");
    let (mut serve, port) = start_serve(home.path(), &config, &["--alertmanager", &am_url]);
    wait_for("the pulse series past its probation", || {
        sample(port, "pulsewatch_series{state=\"followed\"}") == Some(1.0)
            && sample(port, "pulsewatch_series{state=\"probation\"}") == Some(0.0)
    });

    // The anomaly: Alertmanager notifies it.
    pulse.set(1001);
    wait_for("the firing notification", || notified(&received, "firing"));

    // Alertmanager goes away; the anomaly ends meanwhile.
    terminate(&mut alertmanager.0);
    pulse.set(1);
    wait_for("the event's end, its resolve kept", || {
        sample(port, "pulsewatch_anomalous{metric=\"pulse\"}") == Some(0.0)
            && sample(port, "pulsewatch_alerts_pending").is_some_and(|n| n >= 1.0)
    });
    assert!(!notified(&received, "resolved"));

    // serve restarts too: the resolve waits in the history's outbox.
    terminate(&mut serve.0);
    let (_serve, port) = start_serve(home.path(), &config, &["--alertmanager", &am_url]);
    wait_for("the restarted serve", || {
        http(port, "GET", "/healthz").is_some_and(|(s, _)| s == 200)
    });
    let _alertmanager = start_alertmanager(&am_config, &am_storage, am_port, &id);
    wait_for("the resolved notification", || {
        notified(&received, "resolved")
    });
    wait_for("the outbox to empty", || {
        sample(port, "pulsewatch_alerts_pending") == Some(0.0)
    });
}
