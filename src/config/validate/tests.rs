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
