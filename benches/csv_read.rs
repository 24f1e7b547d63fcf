//! CSV read speed: 1,000,000 rows × 3 metrics (the target: under 1 s
//! in release). Numbers are recorded in benches/README.md.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pulsewatch::data::{self, SampleKind, SampleSpec};

fn csv_read(c: &mut Criterion) {
    let frame = data::generate_sample(&SampleSpec {
        kind: SampleKind::Multivariate,
        rows: 1_000_000,
        ..SampleSpec::default()
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("million.csv");
    data::write_csv(&frame, &path).expect("write bench file");
    let bytes = std::fs::read(&path).expect("read bench file");

    let mut group = c.benchmark_group("csv");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("read_1M_rows_x3_file", |b| {
        b.iter(|| {
            let load = data::read_csv(&path).expect("parse");
            assert_eq!(load.frame.len(), 1_000_000);
        });
    });
    group.bench_function("parse_1M_rows_x3_in_memory", |b| {
        b.iter(|| data::parse_csv(&bytes, "million.csv").expect("parse"));
    });
    group.finish();
}

criterion_group!(benches, csv_read);
criterion_main!(benches);
