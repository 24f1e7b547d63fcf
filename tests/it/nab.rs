//! NAB scoring agrees with the reference scorer (`tests/fixtures/tools/
//! nab_score.py`, a copy of shared/tools/nab_score.py) to 1e-6 on the five
//! NAB files in tests/fixtures/nab, for two detectors: a rolling z-score
//! (many distinct scores) and the same rounded to tenths (many ties, which
//! exercise the threshold tie-breaking).

use std::path::Path;
use std::process::Command;

use crate::support::{pulsewatch, repo_path, stderr, stdout};

/// Lays the fixture files out as NAB does: `<dir>/<category>/<file>.csv`.
fn nab_layout(dir: &Path) -> Vec<String> {
    let windows: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("tests/fixtures/nab/combined_windows.json"))
            .expect("windows"),
    )
    .expect("json");
    let relpaths: Vec<String> = windows
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    for rel in &relpaths {
        let name = Path::new(rel).file_name().expect("name");
        let target = dir.join(rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(repo_path("tests/fixtures/nab").join(name), &target).expect("copy");
    }
    relpaths
}

/// An online rolling z-score in [0, 1], optionally rounded to tenths.
fn write_scores(data: &Path, out: &Path, relpaths: &[String], rounded: bool) {
    for rel in relpaths {
        let text = std::fs::read_to_string(data.join(rel)).expect("data");
        let mut lines = text.lines();
        lines.next();
        let rows: Vec<(String, f64)> = lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (t, v) = l.split_once(',').expect("two columns");
                (t.to_owned(), v.trim().parse().expect("value"))
            })
            .collect();
        let mut csv = String::from("timestamp,anomaly_score\n");
        for i in 0..rows.len() {
            let past = &rows[i.saturating_sub(50)..i];
            let score = if past.len() < 10 {
                0.0
            } else {
                let mean = past.iter().map(|r| r.1).sum::<f64>() / past.len() as f64;
                let var =
                    past.iter().map(|r| (r.1 - mean).powi(2)).sum::<f64>() / past.len() as f64;
                ((rows[i].1 - mean).abs() / (4.0 * var.sqrt() + 1e-9)).min(1.0)
            };
            let score = if rounded {
                (score * 10.0).round() / 10.0
            } else {
                score
            };
            csv.push_str(&format!("{},{score}\n", rows[i].0));
        }
        let target = out.join(rel);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::write(target, csv).expect("write");
    }
}

/// `pulsewatch eval nab` on the laid-out data and a scores dir.
fn eval_nab(home: &Path, scores: &Path, extra: &[&str]) -> std::process::Output {
    let data = home.join("data");
    let windows = repo_path("tests/fixtures/nab/combined_windows.json");
    let mut args = vec![
        "eval",
        "nab",
        "--data",
        data.to_str().expect("utf-8"),
        "--windows",
        windows.to_str().expect("utf-8"),
        "--scores-dir",
        scores.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    pulsewatch(home, &args)
}

fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

#[test]
fn nab_scores_agree_with_the_reference_scorer() {
    let home = tempfile::tempdir().expect("tempdir");
    let data = home.path().join("data");
    let relpaths = nab_layout(&data);
    let windows = repo_path("tests/fixtures/nab/combined_windows.json");
    for (name, rounded) in [("zscore", false), ("zscore_tenths", true)] {
        let scores = home.path().join(name);
        write_scores(&data, &scores, &relpaths, rounded);
        let ours = eval_nab(home.path(), &scores, &["--json"]);
        assert!(ours.status.success(), "{}", stderr(&ours));
        let ours: serde_json::Value = serde_json::from_str(&stdout(&ours)).expect("json");
        let reference = Command::new(python())
            .arg(repo_path("tests/fixtures/tools/nab_score.py"))
            .args(["--data", data.to_str().expect("utf-8")])
            .args(["--windows", windows.to_str().expect("utf-8")])
            .args(["--scores-dir", scores.to_str().expect("utf-8")])
            .output()
            .expect("python3 must be installed (tests/run.sh installs it)");
        assert!(
            reference.status.success(),
            "{}",
            String::from_utf8_lossy(&reference.stderr)
        );
        let reference: serde_json::Value =
            serde_json::from_slice(&reference.stdout).expect("reference json");
        let profiles = ours["profiles"].as_array().expect("profiles");
        assert_eq!(profiles.len(), 3);
        for ours in profiles {
            let profile = ours["profile"].as_str().expect("name");
            let theirs = &reference["profiles"][profile];
            let number = |v: &serde_json::Value| v.as_f64().expect("number");
            for (mine, their) in [
                (&ours["score"], &theirs["score"]),
                (&ours["totals"]["raw"], &theirs["raw"]),
                (&ours["totals"]["threshold"], &theirs["threshold"]),
                (&ours["null_raw"], &theirs["null_raw"]),
            ] {
                assert!(
                    (number(mine) - number(their)).abs() <= 1e-6,
                    "{name} {profile}: {mine} vs {their}"
                );
            }
            for (mine, their) in [("tp", "tp"), ("fp", "fp"), ("fn_", "fn")] {
                assert_eq!(
                    ours["totals"][mine], theirs[their],
                    "{name} {profile}: {mine}"
                );
            }
        }
    }
}

#[test]
fn eval_nab_names_the_file_that_does_not_fit() {
    let home = tempfile::tempdir().expect("tempdir");
    let data = home.path().join("data");
    let relpaths = nab_layout(&data);
    let scores = home.path().join("scores");
    write_scores(&data, &scores, &relpaths, false);
    // One score file loses its last row.
    let victim = scores.join(&relpaths[0]);
    let text = std::fs::read_to_string(&victim).expect("read");
    let shorter: Vec<&str> = text.lines().collect();
    std::fs::write(&victim, shorter[..shorter.len() - 1].join("\n")).expect("write");
    let output = eval_nab(home.path(), &scores, &[]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains(&relpaths[0]) && message.contains("timestamps differ"),
        "{message}"
    );
}

#[test]
fn eval_labelled_reports_points_and_events() {
    let home = tempfile::tempdir().expect("tempdir");
    let csv = repo_path("tests/fixtures/metrics_10k.csv");
    let output = pulsewatch(
        home.path(),
        &[
            "eval",
            "labelled",
            "--csv",
            csv.to_str().expect("utf-8"),
            "--json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    let file = &summary[0];
    assert_eq!(file["rows"], 10_000);
    // The peers' file has 8 injected events (its .meta.json).
    assert_eq!(file["events"]["events"], 8);
    let found = file["events"]["detected"].as_u64().expect("detected");
    assert!((1..=8).contains(&found), "{found}");
    let precision = file["points"]["precision"].as_f64().expect("precision");
    assert!(precision > 0.5, "{precision}");
    // Row flags mark whole events; alarms (one per event, from the
    // likelihood in which recurring anomalies stop being news) find some of
    // them with far fewer rows.
    assert_eq!(file["flags"], "row flags");
    assert_eq!(summary[1]["flags"], "alarms");
    let row_f1 = file["points"]["f1"].as_f64().expect("f1");
    let alarm_f1 = summary[1]["points"]["f1"].as_f64().expect("f1");
    assert!(row_f1 > 0.5 && alarm_f1 < row_f1, "{row_f1} vs {alarm_f1}");
    let alarm_events = summary[1]["events"]["detected"].as_u64().expect("detected");
    assert!(
        (1..=found).contains(&alarm_events),
        "{alarm_events} of {found}"
    );
    // A file without labels is refused with its name.
    let unlabelled = home.path().join("plain.csv");
    std::fs::write(&unlabelled, "timestamp,cpu\n2026-01-01T00:00:00Z,1\n").expect("write");
    let output = pulsewatch(
        home.path(),
        &[
            "eval",
            "labelled",
            "--csv",
            unlabelled.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("plain.csv: no label column"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn eval_nab_runs_each_online_detector_and_writes_one_score_file_per_data_file() {
    let home = tempfile::tempdir().expect("tempdir");
    let relpaths = nab_layout(&home.path().join("data"));
    let mut standard = Vec::new();
    let methods = [
        "robust", "level", "seasonal", "context", "lstm", "ensemble", "band",
    ];
    for method in methods {
        let scores = home.path().join(format!("scores-{method}"));
        let output = eval_nab(home.path(), &scores, &["--method", method, "--json"]);
        assert!(output.status.success(), "{method}: {}", stderr(&output));
        for rel in &relpaths {
            let data_rows = std::fs::read_to_string(home.path().join("data").join(rel))
                .expect("data")
                .lines()
                .count();
            let written = std::fs::read_to_string(scores.join(rel)).expect("score file");
            assert_eq!(written.lines().count(), data_rows, "{method} {rel}");
            assert!(
                written
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.rsplit(',').next()?.parse::<f64>().ok())
                    .all(|s| (0.0..=1.0).contains(&s)),
                "{method} {rel}: scores outside [0, 1]"
            );
        }
        let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
        assert_eq!(report["profiles"][0]["profile"], "standard");
        let score = report["profiles"][0]["score"]
            .as_f64()
            .unwrap_or_else(|| panic!("no standard score in {report}"));
        standard.push(score);
    }
    // The ensemble is the default because it wins: on these five files it
    // scores above every single detector (81.9 against at most 61.1 when
    // written), not merely differently.
    let ensemble = standard[5];
    assert!(
        standard
            .iter()
            .enumerate()
            .all(|(i, part)| i == 5 || *part + 5.0 < ensemble),
        "{methods:?}: {standard:?}"
    );
}

/// The second column of a score file.
fn score_column(path: &Path) -> Vec<f64> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .skip(1)
        .map(|l| {
            l.rsplit(',')
                .next()
                .expect("column")
                .parse()
                .expect("score")
        })
        .collect()
}

#[test]
fn uncapped_scores_combined_offline_reproduce_the_ensemble() {
    let home = tempfile::tempdir().expect("tempdir");
    let relpaths = nab_layout(&home.path().join("data"));
    let raw = home.path().join("raw");
    let mut capped_away = 0;
    for method in ["robust", "level", "seasonal", "context", "lstm"] {
        let uncapped = raw.join(method);
        let output = eval_nab(home.path(), &uncapped, &["--method", method, "--uncapped"]);
        assert!(output.status.success(), "{method}: {}", stderr(&output));
        let capped = home.path().join(format!("capped-{method}"));
        let output = eval_nab(home.path(), &capped, &["--method", method]);
        assert!(output.status.success(), "{method}: {}", stderr(&output));
        for rel in &relpaths {
            let (all, alarms) = (
                score_column(&uncapped.join(rel)),
                score_column(&capped.join(rel)),
            );
            assert_eq!(all.len(), alarms.len(), "{method} {rel}");
            // The cap only lowers, and only to just under the alarm level.
            for (a, b) in all.iter().zip(&alarms) {
                assert!(
                    a == b || (b < a && *b < 0.995),
                    "{method} {rel}: {a} vs {b}"
                );
            }
            capped_away += all
                .iter()
                .zip(&alarms)
                .filter(|(a, b)| **a >= 0.995 && **b < 0.995)
                .count();
        }
    }
    assert!(capped_away > 0, "the cap never applied: nothing was tested");
    // tools/nab_combine.py with its defaults is the shipped ensemble.
    let combined = home.path().join("combined");
    let output = Command::new(python())
        .arg(repo_path("tools/nab_combine.py"))
        .args(["--raw", raw.to_str().expect("utf-8")])
        .args(["--out", combined.to_str().expect("utf-8")])
        .output()
        .expect("python3");
    assert!(output.status.success(), "{}", stderr(&output));
    let ensemble = home.path().join("ensemble");
    let output = eval_nab(home.path(), &ensemble, &["--method", "ensemble"]);
    assert!(output.status.success(), "{}", stderr(&output));
    for rel in &relpaths {
        assert_eq!(
            score_column(&combined.join(rel)),
            score_column(&ensemble.join(rel)),
            "{rel}"
        );
    }
    // tools/nab_holdout.py chooses the combination on all but one category
    // and scores that one: a row per category and profile, then a summary
    // per profile.
    let output = Command::new(python())
        .arg(repo_path("tools/nab_holdout.py"))
        .args(["--raw", raw.to_str().expect("utf-8")])
        .args(["--data", home.path().join("data").to_str().expect("utf-8")])
        .arg("--windows")
        .arg(repo_path("tests/fixtures/nab/combined_windows.json"))
        .output()
        .expect("python3");
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    let categories: std::collections::BTreeSet<&str> = relpaths
        .iter()
        .filter_map(|rel| rel.split('/').next())
        .collect();
    for category in &categories {
        let rows = report
            .lines()
            .filter(|l| l.starts_with(&format!("| {category} |")))
            .count();
        assert_eq!(rows, 3, "{category}: {report}");
    }
    for profile in ["standard", "reward_low_FP_rate", "reward_low_FN_rate"] {
        let line = report
            .lines()
            .find(|l| l.starts_with(&format!("{profile}: held out ")))
            .unwrap_or_else(|| panic!("no {profile} summary in {report}"));
        let held_out: f64 = line
            .split_whitespace()
            .nth(3)
            .and_then(|v| v.trim_end_matches(',').parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!(held_out <= 100.0, "{line}");
    }
    // Without --method there is nothing to leave uncapped.
    let output = eval_nab(home.path(), &ensemble, &["--uncapped"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}
