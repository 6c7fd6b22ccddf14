//! `key=value` arguments of `call`, typed by the tool's input schema: a property declared `integer`,
//! `number` or `boolean` must parse as one, `array`/`object` as JSON, `string` is taken as written;
//! where the schema says nothing, a JSON value (`5`, `true`, `[1,2]`, `"x"`) is taken as JSON and
//! anything else as a string. `key:=json` always means raw JSON. Unknown keys are refused when the
//! schema forbids additional properties, and required ones must be there.

use serde_json::{Map, Value};

/// Why the arguments do not fit the tool; the text names the argument.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgsError(String);

/// The JSON type a property's schema declares (the first non-null one of a list).
fn declared_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

fn parse_value(key: &str, raw: &str, schema: Option<&Value>) -> Result<Value, ArgsError> {
    let bad = |what: &str| ArgsError(format!("{key}: expected {what}, got {raw:?}"));
    match schema.and_then(declared_type) {
        Some("string") => Ok(Value::String(raw.to_owned())),
        Some("integer") => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| raw.trim().parse::<u64>().map(Value::from))
            .map_err(|_| bad("an integer")),
        Some("number") => raw
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(|n| {
                // Whole numbers stay integers in the JSON sent (`5`, not `5.0`).
                raw.trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or(Value::Number(n))
            })
            .ok_or_else(|| bad("a number")),
        Some("boolean") => match raw.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad("true or false")),
        },
        Some("array") => match serde_json::from_str(raw) {
            Ok(value @ Value::Array(_)) => Ok(value),
            _ => Err(bad("a JSON array")),
        },
        Some("object") => match serde_json::from_str(raw) {
            Ok(value @ Value::Object(_)) => Ok(value),
            _ => Err(bad("a JSON object")),
        },
        _ => Ok(serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))),
    }
}

/// The tool's arguments from `key=value` words, checked against `schema` (its `inputSchema`).
pub fn parse(
    words: &[String],
    schema: &Map<String, Value>,
) -> Result<Map<String, Value>, ArgsError> {
    let properties = schema.get("properties").and_then(Value::as_object);
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    let mut arguments = Map::new();
    for word in words {
        let (key, value) = match word.split_once('=') {
            Some((key, raw)) if key.ends_with(':') => {
                let key = key.trim_end_matches(':');
                let value = serde_json::from_str(raw)
                    .map_err(|e| ArgsError(format!("{key}: not JSON ({e})")))?;
                (key, value)
            }
            Some((key, raw)) => {
                let property = properties.and_then(|p| p.get(key));
                (key, parse_value(key, raw, property)?)
            }
            None => {
                return Err(ArgsError(format!(
                    "{word:?} is not key=value (use key=value, or key:=<JSON>)"
                )));
            }
        };
        if key.is_empty() {
            return Err(ArgsError(format!("{word:?} has no key")));
        }
        let known = properties.is_some_and(|p| p.contains_key(key));
        if closed && !known {
            let names: Vec<&str> = properties
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(ArgsError(format!(
                "unknown argument {key:?} (the tool takes: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )));
        }
        if arguments.insert(key.to_owned(), value).is_some() {
            return Err(ArgsError(format!("{key} is given twice")));
        }
    }
    let missing: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|required| {
            required
                .iter()
                .filter_map(Value::as_str)
                .filter(|name| !arguments.contains_key(*name))
                .collect()
        })
        .unwrap_or_default();
    if !missing.is_empty() {
        return Err(ArgsError(format!("missing {}", missing.join(", "))));
    }
    Ok(arguments)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Map<String, Value> {
        json!({
            "type": "object",
            "properties": {
                "min": { "type": "integer", "format": "int64" },
                "ratio": { "type": "number" },
                "city": { "type": "string" },
                "zone": { "type": ["string", "null"] },
                "loud": { "type": "boolean" },
                "tags": { "type": "array", "items": { "type": "string" } },
                "any": {}
            },
            "required": ["min"],
            "additionalProperties": false
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn values_follow_the_schema() {
        let args = parse(
            &words(&[
                "min=-3",
                "ratio=0.5",
                "city=42",
                "zone=Europe/Paris",
                "loud=true",
                "tags=[\"a\",\"b\"]",
                "any=7",
            ]),
            &schema(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(args),
            json!({
                "min": -3, "ratio": 0.5, "city": "42", "zone": "Europe/Paris", "loud": true,
                "tags": ["a", "b"], "any": 7
            })
        );
        let whole = parse(&words(&["min=1", "ratio=2"]), &schema()).unwrap();
        assert_eq!(whole["ratio"], json!(2));
        let raw = parse(&words(&["min=1", "any:={\"a\":1}"]), &schema()).unwrap();
        assert_eq!(raw["any"], json!({"a": 1}));
        let text = parse(&words(&["min=1", "any=hello world"]), &schema()).unwrap();
        assert_eq!(text["any"], json!("hello world"));
    }

    #[test]
    fn bad_arguments_name_the_argument() {
        let error = |list: &[&str]| parse(&words(list), &schema()).unwrap_err().to_string();
        assert!(error(&["min=six"]).contains("min: expected an integer"));
        assert!(error(&["min=1", "loud=yes"]).contains("loud: expected true or false"));
        assert!(error(&["min=1", "tags=a,b"]).contains("tags: expected a JSON array"));
        assert!(error(&["min=1", "colour=red"]).contains("unknown argument \"colour\""));
        assert!(error(&["max=1"]).contains("unknown argument"));
        assert!(error(&["min=1", "min=2"]).contains("given twice"));
        assert!(error(&["ratio=1"]).contains("missing min"));
        assert!(error(&["min"]).contains("not key=value"));
    }
}
