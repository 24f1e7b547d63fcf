//! Long CSV files: one line per value (`timestamp`, a column per label,
//! `metric`, `value`, and optionally `is_anomaly`), as `fetch --format long`
//! writes them. Read back one frame per entity (its series as columns, its
//! rows labelled anomalous where any of its lines says so), so a fleet's
//! quality is measured per host.

use std::collections::BTreeMap;
use std::path::Path;

use super::series::{Labels, column_name};
use super::time::parse_timestamp_ms;
use super::{DataError, MetricFrame};

/// One entity of a long file.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityFrame {
    /// The entity's labels (its values of the entity labels).
    pub entity: Labels,
    pub frame: MetricFrame,
}

/// Whether a header line (its column names) is a long file's.
pub fn is_long_header(names: &[&str]) -> bool {
    names
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case("timestamp"))
        && names.contains(&"metric")
        && names.contains(&"value")
}

/// Reads a long file, its series grouped into entities by `entity_labels`.
pub fn read_long_csv(path: &Path, entity_labels: &[String]) -> Result<Vec<EntityFrame>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_long_csv(&bytes, &path.display().to_string(), entity_labels)
}

/// One series' lines: values and labels by timestamp.
#[derive(Default)]
struct SeriesLines {
    labels: Labels,
    values: BTreeMap<i64, (f64, u8)>,
}

/// Parses a long file; `source_name` prefixes every error.
pub fn parse_long_csv(
    bytes: &[u8],
    source_name: &str,
    entity_labels: &[String],
) -> Result<Vec<EntityFrame>, DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(::csv::Trim::All)
        .from_reader(bytes);
    let cell = |line: u64, column: usize, message: String| DataError::Cell {
        source_name: source_name.to_owned(),
        line,
        column,
        message,
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| DataError::Syntax {
            source_name: source_name.to_owned(),
            line: 1,
            message: e.to_string(),
        })?
        .iter()
        .map(str::to_owned)
        .collect();
    let find = |name: &str| header.iter().position(|h| h == name);
    let (Some(metric_at), Some(value_at)) = (find("metric"), find("value")) else {
        return Err(cell(
            1,
            1,
            format!(
                "header `{}` is not a long file's; expected `timestamp,<labels…>,metric,value[,is_anomaly]`",
                header.join(",")
            ),
        ));
    };
    let label_at = find("is_anomaly");
    let label_columns: Vec<usize> = (1..header.len())
        .filter(|i| *i != metric_at && *i != value_at && Some(*i) != label_at)
        .collect();
    let mut series: BTreeMap<String, SeriesLines> = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| DataError::Syntax {
            source_name: source_name.to_owned(),
            line: e.position().map_or(0, |p| p.line()),
            message: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("");
        let stamp = field(0);
        let at_ms = parse_timestamp_ms(stamp).ok_or_else(|| {
            cell(
                line,
                1,
                format!("`{stamp}` is not a timestamp; expected RFC 3339 or Unix seconds"),
            )
        })?;
        let metric = field(metric_at);
        if metric.is_empty() {
            return Err(cell(line, metric_at + 1, "empty metric name".to_owned()));
        }
        let text = field(value_at);
        let value = if text.is_empty() {
            f64::NAN
        } else {
            text.parse::<f64>()
                .map_err(|_| cell(line, value_at + 1, format!("`{text}` is not a number")))?
        };
        let anomalous = match label_at.map(field) {
            None | Some("" | "0") => 0,
            Some("1") => 1,
            Some(other) => {
                return Err(cell(
                    line,
                    label_at.unwrap_or(0) + 1,
                    format!("is_anomaly `{other}`; expected 0 or 1"),
                ));
            }
        };
        let labels: Labels = label_columns
            .iter()
            .filter(|i| !field(**i).is_empty())
            .map(|i| (header[*i].clone(), field(*i).to_owned()))
            .collect();
        let name = column_name(metric, &labels);
        let lines = series.entry(name).or_default();
        lines.labels = labels;
        lines.values.insert(at_ms, (value, anomalous));
    }
    if series.is_empty() {
        return Err(DataError::NoRows {
            source_name: source_name.to_owned(),
            line: 1,
        });
    }
    // Series into entities.
    let mut entities: BTreeMap<String, Vec<(String, SeriesLines)>> = BTreeMap::new();
    for (name, lines) in series {
        let entity = crate::fleet::entity_of(&lines.labels, entity_labels);
        entities
            .entry(crate::fleet::entity_key(&entity))
            .or_default()
            .push((name, lines));
    }
    let mut out = Vec::with_capacity(entities.len());
    for members in entities.into_values() {
        let entity = crate::fleet::entity_of(&members[0].1.labels, entity_labels);
        let mut stamps: Vec<i64> = members
            .iter()
            .flat_map(|(_, l)| l.values.keys().copied())
            .collect();
        stamps.sort_unstable();
        stamps.dedup();
        let mut flags = vec![0u8; stamps.len()];
        let mut names = Vec::with_capacity(members.len());
        let mut columns = Vec::with_capacity(members.len());
        let mut series_labels = Vec::with_capacity(members.len());
        for (name, lines) in members {
            let column: Vec<f64> = stamps
                .iter()
                .zip(flags.iter_mut())
                .map(|(t, flag)| match lines.values.get(t) {
                    Some((v, anomalous)) => {
                        *flag |= anomalous;
                        *v
                    }
                    None => f64::NAN,
                })
                .collect();
            names.push(name);
            columns.push(column);
            series_labels.push(lines.labels);
        }
        let labelled = label_at.is_some().then_some(flags);
        let frame = MetricFrame::new(stamps, names, columns, labelled)?
            .with_series_labels(series_labels)?;
        out.push(EntityFrame { entity, frame });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_one_labelled_frame_per_entity() {
        let text = "timestamp,instance,job,metric,value,is_anomaly\n\
                    1970-01-01T00:00:00Z,a,,cpu,1.5,0\n\
                    1970-01-01T00:00:30Z,a,,cpu,2,1\n\
                    1970-01-01T00:00:00Z,a,node,memory,40,0\n\
                    1970-01-01T00:00:00Z,b,,cpu,3,0\n\
                    1970-01-01T00:00:00Z,,,latency,9,0\n";
        let entities = parse_long_csv(text.as_bytes(), "f.csv", &["instance".to_owned()]).unwrap();
        assert_eq!(entities.len(), 3);
        // The fleet-wide series is an entity of its own (no labels).
        assert!(entities[0].entity.is_empty());
        let a = &entities[1];
        assert_eq!(a.entity["instance"], "a");
        assert_eq!(
            a.frame.names(),
            [r#"cpu{instance="a"}"#, r#"memory{instance="a",job="node"}"#]
        );
        assert_eq!(a.frame.timestamps_ms(), [0, 30_000]);
        assert_eq!(a.frame.labels(), Some(&[0, 1][..]));
        assert!(a.frame.columns()[1][1].is_nan());
        assert_eq!(a.frame.series_labels()[1]["job"], "node");
        // Mistakes are located.
        let bad = "timestamp,instance,metric,value\n1970-01-01T00:00:00Z,a,cpu,x\n";
        let error = parse_long_csv(bad.as_bytes(), "f.csv", &[])
            .unwrap_err()
            .to_string();
        assert_eq!(error, "f.csv:2:4: `x` is not a number");
        let wide = "timestamp,cpu\n1970-01-01T00:00:00Z,1\n";
        let error = parse_long_csv(wide.as_bytes(), "f.csv", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not a long file's"), "{error}");
        assert!(is_long_header(&[
            "timestamp",
            "instance",
            "metric",
            "value"
        ]));
        assert!(!is_long_header(&["timestamp", "cpu"]));
    }
}
