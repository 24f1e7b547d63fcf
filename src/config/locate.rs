//! Helpers that turn positions and serde messages into what a person reads:
//! the dotted key at a line, and "did you mean" for near-miss names.

/// The dotted key path (`lstm_model.epochs`) of the block-style mapping key on
/// `line` (1-based), found by walking up to less-indented parent keys.
pub fn key_path_at(text: &str, line: u64) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(index) = (line as usize).checked_sub(1).filter(|i| *i < lines.len()) else {
        return String::new();
    };
    let mut path = Vec::new();
    let mut indent = usize::MAX;
    for candidate in lines[..=index].iter().rev() {
        let Some((this_indent, key)) = key_of(candidate) else {
            continue;
        };
        if this_indent < indent {
            path.push(key);
            indent = this_indent;
            if indent == 0 {
                break;
            }
        }
    }
    path.reverse();
    path.join(".")
}

/// Indentation and key of a `key: value` line; `None` for blanks, comments
/// and lines without a key.
fn key_of(line: &str) -> Option<(usize, String)> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let indent = line.len() - trimmed.len();
    let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
    let colon = body.find(':')?;
    let key = body[..colon].trim().trim_matches(|c| c == '"' || c == '\'');
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    valid.then(|| (indent, key.to_owned()))
}

/// The parser's wording for a value of the wrong type, said as what was
/// expected and what was found (the scalar at `line`:`column`).
pub fn explain_type_error(message: &str, text: &str, line: u64, column: u64) -> String {
    let found = scalar_at(text, line, column);
    let expected = match message {
        "invalid i64" | "invalid u64" | "invalid i32" | "invalid u32" => "an integer",
        "invalid f64" | "invalid f32" => "a number",
        m if m.contains("bool") => "true or false",
        "expected mapping start" => "a mapping (indented `key: value` lines)",
        "expected string scalar" => "a plain string",
        _ => return message.to_owned(),
    };
    match found {
        Some(found) => format!("expected {expected}, found `{found}`"),
        None => format!("expected {expected}"),
    }
}

/// The rest of the line from a 1-based position, without a trailing comment.
fn scalar_at(text: &str, line: u64, column: u64) -> Option<String> {
    let line_text = text.lines().nth((line as usize).checked_sub(1)?)?;
    let rest: String = line_text
        .chars()
        .skip((column as usize).checked_sub(1)?)
        .collect();
    let value = rest.split(" #").next().unwrap_or_default().trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The closest of `candidates` to `word`, if close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (levenshtein(&word.to_lowercase(), &c.to_lowercase()), *c))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous_diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous_diagonal + usize::from(ca != *cb);
            previous_diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Rewrites serde's "unknown field `x`, expected one of a, b" into
/// "unknown key `x` (did you mean `a`?); expected one of: a, b".
pub fn explain_unknown_key(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest
        .split_once("expected one of ")
        .map(|(_, list)| list.split(", ").map(|k| k.trim_matches('`')).collect())
        .unwrap_or_default();
    let mut text = format!("unknown key `{field}`");
    if let Some(guess) = did_you_mean(field, &expected) {
        text.push_str(&format!(" (did you mean `{guess}`?)"));
    }
    if !expected.is_empty() {
        text.push_str(&format!("; expected one of: {}", expected.join(", ")));
    }
    Some((field.to_owned(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_key_paths() {
        let text =
            "app:\n  name: x\n# comment\nlstm_model:\n  threshold:\n    method: p\n  epochs: 3\n";
        assert_eq!(key_path_at(text, 2), "app.name");
        assert_eq!(key_path_at(text, 6), "lstm_model.threshold.method");
        assert_eq!(key_path_at(text, 7), "lstm_model.epochs");
        assert_eq!(key_path_at(text, 4), "lstm_model");
        assert_eq!(key_path_at(text, 99), "");
    }

    #[test]
    fn suggests_near_misses_only() {
        let keys = ["epochs", "enabled", "hidden_size"];
        assert_eq!(did_you_mean("epoch", &keys), Some("epochs"));
        assert_eq!(did_you_mean("hiden_size", &keys), Some("hidden_size"));
        assert_eq!(did_you_mean("colour", &keys), None);
    }

    #[test]
    fn explains_unknown_field_messages() {
        let (field, text) =
            explain_unknown_key("unknown field `epoch`, expected one of enabled, epochs").unwrap();
        assert_eq!(field, "epoch");
        assert_eq!(
            text,
            "unknown key `epoch` (did you mean `epochs`?); expected one of: enabled, epochs"
        );
    }
}
