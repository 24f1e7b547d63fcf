//! Prometheus' JSON envelope: success with a matrix, or an error with
//! `errorType` and `error`; warnings and infos kept for the caller.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One series of a range result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// (Unix ms, value); NaN and ±Inf are values Prometheus returned.
    pub samples: Vec<(i64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RangeResult {
    pub series: Vec<Series>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

/// Why a body is not a usable range result (the client adds query and URL).
#[derive(Debug, Clone, PartialEq)]
pub enum BodyProblem {
    /// Not JSON at all (an HTML error page, a truncated body…).
    NotJson { detail: String, snippet: String },
    /// JSON, but not Prometheus' envelope.
    Shape { detail: String },
    /// `status: error` with Prometheus' own type and message.
    ApiError { error_type: String, error: String },
    /// A result other than a matrix (e.g. a vector from an instant query).
    ResultType { found: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct MatrixSeries {
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// The first characters of a body, on one line, for error messages.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > 120 {
        format!("{}…", one_line.trim())
    } else {
        one_line.trim().to_owned()
    }
}

/// Prometheus' sample strings: decimals, "NaN", "+Inf", "-Inf".
pub fn parse_sample_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

pub fn parse_range_body(body: &[u8]) -> Result<RangeResult, BodyProblem> {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(error) if error.is_syntax() || error.is_eof() => {
            return Err(BodyProblem::NotJson {
                detail: error.to_string(),
                snippet: snippet(body),
            });
        }
        Err(error) => {
            return Err(BodyProblem::Shape {
                detail: error.to_string(),
            });
        }
    };
    if envelope.status != "success" {
        return Err(BodyProblem::ApiError {
            error_type: envelope.error_type.unwrap_or_else(|| "unknown".to_owned()),
            error: envelope.error.unwrap_or_else(|| "(no message)".to_owned()),
        });
    }
    let Some(data) = envelope.data else {
        return Err(BodyProblem::Shape {
            detail: "status is success but there is no `data`".to_owned(),
        });
    };
    if data.result_type != "matrix" {
        return Err(BodyProblem::ResultType {
            found: data.result_type,
        });
    }
    let raw: Vec<MatrixSeries> =
        serde_json::from_value(data.result).map_err(|error| BodyProblem::Shape {
            detail: format!("matrix result: {error}"),
        })?;
    let mut series = Vec::with_capacity(raw.len());
    for s in raw {
        let mut samples = Vec::with_capacity(s.values.len());
        for (t, v) in s.values {
            let value = parse_sample_value(&v).ok_or_else(|| BodyProblem::Shape {
                detail: format!("sample value `{v}` is not a number"),
            })?;
            samples.push(((t * 1000.0).round() as i64, value));
        }
        series.push(Series {
            labels: s.metric,
            samples,
        });
    }
    Ok(RangeResult {
        series,
        warnings: envelope.warnings,
        infos: envelope.infos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_matrix_with_special_values_and_warnings() {
        let body = br#"{"status":"success","warnings":["w1"],"infos":["i1"],
            "data":{"resultType":"matrix","result":[
              {"metric":{"instance":"a"},"values":[[1700000000,"1.5"],[1700000030.5,"NaN"],
                [1700000060,"+Inf"],[1700000090,"-Inf"]]}]}}"#;
        let result = parse_range_body(body).unwrap();
        assert_eq!(result.warnings, ["w1"]);
        assert_eq!(result.infos, ["i1"]);
        let s = &result.series[0];
        assert_eq!(s.labels["instance"], "a");
        assert_eq!(s.samples[0], (1_700_000_000_000, 1.5));
        assert_eq!(s.samples[1].0, 1_700_000_030_500);
        assert!(s.samples[1].1.is_nan());
        assert_eq!(s.samples[2].1, f64::INFINITY);
        assert_eq!(s.samples[3].1, f64::NEG_INFINITY);
    }

    #[test]
    fn classifies_bad_bodies() {
        let html = parse_range_body(b"<html><body>502 Bad Gateway</body></html>").unwrap_err();
        assert!(
            matches!(html, BodyProblem::NotJson { ref snippet, .. } if snippet.starts_with("<html>"))
        );
        let truncated = parse_range_body(br#"{"status":"success","data":{"resultT"#).unwrap_err();
        assert!(matches!(truncated, BodyProblem::NotJson { .. }));
        let error = parse_range_body(
            br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
        )
        .unwrap_err();
        assert_eq!(
            error,
            BodyProblem::ApiError {
                error_type: "bad_data".into(),
                error: "parse error at char 5".into()
            }
        );
        let vector =
            parse_range_body(br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#)
                .unwrap_err();
        assert_eq!(
            vector,
            BodyProblem::ResultType {
                found: "vector".into()
            }
        );
        let shape = parse_range_body(
            br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":1}]}}"#,
        )
        .unwrap_err();
        assert!(matches!(shape, BodyProblem::Shape { .. }));
        let not_envelope = parse_range_body(br#"[1,2,3]"#).unwrap_err();
        assert!(matches!(not_envelope, BodyProblem::Shape { .. }));
    }
}
