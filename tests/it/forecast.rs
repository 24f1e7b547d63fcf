//! Forecasts on real files: parity with the Python Prophet peer on its own
//! data (`tests/fixtures/metrics_10k.csv` and its horizon forecast
//! `peer_forecast_10k.csv`, copied from shared/reference), and the
//! `forecast` command end to end.

use pulsewatch::config::Config;
use pulsewatch::data::{self, MetricFrame};
use pulsewatch::eval;
use pulsewatch::forecast::{self, ForecastModel, ForecastSettings, reference, rows_outside_band};

use crate::support::{pulsewatch, repo_path, stderr, stdout};

fn peer_frame() -> MetricFrame {
    data::read_csv(&repo_path("tests/fixtures/metrics_10k.csv"))
        .expect("fixture")
        .frame
}

#[test]
fn prophet_agrees_with_the_python_peer() {
    let frame = peer_frame();
    let config = Config::builtin().expect("defaults");
    // The built-in defaults are the peer's reference settings.
    assert_eq!(config.prophet.changepoint_prior_scale, 0.1);
    assert_eq!(config.prophet.interval_width, 0.8);
    let settings = ForecastSettings::from_config(&config, ForecastModel::Prophet);
    let result = forecast::forecast_frame(&frame, &settings).expect("forecast");
    assert_eq!(result.horizon_points, 120);

    let text = std::fs::read_to_string(repo_path("tests/fixtures/peer_forecast_10k.csv"))
        .expect("peer forecast");
    let peer = reference::parse_reference(&text, "peer_forecast_10k.csv").expect("parse");
    for (metric, tolerance) in [("cpu", 0.02), ("memory", 0.02), ("latency", 0.10)] {
        let ours = result.get(metric).expect("forecast for metric");
        let agreement = reference::agreement(ours, &peer[metric]).expect("same timestamps");
        assert_eq!(
            agreement.points, 120,
            "{metric}: every horizon point compared"
        );
        assert!(
            agreement.max_relative_yhat <= tolerance,
            "{metric}: yhat off by {:.2} % (allowed {:.0} %)",
            100.0 * agreement.max_relative_yhat,
            100.0 * tolerance
        );
        // The bands are Monte-Carlo on both sides: same width within 25 %.
        assert!(
            agreement.max_relative_half_width <= 0.25,
            "{metric}: band half-width off by {:.1} %",
            100.0 * agreement.max_relative_half_width
        );
    }

    let series: Vec<_> = result
        .series
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .collect();
    let outside = rows_outside_band(&frame, &series);
    let metrics = eval::point_metrics(&outside, frame.labels().expect("labels"));
    assert!(
        (metrics.f1 - 0.551).abs() <= 0.05,
        "band F1 {:.3} vs the peer's 0.551",
        metrics.f1
    );
}

#[test]
fn forecast_command_writes_the_table_and_scores_the_band() {
    let home = tempfile::tempdir().expect("tempdir");
    let csv = repo_path("tests/fixtures/metrics_10k.csv");
    let out = home.path().join("forecast.csv");
    let output = pulsewatch(
        home.path(),
        &[
            "forecast",
            "--csv",
            csv.to_str().expect("utf-8"),
            "--model",
            "mstl",
            "--horizon",
            "30m",
            "--out",
            out.to_str().expect("utf-8"),
            "--json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(summary["model"], "mstl");
    assert_eq!(summary["horizon_points"], 60);
    let series = summary["series"].as_array().expect("series");
    assert_eq!(series.len(), 3);
    for s in series {
        assert_eq!(s["horizon"]["yhat"].as_array().expect("yhat").len(), 60);
        assert_eq!(
            s["horizon"]["timestamps"][0], "2026-01-04T11:20:00Z",
            "the horizon starts one step after the last row"
        );
        assert!(s["fit_seconds"].as_f64().expect("timing") > 0.0);
    }
    let recall = summary["metrics"]["recall"]
        .as_f64()
        .expect("labels scored");
    assert!((0.0..=1.0).contains(&recall));

    let table = std::fs::read_to_string(&out).expect("forecast csv");
    let mut lines = table.lines();
    assert_eq!(
        lines.next(),
        Some("metric,timestamp,part,y,yhat,yhat_lower,yhat_upper,band_score")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3 * (10_000 + 60));
    // Every signed band score agrees with its own row's y and band.
    let mut outside = 0;
    for row in &rows {
        if row[2] == "horizon" {
            assert!(row[3].is_empty() && row[7].is_empty());
            continue;
        }
        let num = |i: usize| row[i].parse::<f64>().expect("number");
        let (y, lower, upper) = (num(3), num(5), num(6));
        match row[7] {
            "" => assert!(lower <= y && y <= upper, "{row:?}"),
            score => {
                outside += 1;
                let score: f64 = score.parse().expect("score");
                let half = (upper - lower) / 2.0;
                let expected = if y > upper {
                    (y - upper) / half
                } else {
                    -(lower - y) / half
                };
                assert!((score - expected).abs() < 1e-3, "{row:?}");
            }
        }
    }
    let reported: u64 = summary["outside_band"]["per_metric"]
        .as_array()
        .expect("per metric")
        .iter()
        .map(|m| m["above"].as_u64().unwrap_or(0) + m["below"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(outside, reported);
}

#[test]
fn forecast_command_says_how_much_history_is_missing() {
    let home = tempfile::tempdir().expect("tempdir");
    let csv = home.path().join("short.csv");
    std::fs::write(
        &csv,
        "timestamp,cpu\n2026-01-01T00:00:00Z,1\n2026-01-01T00:00:30Z,2\n\
         2026-01-01T00:01:00Z,3\n2026-01-01T00:01:30Z,2\n",
    )
    .expect("write");
    let output = pulsewatch(
        home.path(),
        &["forecast", "--csv", csv.to_str().expect("utf-8")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.contains("cpu: prophet needs at least 10 points (5 min) of history, have 4"),
        "{message}"
    );
}

#[test]
fn forecast_command_rejects_a_bad_horizon() {
    let home = tempfile::tempdir().expect("tempdir");
    let csv = repo_path("tests/fixtures/metrics_10k.csv");
    let output = pulsewatch(
        home.path(),
        &[
            "forecast",
            "--csv",
            csv.to_str().expect("utf-8"),
            "--horizon",
            "an hour",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--horizon"), "{}", stderr(&output));
}
