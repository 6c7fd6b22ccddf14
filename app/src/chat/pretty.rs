//! Tool arguments and results as a card shows them: JSON pretty-printed, and long blocks folded.
//!
//! The server pretty-prints ([`pretty_json`]), so the browser bundle carries no JSON formatter and every
//! live update ships the text once, already in the form shown and copied. The text is re-indented, never
//! re-serialized: keys keep the order (and any repetition) they came in, numbers and string escapes stay
//! exactly as written. Whether a block folds ([`fold`]) is decided where it is rendered, on the server
//! and again while hydrating, from the same text, so both render the same markup.

/// A block with more lines than this is folded.
pub const FOLD_LINES: usize = 12;
/// A block with more characters than this is folded.
pub const FOLD_CHARS: usize = 800;
/// Longest preview a folded block's summary shows, in characters.
pub const PREVIEW_CHARS: usize = 80;

/// `text` pretty-printed (two-space indent, `"key": value`, one member per line; empty objects and
/// arrays stay `{}` / `[]`) when it is a JSON object or array; `None` for anything else, which is shown
/// as it is (a JSON scalar gains nothing from pretty-printing, and plain text must not change).
#[cfg(feature = "ssr")]
pub fn pretty_json(text: &str) -> Option<String> {
    let json = text.trim();
    if !(json.starts_with('{') || json.starts_with('[')) {
        return None;
    }
    // Validation only: the re-indenting below relies on well-formed JSON (balanced brackets, closed
    // strings), and nothing is built from the parse.
    serde_json::from_str::<serde::de::IgnoredAny>(json).ok()?;
    Some(reindent(json))
}

/// Re-indents well-formed JSON: whitespace outside strings is dropped and made anew; everything else is
/// copied as it is.
#[cfg(feature = "ssr")]
fn reindent(json: &str) -> String {
    fn new_line(out: &mut String, depth: usize) {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
    let mut out = String::with_capacity(json.len() + json.len() / 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars
                    .next_if(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
                    .is_some()
                {}
                // Empty: closed on the same line.
                if let Some(close) = chars.next_if(|c| matches!(c, '}' | ']')) {
                    out.push(close);
                } else {
                    depth += 1;
                    new_line(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                new_line(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(',');
                new_line(&mut out, depth);
            }
            ':' => out.push_str(": "),
            ' ' | '\t' | '\n' | '\r' => {}
            _ => out.push(c),
        }
    }
    out
}

/// How a long block is folded: its summary's preview and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    /// The first lines that say something (not a lone bracket), trimmed, joined by spaces and cut to
    /// [`PREVIEW_CHARS`].
    pub preview: String,
    pub lines: usize,
    pub chars: usize,
}

impl Fold {
    /// "34 lines, 2140 characters".
    pub fn size(&self) -> String {
        let lines = if self.lines == 1 { "line" } else { "lines" };
        format!("{} {lines}, {} characters", self.lines, self.chars)
    }
}

/// `Some` when `text` is long enough to fold (more than [`FOLD_LINES`] lines or [`FOLD_CHARS`]
/// characters); a short block is shown open.
pub fn fold(text: &str) -> Option<Fold> {
    let lines = text.lines().count();
    let chars = text.chars().count();
    if lines <= FOLD_LINES && chars <= FOLD_CHARS {
        return None;
    }
    let mut preview = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !preview.is_empty() {
            preview.push(' ');
        }
        preview.push_str(line);
        // A JSON block starts with a lone bracket: keep going to its first member.
        if line.chars().count() > 1 || preview.chars().count() >= PREVIEW_CHARS {
            break;
        }
    }
    if preview.chars().count() > PREVIEW_CHARS {
        preview = preview.chars().take(PREVIEW_CHARS - 1).collect();
        preview.push('…');
    }
    Some(Fold {
        preview,
        lines,
        chars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "ssr")]
    #[test]
    fn json_objects_and_arrays_are_pretty_printed_as_received() {
        assert_eq!(
            pretty_json(r#"{"min":-10,"max":10}"#).as_deref(),
            Some("{\n  \"min\": -10,\n  \"max\": 10\n}")
        );
        // Keys in the order received (even repeated), numbers and escapes exactly as written, brackets,
        // commas and colons inside strings left alone, the input's own whitespace replaced.
        let raw = "{ \"z\" : 1.50, \"a\":[1e3, {\"k,\": \"x:{y}\\\"]\"}, [], {} ],\n\t\"a\": \"\\u003c\" }";
        let expected = "{\n  \"z\": 1.50,\n  \"a\": [\n    1e3,\n    {\n      \"k,\": \"x:{y}\\\"]\"\n    },\n    [],\n    {}\n  ],\n  \"a\": \"\\u003c\"\n}";
        assert_eq!(pretty_json(raw).as_deref(), Some(expected));
        assert_eq!(pretty_json(" [ ] ").as_deref(), Some("[]"));
        // What serde_json would print for the same value, when nothing needs preserving.
        let value =
            serde_json::json!({ "text": "a note", "tags": ["x", "y"], "nested": { "n": null } });
        assert_eq!(
            pretty_json(&value.to_string()),
            serde_json::to_string_pretty(&value).ok()
        );
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn anything_else_stays_as_it_is() {
        for text in [
            "Saved note 3: milk",
            "#1 (2026-01-01): {milk}",
            "42",
            "\"quoted\"",
            "{not json}",
            "[1, 2",
            "{\"a\": 1} trailing",
            "",
        ] {
            assert_eq!(pretty_json(text), None, "{text:?}");
        }
    }

    #[test]
    fn short_blocks_stay_open() {
        assert_eq!(fold("Saved note 3: milk"), None);
        assert_eq!(fold(&"line\n".repeat(FOLD_LINES)), None);
        assert_eq!(fold(&"x".repeat(FOLD_CHARS)), None);
    }

    #[test]
    fn long_blocks_fold_with_a_preview_and_their_size() {
        let notes: Vec<String> = (1..=13)
            .map(|i| format!("#{i} (2026-01-01): note {i}"))
            .collect();
        let fold_of_lines = fold(&notes.join("\n")).unwrap();
        assert_eq!(fold_of_lines.preview, "#1 (2026-01-01): note 1");
        assert_eq!(fold_of_lines.lines, 13);
        assert_eq!(
            fold_of_lines.size(),
            format!("13 lines, {} characters", fold_of_lines.chars)
        );

        // One long line: cut, with an ellipsis.
        let long = fold(&"é".repeat(FOLD_CHARS + 1)).unwrap();
        assert_eq!(long.lines, 1);
        assert_eq!(long.chars, FOLD_CHARS + 1);
        assert_eq!(long.preview.chars().count(), PREVIEW_CHARS);
        assert!(long.preview.ends_with('…'));
        assert_eq!(
            long.size(),
            format!("1 line, {} characters", FOLD_CHARS + 1)
        );

        // Pretty JSON: the lone bracket is followed by the first member.
        let json = format!(
            "{{\n  \"notes\": [\n{}\n  ]\n}}",
            (0..20)
                .map(|i| format!("    {i}"))
                .collect::<Vec<_>>()
                .join(",\n")
        );
        assert_eq!(fold(&json).unwrap().preview, "{ \"notes\": [");
    }
}
