//! Fetch + parse + merge of 3 queries × 11,000 points from a real local
//! Prometheus (target: under 100 ms). Needs the server from
//! tests/with-prometheus.sh:
//!     bash tests/with-prometheus.sh cargo bench --bench prom_fetch

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pulsewatch::config::{Config, MetricQuery};
use pulsewatch::data;
use pulsewatch::ingest::{PromClient, TimeRange};

fn prom_fetch(c: &mut Criterion) {
    let (Ok(url), Ok(shift)) = (
        std::env::var("PULSEWATCH_TEST_PROM_URL"),
        std::env::var("PULSEWATCH_TEST_PROM_SHIFT_MS"),
    ) else {
        panic!(
            "run under the test Prometheus: bash tests/with-prometheus.sh cargo bench --bench prom_fetch"
        );
    };
    let shift: i64 = shift.parse().expect("shift in ms");
    let config =
        Config::from_yaml_str(&format!("prometheus:\n  url: {url}\n"), "bench").expect("config");
    let client = PromClient::new(&config.prometheus).expect("client");
    let sample = data::parse_csv(pulsewatch::data::SAMPLE_CSV, "sample")
        .expect("sample")
        .frame;
    let start = sample.timestamps_ms()[0] + shift;
    let range =
        TimeRange::aligned(start, start + 30_000 * 10_999, Duration::from_secs(30)).expect("range");
    assert_eq!(range.points(), 11_000);
    let metrics: Vec<MetricQuery> = ["cpu", "memory", "latency"]
        .iter()
        .map(|m| MetricQuery {
            name: (*m).to_owned(),
            query: format!("pulsewatch_sample_{m}"),
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("prometheus");
    group.sample_size(20);
    group.bench_function("fetch_3_queries_x_11000_points", |b| {
        b.iter(|| {
            let fetched = runtime
                .block_on(client.fetch_metrics(&metrics, range, &[]))
                .expect("fetch");
            assert_eq!(fetched.requests, 3);
            assert_eq!(fetched.absent_points, [0, 0, 0]);
        });
    });
    group.finish();
}

criterion_group!(benches, prom_fetch);
criterion_main!(benches);
