//! The YAML text to a [`RawConfig`]: an empty file means all defaults; a
//! syntax or type error is explained and located at its key.

use crate::config::ConfigError;
use crate::config::locate::{explain_type_error, explain_unknown_key, key_path_at};
use crate::config::raw::RawConfig;

pub fn parse_raw(text: &str, source_name: &str) -> Result<RawConfig, ConfigError> {
    // An empty file (or one holding only comments) means "all defaults".
    let has_content = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && l.trim() != "---");
    if !has_content {
        return Ok(RawConfig::default());
    }
    serde_saphyr::from_str::<RawConfig>(text).map_err(|error| {
        let (line, column) = error
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        // The library's own text may carry a rendered snippet; keep the first line.
        let rendered = error.without_snippet().to_string();
        let first_line = rendered.lines().next().unwrap_or_default();
        // The position is reported separately; drop the library's copy of it.
        let bare = match first_line.rfind(" at line ") {
            Some(at) => &first_line[..at],
            None => first_line,
        };
        let mut message = explain_type_error(bare, text, line, column);
        let mut key = key_path_at(text, line);
        if let Some((field, explained)) = explain_unknown_key(&message) {
            message = explained;
            // The error points at the unknown key itself; make sure the path ends in it.
            if !key.ends_with(&field) {
                key = if key.is_empty() {
                    field
                } else {
                    format!("{key}.{field}")
                };
            }
        }
        ConfigError::Invalid {
            source_name: source_name.to_owned(),
            line,
            column,
            key,
            message,
        }
    })
}
