use std::sync::Arc;

use super::*;
use crate::data::MetricFrame;
use crate::engine::monitor::{Assessment, MetricAssessment, View};
use crate::event::{AnomalyEvent, EventSource, Marks};

/// Six hosts × cpu and memory over 200 rows; `host-004` marked at the end
/// on cpu (anomalous now), `host-001` marked early on memory (was marked),
/// `host-002` stale; `host-005` has a job label the others lack.
fn view() -> View {
    let rows = 200;
    let timestamps: Vec<i64> = (0..rows as i64).map(|i| 1_000_000 + i * 30_000).collect();
    let mut names = Vec::new();
    let mut columns = Vec::new();
    for metric in ["cpu", "memory"] {
        for host in 0..6 {
            let job = if host == 5 { ",job=\"db\"" } else { "" };
            names.push(format!("{metric}{{instance=\"host-{host:03}\"{job}}}"));
            columns.push(
                (0..rows)
                    .map(|r| {
                        if host == 3 && r == 77 {
                            900.0
                        } else {
                            (host * 10 + r % 7) as f64
                        }
                    })
                    .collect::<Vec<f64>>(),
            );
        }
    }
    let frame = MetricFrame::new(timestamps, names.clone(), columns, None).expect("frame");
    let mut metrics: Vec<MetricAssessment> = names
        .iter()
        .map(|name| MetricAssessment {
            name: name.clone(),
            marks: Marks::unmarked(rows),
            scores: vec![10.0; rows],
            band: None,
        })
        .collect();
    // cpu of host-004 (column 4): marked in the last rows, scored 80 now.
    metrics[4].marks.raise(rows - 3, 80.0);
    metrics[4].scores[rows - 1] = 80.0;
    // memory of host-001 (column 7): marked long ago, at 95.
    metrics[7].marks.raise(20, 95.0);
    let event = |name: &str, row: i64| AnomalyEvent {
        id: 0,
        metric: name.to_owned(),
        start_ms: 1_000_000 + row * 30_000,
        end_ms: Some(1_000_000 + row * 30_000),
        peak_score: 90.0,
        points: 1,
        model_version: String::new(),
        source: EventSource::Detected,
    };
    let mut view = View::empty();
    view.judged = Arc::new(Assessment {
        first_ms: frame.timestamps_ms().first().copied(),
        rows,
        metrics,
        events: vec![event(&names[7], 20), event(&names[4], 197)],
    });
    view.frame = Arc::new(frame);
    view.fleet.stale = vec![names[2].clone(), names[8].clone()];
    view.fleet.in_probation = vec![names[5].clone()];
    view
}

fn keys(overview: &FleetOverview, lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .map(|line| match line {
            Line::Group { title, .. } => format!("# {title}"),
            Line::Entity(i) => overview.entities[*i].key.clone(),
        })
        .collect()
}

#[test]
fn entities_are_sorted_worst_first_with_the_fleets_counts() {
    let overview = build(&view(), &["instance".to_owned()]);
    assert_eq!(overview.metrics, ["cpu", "memory"]);
    let order: Vec<&str> = overview.entities.iter().map(|e| e.key.as_str()).collect();
    // Anomalous now first, then the marks' excess, then by name.
    assert_eq!(
        order[..3],
        [
            "instance=\"host-004\"",
            "instance=\"host-001\"",
            "instance=\"host-000\""
        ]
    );
    let worst = &overview.entities[0];
    assert!(worst.anomalous_now);
    assert_eq!(worst.events, 1);
    let cpu = worst.cells[0].as_ref().expect("cpu cell");
    assert_eq!(
        (cpu.current, cpu.peak, cpu.marked_rows, cpu.excess),
        (80.0, 80.0, 1, 30.0)
    );
    assert!(cpu.marked_buckets.iter().any(|m| *m));
    let second = &overview.entities[1];
    assert!(!second.anomalous_now, "a mark 180 rows ago is not now");
    assert_eq!((second.peak, second.excess), (95.0, 45.0));
    assert_eq!(
        (
            overview.anomalous_now,
            overview.stale,
            overview.in_probation
        ),
        (1, 1, 1)
    );
    assert_eq!(overview.label_names, ["instance", "job"]);
    let stale = overview.entity("instance=\"host-002\"").expect("host-002");
    assert!(stale.stale && stale.cells.iter().flatten().all(|c| c.stale));
}

#[test]
fn sparklines_are_thinned_to_buckets_and_keep_a_spike() {
    let overview = build(&view(), &["instance".to_owned()]);
    let host = overview.entity("instance=\"host-003\"").expect("host-003");
    let cpu = host.cells[0].as_ref().expect("cpu");
    assert_eq!(cpu.sparkline.len(), SPARK_BUCKETS);
    // The one row at 900 is the window's top: its bucket reaches 1.
    let top = cpu
        .sparkline
        .iter()
        .flatten()
        .map(|b| b.1)
        .fold(0.0, f32::max);
    assert_eq!(top, 1.0);
    let spiked = 77 * SPARK_BUCKETS / 200;
    assert_eq!(cpu.sparkline[spiked].map(|b| b.1), Some(1.0));
    assert!(cpu.sparkline[0].is_some_and(|b| b.1 < 0.1));
}

#[test]
fn the_filter_and_grouping_pick_and_order_lines() {
    let overview = build(&view(), &["instance".to_owned()]);
    let filter = parse_filter("host-00[45]").expect("regex");
    let picked = lines(&overview, filter.as_ref(), None);
    assert_eq!(
        keys(&overview, &picked),
        ["instance=\"host-004\"", "instance=\"host-005\""]
    );
    // The filter reads every label, not just the entity's.
    let db = parse_filter("job=\"db\"").expect("regex");
    assert_eq!(lines(&overview, db.as_ref(), None).len(), 1);
    let grouped = lines(&overview, None, Some("job"));
    let titles = keys(&overview, &grouped);
    // The group holding the worst entity first.
    assert_eq!(titles[0], "# job (none)");
    assert_eq!(titles[1], "instance=\"host-004\"");
    assert_eq!(titles[6], "# job=\"db\"");
    assert_eq!(titles[7], "instance=\"host-005\"");
    assert!(matches!(
        grouped[0],
        Line::Group {
            entities: 5,
            anomalous: 1,
            ..
        }
    ));
    let error = parse_filter("host-(").expect_err("unbalanced");
    assert!(error.starts_with("not a regular expression"), "{error}");
    assert!(parse_filter("  ").expect("empty").is_none());
}

#[test]
fn the_peer_reference_is_the_fleets_median_and_spread() {
    let overview = build(&view(), &["instance".to_owned()]);
    let cpu = overview.peer_reference("cpu").expect("six hosts are peers");
    assert_eq!(cpu.entities, 6);
    assert_eq!(cpu.xs.len(), 200);
    // Row 0: values 0, 10, 20, 30, 40, 50 → upper median 30; deviations
    // 30, 20, 10, 0, 10, 20 → upper median 20.
    assert_eq!(cpu.median[0], 30.0);
    assert!((cpu.upper[0] - (30.0 + 1.4826 * 20.0)).abs() < 1e-9);
    assert!((cpu.lower[0] - (30.0 - 1.4826 * 20.0)).abs() < 1e-9);
}

#[test]
fn a_judging_of_another_frame_gives_no_scores() {
    let mut view = view();
    let mut judged = (*view.judged).clone();
    judged.rows -= 1;
    view.judged = Arc::new(judged);
    let overview = build(&view, &["instance".to_owned()]);
    assert_eq!(overview.anomalous_now, 0);
    assert!(
        overview
            .entities
            .iter()
            .all(|e| e.peak == 0.0 && e.events == 0)
    );
}
