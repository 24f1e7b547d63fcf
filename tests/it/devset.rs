//! The generated development set and `eval alarms`: the set is written in
//! NAB's layout from one seed (the same files twice), and alarms and marks
//! are counted against its windows per kind and on unlabelled normal data.

use crate::support::{pulsewatch, stderr, stdout};

fn json(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_str(&stdout(output)).expect("json")
}

#[test]
fn the_generated_set_is_scored_per_kind_and_on_normal_data() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = home.path().join("dev");
    let out_str = out.to_str().expect("utf-8");
    let wrote = pulsewatch(home.path(), &["eval", "generate", "--out", out_str]);
    assert!(wrote.status.success(), "{}", stderr(&wrote));
    let again = home.path().join("again");
    let again_str = again.to_str().expect("utf-8");
    let wrote = pulsewatch(
        home.path(),
        &["eval", "generate", "--out", again_str, "--seed", "1"],
    );
    assert!(wrote.status.success(), "{}", stderr(&wrote));
    let read = |dir: &std::path::Path, rel: &str| std::fs::read(dir.join(rel)).expect(rel);
    for rel in [
        "labels/combined_windows.json",
        "data/gen-pattern/ecg-1.csv",
        "data/gen-clean/counter-3.csv",
    ] {
        assert_eq!(
            read(&out, rel),
            read(&again, rel),
            "{rel}: seed 1 is the default"
        );
    }

    let data = out.join("data");
    let windows = out.join("labels/combined_windows.json");
    // `eval alarms` on the generated set, `--json`.
    let alarms = |extra: &[&str]| {
        let args = [
            &[
                "eval",
                "alarms",
                "--data",
                data.to_str().expect("utf-8"),
                "--windows",
                windows.to_str().expect("utf-8"),
                "--json",
            ],
            extra,
        ]
        .concat();
        json(&pulsewatch(home.path(), &args))
    };
    let scored = alarms(&["--files", "gen-extremum,gen-clean"]);
    let groups = scored["groups"].as_array().expect("groups");
    let group = |name: &str| {
        groups
            .iter()
            .find(|g| g["group"] == name)
            .unwrap_or_else(|| panic!("no {name} in {scored}"))
    };
    let extremum = &group("gen-extremum")["budget"];
    // One spike of 4–6 standard deviations a series: the shipped ensemble
    // (the default method) marks and alarms on every one.
    assert_eq!(extremum["windows"], 12);
    assert_eq!(extremum["windows_marked"], 12, "{scored}");
    assert_eq!(extremum["windows_alarmed"], 12, "{scored}");
    let clean = &group("gen-clean")["budget"];
    assert_eq!(clean["series"], 24);
    assert_eq!(clean["windows"], 0);
    // 14 days a series at 5 minutes, judged after NAB's probation (15 %:
    // 604 of 4,032 rows): 3,428 rows of 2,016 a week each.
    let weeks = 24.0 * 3428.0 / 2016.0;
    assert!((clean["weeks"].as_f64().expect("weeks") - weeks).abs() < 1e-9);
    let per_week = group("gen-clean")["false_alarms_per_series_week"]
        .as_f64()
        .expect("rate");
    let false_alarms = clean["false_alarms"].as_f64().expect("count");
    assert!((per_week - false_alarms / weeks).abs() < 1e-12);
    let total = &scored["total"];
    assert_eq!(total["series"], 36);
    assert_eq!(
        total["false_events"].as_u64(),
        Some(
            extremum["false_events"].as_u64().expect("n")
                + clean["false_events"].as_u64().expect("n")
        )
    );

    // Flat lines: values the series has had all along, which the point
    // detectors do not alarm on; the subsequence detector (evaluation
    // only) finds them by their shape.
    let flat = |method: &str| {
        alarms(&["--files", "gen-flat", "--method", method])["total"]["windows_alarmed"]
            .as_u64()
            .expect("count")
    };
    let (robust, discord) = (flat("robust"), flat("discord"));
    assert!(discord > robust + 3, "discord {discord}, robust {robust}");

    // Unlabelled normal data: every mark is a false one, every series
    // counted (the sample's three metrics).
    let sample = home.path().join("sample.csv");
    let made = pulsewatch(
        home.path(),
        &[
            "sample-data",
            "--out",
            sample.to_str().expect("utf-8"),
            "--rows",
            "3000",
        ],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let normal = json(&pulsewatch(
        home.path(),
        &[
            "eval",
            "alarms",
            "--csv",
            sample.to_str().expect("utf-8"),
            "--method",
            "robust",
            "--json",
        ],
    ));
    assert_eq!(normal["total"]["series"], 3, "{normal}");
    assert_eq!(normal["total"]["windows"], 0);

    // Half a pair of options is a mistake that says what is missing.
    let half = pulsewatch(
        home.path(),
        &["eval", "alarms", "--data", data.to_str().expect("utf-8")],
    );
    assert_eq!(half.status.code(), Some(2), "{}", stderr(&half));
    assert!(stderr(&half).contains("--windows"), "{}", stderr(&half));
}
