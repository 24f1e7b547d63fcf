//! Prometheus' `query_range` answers on any bytes: a range result or a
//! described problem, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(result) = pulsewatch::ingest::parse_range_body(data) {
        for series in &result.series {
            let _ = series;
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pulsewatch::ingest::parse_sample_value(text);
    }
});
