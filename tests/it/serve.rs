//! `pulsewatch serve` against the test Prometheus: readiness, `/metrics` in
//! Prometheus text format with the engine's numbers, the JSON routes and
//! errors, and a second, real Prometheus scraping it: a PromQL query returns
//! the scores the engine computed.

use std::net::TcpStream;
#[cfg(unix)]
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{REFUSING_PORT, get_json, http, spawn_listening, spawn_on_free_port};

/// Daemons started so far (their logs' names until they say their port).
static STARTS: AtomicUsize = AtomicUsize::new(0);

pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `pulsewatch --config CONFIG serve` on a port the system gives it (plus
/// `extra`), its history in `HOME/history.sqlite`, its stderr in
/// `HOME/serve-PORT.log`.
pub(crate) fn start_serve(home: &Path, config: &Path, extra: &[&str]) -> (KillOnDrop, u16) {
    start_serve_with_env(home, config, extra, &[])
}

/// [`start_serve`] with extra environment variables.
fn start_serve_with_env(
    home: &Path,
    config: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (KillOnDrop, u16) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulsewatch"));
    command
        .args(["--config", config.to_str().expect("utf-8")])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args([
            "--history",
            home.join("history.sqlite").to_str().expect("utf-8"),
        ])
        .args(extra)
        .env("HOME", home)
        .envs(env.iter().copied())
        .stdout(Stdio::null());
    let starting = home.join(format!(
        "serve-starting-{}.log",
        STARTS.fetch_add(1, Ordering::Relaxed)
    ));
    let (child, port) = spawn_listening(command, &starting);
    // Named by its port for the tests that read it (the daemon writes on
    // into the same file).
    std::fs::rename(&starting, home.join(format!("serve-{port}.log"))).expect("rename log");
    (KillOnDrop(child), port)
}

/// `pulsewatch history --history HOME/history.sqlite ARGS…`: (exit ok, stdout).
fn history(home: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_pulsewatch"))
        .arg("history")
        .args([
            "--history",
            home.join("history.sqlite").to_str().expect("utf-8"),
        ])
        .args(args)
        .env("HOME", home)
        .output()
        .expect("history");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

pub(crate) fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A Prometheus in `dir` scraping job `pulsewatch` every second, the job's
/// settings (its targets, scheme, TLS, auth) given as YAML lines indented
/// under it. Held by the port it bound and by its own config file, retried
/// when another test took the port first.
pub(crate) fn start_scraping_prometheus(dir: &Path, job: &str) -> (KillOnDrop, u16) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let prom_config = dir.join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: pulsewatch\n{job}"),
    )
    .expect("prom config");
    let config_file = prom_config.display().to_string();
    let (prometheus, port) = spawn_on_free_port(
        |port| {
            let mut command = Command::new("prometheus");
            command
                .arg(format!("--config.file={config_file}"))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("data-{port}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        },
        |port| {
            get_json(port, "/api/v1/status/flags")
                .is_some_and(|flags| flags["data"]["config.file"] == config_file.as_str())
        },
    );
    (KillOnDrop(prometheus), port)
}

/// The value of `name{metric="…"}` in a text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn serve_publishes_metrics_that_a_real_prometheus_scrapes() {
    let Ok(url) = std::env::var("PULSEWATCH_TEST_PROM_URL") else {
        panic!("PULSEWATCH_TEST_PROM_URL is not set: run the suite with `bash tests/run.sh`");
    };
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("serve.yml");
    std::fs::write(
        &config,
        format!(
            "prometheus:\n  url: {url}\n  step: 2s\n  window: 5m\nmetrics:\n  up: 'sum(up{{job=~\"node|self\"}})'\n\
             dashboard:\n  refresh_interval: 1\nlstm_model:\n  save_path: {}\n  epochs: 2\n  \
             hidden_size: 8\n  sequence_length: 5\n  device: cpu\n",
            home.path().join("model").display()
        ),
    )
    .expect("config");
    let (_serve, port) = start_serve(home.path(), &config, &[]);
    wait_for("/healthz", || {
        http(port, "GET", "/healthz").is_some_and(|(s, _)| s == 200)
    });
    wait_for("/readyz", || {
        http(port, "GET", "/readyz").is_some_and(|(s, _)| s == 200)
    });

    // The forecast needs 10 points of history: the test Prometheus may have
    // started only seconds ago.
    let mut text = String::new();
    wait_for("a forecast in /metrics", || {
        text = http(port, "GET", "/metrics")
            .map(|(_, t)| t)
            .unwrap_or_default();
        text.contains("pulsewatch_forecast{")
    });
    assert!(
        text.contains("# TYPE pulsewatch_anomaly_score gauge"),
        "{text}"
    );
    let score = sample(&text, "pulsewatch_anomaly_score{metric=\"up\"}").expect("score");
    assert!((0.0..=1.0).contains(&score), "{score}");
    assert!(sample(&text, "pulsewatch_anomalous{metric=\"up\"}").is_some());
    assert!(
        sample(&text, "pulsewatch_forecast{metric=\"up\",bound=\"yhat\"}").is_some(),
        "{text}"
    );
    let refreshed = sample(&text, "pulsewatch_last_refresh_timestamp_seconds").expect("refresh");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!((now - refreshed).abs() < 60.0, "{refreshed} vs {now}");

    let (status, body) = http(port, "GET", "/metrics/live-short").expect("live-short");
    assert_eq!(status, 200);
    let short: serde_json::Value = serde_json::from_str(&body).expect("json");
    let rows = short["metrics"]["up"].as_array().expect("rows of up");
    assert!(!rows.is_empty() && rows.len() <= 20, "{} rows", rows.len());
    assert_eq!(rows[rows.len() - 1]["value"], 2.0, "sum(up) of two targets");
    assert!(
        rows[0]["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let (_, body) = http(port, "GET", "/metrics/live-long").expect("live-long");
    let long: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(long["metrics"]["up"].as_array().expect("rows").len() >= rows.len());

    let (status, body) = http(port, "GET", "/metrics/test?seed=3").expect("test route");
    assert_eq!(status, 200);
    let test: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(test["rows"], 11_520);
    let injected = test["injected_rows"].as_u64().expect("injected");
    assert!(injected > 20, "{injected}");
    assert!(
        test["events"]["detected"].as_u64().expect("found") > 0,
        "{body}"
    );
    // The window's Test mode rule (the one rule, here without a model or a
    // forecast): every injected spike marked; about one mark in five on a
    // spike (the clean sample's own marks are the rest).
    let points = &test["points"];
    assert!(
        points["recall"].as_f64().expect("recall") >= 0.95,
        "{points}"
    );
    assert!(
        points["precision"].as_f64().expect("precision") > 0.1,
        "{points}"
    );
    let (again, _) = http(port, "GET", "/metrics/test?seed=3").expect("again");
    assert_eq!(again, 200);
    let (status, body) = http(port, "GET", "/metrics/test?seed=soon").expect("bad seed");
    assert_eq!(status, 400);
    assert!(body.contains("seed must be a whole number"), "{body}");

    // With no model, the daemon trains one on its first window by itself.
    wait_for("the first model", || {
        http(port, "GET", "/")
            .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
            .is_some_and(|v| !v["model"]["loaded"].is_null() && v["model"]["training"] == false)
    });
    let (_, body) = http(port, "GET", "/train/1").expect("first job");
    assert!(body.contains("\"reason\":\"no model yet\""), "{body}");

    // POST /train returns at once with a job id; its progress ends in "done"
    // and the model age restarts.
    let (status, body) = http(port, "POST", "/train").expect("train");
    assert_eq!(status, 202, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).expect("json");
    let id = job["id"].as_u64().expect("id");
    wait_for("the training job", || {
        http(port, "GET", &format!("/train/{id}"))
            .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["status"] != "running")
    });
    let (_, body) = http(port, "GET", &format!("/train/{id}")).expect("job");
    let state: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(state["status"], "done", "{body}");
    assert!(
        state["model_path"]
            .as_str()
            .is_some_and(|p| p.contains("model"))
    );
    let (_, text) = http(port, "GET", "/metrics").expect("metrics");
    assert!(
        sample(&text, "pulsewatch_training_duration_seconds").is_some(),
        "{text}"
    );
    let (status, _) = http(port, "GET", "/train/999").expect("unknown job");
    assert_eq!(status, 404);

    let (status, body) = http(port, "GET", "/").expect("root");
    assert_eq!(status, 200);
    let root: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(root["ready"], true);
    assert_eq!(root["model"]["loaded"]["features"][0], "up", "{body}");
    assert!(root["model"]["next_retrain_at"].is_string(), "{body}");
    let (status, body) = http(port, "GET", "/nowhere").expect("404");
    assert_eq!(status, 404);
    assert!(body.contains("no route /nowhere"), "{body}");
    let (status, _) = http(port, "POST", "/metrics").expect("405");
    assert_eq!(status, 405);
    // A client that connects and says nothing does not hold up others
    // (serve_web.rs holds 200 of them).
    let _stalled = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (status, _) = http(port, "GET", "/healthz").expect("healthz beside a stalled client");
    assert_eq!(status, 200);

    // A second Prometheus scrapes serve every second.
    let (_prometheus, prom_port) = start_scraping_prometheus(
        &home.path().join("prom"),
        &format!("    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"),
    );
    let mut scraped = None;
    wait_for("Prometheus to scrape serve", || {
        scraped = http(
            prom_port,
            "GET",
            "/api/v1/query?query=pulsewatch_anomaly_score%7Bmetric%3D%22up%22%7D",
        )
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| {
            v["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_owned)
        })
        .and_then(|v| v.parse::<f64>().ok());
        scraped.is_some()
    });
    // `up` is a constant 1: its score is the same at every refresh, so the
    // scraped value is exactly what serve computed.
    let (_, text) = http(port, "GET", "/metrics").expect("metrics");
    let now_score = sample(&text, "pulsewatch_anomaly_score{metric=\"up\"}").expect("score");
    assert_eq!(scraped, Some(now_score));
}

#[test]
fn serve_sends_an_alert_to_a_real_alertmanager() {
    let Ok(url) = std::env::var("PULSEWATCH_TEST_PROM_URL") else {
        panic!("PULSEWATCH_TEST_PROM_URL is not set: run the suite with `bash tests/run.sh`");
    };
    let home = tempfile::tempdir().expect("tempdir");
    let am_config = home.path().join("alertmanager.yml");
    // A receiver named after this test's directory: how the test knows the
    // Alertmanager on its port is its own.
    let receiver = format!(
        "blackhole-{}",
        home.path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    std::fs::write(
        &am_config,
        format!("route:\n  receiver: {receiver}\nreceivers:\n  - name: {receiver}\n"),
    )
    .expect("am config");
    let (alertmanager, am_port) = spawn_on_free_port(
        |port| {
            let mut command = Command::new("prometheus-alertmanager");
            command
                .arg(format!("--config.file={}", am_config.display()))
                .arg(format!(
                    "--storage.path={}",
                    home.path().join(format!("am-{port}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        },
        |port| {
            http(port, "GET", "/-/ready").is_some_and(|(s, _)| s == 200)
                && get_json(port, "/api/v2/status").is_some_and(|status| {
                    status["config"]["original"]
                        .as_str()
                        .is_some_and(|original| original.contains(&receiver))
                })
        },
    );
    let _alertmanager = KillOnDrop(alertmanager);
    // A series at 1 that the test sends to 1001 once the detectors know
    // it (a target of its own, scraped through the file_sd directory).
    let pulse = crate::serve_alerts::Pulse::start("alert", home.path());
    let config = home.path().join("serve.yml");
    std::fs::write(
        &config,
        format!(
            "prometheus:\n  url: {url}\n  step: 1s\n  window: 5m\nmetrics:\n  \
             spike: '{}'\n\
             dashboard:\n  refresh_interval: 1\nprophet_model:\n  enabled: false\n\
             lstm_model:\n  enabled: false\n  save_path: {}\ndetection:\n  probation_rows: 40\n",
            pulse.query(),
            home.path().join("model").display()
        ),
    )
    .expect("config");
    let alertmanager = format!("http://127.0.0.1:{am_port}");
    let (_serve, port) = start_serve(home.path(), &config, &["--alertmanager", &alertmanager]);
    wait_for("the series past its probation", || {
        let text = crate::support::get_text(port, "/metrics").unwrap_or_default();
        sample(&text, "pulsewatch_series{state=\"followed\"}") == Some(1.0)
            && sample(&text, "pulsewatch_series{state=\"probation\"}") == Some(0.0)
    });
    pulse.set(1001);
    let mut alert = serde_json::Value::Null;
    wait_for("the alert in Alertmanager", || {
        alert = http(am_port, "GET", "/api/v2/alerts")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|alerts| {
                alerts
                    .as_array()?
                    .iter()
                    .find(|a| a["labels"]["metric"] == "spike")
                    .cloned()
            })
            .unwrap_or(serde_json::Value::Null);
        !alert.is_null()
    });
    assert_eq!(alert["labels"]["alertname"], "PulseWatchAnomaly");
    assert_eq!(alert["annotations"]["value"], "1001");
    let score: f64 = alert["annotations"]["score"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("score");
    // The event's peak on the 0–100 scale: 50 is the alarm level.
    assert!((50.0..=100.0).contains(&score), "{score}");
    assert!(
        alert["generatorURL"]
            .as_str()
            .is_some_and(|u| u.ends_with("/metrics/live-short")),
        "{alert}"
    );
    pulse.set(1);
    // One alarm per event: some rows later the anomaly is over and serve
    // sends endsAt with the same labels: Alertmanager no longer lists the
    // alert as firing (its endsAt is past, or it is gone).
    wait_for("the alert to be resolved", || {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        http(am_port, "GET", "/api/v2/alerts")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|alerts| {
                let list = alerts.as_array()?.clone();
                Some(
                    match list.iter().find(|a| a["labels"]["metric"] == "spike") {
                        None => true,
                        Some(alert) => alert["endsAt"]
                            .as_str()
                            .and_then(pulsewatch::data::time::parse_timestamp_ms)
                            .is_some_and(|ends_ms| ends_ms <= now_ms),
                    },
                )
            })
            .unwrap_or(false)
    });
    // The history has the event, closed, with the peak the alert carried (the
    // same 0–100 scale) and its severity.
    let mut csv = String::new();
    wait_for("the closed event in the history", || {
        csv = history(home.path(), &["--csv"]).1;
        csv.lines()
            .any(|l| l.starts_with("anomaly,") && l.contains(",spike,") && !l.contains(",,spike,"))
    });
    let row = csv
        .lines()
        .find(|l| l.starts_with("anomaly,") && l.contains(",spike,"))
        .expect("event row");
    let fields: Vec<&str> = row.split(',').collect();
    let peak: f64 = fields[4].parse().expect("peak");
    // The alert's score is printed to one decimal; the peak only rises.
    assert!(peak >= score - 0.051, "{row} vs alert score {score}");
    assert!((50.0..=100.0).contains(&peak), "{row}");
    assert_eq!(fields[5], pulsewatch::event::severity(peak));
    if alert["labels"]["severity"] == "critical" {
        assert_eq!(fields[5], "critical", "{row}");
    }
}

#[cfg(unix)]
#[test]
fn serve_stops_on_sigterm_and_survives_kill_9_in_a_retrain_a_save_and_a_history_write() {
    let Ok(url) = std::env::var("PULSEWATCH_TEST_PROM_URL") else {
        panic!("PULSEWATCH_TEST_PROM_URL is not set: run the suite with `bash tests/run.sh`");
    };
    let home = tempfile::tempdir().expect("tempdir");
    let write_config = |name: &str, epochs: usize| {
        let path = home.path().join(name);
        std::fs::write(
            &path,
            format!(
                "prometheus:\n  url: {url}\n  step: 1s\n  window: 5m\nmetrics:\n  up: 'sum(up{{job=~\"node|self\"}})'\n\
                 dashboard:\n  refresh_interval: 1\nprophet_model:\n  enabled: false\n\
                 lstm_model:\n  save_path: {}\n  epochs: {epochs}\n  hidden_size: 8\n  \
                 sequence_length: 5\n  device: cpu\n",
                home.path().join("model").display()
            ),
        )
        .expect("config");
        path
    };
    let quick = write_config("quick.yml", 2);
    // Long enough that the retrain is surely running when it is killed.
    let slow = write_config("slow.yml", 100_000);

    // 1. The first model, trained by the daemon itself; SIGTERM ends it
    //    cleanly (exit 0) with the training run committed.
    let (mut first, port) = start_serve(home.path(), &quick, &[]);
    wait_for("the first model", || {
        get_json(port, "/")
            .is_some_and(|v| v["model"]["training"] == false && !v["model"]["loaded"].is_null())
    });
    let created = get_json(port, "/").expect("root")["model"]["loaded"]["created_at"].clone();
    let pid = first.0.id().to_string();
    // SIGTERM: the daemon stops polling, closes the database, exits 0.
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = wait_exit(&mut first.0);
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let log = std::fs::read_to_string(home.path().join(format!("serve-{port}.log"))).expect("log");
    assert!(log.contains("pulsewatch serve: stopped"), "{log}");
    assert!(log.contains("training run 1 committed"), "{log}");

    // 2. A retrain that never ends by itself; a second POST is refused
    //    while it runs; kill -9 in the middle of it.
    let (mut second, port) = start_serve(home.path(), &slow, &[]);
    wait_for("/readyz", || {
        http(port, "GET", "/readyz").is_some_and(|(s, _)| s == 200)
    });
    let (status, body) = http(port, "POST", "/train").expect("train");
    assert_eq!(status, 202, "{body}");
    let (status, body) = http(port, "POST", "/train").expect("second train");
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("already running"), "{body}");
    let refusal: serde_json::Value = serde_json::from_str(&body).expect("json");
    let id = refusal["error"].as_str().expect("error text");
    assert!(id.contains("job 1"), "{id}");
    wait_for("the retrain to be under way", || {
        get_json(port, "/train/1")
            .is_some_and(|v| v["status"] == "running" && v["epoch"].as_u64().unwrap_or(0) >= 1)
    });
    second.0.kill().expect("kill -9");
    second.0.wait().expect("reaped");

    // 3. After the crash: the previous model loads, the database is intact
    //    and still holds the committed training run.
    let (third, port) = start_serve(home.path(), &quick, &[]);
    wait_for("/", || {
        get_json(port, "/").is_some_and(|v| !v["model"]["loaded"].is_null())
    });
    let root = get_json(port, "/").expect("root");
    assert_eq!(root["model"]["loaded"]["created_at"], created, "{root}");
    let (ok, verdict) = history(home.path(), &["--check"]);
    assert!(ok, "{verdict}");
    assert_eq!(verdict.trim(), "ok");
    let (ok, csv) = history(home.path(), &["--csv"]);
    assert!(ok);
    assert!(
        csv.lines()
            .any(|l| l.starts_with("training,") && l.contains(",ok,\"no model yet; ")),
        "{csv}"
    );
    drop(third);

    // 4. Killed in the worst moment of a save: the old model moved aside,
    //    the new one not yet in place. The previous model still loads.
    let (mut fourth, port) = start_serve_with_env(
        home.path(),
        &quick,
        &[],
        &[("PULSEWATCH_CRASH_AT", "model-save")],
    );
    wait_for("/readyz", || {
        http(port, "GET", "/readyz").is_some_and(|(s, _)| s == 200)
    });
    let (status, body) = http(port, "POST", "/train").expect("train");
    assert_eq!(status, 202, "{body}");
    let status = wait_exit(&mut fourth.0);
    assert_eq!(status.signal(), Some(9), "{status}");
    assert!(!home.path().join("model/current").exists());
    let (fifth, port) = start_serve(home.path(), &quick, &[]);
    wait_for("/", || {
        get_json(port, "/").is_some_and(|v| !v["model"]["loaded"].is_null())
    });
    let root = get_json(port, "/").expect("root");
    assert_eq!(root["model"]["loaded"]["created_at"], created, "{root}");
    drop(fifth);

    // 5. Killed between a history insert and its commit: the database
    //    passes the integrity check and holds every write committed before,
    //    and not the one in flight.
    let dead = home.path().join("dead.yml");
    std::fs::write(
        &dead,
        std::fs::read_to_string(&quick)
            .expect("quick")
            .replace(&url, &format!("http://127.0.0.1:{REFUSING_PORT}")),
    )
    .expect("dead config");
    let (_, before) = history(home.path(), &["--csv"]);
    let (mut sixth, port) = start_serve_with_env(
        home.path(),
        &dead,
        &[],
        &[("PULSEWATCH_CRASH_AT", "history-write:3")],
    );
    let status = wait_exit(&mut sixth.0);
    assert_eq!(status.signal(), Some(9), "{status}");
    let log = std::fs::read_to_string(home.path().join(format!("serve-{port}.log"))).expect("log");
    let committed = log
        .lines()
        .filter(|l| {
            l.starts_with("pulsewatch serve: history: fetch failure ") && l.ends_with(" committed")
        })
        .count();
    assert_eq!(committed, 2, "{log}");
    assert!(log.contains("crash point history-write reached"), "{log}");
    let (ok, verdict) = history(home.path(), &["--check"]);
    assert!(ok && verdict.trim() == "ok", "{verdict}");
    let (_, after) = history(home.path(), &["--csv"]);
    let failures = |csv: &str| {
        csv.lines()
            .filter(|l| l.starts_with("fetch_failure,"))
            .count()
    };
    assert_eq!(failures(&after), failures(&before) + 2, "{after}");
    for line in before.lines() {
        assert!(after.contains(line), "lost after the crash: {line}");
    }
}

/// Waits (up to 60 s) for a child to exit.
fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the process did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
