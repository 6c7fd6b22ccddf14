//! Filling a tool's parameters from the user's message, guided by the schema's property names, types,
//! enums and bounds: a year, other numbers in order (lower bounds first), an enum value the message
//! names, a place after "in", an `Area/City` time zone, a search after "named", a reason after
//! "because", quoted text.

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

/// A parameter name's words: `start_date` → `start`, `date`; `maxCount` → `max`, `count`.
fn name_words(name: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            out.push(String::new());
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            out.push(String::new());
        }
        previous_lower = c.is_lowercase();
        if let Some(last) = out.last_mut() {
            last.extend(c.to_lowercase());
        }
    }
    out.retain(|w| !w.is_empty());
    out
}

/// Where a numeric parameter sits in a range: lower bounds take the first number said. By whole
/// words, so `customer_id` is no upper bound for its "to".
fn range_rank(name: &str) -> u8 {
    let words = name_words(name);
    let has = |keys: &[&str]| words.iter().any(|w| keys.contains(&w.as_str()));
    if has(&["min", "start", "from", "low", "first", "begin", "since"]) {
        0
    } else if has(&["max", "end", "to", "high", "last", "until"]) {
        2
    } else {
        1
    }
}

/// A property's schema with a local reference (`"$ref": "#/$defs/GroupBy"`, also inside a one-item
/// `allOf`) followed to its definition in the tool's schema; otherwise the property itself.
fn resolve<'a>(root: &'a Value, property: &'a Value) -> &'a Value {
    let reference = property["$ref"].as_str().or_else(|| {
        property["allOf"]
            .as_array()
            .filter(|all| all.len() == 1)
            .and_then(|all| all[0]["$ref"].as_str())
    });
    reference
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|pointer| root.pointer(pointer))
        .unwrap_or(property)
}

/// The property's JSON type: `"integer"`, or the first non-null one of `["string", "null"]`.
fn kind(property: &Value) -> Option<&str> {
    match &property["type"] {
        Value::String(kind) => Some(kind),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null"),
        _ => None,
    }
}

/// The strings an enumerated property allows: `enum`, or the `const`s of `oneOf`/`anyOf` branches
/// (schemars writes documented enum variants that way).
fn choices(property: &Value) -> Vec<&str> {
    if let Some(values) = property["enum"].as_array() {
        return values.iter().filter_map(Value::as_str).collect();
    }
    ["oneOf", "anyOf"]
        .iter()
        .filter_map(|key| property[key].as_array())
        .flatten()
        .flat_map(|branch| {
            let one = branch["const"].as_str().into_iter();
            let many = branch["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str);
            one.chain(many)
        })
        .collect()
}

fn lower_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether a word said names an enum value: `quarter`, `quarters`, `quarterly`.
fn names(word: &str, value: &str) -> bool {
    let value = value.to_lowercase();
    word == value
        || word
            .strip_prefix(value.as_str())
            .is_some_and(|rest| ["s", "es", "ly"].contains(&rest))
}

/// The enum value the message names, preferring the word after "by", "per" or "each" ("by quarter");
/// a required enum the message does not name takes its first value, as a model picks a default.
fn choose(values: &[&str], text: &str, required: bool) -> Option<String> {
    let said = lower_words(text);
    let after_by = said
        .windows(2)
        .filter(|pair| ["by", "per", "each"].contains(&pair[0].as_str()))
        .map(|pair| &pair[1]);
    let anywhere = said.iter();
    after_by
        .chain(anywhere)
        .find_map(|word| values.iter().find(|v| names(word, v)))
        .or_else(|| values.first().filter(|_| required))
        .map(|v| (*v).to_owned())
}

/// The text after the first of `markers` (a whole word), up to the end of its clause, unquoted.
fn after_word(text: &str, markers: &[&str]) -> Option<String> {
    let lower = text.to_lowercase();
    let index = markers
        .iter()
        .filter_map(|marker| {
            lower
                .match_indices(marker)
                .find(|(i, _)| {
                    let before = lower[..*i].chars().next_back();
                    let after = lower[i + marker.len()..].chars().next();
                    !before.is_some_and(char::is_alphanumeric)
                        && !after.is_some_and(char::is_alphanumeric)
                })
                .map(|(i, _)| i + marker.len())
        })
        .min()?;
    let rest = text[index..].trim_start_matches([':', ' ']);
    let clause = rest
        .split([',', '?', '!', ';'])
        .next()?
        .trim()
        .trim_end_matches('.')
        .trim_matches(['"', '\'', '\u{201c}', '\u{201d}'])
        .trim();
    (!clause.is_empty()).then(|| clause.to_owned())
}

/// Whether a numeric parameter is a calendar year: so named, or bounded within four digits.
fn is_year(name: &str, property: &Value) -> bool {
    name_words(name).iter().any(|w| w == "year")
        || (property["minimum"].as_f64().is_some_and(|m| m >= 1000.0)
            && property["maximum"].as_f64().is_some_and(|m| m <= 9999.0))
}

/// Whether `n` lies within the property's bounds, if it has any.
fn within(property: &Value, n: f64) -> bool {
    let bound = |key: &str| property[key].as_f64();
    bound("minimum").is_none_or(|m| n >= m)
        && bound("maximum").is_none_or(|m| n <= m)
        && bound("exclusiveMinimum").is_none_or(|m| n > m)
        && bound("exclusiveMaximum").is_none_or(|m| n < m)
}

/// A required count of results the message does not give ("top products of 2026"): a model would
/// pick a handful.
const DEFAULT_LIMIT: i64 = 5;

fn is_limit(name: &str) -> bool {
    name_words(name)
        .iter()
        .any(|w| ["limit", "top", "count"].contains(&w.as_str()))
}

/// The numbers said, each given to one parameter at most.
struct Numbers(Vec<Option<f64>>);

impl Numbers {
    /// The first number not yet given that `fits`.
    fn take(&mut self, fits: impl Fn(f64) -> bool) -> Option<f64> {
        self.0
            .iter_mut()
            .find(|n| n.is_some_and(&fits))
            .and_then(Option::take)
    }
}

/// Fills the tool's parameters from the message, guided by the schema's property names, types,
/// enums and bounds.
///
/// Numbers go to numeric parameters: a year parameter takes the first four-digit whole number
/// within its bounds ("top 3 products in 2026": 2026), the others the remaining numbers in order
/// (lower bounds first), each the first that fits its bounds. An enum takes the value the message
/// names ("by quarter", "monthly"). Text: a time zone, a place after "in", a search after "named",
/// a reason after "because", else quoted text. A parameter the message does not give keeps its
/// schema's `default`, a required limit [`DEFAULT_LIMIT`]; otherwise it is left out.
pub(super) fn arguments(schema: &Value, text: &str) -> Value {
    let mut args = Map::new();
    let mut numbers = Numbers(numbers(text).into_iter().map(Some).collect());
    let Some(properties) = schema["properties"].as_object() else {
        return Value::Object(args);
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // JSON objects lose declaration order here; years first (they claim their four digits), then
    // numeric bounds by meaning.
    let mut properties: Vec<(&String, &Value)> = properties
        .iter()
        .map(|(name, property)| (name, resolve(schema, property)))
        .collect();
    properties.sort_by_key(|(name, property)| (!is_year(name, property), range_rank(name)));
    for (name, property) in properties {
        let is_required = required.contains(&name.as_str());
        let allowed = choices(property);
        let value = match kind(property) {
            Some("integer" | "number") if is_year(name, property) => numbers
                .take(|n| n.fract() == 0.0 && (1000.0..=9999.0).contains(&n) && within(property, n))
                .map(|n| Value::from(n as i64)),
            Some("integer") => numbers
                .take(|n| within(property, n))
                .map(|n| Value::from(n as i64)),
            Some("number") => numbers.take(|n| within(property, n)).map(Value::from),
            _ if !allowed.is_empty() => choose(&allowed, text, is_required).map(Value::String),
            _ if name.contains("zone") => time_zone(text).map(Value::String),
            _ if name == "city" || name.contains("location") || name.contains("place") => {
                after_in(text).map(Value::String)
            }
            _ if ["search", "query", "filter"].contains(&name.as_str()) => quoted(text)
                .or_else(|| after_word(text, &["named", "called", "matching", "containing"]))
                .map(Value::String),
            _ if name == "reason" => quoted(text)
                .or_else(|| after_word(text, &["because", "reason", "since"]))
                .map(Value::String),
            _ => quoted(text).map(Value::String),
        };
        let value = value
            .or_else(|| property.get("default").filter(|d| !d.is_null()).cloned())
            .or_else(|| {
                (is_required && kind(property) == Some("integer") && is_limit(name)).then(|| {
                    let mut limit = DEFAULT_LIMIT as f64;
                    if let Some(min) = property["minimum"].as_f64() {
                        limit = limit.max(min);
                    }
                    if let Some(max) = property["maximum"].as_f64() {
                        limit = limit.min(max);
                    }
                    Value::from(limit as i64)
                })
            });
        if let Some(value) = value {
            args.insert(name.clone(), value);
        }
    }
    Value::Object(args)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_year_takes_its_four_digits_within_its_bounds_and_the_rest_go_in_order() {
        let schema = json!({ "type": "object", "required": ["limit", "year"], "properties": {
            "limit": { "type": "integer", "minimum": 1, "maximum": 50 },
            "year": { "type": "integer", "minimum": 2000, "maximum": 2100 },
        }});
        assert_eq!(
            arguments(&schema, "top 3 products in 2026"),
            json!({ "year": 2026, "limit": 3 })
        );
        assert_eq!(
            arguments(&schema, "2025: top 7"),
            json!({ "year": 2025, "limit": 7 })
        );
        // 1999 is outside the year's bounds and the limit's: neither takes it; the limit defaults.
        assert_eq!(
            arguments(&schema, "top products of 1999"),
            json!({ "limit": 5 })
        );
        // A year by its bounds alone.
        let bounded = json!({ "properties": {
            "n": { "type": "integer" },
            "y": { "type": "integer", "minimum": 1900, "maximum": 2999 },
        }});
        assert_eq!(
            arguments(&bounded, "12 in 2024"),
            json!({ "y": 2024, "n": 12 })
        );
    }

    #[test]
    fn an_enum_behind_a_reference_takes_the_value_the_message_names() {
        let schema = json!({
            "properties": { "group_by": { "$ref": "#/$defs/GroupBy" } },
            "required": ["group_by"],
            "$defs": { "GroupBy": { "oneOf": [
                { "type": "string", "const": "month" },
                { "type": "string", "const": "quarter" },
                { "type": "string", "enum": ["product"] },
            ]}},
        });
        let group_by = |text| arguments(&schema, text)["group_by"].clone();
        assert_eq!(group_by("by quarter"), "quarter");
        assert_eq!(group_by("quarterly figures"), "quarter");
        assert_eq!(group_by("products by month"), "month");
        assert_eq!(group_by("per product"), "product");
        assert_eq!(group_by("nothing said"), "month");
        // Optional: left out when not named.
        let optional = json!({ "properties": { "unit": { "enum": ["c", "f"] } } });
        assert_eq!(arguments(&optional, "weather"), json!({}));
        assert_eq!(arguments(&optional, "weather in f"), json!({ "unit": "f" }));
    }

    #[test]
    fn bounds_and_searches_are_read_by_whole_words() {
        assert_eq!(range_rank("customer_id"), 1);
        assert_eq!(range_rank("start_date"), 0);
        assert_eq!(range_rank("maxCount"), 2);
        assert_eq!(name_words("maxCount_x"), ["max", "count", "x"]);
        let search = json!({ "properties": {
            "search": { "type": ["string", "null"], "default": null },
        }});
        assert_eq!(arguments(&search, "list customers"), json!({}));
        assert_eq!(
            arguments(&search, "customers named Acme Corp, please"),
            json!({ "search": "Acme Corp" })
        );
        // "renamed" is not "named".
        assert_eq!(arguments(&search, "renamed customers"), json!({}));
        assert_eq!(
            after_word("flag it because: \"late\"", &["because"]).as_deref(),
            Some("late")
        );
        // A schema default is sent when the message gives nothing.
        let days = json!({ "properties": { "days": { "type": "integer", "default": 7 } } });
        assert_eq!(arguments(&days, "my week"), json!({ "days": 7 }));
        assert_eq!(arguments(&days, "next 3 days"), json!({ "days": 3 }));
    }
}
