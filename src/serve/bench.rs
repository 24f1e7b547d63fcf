//! `pulsewatch bench http`: the daemon's HTTP side under load. The real
//! server ([`web::server`]) publishes a synthetic snapshot of N series;
//! a second process (`bench http-load`, so client and server do not share
//! a runtime) opens idle and half-sent connections and probes `/healthz`
//! and `/metrics` beside them, then sends `/metrics` open-loop at a fixed
//! rate over keep-alive connections, gzip-compressed as Prometheus asks
//! for it. Latency counts from when a request was due, not when it was
//! sent, so a server that falls behind shows its queue.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use super::{Shared, Snapshot, web};

/// A synthetic fleet's snapshot: hosts × cpu, memory, latency.
pub(super) fn snapshot(series: usize) -> Snapshot {
    let mut snapshot = Snapshot::default();
    for i in 0..series {
        let metric = ["cpu", "memory", "latency"][i % 3];
        let instance = format!("host-{:05}:9100", i / 3);
        let name = format!("{metric}{{instance=\"{instance}\",job=\"node\"}}");
        snapshot.labels.insert(
            name.clone(),
            vec![
                ("metric".into(), metric.into()),
                ("instance".into(), instance),
                ("job".into(), "node".into()),
            ],
        );
        let score = (i % 97) as f64 / 100.0;
        snapshot.scores.insert(name.clone(), score);
        snapshot.anomalous.insert(name.clone(), score > 0.9);
        snapshot.forecasts.insert(name, (0.5, 0.25, 0.75));
    }
    snapshot.series_followed = series;
    snapshot.last_refresh_secs = Some(1.0);
    snapshot
}

/// The bench's server, running.
pub struct BenchServer {
    pub port: u16,
    pub thread: std::thread::JoinHandle<()>,
    /// The exposition's size in bytes, plain.
    pub plain_bytes: usize,
    /// And gzip-compressed.
    pub gzip_bytes: usize,
}

/// The server's context over [`snapshot`]`(series)`: default config, no
/// web config file, no monitor behind `POST /train` (it answers "busy").
/// The bench's and the HTTP fuzz target's.
pub(super) fn synthetic_context(series: usize) -> Result<Arc<web::server::ServerContext>, String> {
    let (monitor, _) = std::sync::mpsc::sync_channel(1);
    let shared = Arc::new(Shared::new(snapshot(series), monitor, None));
    let config =
        crate::config::Config::from_yaml_str("", "synthetic").map_err(|e| e.to_string())?;
    let web = Arc::new(web::WebConfigFile::open(None).map_err(|e| e.to_string())?);
    Ok(Arc::new(web::server::ServerContext::new(
        shared,
        Arc::new(config),
        web,
    )))
}

/// Serves `series` synthetic series on a free loopback port until `stop`.
pub fn start_server(series: usize, stop: Arc<AtomicBool>) -> Result<BenchServer, String> {
    let context = synthetic_context(series)?;
    let current = Arc::clone(&super::lock(&context.shared.snapshot));
    let plain_bytes = context.shared.exposition(&current, false).len();
    let gzip_bytes = context.shared.exposition(&current, true).len();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let thread = std::thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || {
            if let Err(error) = super::serve_http(listener, address, context, stop) {
                eprintln!("bench http: {error}");
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(BenchServer {
        port: address.port(),
        thread,
        plain_bytes,
        gzip_bytes,
    })
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    pub count: usize,
    pub errors: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(mut samples: Vec<f64>, errors: usize) -> Self {
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or(f64::NAN)
        };
        Self {
            count: samples.len(),
            errors,
            p50_ms: at(0.5),
            p90_ms: at(0.9),
            p99_ms: at(0.99),
            max_ms: samples.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// What the load process measured.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LoadReport {
    /// Connections held open (half of them with half a request head sent)
    /// during the probes.
    pub idle_clients: usize,
    pub idle_still_open: usize,
    pub healthz_beside_idle: Latency,
    pub metrics_beside_idle: Latency,
    /// `/metrics` (gzip) at `rate` per second.
    pub rate: u32,
    pub secs: f64,
    pub achieved_rate: f64,
    /// From when each request was due (the client's timer wakes up to a
    /// millisecond late: that is in here too).
    pub metrics_at_rate: Latency,
    /// From when each request was sent.
    pub metrics_at_rate_sent: Latency,
}

/// One request on a keep-alive connection; the body's length.
async fn request(
    reader: &mut BufReader<tokio::net::TcpStream>,
    path: &str,
    gzip: bool,
) -> std::io::Result<usize> {
    let encoding = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    reader
        .get_mut()
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: bench\r\n{encoding}\r\n").as_bytes())
        .await?;
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    if !line.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!("answered {}", line.trim())));
    }
    let mut length = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await?;
    Ok(length)
}

async fn connect(address: SocketAddr) -> std::io::Result<BufReader<tokio::net::TcpStream>> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    Ok(BufReader::with_capacity(256 * 1024, stream))
}

/// Probes `path` `count` times, a new connection each (as a probe does).
async fn probe(address: SocketAddr, path: &str, count: usize) -> Latency {
    let mut samples = Vec::with_capacity(count);
    let mut errors = 0;
    for _ in 0..count {
        let started = Instant::now();
        let answered = match connect(address).await {
            Ok(mut connection) => request(&mut connection, path, path == "/metrics").await,
            Err(error) => Err(error),
        };
        match answered {
            Ok(_) => samples.push(started.elapsed().as_secs_f64() * 1e3),
            Err(_) => errors += 1,
        }
    }
    Latency::of(samples, errors)
}

/// The load process: idle clients and probes, then `/metrics` at `rate`
/// per second for `secs` over `connections` keep-alive connections.
pub async fn load(
    port: u16,
    idle: usize,
    rate: u32,
    secs: f64,
    connections: usize,
) -> std::io::Result<LoadReport> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut held = Vec::with_capacity(idle);
    for i in 0..idle {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        if i % 2 == 1 {
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
                .await?;
        }
        held.push(stream);
    }
    let healthz = probe(address, "/healthz", 200).await;
    let metrics = probe(address, "/metrics", 50).await;
    // Still open: the server closes them only after its head timeout.
    let mut still_open = 0;
    for stream in &held {
        let mut byte = [0u8; 1];
        if matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        {
            still_open += 1;
        }
    }
    drop(held);

    let total = (f64::from(rate) * secs).round() as usize;
    let next = Arc::new(AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut sent_samples = Vec::new();
            let mut errors = 0;
            let mut connection = connect(address).await.ok();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= total {
                    break;
                }
                let due = started + interval * k as u32;
                tokio::time::sleep_until(due).await;
                let sent = tokio::time::Instant::now();
                let answered = match connection.as_mut() {
                    Some(c) => request(c, "/metrics", true).await,
                    None => Err(std::io::ErrorKind::NotConnected.into()),
                };
                match answered {
                    Ok(_) => {
                        samples.push(due.elapsed().as_secs_f64() * 1e3);
                        sent_samples.push(sent.elapsed().as_secs_f64() * 1e3);
                    }
                    Err(_) => {
                        errors += 1;
                        connection = connect(address).await.ok();
                    }
                }
            }
            (samples, sent_samples, errors)
        }));
    }
    let mut samples = Vec::new();
    let mut sent_samples = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((mut due, mut sent, e)) = task.await {
            samples.append(&mut due);
            sent_samples.append(&mut sent);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(LoadReport {
        idle_clients: idle,
        idle_still_open: still_open,
        healthz_beside_idle: healthz,
        metrics_beside_idle: metrics,
        rate,
        secs: elapsed,
        achieved_rate: samples.len() as f64 / elapsed,
        metrics_at_rate: Latency::of(samples, errors),
        metrics_at_rate_sent: Latency::of(sent_samples, errors),
    })
}
