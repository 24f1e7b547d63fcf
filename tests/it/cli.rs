//! The command line end to end: sample data, inspect, exit codes.

use crate::support::{pulsewatch, repo_path, stderr, stdout};

#[test]
fn sample_data_is_byte_identical_for_the_same_arguments() {
    let home = tempfile::tempdir().unwrap();
    let args = |out: &'static str| ["sample-data", "--seed", "7", "--rows", "2000", "--out", out];
    assert!(pulsewatch(home.path(), &args("a.csv")).status.success());
    assert!(pulsewatch(home.path(), &args("b.csv")).status.success());
    let a = std::fs::read(home.path().join("a.csv")).unwrap();
    let b = std::fs::read(home.path().join("b.csv")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.iter().filter(|b| **b == b'\n').count(), 2001);
    let other = [
        "sample-data",
        "--seed",
        "8",
        "--rows",
        "2000",
        "--out",
        "c.csv",
    ];
    assert!(pulsewatch(home.path(), &other).status.success());
    assert_ne!(a, std::fs::read(home.path().join("c.csv")).unwrap());
}

#[test]
fn sample_data_with_spikes_is_test_mode_data_with_its_labels() {
    let home = tempfile::tempdir().unwrap();
    let output = pulsewatch(
        home.path(),
        &[
            "sample-data",
            "--rows",
            "3000",
            "--spikes",
            "0.01",
            "--out",
            "spiked.csv",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let spiked = pulsewatch::data::read_csv(&home.path().join("spiked.csv")).unwrap();
    // The same spikes as Test mode's: its generator, rate and seed 1.
    let plain = pulsewatch::data::generate_sample(&pulsewatch::data::SampleSpec {
        rows: 3000,
        ..Default::default()
    });
    let (expected, labels) = pulsewatch::data::inject_spikes(&plain, 0.01, 6.0, 1).unwrap();
    assert_eq!(spiked.frame.labels(), Some(&labels[..]));
    let spikes = labels.iter().filter(|l| **l == 1).count();
    assert!((15..=45).contains(&spikes), "{spikes}");
    assert!(stdout(&output).contains(&format!("{spikes} rows with a spike")));
    for (read, written) in spiked.frame.columns().iter().zip(expected.columns()) {
        assert!(read.iter().zip(written).all(|(a, b)| (a - b).abs() < 1e-9));
    }
    // A labelled file: eval labelled scores it.
    let eval = pulsewatch(
        home.path(),
        &[
            "eval",
            "labelled",
            "--csv",
            "spiked.csv",
            "--method",
            "robust",
        ],
    );
    assert!(eval.status.success(), "{}", stderr(&eval));
    assert!(
        stdout(&eval).contains(&format!("/{spikes} |")),
        "{}",
        stdout(&eval)
    );
    // Usage errors, naming --spikes, with nothing written: a bad rate, and a
    // spike size without spikes (a mistake, not silently ignored).
    for (args, out) in [
        (["--spikes", "2"], "bad.csv"),
        (["--spike-size", "8"], "alone.csv"),
    ] {
        let output = pulsewatch(
            home.path(),
            &["sample-data", args[0], args[1], "--out", out],
        );
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains("--spikes"), "{}", stderr(&output));
        assert!(!home.path().join(out).exists());
    }
}

#[test]
fn inspect_describes_a_labelled_file() {
    let home = tempfile::tempdir().unwrap();
    let file = repo_path("tests/fixtures/metrics_10k.csv");
    let output = pulsewatch(home.path(), &["inspect", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    for expected in [
        "rows: 10000",
        "span: 2026-01-01T00:00:00Z .. 2026-01-04T11:19:30Z (3d11h19m30s)",
        "step: 30s (median); 0 gaps differ from it",
        "columns: 3",
        "  cpu: missing 0,",
        "labels: 316 anomalous rows (3.16 %)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
}

#[test]
fn inspect_reports_fixes_as_warnings() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("m.csv"), "t,v\n60,1\n0,2\n60,3\n").unwrap();
    let output = pulsewatch(home.path(), &["inspect", "m.csv"]);
    assert!(output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("warning: m.csv: 1 rows were out of time order"),
        "{err}"
    );
    assert!(
        err.contains("warning: m.csv: 1 rows repeated an earlier timestamp"),
        "{err}"
    );
    assert!(stdout(&output).contains("rows: 2"));
}

#[test]
fn exit_codes_separate_usage_from_runtime_failures() {
    let home = tempfile::tempdir().unwrap();
    // A bad file is a runtime failure: 1, with the located error.
    std::fs::write(home.path().join("bad.csv"), "timestamp,v\n0,x\n").unwrap();
    let output = pulsewatch(home.path(), &["inspect", "bad.csv"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim(),
        "error: bad.csv:2:2: column `v`: `x` is not a number; expected a decimal number, \
         or an empty cell for a missing value"
    );
    // A missing file: 1, with the cause chain.
    let output = pulsewatch(home.path(), &["inspect", "nope.csv"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("error: cannot read nope.csv\n  caused by: "));
    // Usage mistakes: 2.
    assert_eq!(
        pulsewatch(home.path(), &["frobnicate"]).status.code(),
        Some(2)
    );
    let bad_step = pulsewatch(
        home.path(),
        &["sample-data", "--step", "5x", "--out", "x.csv"],
    );
    assert_eq!(bad_step.status.code(), Some(2));
    assert!(stderr(&bad_step).contains("--step: unknown unit \"x\""));
    assert!(!home.path().join("x.csv").exists());
    assert_eq!(
        pulsewatch(home.path(), &["--version"]).status.code(),
        Some(0)
    );
}

#[test]
fn bench_lstm_prints_a_table_beside_the_peer() {
    let home = tempfile::tempdir().unwrap();
    let file = repo_path("tests/fixtures/metrics_10k.csv");
    let output = pulsewatch(
        home.path(),
        &[
            "bench",
            "lstm",
            "--csv",
            file.to_str().unwrap(),
            "--runs",
            "1",
            "--epochs",
            "1",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    let row = out
        .lines()
        .find(|l| l.contains("metrics_10k.csv"))
        .unwrap_or_else(|| panic!("no row in\n{out}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells[2], "9951", "{row}");
    assert!(cells[3].ends_with("(14.9)"), "{row}");
    assert!(cells[4].ends_with("× faster"), "{row}");
    assert!(out.contains("peak RSS of this process:"), "{out}");
}

/// Without the `gui` feature, `ui` and the bare command are usage errors
/// that say how to get the window, and the headless subcommands still run.
#[cfg(not(feature = "gui"))]
#[test]
fn without_the_gui_feature_the_window_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    for args in [&["ui"][..], &[][..]] {
        let output = pulsewatch(home.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = stderr(&output);
        assert!(
            err.starts_with(
                "error: this pulsewatch was built without the desktop window (feature `gui`)"
            ),
            "{err}"
        );
        assert!(err.contains("pulsewatch --help"), "{err}");
    }
    assert_eq!(
        pulsewatch(home.path(), &["--version"]).status.code(),
        Some(0)
    );
}

/// A reader that closes the pipe (`pulsewatch … | head -1`) ends every
/// command that prints quietly: exit 0, nothing on stderr, no panic. The
/// pipe's read end is closed before the command starts, so its first write
/// meets the closed pipe whatever the timing.
#[test]
fn commands_that_print_end_quietly_when_the_reader_closes_the_pipe() {
    let home = tempfile::tempdir().unwrap();
    let csv = repo_path("tests/fixtures/metrics_10k.csv");
    let csv = csv.to_str().unwrap();
    let commands: [&[&str]; 4] = [
        &["inspect", csv],
        &["config", "check"],
        &["forecast", "--csv", csv],
        &[
            "bench",
            "fleet",
            "--series",
            "6",
            "--window",
            "10m",
            "--refreshes",
            "1",
        ],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pulsewatch"))
            .args(args)
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).is_empty(),
            "{args:?} wrote to stderr: {}",
            stderr(&output)
        );
    }
}
