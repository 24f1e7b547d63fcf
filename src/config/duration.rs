//! Prometheus-style durations ("15s", "1h30m", "250ms"), parsed and printed.

use std::time::Duration;

/// Parses a Prometheus duration: one or more `<integer><unit>` pairs with units
/// `ms`, `s`, `m`, `h`, `d`, `w`, `y`, largest unit first, each unit at most once.
/// Returns a message saying what was expected when the text is malformed.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let expected = "expected a duration such as \"30s\", \"5m\" or \"1h30m\" \
                    (units ms, s, m, h, d, w, y)";
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration; {expected}"));
    }
    if trimmed.starts_with('-') {
        return Err(format!("negative duration \"{trimmed}\"; {expected}"));
    }
    let bytes = trimmed.as_bytes();
    let mut pos = 0;
    let mut total_ms: u64 = 0;
    // Index into UNITS of the last unit seen: units must strictly decrease.
    let mut last_unit: Option<usize> = None;
    while pos < bytes.len() {
        let digits_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == digits_start {
            return Err(format!("malformed duration \"{trimmed}\"; {expected}"));
        }
        let number: u64 = trimmed[digits_start..pos]
            .parse()
            .map_err(|_| format!("number too large in duration \"{trimmed}\""))?;
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &trimmed[unit_start..pos];
        if unit.is_empty() {
            return Err(format!(
                "duration \"{trimmed}\" has a number without a unit; {expected}"
            ));
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit \"{unit}\" in duration \"{trimmed}\"; {expected}"
            ));
        };
        if last_unit.is_some_and(|last| index <= last) {
            return Err(format!(
                "units out of order in duration \"{trimmed}\"; {expected}"
            ));
        }
        last_unit = Some(index);
        total_ms = number
            .checked_mul(UNITS[index].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| format!("duration \"{trimmed}\" is too large"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way Prometheus prints one ("1h30m", "30s", "0s").
pub fn format_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(
            parse_duration("1m30s500ms"),
            Ok(Duration::from_millis(90_500))
        );
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in ["", "10", "abc", "-5s", "5x", "30s1m", "1h1h", "1.5h", "h"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains("duration"), "{bad}: {err}");
        }
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .contains("unknown unit \"x\"")
        );
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
    }

    #[test]
    fn formats_round_trip() {
        for text in ["30s", "1h30m", "250ms", "1d2h", "0s"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(format_duration(parsed), text);
        }
    }
}
