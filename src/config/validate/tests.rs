//! Unit tests of the config validation.

use super::prometheus::normalize_url;

#[test]
fn urls_are_normalized() {
    assert_eq!(normalize_url("http://h:9090/").unwrap(), "http://h:9090");
    assert_eq!(
        normalize_url("http://h/select/0/prometheus/api/v1/query_range").unwrap(),
        "http://h/select/0/prometheus"
    );
    assert!(normalize_url("h:9090").unwrap_err().contains("no scheme"));
    assert!(
        normalize_url("ftp://h")
            .unwrap_err()
            .contains("unsupported scheme")
    );
    assert!(normalize_url("http:///x").unwrap_err().contains("no host"));
}

/// Found by fuzzing (`fuzz/`, target `config`): a number of hours too
/// large for a `Duration` panicked instead of naming the field.
#[test]
fn a_huge_number_for_a_duration_is_an_error_not_a_panic() {
    let text = "prophet_model:\n  forecast_horizon: 603333333333333333333333333333333333333\n";
    let error = crate::config::Config::from_yaml_str(text, "huge.yml")
        .expect_err("out of range")
        .to_string();
    assert!(error.contains("huge.yml:2"), "{error}");
    assert!(error.contains("prophet_model.forecast_horizon"), "{error}");
    assert!(error.contains("out of range"), "{error}");
}
