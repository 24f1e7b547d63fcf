//! The fleet part of `ui_frame`: 1,000 hosts × cpu, memory and latency at a
//! 30 s step over a 24 h window, followed live (a refresh a second) from a
//! stand-in Prometheus in this process, forecasts on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use pulsewatch::config::Config;
use pulsewatch::ui::state::{Mode, State};
use pulsewatch::ui::{PulseWatchApp, UiCommand};

use super::{app_harness, frame, report};

/// This thread's CPU time: a frame's wall time minus it is time spent
/// waiting (for a core, a lock) rather than working.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One frame: (wall time, this thread's CPU time).
fn timed_frame(harness: &mut Harness<'static, PulseWatchApp>) -> (Duration, Duration) {
    let cpu = thread_cpu();
    let wall = frame(harness);
    (wall, thread_cpu().saturating_sub(cpu))
}

/// Reports wall and CPU times of `frames` as two rows.
fn report_both(phase: &str, frames: &[(Duration, Duration)]) {
    let mut wall: Vec<Duration> = frames.iter().map(|f| f.0).collect();
    let mut cpu: Vec<Duration> = frames.iter().map(|f| f.1).collect();
    report(&format!("{phase}: wall"), &mut wall);
    report(&format!("{phase}: UI thread CPU"), &mut cpu);
}

const HOSTS: usize = 1000;
const METRICS: [&str; 3] = ["cpu", "memory", "latency"];

/// A host's value of a metric at `t` (Unix s): a daily wave, its own level,
/// hashed noise, and on every 97th host a step up in the last hours (so
/// the overview has hosts in trouble at the top).
fn value(host: usize, metric: usize, t: i64) -> f64 {
    let day = std::f64::consts::TAU * (t.rem_euclid(86_400)) as f64 / 86_400.0;
    let base = 20.0 + (host % 17) as f64 * 3.0 + metric as f64 * 10.0;
    let mut hash = (host as u64) << 40 ^ (metric as u64) << 36 ^ t as u64;
    hash = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    hash ^= hash >> 29;
    let noise = (hash % 10_000) as f64 / 10_000.0 - 0.5;
    let incident = host.is_multiple_of(97) && metric == 0 && t.rem_euclid(86_400) > 80_000;
    base + 8.0 * (day + host as f64).sin() + 2.0 * noise + if incident { 40.0 } else { 0.0 }
}

/// The `query_range` answer for one metric over `start..=end` every `step`.
fn answer(metric: usize, start: i64, end: i64, step: i64) -> String {
    let mut body = String::from(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for host in 0..HOSTS {
        if host > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"metric":{{"instance":"host-{host:04}:9100","job":"node"}},"values":["#
        ));
        let mut t = start;
        while t <= end {
            if t > start {
                body.push(',');
            }
            body.push_str(&format!("[{t},\"{:.4}\"]", value(host, metric, t)));
            t += step;
        }
        body.push_str("]}");
    }
    body.push_str("]}}");
    body
}

/// The parameters of a GET query string or a form body.
fn param<'a>(pairs: &'a str, key: &str) -> Option<&'a str> {
    pairs
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn serve_one(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, v)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let form = String::from_utf8_lossy(&body).into_owned();
    let get = |key: &str| param(query, key).or_else(|| param(&form, key));
    let seconds = |key: &str| {
        get(key)
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as i64)
    };
    let metric = get("query").and_then(|q| METRICS.iter().position(|m| *m == q));
    let reply = match (metric, seconds("start"), seconds("end"), seconds("step")) {
        (Some(metric), Some(start), Some(end), Some(step)) if step > 0 => {
            let body = answer(metric, start, end, step);
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            )
        }
        _ => "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    let mut stream = stream;
    stream.write_all(reply.as_bytes())
}

/// Serves the stand-in on a free loopback port; its base URL.
fn stand_in_prometheus() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::Builder::new()
        .name("stand-in-prometheus".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve_one(stream));
            }
        })
        .expect("thread");
    url
}

pub fn phases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        "app:\n  history_path: {}\n\
         prometheus:\n  url: {}\n  step: 30s\n  window: 24h\n\
         metrics:\n  cpu: cpu\n  memory: memory\n  latency: latency\n\
         lstm_model:\n  enabled: false\n\
         dashboard:\n  refresh_interval: 1\n",
        dir.path().join("history.sqlite").display(),
        stand_in_prometheus()
    );
    let config = Config::from_yaml_str(&yaml, "bench-fleet.yml").expect("config");
    let state = State {
        mode: Mode::Live,
        show_forecast: true,
        ..State::default()
    };
    let loaded = pulsewatch::ui::load_data(None).expect("sample");
    let mut harness = app_harness(config, state, loaded);
    println!();
    println!(
        "# ui_frame, fleet: {HOSTS} hosts × 3 metrics, 24 h at 30 s, Live (a refresh a second, \
         ensemble), forecasts on, 1280×800"
    );
    println!();
    println!("| phase | frames | median ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    let started = Instant::now();
    let mut times = Vec::new();
    while harness
        .state()
        .fleet_overview()
        .is_none_or(|o| o.entities.len() < HOSTS)
    {
        assert!(
            started.elapsed() < Duration::from_secs(1200),
            "no overview of {HOSTS} hosts after 20 minutes ({:?})",
            harness.state().error_message()
        );
        times.push(timed_frame(&mut harness));
        std::thread::sleep(Duration::from_millis(5));
    }
    let first_load = started.elapsed();
    report_both("first load (fetch, every detector, overview built)", &times);
    // 30 s of the overview as refreshes land and the forecasts fit.
    let mut times = Vec::new();
    let mut overviews = 0;
    let mut last = harness.state().fleet_overview().map(|o| o as *const _);
    let watching = Instant::now();
    while watching.elapsed() < Duration::from_secs(30) {
        times.push(timed_frame(&mut harness));
        let now = harness.state().fleet_overview().map(|o| o as *const _);
        if now != last {
            overviews += 1;
            last = now;
        }
    }
    report_both(
        &format!("overview, Live ({overviews} new overviews in 30 s)"),
        &times,
    );
    // Opening hosts from the overview: the first full frame of each.
    let mut times = Vec::new();
    for _ in 0..20 {
        harness.state_mut().apply(UiCommand::OpenSelected);
        times.push(timed_frame(&mut harness));
        frame(&mut harness);
        harness.state_mut().apply(UiCommand::ShowFleet);
        frame(&mut harness);
        harness.state_mut().apply(UiCommand::MoveSelection(1));
    }
    report_both("opening a host: its first frame", &times);
    println!();
    println!(
        "first load {:.1} s; forecast {}",
        first_load.as_secs_f64(),
        if harness.state().forecast_ready() {
            "ready"
        } else {
            "still fitting"
        }
    );
}
