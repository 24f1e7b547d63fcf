//! Every fixture loads with the right shape; bad files give located errors.

use pulsewatch::data::{self, DataWarning, Fill};

use crate::support::repo_path;

#[test]
fn synthetic_fixture_loads_with_labels() {
    let load = data::read_csv(&repo_path("tests/fixtures/metrics_10k.csv")).unwrap();
    let frame = load.frame;
    assert!(load.warnings.is_empty());
    assert_eq!(frame.len(), 10_000);
    assert_eq!(frame.names(), ["cpu", "memory", "latency"]);
    assert_eq!(frame.step_ms(), Some(30_000));
    // 316 anomalous rows, as the peers' meta file says.
    let labels = frame.labels().unwrap();
    assert_eq!(labels.iter().filter(|l| **l == 1).count(), 316);
    assert_eq!(frame.timestamps_ms()[0], 1_767_225_600_000);
    assert_eq!(frame.missing_counts(), [0, 0, 0]);
}

#[test]
fn nab_fixtures_load_with_the_right_shape() {
    let expected = [
        ("Twitter_volume_AAPL.csv", 15_902, 300_000),
        ("art_daily_jumpsup.csv", 4032, 300_000),
        ("ec2_cpu_utilization_24ae8d.csv", 4032, 300_000),
        // 1,624 rows, one of them repeating a timestamp (kept once, reported).
        ("exchange-2_cpc_results.csv", 1623, 3_600_000),
        ("speed_7578.csv", 1127, 300_000),
    ];
    for (name, rows, step_ms) in expected {
        let path = repo_path(&format!("tests/fixtures/nab/{name}"));
        let load = data::read_csv(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(load.frame.len(), rows, "{name}");
        assert_eq!(load.frame.names(), ["value"], "{name}");
        assert!(load.frame.labels().is_none(), "{name}");
        let duplicates = usize::from(name.starts_with("exchange-2"));
        let reported: Vec<_> = load.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(reported.len(), duplicates, "{name}: {reported:?}");
        assert_eq!(load.frame.step_ms(), Some(step_ms), "{name}");
    }
}

#[test]
fn bundled_sample_data_matches_the_generator_byte_for_byte() {
    for (kind, file) in [
        (
            data::SampleKind::Multivariate,
            "sample_data/multivariant_data.csv",
        ),
        (
            data::SampleKind::Univariate,
            "sample_data/univariant_data.csv",
        ),
    ] {
        let frame = data::generate_sample(&data::SampleSpec {
            kind,
            ..data::SampleSpec::default()
        });
        let mut text = String::new();
        data::write_csv_to(&frame, &mut text);
        let committed = std::fs::read_to_string(repo_path(file)).unwrap();
        assert!(
            text == committed,
            "{file} differs from `pulsewatch sample-data`"
        );
    }
}

#[test]
fn bad_files_name_path_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 6] = [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        (
            "header.csv",
            b"timestamp,cpu\n",
            "header.csv:1: no data rows after the header",
        ),
        (
            "cell.csv",
            b"timestamp,cpu,mem\n2026-01-01T00:00:00Z,1,2\n2026-01-01T00:00:30Z,1,high\n",
            "cell.csv:3:3: column `mem`: `high` is not a number",
        ),
        (
            "ragged.csv",
            b"timestamp,cpu\n2026-01-01T00:00:00Z,1\n2026-01-01T00:00:30Z\n",
            "ragged.csv:3: row has 1 fields, but the header has 2",
        ),
        (
            "stamp.csv",
            b"timestamp,cpu\n2026-01-01T00:00:00Z,1\n01/02/2026,2\n",
            "stamp.csv:3:1: cannot parse timestamp `01/02/2026`",
        ),
        (
            "utf8.csv",
            b"timestamp,cpu\n2026-01-01T00:00:00Z,\xC3\x28\n",
            "utf8.csv:2:2: column `cpu` is not valid UTF-8",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let message = data::read_csv(&path).unwrap_err().to_string();
        let expected = format!("{}/{expected}", dir.path().display());
        assert!(message.starts_with(&expected), "{name}: {message}");
    }
    let missing = data::read_csv(&dir.path().join("nope.csv")).unwrap_err();
    assert!(missing.to_string().contains("nope.csv"), "{missing}");
}

#[test]
fn unsorted_and_duplicate_rows_are_fixed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("messy.csv");
    std::fs::write(
        &path,
        "time,cpu\n2026-01-01 00:01:00,3\n2026-01-01 00:00:00,1\n2026-01-01 00:00:30,2\n\
         2026-01-01 00:00:30,2.5\n",
    )
    .unwrap();
    let load = data::read_csv(&path).unwrap();
    assert_eq!(load.frame.column("cpu").unwrap(), [1.0, 2.5, 3.0]);
    assert_eq!(
        load.warnings,
        [
            DataWarning::Unsorted { rows: 1 },
            DataWarning::Duplicates { rows: 1 }
        ]
    );
}

#[test]
fn resampling_a_nab_file_with_gaps_counts_the_fill() {
    // Twitter_volume_AAPL has irregular gaps in its 5-minute steps.
    let load = data::read_csv(&repo_path("tests/fixtures/nab/Twitter_volume_AAPL.csv")).unwrap();
    let (frame, report) = data::resample(&load.frame, 300_000, Fill::Linear).unwrap();
    assert_eq!(frame.step_ms(), Some(300_000));
    assert!(
        frame
            .timestamps_ms()
            .windows(2)
            .all(|w| w[1] - w[0] == 300_000)
    );
    assert_eq!(report.grid_points, frame.len());
    assert_eq!(report.filled_cells, report.empty_cells);
    assert_eq!(frame.missing_counts(), [0]);
    assert_eq!(
        frame.len(),
        load.frame.len() - report.merged_rows + report.empty_cells
    );
}
