//! UTC timestamps as Unix milliseconds: parsing the formats CSV files use and
//! printing RFC 3339. Hand-written because it sits on the CSV hot path.

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Numbers at or above this are Unix milliseconds, below it Unix seconds
/// (1e11 s is the year 5138; 1e11 ms is 1973).
const MILLIS_CUTOFF: f64 = 1e11;

/// Parses RFC 3339 / ISO 8601 (`2026-01-01T00:00:00Z`, with an offset, with
/// fractional seconds, or without a zone = UTC), `YYYY-MM-DD HH:MM:SS`,
/// `YYYY-MM-DD`, or Unix seconds / milliseconds. Returns Unix milliseconds.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let s = text.trim().as_bytes();
    if s.len() >= 10 && s[4] == b'-' && s[7] == b'-' {
        parse_iso(s)
    } else {
        parse_unix(text.trim())
    }
}

fn parse_unix(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits_only = !bytes.is_empty()
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && *b == b'-'));
    if digits_only {
        let value: i64 = text.parse().ok()?;
        return if (value.unsigned_abs() as f64) >= MILLIS_CUTOFF {
            Some(value)
        } else {
            value.checked_mul(1000)
        };
    }
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let ms = if value.abs() >= MILLIS_CUTOFF {
        value
    } else {
        value * 1000.0
    };
    (ms.abs() < 9.0e15).then(|| ms.round() as i64)
}

fn two(s: &[u8], at: usize) -> Option<u32> {
    let a = s.get(at)?.wrapping_sub(b'0');
    let b = s.get(at + 1)?.wrapping_sub(b'0');
    (a < 10 && b < 10).then_some(u32::from(a) * 10 + u32::from(b))
}

fn parse_iso(s: &[u8]) -> Option<i64> {
    let year = i64::from(two(s, 0)? * 100 + two(s, 2)?);
    let month = two(s, 5)?;
    let day = two(s, 8)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let mut pos = 10;
    if pos == s.len() {
        return Some(ms);
    }
    if s[pos] != b'T' && s[pos] != b't' && s[pos] != b' ' {
        return None;
    }
    pos += 1;
    let hour = two(s, pos)?;
    if s.get(pos + 2) != Some(&b':') {
        return None;
    }
    let minute = two(s, pos + 3)?;
    pos += 5;
    let mut second = 0;
    if s.get(pos) == Some(&b':') {
        second = two(s, pos + 1)?;
        pos += 3;
    }
    // 60 allows a leap second, folded into the next minute like chrono does.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    ms += i64::from(hour * 3600 + minute * 60 + second) * 1000;
    if s.get(pos) == Some(&b'.') || s.get(pos) == Some(&b',') {
        pos += 1;
        let start = pos;
        let mut fraction_ms = 0i64;
        while pos < s.len() && s[pos].is_ascii_digit() {
            if pos - start < 3 {
                fraction_ms = fraction_ms * 10 + i64::from(s[pos] - b'0');
            }
            pos += 1;
        }
        if pos == start {
            return None;
        }
        for _ in (pos - start)..3 {
            fraction_ms *= 10;
        }
        ms += fraction_ms;
    }
    let zone = &s[pos..];
    let zone = zone.strip_prefix(b" ").unwrap_or(zone);
    let offset_ms = match zone {
        [] | b"Z" | b"z" | b"UTC" | b"GMT" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let hours = two(rest, 0)?;
            let minutes = match rest.len() {
                2 => 0,
                4 => two(rest, 2)?,
                5 if rest[2] == b':' => two(rest, 3)?,
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = i64::from(hours * 3600 + minutes * 60) * 1000;
            if *sign == b'+' { offset } else { -offset }
        }
        _ => return None,
    };
    Some(ms - offset_ms)
}

/// RFC 3339 in UTC: `2026-01-01T00:00:00Z`, with `.mmm` only when needed.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let secs = in_day / 1000;
    let millis = in_day % 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if millis == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN1_2026: i64 = 1_767_225_600_000;

    #[test]
    fn parses_every_supported_form() {
        for text in [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01 00:00:00",
            "2026-01-01",
            "2026-01-01T01:00:00+01:00",
            "2025-12-31T19:00:00-0500",
            "2026-01-01T00:00:00.000Z",
            "2026-01-01 00:00",
            "1767225600",
            "1767225600000",
            "1767225600.0",
            " 2026-01-01T00:00:00Z ",
        ] {
            assert_eq!(parse_timestamp_ms(text), Some(JAN1_2026), "{text}");
        }
        assert_eq!(
            parse_timestamp_ms("2026-01-01T00:00:00.25Z"),
            Some(JAN1_2026 + 250)
        );
        assert_eq!(parse_timestamp_ms("1767225600.5"), Some(JAN1_2026 + 500));
    }

    #[test]
    fn rejects_garbage_and_impossible_dates() {
        for text in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-01-01T25:00:00",
            "2026-01-01T00:00:00+25:00",
            "2026-01-01X00:00:00",
            "2026-01-01T00:00:00Zjunk",
            "NaN",
        ] {
            assert_eq!(parse_timestamp_ms(text), None, "{text}");
        }
        assert_eq!(parse_timestamp_ms("2024-02-29"), Some(1_709_164_800_000));
    }

    #[test]
    fn civil_round_trip_and_format() {
        for days in [-800_000, -1, 0, 1, 20_454, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(format_rfc3339_ms(JAN1_2026), "2026-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_ms(JAN1_2026 + 1_500),
            "2026-01-01T00:00:01.500Z"
        );
        assert_eq!(format_rfc3339_ms(-1000), "1969-12-31T23:59:59Z");
    }
}
