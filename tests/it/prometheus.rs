//! Ingestion against a real Prometheus, started by tests/with-prometheus.sh
//! with the bundled sample data backfilled (and a node_exporter it scrapes).

use std::time::{Duration, Instant};

use pulsewatch::config::{Config, MetricQuery};
use pulsewatch::data;
use pulsewatch::ingest::{IncrementalCursor, IngestError, PromClient, RetryPolicy, TimeRange};

use crate::support::{pulsewatch, repo_path, stderr};

const STEP: Duration = Duration::from_secs(30);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need a real Prometheus. Run the suite with \
             `bash tests/run.sh` (or `bash tests/with-prometheus.sh cargo test`)"
        )
    })
}

fn prom_url() -> String {
    env("PULSEWATCH_TEST_PROM_URL")
}

fn config_for(url: &str, extra: &str) -> Config {
    Config::from_yaml_str(&format!("prometheus:\n  url: {url}\n{extra}"), "test.yml").unwrap()
}

fn client() -> PromClient {
    PromClient::new(&config_for(&prom_url(), "").prometheus).unwrap()
}

/// The bundled sample data with the timestamps Prometheus holds.
fn sample() -> (data::MetricFrame, i64) {
    let shift: i64 = env("PULSEWATCH_TEST_PROM_SHIFT_MS").parse().unwrap();
    let frame = data::read_csv(&repo_path("sample_data/multivariant_data.csv"))
        .unwrap()
        .frame;
    (frame, shift)
}

fn metric(name: &str, query: &str) -> MetricQuery {
    MetricQuery {
        name: name.to_owned(),
        query: query.to_owned(),
    }
}

#[tokio::test]
async fn fetched_frame_equals_the_backfilled_values_at_every_step() {
    let (sample, shift) = sample();
    let stamps = sample.timestamps_ms();
    let range =
        TimeRange::aligned(stamps[0] + shift, stamps[stamps.len() - 1] + shift, STEP).unwrap();
    // 11,520 points: more than Prometheus' 11,000, so each query is chunked.
    assert_eq!(range.points(), 11_520);
    let metrics: Vec<MetricQuery> = ["cpu", "memory", "latency"]
        .iter()
        .map(|m| metric(m, &format!("pulsewatch_sample_{m}")))
        .collect();
    let fetched = client().fetch_metrics(&metrics, range, &[]).await.unwrap();
    assert_eq!(fetched.requests, 6, "two chunks per query");
    assert_eq!(fetched.frame.names(), ["cpu", "memory", "latency"]);
    assert_eq!(fetched.absent_points, [0, 0, 0]);
    assert!(fetched.warnings.is_empty(), "{:?}", fetched.warnings);
    let shifted: Vec<i64> = stamps.iter().map(|t| t + shift).collect();
    assert_eq!(fetched.frame.timestamps_ms(), shifted.as_slice());
    for name in ["cpu", "memory", "latency"] {
        let got = fetched.frame.column(name).unwrap();
        let want = sample.column(name).unwrap();
        let first_difference = got.iter().zip(want).position(|(g, w)| g != w);
        assert_eq!(first_difference, None, "{name} differs");
    }
}

#[tokio::test]
async fn a_query_with_several_series_keeps_each_as_a_column() {
    let (sample, shift) = sample();
    let t0 = sample.timestamps_ms()[100] + shift;
    let range = TimeRange::aligned(t0, t0 + 30_000 * 9, STEP).unwrap();
    let metrics = [metric(
        "m",
        r#"{__name__=~"pulsewatch_sample_(cpu|memory)"}"#,
    )];
    let fetched = client().fetch_metrics(&metrics, range, &[]).await.unwrap();
    assert_eq!(
        fetched.frame.names(),
        [
            r#"m{__name__="pulsewatch_sample_cpu"}"#,
            r#"m{__name__="pulsewatch_sample_memory"}"#
        ]
    );
    assert_eq!(
        fetched.frame.columns()[0][..],
        sample.column("cpu").unwrap()[100..110]
    );
    assert_eq!(
        fetched.frame.columns()[1][..],
        sample.column("memory").unwrap()[100..110]
    );
}

#[tokio::test]
async fn nan_and_infinities_are_values_and_absent_points_are_gaps() {
    let (sample, shift) = sample();
    let t0 = sample.timestamps_ms()[0] + shift;
    let range = TimeRange::aligned(t0, t0 + 30_000 * 2879, STEP).unwrap();
    let metrics = [
        metric("nan", "pulsewatch_sample_cpu * 0 / 0"),
        metric("pos", "pulsewatch_sample_cpu / 0"),
        metric("neg", "-pulsewatch_sample_cpu / 0"),
        metric("busy", "pulsewatch_sample_cpu > 50"),
    ];
    let fetched = client().fetch_metrics(&metrics, range, &[]).await.unwrap();
    let f = &fetched.frame;
    assert!(f.column("nan").unwrap().iter().all(|v| v.is_nan()));
    assert!(f.column("pos").unwrap().iter().all(|v| *v == f64::INFINITY));
    assert!(
        f.column("neg")
            .unwrap()
            .iter()
            .all(|v| *v == f64::NEG_INFINITY)
    );
    let cpu = &sample.column("cpu").unwrap()[..2880];
    let quiet = cpu.iter().filter(|v| **v <= 50.0).count();
    assert!(quiet > 0 && quiet < 2880);
    assert_eq!(fetched.absent_points, [0, 0, 0, quiet]);
    for (got, want) in f.column("busy").unwrap().iter().zip(cpu) {
        if *want > 50.0 {
            assert_eq!(got, want);
        } else {
            assert!(got.is_nan(), "a filtered point must be a gap, not {got}");
        }
    }
}

#[tokio::test]
async fn a_promql_syntax_error_surfaces_bad_data_without_retries() {
    let range = TimeRange::aligned(0, 3_600_000, STEP).unwrap();
    let error = client()
        .query_range("rate(pulsewatch_sample_cpu[5m]", range)
        .await
        .unwrap_err();
    match &error {
        IngestError::Api {
            status,
            error_type,
            error: message,
            query,
            url,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(error_type, "bad_data");
            assert!(message.contains("parse error"), "{message}");
            assert_eq!(query, "rate(pulsewatch_sample_cpu[5m]");
            assert!(url.ends_with("/api/v1/query_range"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("bad_data"));
}

#[tokio::test]
async fn refresh_asks_only_for_the_range_since_the_last_sample() {
    let (sample, shift) = sample();
    let last_sample = sample.timestamps_ms()[sample.len() - 1] + shift;
    let metrics = [metric("cpu", "pulsewatch_sample_cpu")];
    let client = client();
    let hour = Duration::from_secs(3600);
    // "Now" is two minutes after the last backfilled sample.
    let now = last_sample + 120_000;
    let mut cursor = IncrementalCursor::default();
    let first = cursor.next_range(now, hour, STEP).unwrap();
    assert_eq!(first.points(), 121);
    let fetched = client.fetch_metrics(&metrics, first, &[]).await.unwrap();
    cursor.advance(&fetched);
    // Prometheus' 5-minute lookback repeats the last sample up to "now".
    assert_eq!(cursor.last_ms, Some(first.end_ms));
    let tail = fetched.frame.column("cpu").unwrap();
    assert_eq!(
        tail[tail.len() - 1],
        sample.column("cpu").unwrap()[sample.len() - 1]
    );

    // A minute later only the two new steps are asked for.
    let next = cursor.next_range(now + 60_000, hour, STEP).unwrap();
    assert_eq!(next.start_ms, first.end_ms + 30_000);
    assert_eq!(next.points(), 2);
    let fetched = client.fetch_metrics(&metrics, next, &[]).await.unwrap();
    assert_eq!(fetched.frame.len(), 2);
    assert!(cursor.next_range(now, hour, STEP).is_none());
}

#[tokio::test]
async fn an_unreachable_port_is_connection_refused_quickly() {
    let port = crate::support::REFUSING_PORT;
    let config = config_for(&format!("http://127.0.0.1:{port}"), "");
    let client = PromClient::new(&config.prometheus)
        .unwrap()
        .with_retry(RetryPolicy::none());
    let range = TimeRange::aligned(0, 60_000, STEP).unwrap();
    let error = client.query_range("up", range).await.unwrap_err();
    assert!(
        matches!(error, IngestError::ConnectionRefused { .. }),
        "{error:?}"
    );
    // Refused, not timed out: the error's kind says it did not wait.
    assert!(error.to_string().contains(&format!("127.0.0.1:{port}")));
}

#[tokio::test]
async fn the_shipped_linux_queries_return_node_exporter_data() {
    // The built-in metrics for Linux, pointed at this server.
    let mut config = Config::from_yaml_str_for_os(
        pulsewatch::config::DEFAULT_CONFIG_YAML,
        "built-in",
        pulsewatch::config::Os::Linux,
    )
    .unwrap();
    config.prometheus = config_for(&prom_url(), "").prometheus;
    assert_eq!(config.metrics.len(), 3);
    let client = PromClient::new(&config.prometheus).unwrap();
    let started = Instant::now();
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let range =
            TimeRange::window_ending(now, Duration::from_secs(60), Duration::from_secs(1)).unwrap();
        let fetched = client
            .fetch_metrics(&config.metrics, range, &config.fleet.entity_labels)
            .await
            .unwrap();
        let with_data: Vec<&String> = fetched
            .frame
            .names()
            .iter()
            .zip(fetched.frame.columns())
            .filter(|(_, c)| c.iter().any(|v| v.is_finite()))
            .map(|(n, _)| n)
            .collect();
        if with_data.len() == 3 {
            // One node_exporter: its instance names the cpu and memory
            // series (the entity); latency is fleet-wide.
            let node = std::env::var("PULSEWATCH_TEST_NODE_EXPORTER").unwrap();
            let cpu_name = format!("cpu{{instance=\"{node}\"}}");
            assert!(with_data.contains(&&cpu_name), "{with_data:?}");
            assert!(with_data.contains(&&"latency".to_owned()), "{with_data:?}");
            let cpu = fetched.frame.column(&cpu_name).unwrap();
            assert!(
                cpu.iter()
                    .filter(|v| v.is_finite())
                    .all(|v| (0.0..=100.0).contains(v))
            );
            return;
        }
        // node_exporter's first scrapes land within seconds; the bound only
        // keeps a broken setup from hanging the suite.
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "after 120 s only {with_data:?} have data: {:?}",
            fetched.warnings
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn fetch_writes_the_merged_frame_as_csv() {
    let (sample, shift) = sample();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("c.yml"),
        format!(
            "prometheus:\n  url: {}\nmetrics:\n  cpu: pulsewatch_sample_cpu\n  latency: pulsewatch_sample_latency\n",
            prom_url()
        ),
    )
    .unwrap();
    let start = (sample.timestamps_ms()[10] + shift) / 1000;
    let end = (sample.timestamps_ms()[209] + shift) / 1000;
    let output = pulsewatch(
        home.path(),
        &[
            "--config",
            "c.yml",
            "fetch",
            "--start",
            &start.to_string(),
            "--end",
            &end.to_string(),
            "--out",
            "f.csv",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("fetched 200 points × 2 columns"));
    let fetched = data::read_csv(&home.path().join("f.csv")).unwrap().frame;
    assert_eq!(fetched.names(), ["cpu", "latency"]);
    assert_eq!(
        fetched.column("cpu").unwrap(),
        &sample.column("cpu").unwrap()[10..210]
    );
    assert_eq!(
        fetched.column("latency").unwrap(),
        &sample.column("latency").unwrap()[10..210]
    );
}
