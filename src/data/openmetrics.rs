//! Frames as OpenMetrics text, for backfilling Prometheus with
//! `promtool tsdb create-blocks-from openmetrics` (tests, demos, or loading
//! history kept as CSV).

use std::fmt::Write as _;

use super::MetricFrame;

/// A metric name Prometheus accepts: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Splits `cpu{instance="a"}` into (`cpu`, `instance="a"`); a plain name has
/// no labels.
fn split_column(name: &str) -> (&str, &str) {
    match name.split_once('{') {
        Some((base, rest)) => (base, rest.trim_end_matches('}')),
        None => (name, ""),
    }
}

/// Writes every column as a gauge `prefix + column`, `shift_ms` added to each
/// timestamp. Missing values are left out (gaps); ±Inf are kept. Columns
/// named `base{labels}` become series of one family `prefix + base`.
pub fn to_openmetrics(frame: &MetricFrame, prefix: &str, shift_ms: i64) -> String {
    let mut families: Vec<(String, Vec<usize>)> = Vec::new();
    for (index, name) in frame.names().iter().enumerate() {
        let family = sanitize(&format!("{prefix}{}", split_column(name).0));
        match families.iter_mut().find(|(f, _)| *f == family) {
            Some((_, columns)) => columns.push(index),
            None => families.push((family, vec![index])),
        }
    }
    let mut out = String::new();
    for (family, columns) in families {
        let _ = writeln!(out, "# TYPE {family} gauge");
        for index in columns {
            let labels = split_column(&frame.names()[index]).1;
            let series = if labels.is_empty() {
                family.clone()
            } else {
                format!("{family}{{{labels}}}")
            };
            for (t, v) in frame.timestamps_ms().iter().zip(&frame.columns()[index]) {
                if v.is_nan() {
                    continue;
                }
                let value = if *v == f64::INFINITY {
                    "+Inf".to_owned()
                } else if *v == f64::NEG_INFINITY {
                    "-Inf".to_owned()
                } else {
                    v.to_string()
                };
                let ms = t + shift_ms;
                let seconds = if ms % 1000 == 0 {
                    (ms / 1000).to_string()
                } else {
                    format!("{:.3}", ms as f64 / 1000.0)
                };
                let _ = writeln!(out, "{series} {value} {seconds}");
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_series_and_gaps() {
        let frame = MetricFrame::new(
            vec![0, 30_000],
            vec![
                "cpu{instance=\"a\"}".into(),
                "cpu{instance=\"b\"}".into(),
                "mem-used".into(),
            ],
            vec![
                vec![1.5, f64::NAN],
                vec![f64::INFINITY, 2.0],
                vec![3.0, 4.0],
            ],
            None,
        )
        .unwrap();
        let text = to_openmetrics(&frame, "pw_", 1_000_000);
        assert_eq!(
            text,
            "# TYPE pw_cpu gauge\n\
             pw_cpu{instance=\"a\"} 1.5 1000\n\
             pw_cpu{instance=\"b\"} +Inf 1000\n\
             pw_cpu{instance=\"b\"} 2 1030\n\
             # TYPE pw_mem_used gauge\n\
             pw_mem_used 3 1000\n\
             pw_mem_used 4 1030\n\
             # EOF\n"
        );
    }
}
