//! [`Ctx`]: the typed checks of single fields (integers, floats, text,
//! choices, durations), defaults for missing ones, each error located at the
//! field's line and column.

use std::time::Duration;

use serde_saphyr::Spanned;

use crate::config::ConfigError;
use crate::config::duration::parse_duration;
use crate::config::locate::did_you_mean;
use crate::config::raw::{Field, NumberOrText};

pub(super) struct Ctx<'a> {
    pub(super) source_name: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err<T>(
        &self,
        at: &Spanned<T>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            source_name: self.source_name.to_owned(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    pub(super) fn int(
        &self,
        field: &Field<i64>,
        key: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<usize, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default as usize);
        };
        if !range.contains(&spanned.value) {
            return Err(self.err(
                spanned,
                key,
                format!(
                    "{} is out of range; expected an integer from {} to {}",
                    spanned.value,
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(spanned.value as usize)
    }

    pub(super) fn float(
        &self,
        field: &Field<f64>,
        key: &str,
        default: f64,
        valid: impl Fn(f64) -> bool,
        expected: &str,
    ) -> Result<f64, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default);
        };
        if !spanned.value.is_finite() || !valid(spanned.value) {
            return Err(self.err(
                spanned,
                key,
                format!("{} is out of range; expected {expected}", spanned.value),
            ));
        }
        Ok(spanned.value)
    }

    pub(super) fn text(&self, field: &Field<String>, default: &str) -> String {
        field
            .as_ref()
            .map_or_else(|| default.to_owned(), |s| s.value.clone())
    }

    pub(super) fn choice<'o>(
        &self,
        field: &Field<String>,
        key: &str,
        default: &'o str,
        options: &[&'o str],
    ) -> Result<&'o str, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default);
        };
        if let Some(option) = options.iter().find(|o| **o == spanned.value) {
            return Ok(option);
        }
        let mut message = format!("unknown value `{}`", spanned.value);
        if let Some(guess) = did_you_mean(&spanned.value, options) {
            message.push_str(&format!(" (did you mean `{guess}`?)"));
        }
        message.push_str(&format!("; expected one of: {}", options.join(", ")));
        Err(self.err(spanned, key, message))
    }

    /// A positive Prometheus duration.
    pub(super) fn duration(
        &self,
        field: &Field<String>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default);
        };
        let duration = parse_duration(&spanned.value).map_err(|m| self.err(spanned, key, m))?;
        if duration.is_zero() {
            return Err(self.err(spanned, key, "must be longer than zero"));
        }
        Ok(duration)
    }

    /// A positive number in `unit_secs` units, or a positive duration string.
    pub(super) fn number_or_duration(
        &self,
        field: &Field<NumberOrText>,
        key: &str,
        default: Duration,
        unit_secs: f64,
        unit_name: &str,
    ) -> Result<Duration, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default);
        };
        let duration = match &spanned.value {
            // Found by fuzzing: a number too large for a Duration panicked.
            NumberOrText::Number(n)
                if *n > 0.0
                    && let Ok(d) = Duration::try_from_secs_f64(n * unit_secs) =>
            {
                d
            }
            NumberOrText::Number(n) => {
                return Err(self.err(
                    spanned,
                    key,
                    format!(
                        "{n} is out of range; expected a positive number of {unit_name} \
                         or a duration such as \"90m\""
                    ),
                ));
            }
            NumberOrText::Text(text) => {
                parse_duration(text).map_err(|m| self.err(spanned, key, m))?
            }
        };
        if duration.is_zero() {
            return Err(self.err(spanned, key, "must be longer than zero"));
        }
        Ok(duration)
    }
}
