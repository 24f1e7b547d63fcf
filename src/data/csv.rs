//! CSV ⇄ [`MetricFrame`]. Reads `timestamp,<metrics…>[,is_anomaly|label]`
//! with any of the timestamp forms in [`super::time`]; every error names the
//! file, line and column.

use std::path::Path;

use super::time::{format_rfc3339_ms, parse_timestamp_ms};
use super::{DataError, DataWarning, MetricFrame};

/// Header names recognised as the 0/1 label column.
const LABEL_NAMES: [&str; 4] = ["is_anomaly", "label", "anomaly", "is_anomalous"];

/// Cells that mean "no value" (stored as NaN).
const MISSING: [&str; 6] = ["", "nan", "NaN", "NA", "null", "None"];

/// A loaded frame and what was fixed while loading it.
#[derive(Debug, Clone)]
pub struct CsvLoad {
    pub frame: MetricFrame,
    pub warnings: Vec<DataWarning>,
}

/// Reads a CSV file.
pub fn read_csv(path: &Path) -> Result<CsvLoad, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_csv(&bytes, &path.display().to_string())
}

/// Parses CSV bytes; `source_name` prefixes every error.
pub fn parse_csv(bytes: &[u8], source_name: &str) -> Result<CsvLoad, DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError::Empty {
            source_name: source_name.to_owned(),
        });
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(bytes);
    let cell_error = |line: u64, column: usize, message: String| DataError::Cell {
        source_name: source_name.to_owned(),
        line,
        column,
        message,
    };
    let syntax_error = |error: ::csv::Error| DataError::Syntax {
        source_name: source_name.to_owned(),
        line: error.position().map_or(0, |p| p.line()),
        message: error.to_string(),
    };

    let mut record = ::csv::ByteRecord::new();
    // Skip blank lines before the header.
    loop {
        if !reader.read_byte_record(&mut record).map_err(syntax_error)? {
            return Err(DataError::Empty {
                source_name: source_name.to_owned(),
            });
        }
        if !(record.len() == 1 && record[0].is_empty()) {
            break;
        }
    }
    let header_line = record.position().map_or(1, |p| p.line());
    let mut header = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let name = std::str::from_utf8(field)
            .map_err(|_| cell_error(header_line, i + 1, "header is not valid UTF-8".to_owned()))?;
        if name.is_empty() {
            return Err(cell_error(
                header_line,
                i + 1,
                "empty column name in the header".to_owned(),
            ));
        }
        if header.contains(&name.to_owned()) {
            return Err(cell_error(
                header_line,
                i + 1,
                format!("column `{name}` appears twice in the header"),
            ));
        }
        header.push(name.to_owned());
    }
    if header.len() < 2 {
        return Err(cell_error(
            header_line,
            1,
            format!(
                "header `{}` has one column; expected `timestamp,<value columns…>`",
                header.join(",")
            ),
        ));
    }
    if parse_timestamp_ms(&header[0]).is_some() || header[1].parse::<f64>().is_ok() {
        return Err(cell_error(
            header_line,
            1,
            "the first line looks like data; expected a header such as `timestamp,value`"
                .to_owned(),
        ));
    }
    let label_index = header
        .iter()
        .skip(1)
        .position(|name| LABEL_NAMES.contains(&name.to_ascii_lowercase().as_str()))
        .map(|i| i + 1);
    let value_indices: Vec<usize> = (1..header.len())
        .filter(|i| Some(*i) != label_index)
        .collect();
    if value_indices.is_empty() {
        return Err(cell_error(
            header_line,
            2,
            "no value columns; expected at least one metric column besides the label".to_owned(),
        ));
    }

    let mut timestamps: Vec<i64> = Vec::new();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); value_indices.len()];
    let mut labels: Vec<u8> = Vec::new();
    let mut last_line = header_line;
    while reader.read_byte_record(&mut record).map_err(syntax_error)? {
        let line = record.position().map_or(0, |p| p.line());
        last_line = line;
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        if record.len() != header.len() {
            return Err(DataError::Ragged {
                source_name: source_name.to_owned(),
                line,
                found: record.len(),
                expected: header.len(),
            });
        }
        let text = |column: usize| {
            std::str::from_utf8(&record[column]).map_err(|_| {
                cell_error(
                    line,
                    column + 1,
                    format!("column `{}` is not valid UTF-8", header[column]),
                )
            })
        };
        let stamp = text(0)?;
        let Some(ms) = parse_timestamp_ms(stamp) else {
            return Err(cell_error(
                line,
                1,
                format!(
                    "cannot parse timestamp `{stamp}`; expected RFC 3339 \
                     (2026-01-01T00:00:00Z), `YYYY-MM-DD HH:MM:SS`, or Unix seconds/milliseconds"
                ),
            ));
        };
        timestamps.push(ms);
        for (slot, &column) in value_indices.iter().enumerate() {
            let cell = text(column)?;
            let value = match cell.parse::<f64>() {
                Ok(v) => v,
                Err(_) if MISSING.contains(&cell) => f64::NAN,
                Err(_) => {
                    return Err(cell_error(
                        line,
                        column + 1,
                        format!(
                            "column `{}`: `{cell}` is not a number; expected a decimal \
                             number, or an empty cell for a missing value",
                            header[column]
                        ),
                    ));
                }
            };
            columns[slot].push(value);
        }
        if let Some(column) = label_index {
            let cell = text(column)?;
            let label = match cell {
                "0" | "0.0" | "false" | "False" => 0,
                "1" | "1.0" | "true" | "True" => 1,
                _ => {
                    return Err(cell_error(
                        line,
                        column + 1,
                        format!("label column `{}`: `{cell}` is not 0 or 1", header[column]),
                    ));
                }
            };
            labels.push(label);
        }
    }
    if timestamps.is_empty() {
        return Err(DataError::NoRows {
            source_name: source_name.to_owned(),
            line: last_line,
        });
    }
    let names: Vec<String> = value_indices.iter().map(|i| header[*i].clone()).collect();
    let labels = label_index.map(|_| labels);
    let (frame, warnings) = sorted_frame(timestamps, names, columns, labels)?;
    Ok(CsvLoad { frame, warnings })
}

/// Sorts rows by time (stable) and keeps the last row of each timestamp,
/// reporting both fixes.
fn sorted_frame(
    timestamps: Vec<i64>,
    names: Vec<String>,
    columns: Vec<Vec<f64>>,
    labels: Option<Vec<u8>>,
) -> Result<(MetricFrame, Vec<DataWarning>), DataError> {
    let mut warnings = Vec::new();
    if timestamps.windows(2).all(|w| w[0] < w[1]) {
        return Ok((
            MetricFrame::new(timestamps, names, columns, labels)?,
            warnings,
        ));
    }
    let unsorted = timestamps.windows(2).filter(|w| w[1] < w[0]).count();
    if unsorted > 0 {
        warnings.push(DataWarning::Unsorted { rows: unsorted });
    }
    let mut order: Vec<usize> = (0..timestamps.len()).collect();
    order.sort_by_key(|&i| timestamps[i]);
    // Within equal timestamps the stable sort keeps file order: keep the last.
    let mut kept: Vec<usize> = Vec::with_capacity(order.len());
    for i in order {
        match kept.last_mut() {
            Some(last) if timestamps[*last] == timestamps[i] => *last = i,
            _ => kept.push(i),
        }
    }
    let duplicates = timestamps.len() - kept.len();
    if duplicates > 0 {
        warnings.push(DataWarning::Duplicates { rows: duplicates });
    }
    let frame = MetricFrame::new(
        kept.iter().map(|&i| timestamps[i]).collect(),
        names,
        columns
            .iter()
            .map(|c| kept.iter().map(|&i| c[i]).collect())
            .collect(),
        labels.map(|l| kept.iter().map(|&i| l[i]).collect()),
    )?;
    Ok((frame, warnings))
}

/// Writes a frame as CSV text: RFC 3339 timestamps, empty cells for NaN,
/// `is_anomaly` when the frame has labels.
pub fn write_csv_to(frame: &MetricFrame, out: &mut String) {
    use std::fmt::Write;
    out.push_str("timestamp");
    for name in frame.names() {
        out.push(',');
        // `memory{instance="a",job="b"}` holds commas and quotes.
        out.push_str(&quote_field(name));
    }
    if frame.labels().is_some() {
        out.push_str(",is_anomaly");
    }
    out.push('\n');
    for row in 0..frame.len() {
        out.push_str(&format_rfc3339_ms(frame.timestamps_ms()[row]));
        for column in frame.columns() {
            out.push(',');
            let value = column[row];
            if !value.is_nan() {
                // Writing to a String cannot fail.
                let _ = write!(out, "{value}");
            }
        }
        if let Some(labels) = frame.labels() {
            let _ = write!(out, ",{}", labels[row]);
        }
        out.push('\n');
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
pub(crate) fn quote_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        std::borrow::Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The frame in long form: one line per value, `timestamp`, one column per
/// label name any series has (sorted), `metric`, `value`; missing values
/// are left out.
pub fn write_long_csv_to(frame: &MetricFrame, out: &mut String) {
    use std::fmt::Write;
    let keys: std::collections::BTreeSet<&String> = frame
        .series_labels()
        .iter()
        .flat_map(|labels| labels.keys())
        .filter(|k| !k.starts_with("__") && k.as_str() != "metric" && k.as_str() != "value")
        .collect();
    out.push_str("timestamp");
    for key in &keys {
        out.push(',');
        out.push_str(key);
    }
    out.push_str(",metric,value\n");
    let prefixes: Vec<String> = (0..frame.names().len())
        .map(|c| {
            let labels = &frame.series_labels()[c];
            let mut prefix = String::new();
            for key in &keys {
                prefix.push(',');
                prefix.push_str(&quote_field(labels.get(*key).map_or("", String::as_str)));
            }
            prefix.push(',');
            prefix.push_str(&quote_field(&frame.metric_of(c)));
            prefix
        })
        .collect();
    for row in 0..frame.len() {
        let stamp = format_rfc3339_ms(frame.timestamps_ms()[row]);
        for (column, prefix) in frame.columns().iter().zip(&prefixes) {
            let value = column[row];
            if !value.is_nan() {
                let _ = writeln!(out, "{stamp}{prefix},{value}");
            }
        }
    }
}

/// Writes a frame to `path` atomically (temp file, then rename).
pub fn write_csv(frame: &MetricFrame, path: &Path) -> Result<(), DataError> {
    let mut text = String::with_capacity(frame.len() * (24 + 10 * frame.names().len()));
    write_csv_to(frame, &mut text);
    crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|source| DataError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CsvLoad, DataError> {
        parse_csv(text.as_bytes(), "t.csv")
    }

    #[test]
    fn labelled_series_round_trip_wide_and_write_long() {
        let a = r#"memory{instance="a",job="node"}"#;
        let frame = MetricFrame::new(
            vec![0, 30_000],
            vec![a.to_owned(), "latency".to_owned()],
            vec![vec![1.5, f64::NAN], vec![2.0, 3.0]],
            None,
        )
        .unwrap();
        let mut wide = String::new();
        write_csv_to(&frame, &mut wide);
        assert!(
            wide.starts_with("timestamp,\"memory{instance=\"\"a\"\",job=\"\"node\"\"}\",latency\n"),
            "{wide}"
        );
        let back = parse(&wide).unwrap().frame;
        assert_eq!(back.names(), frame.names());
        assert_eq!(back.series_labels()[0]["instance"], "a");
        let mut long = String::new();
        write_long_csv_to(&frame, &mut long);
        assert_eq!(
            long,
            "timestamp,instance,job,metric,value\n\
             1970-01-01T00:00:00Z,a,node,memory,1.5\n\
             1970-01-01T00:00:00Z,,,latency,2\n\
             1970-01-01T00:00:30Z,,,latency,3\n"
        );
    }

    #[test]
    fn reads_univariate_and_labelled_files() {
        let load =
            parse("timestamp,value\n2026-01-01 00:00:00,1.5\n2026-01-01 00:00:30,2\n").unwrap();
        assert_eq!(load.frame.names(), ["value"]);
        assert_eq!(load.frame.column("value").unwrap(), [1.5, 2.0]);
        assert!(load.frame.labels().is_none());
        assert!(load.warnings.is_empty());

        let load = parse("ts,cpu,is_anomaly,mem\n1767225600,1,0,\n1767225630,2,1,3\n").unwrap();
        assert_eq!(load.frame.names(), ["cpu", "mem"]);
        assert_eq!(load.frame.labels().unwrap(), [0, 1]);
        assert!(load.frame.column("mem").unwrap()[0].is_nan());
    }

    #[test]
    fn sorts_and_deduplicates_with_warnings() {
        let load = parse("t,v\n30,1\n0,2\n30,3\n60,4\n").unwrap();
        assert_eq!(load.frame.timestamps_ms(), [0, 30_000, 60_000]);
        assert_eq!(load.frame.column("v").unwrap(), [2.0, 3.0, 4.0]);
        assert_eq!(
            load.warnings,
            [
                DataWarning::Unsorted { rows: 1 },
                DataWarning::Duplicates { rows: 1 }
            ]
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            ("", "t.csv: the file is empty"),
            (
                "timestamp,value\n",
                "t.csv:1: no data rows after the header",
            ),
            (
                "timestamp,value\n0,1\n30,abc\n",
                "t.csv:3:2: column `value`: `abc` is not a number",
            ),
            (
                "timestamp,value\n0,1\n30,1,2\n",
                "t.csv:3: row has 3 fields, but the header has 2",
            ),
            (
                "timestamp,value\nnoon,1\n",
                "t.csv:2:1: cannot parse timestamp `noon`",
            ),
            (
                "timestamp\n0\n",
                "t.csv:1:1: header `timestamp` has one column",
            ),
            ("0,1\n30,2\n", "t.csv:1:1: the first line looks like data"),
            (
                "t,v,label\n0,1,7\n",
                "t.csv:2:3: label column `label`: `7` is not 0 or 1",
            ),
            ("t,v,v\n0,1,2\n", "t.csv:1:3: column `v` appears twice"),
        ];
        for (text, expected) in cases {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.starts_with(expected), "{text:?}: {message}");
        }
        let bad_utf8 = parse_csv(b"t,v\n0,\xff\xfe\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(
            bad_utf8.starts_with("t.csv:2:2: column `v` is not valid UTF-8"),
            "{bad_utf8}"
        );
    }

    #[test]
    fn write_then_read_round_trips() {
        let frame = MetricFrame::new(
            vec![1_767_225_600_000, 1_767_225_630_500],
            vec!["cpu".into(), "mem".into()],
            vec![vec![1.25, f64::NAN], vec![0.1, 1e-9]],
            Some(vec![0, 1]),
        )
        .unwrap();
        let mut text = String::new();
        write_csv_to(&frame, &mut text);
        assert!(
            text.starts_with("timestamp,cpu,mem,is_anomaly\n2026-01-01T00:00:00Z,1.25,0.1,0\n")
        );
        let back = parse(&text).unwrap().frame;
        assert_eq!(back.timestamps_ms(), frame.timestamps_ms());
        assert_eq!(back.labels(), frame.labels());
        assert_eq!(back.column("mem").unwrap(), frame.column("mem").unwrap());
        assert!(back.column("cpu").unwrap()[1].is_nan());
    }
}
