//! Filling a tool's parameters from the user's message, guided by the schema's property names and
//! types: numbers in order (lower bounds first), a place after "in", an `Area/City` time zone, quoted
//! text.

use serde_json::{Map, Value};

fn numbers(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let negative = chars[i] == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if chars[i].is_ascii_digit() || negative {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let token: String = chars[start..i].iter().collect();
            if let Ok(n) = token.trim_end_matches('.').parse() {
                out.push(n);
            }
        } else {
            i += 1;
        }
    }
    out
}

fn quoted(text: &str) -> Option<String> {
    for (open, close) in [('"', '"'), ('\'', '\''), ('\u{201c}', '\u{201d}')] {
        if let Some(start) = text.find(open) {
            let rest = &text[start + open.len_utf8()..];
            if let Some(end) = rest.find(close) {
                return Some(rest[..end].to_owned());
            }
        }
    }
    None
}

fn after_in(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let index = lower.rfind(" in ")?;
    let place: String = text[index + 4..]
        .trim()
        .trim_end_matches(['?', '.', '!'])
        .split([',', '?', '!'])
        .next()?
        .trim()
        .to_owned();
    (!place.is_empty()).then_some(place)
}

fn time_zone(text: &str) -> Option<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '/' && c != '_'))
        .find(|w| {
            w.contains('/')
                && w.split('/')
                    .all(|p| p.chars().next().is_some_and(char::is_uppercase))
        })
        .map(str::to_owned)
}

/// Where a numeric parameter sits in a range: lower bounds take the first number said.
fn range_rank(name: &str) -> u8 {
    let name = name.to_lowercase();
    if ["min", "start", "from", "low", "first"]
        .iter()
        .any(|k| name.contains(k))
    {
        0
    } else if ["max", "end", "to", "high", "last"]
        .iter()
        .any(|k| name.contains(k))
    {
        2
    } else {
        1
    }
}

/// Fills the tool's parameters from the message, guided by the schema's property names and types.
pub(super) fn arguments(schema: &Value, text: &str) -> Value {
    let mut args = Map::new();
    let mut numbers = numbers(text).into_iter();
    let Some(properties) = schema["properties"].as_object() else {
        return Value::Object(args);
    };
    // JSON objects lose declaration order here; order numeric bounds by meaning instead.
    let mut properties: Vec<(&String, &Value)> = properties.iter().collect();
    properties.sort_by_key(|(name, _)| range_rank(name));
    for (name, property) in properties {
        let kind = property["type"].as_str().unwrap_or("string");
        let value = match kind {
            "integer" => numbers.next().map(|n| Value::from(n as i64)),
            "number" => numbers.next().map(Value::from),
            _ if name.contains("zone") => time_zone(text).map(Value::String),
            _ if name == "city" || name.contains("location") || name.contains("place") => {
                after_in(text).map(Value::String)
            }
            _ => quoted(text).map(Value::String),
        };
        if let Some(value) = value {
            args.insert(name.clone(), value);
        }
    }
    Value::Object(args)
}
