//! Elicitation forms: a requested schema (MCP's restricted JSON Schema: a flat object of string, number,
//! integer, boolean and enum properties) as form fields, and the user's typed answers checked against it.

use app::chat::{FieldKind, FormField};
use serde_json::{Map, Value};

/// The form for a requested schema, or why it cannot be shown (nested objects, arrays of objects…).
pub fn fields(schema: &Value) -> Result<Vec<FormField>, String> {
    if schema["type"] != "object" {
        return Err("the requested schema is not an object".to_owned());
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Ok(Vec::new());
    };
    properties
        .iter()
        .map(|(name, property)| {
            Ok(FormField {
                name: name.clone(),
                title: property["title"].as_str().map(str::to_owned),
                description: property["description"].as_str().map(str::to_owned),
                required: required.contains(&name.as_str()),
                kind: kind(name, property)?,
            })
        })
        .collect()
}

fn as_u32(value: &Value) -> Option<u32> {
    value.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn kind(name: &str, property: &Value) -> Result<FieldKind, String> {
    // Enums: `enum` (+ legacy `enumNames`), or `oneOf` / `anyOf` of `{const, title}`.
    if let Some(values) = property["enum"].as_array() {
        let labels = property["enumNames"].as_array();
        let options = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let value = v.as_str()?.to_owned();
                let label = labels
                    .and_then(|l| l.get(i))
                    .and_then(Value::as_str)
                    .map_or_else(|| value.clone(), str::to_owned);
                Some((value, label))
            })
            .collect();
        return Ok(FieldKind::Choice {
            options,
            default: property["default"].as_str().map(str::to_owned),
        });
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(choices) = property[key].as_array() {
            let options = choices
                .iter()
                .filter_map(|c| {
                    let value = c["const"].as_str()?.to_owned();
                    let label = c["title"]
                        .as_str()
                        .map_or_else(|| value.clone(), str::to_owned);
                    Some((value, label))
                })
                .collect();
            return Ok(FieldKind::Choice {
                options,
                default: property["default"].as_str().map(str::to_owned),
            });
        }
    }
    match property["type"].as_str() {
        Some("string") => Ok(FieldKind::Text {
            default: property["default"].as_str().map(str::to_owned),
            min_length: as_u32(&property["minLength"]),
            max_length: as_u32(&property["maxLength"]),
            format: property["format"].as_str().map(str::to_owned),
        }),
        Some(kind @ ("number" | "integer")) => Ok(FieldKind::Number {
            integer: kind == "integer",
            default: property["default"].as_f64(),
            minimum: property["minimum"].as_f64(),
            maximum: property["maximum"].as_f64(),
        }),
        Some("boolean") => Ok(FieldKind::Boolean {
            default: property["default"].as_bool(),
        }),
        other => Err(format!(
            "field {name:?} has a type forms cannot show ({})",
            other.unwrap_or("none")
        )),
    }
}

/// Checks the typed answers against the form and builds the content to send back. Empty optional
/// fields are left out; unknown names are refused. The message names the field and what is wrong.
pub fn answer(
    fields: &[FormField],
    values: &[(String, String)],
) -> Result<Map<String, Value>, String> {
    for (name, _) in values {
        if !fields.iter().any(|f| &f.name == name) {
            return Err(format!("unknown field {name:?}"));
        }
    }
    let mut content = Map::new();
    for field in fields {
        let label = field.title.clone().unwrap_or_else(|| field.name.clone());
        let raw = values
            .iter()
            .rev()
            .find(|(name, _)| name == &field.name)
            .map(|(_, v)| v.trim());
        let raw = match raw {
            Some(v) if !v.is_empty() => v,
            // An unchecked checkbox sends nothing: that is `false`, not a missing answer.
            _ if matches!(field.kind, FieldKind::Boolean { .. }) => "false",
            _ if field.required => return Err(format!("{label} is required.")),
            _ => continue,
        };
        let value = match &field.kind {
            FieldKind::Text {
                min_length,
                max_length,
                format,
                ..
            } => {
                let length = u32::try_from(raw.chars().count()).unwrap_or(u32::MAX);
                if min_length.is_some_and(|min| length < min) {
                    return Err(format!(
                        "{label} must have at least {} characters.",
                        min_length.unwrap_or_default()
                    ));
                }
                if max_length.is_some_and(|max| length > max) {
                    return Err(format!(
                        "{label} may have at most {} characters.",
                        max_length.unwrap_or_default()
                    ));
                }
                if format.as_deref() == Some("email") && !raw.contains('@') {
                    return Err(format!("{label} must be an email address."));
                }
                if format.as_deref() == Some("uri") && url::Url::parse(raw).is_err() {
                    return Err(format!("{label} must be a URL."));
                }
                Value::String(raw.to_owned())
            }
            FieldKind::Number {
                integer,
                minimum,
                maximum,
                ..
            } => {
                let number: f64 = raw
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| format!("{label} must be a number."))?;
                if *integer && number.fract() != 0.0 {
                    return Err(format!("{label} must be a whole number."));
                }
                if minimum.is_some_and(|min| number < min)
                    || maximum.is_some_and(|max| number > max)
                {
                    return Err(format!("{label} is out of range."));
                }
                if *integer {
                    Value::from(number as i64)
                } else {
                    Value::from(number)
                }
            }
            FieldKind::Boolean { .. } => match raw {
                "true" | "on" => Value::Bool(true),
                "false" | "off" => Value::Bool(false),
                _ => return Err(format!("{label} must be yes or no.")),
            },
            FieldKind::Choice { options, .. } => {
                if !options.iter().any(|(value, _)| value == raw) {
                    return Err(format!("{label}: choose one of the options."));
                }
                Value::String(raw.to_owned())
            }
        };
        content.insert(field.name.clone(), value);
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "confirm": { "type": "boolean", "title": "Delete it?", "default": false },
                "reason": { "type": "string", "maxLength": 5, "description": "Why" },
                "copies": { "type": "integer", "minimum": 1, "maximum": 3 },
                "colour": { "type": "string", "enum": ["r", "g"], "enumNames": ["Red", "Green"] },
                "size": { "type": "string", "oneOf": [{ "const": "s", "title": "Small" }] }
            },
            "required": ["confirm", "copies"]
        })
    }

    fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn every_primitive_becomes_a_field() {
        let fields = fields(&schema()).unwrap();
        let field = |name: &str| fields.iter().find(|f| f.name == name).unwrap().clone();
        assert_eq!(field("confirm").title.as_deref(), Some("Delete it?"));
        assert!(field("confirm").required && !field("reason").required);
        assert_eq!(field("reason").description.as_deref(), Some("Why"));
        assert!(matches!(
            field("copies").kind,
            FieldKind::Number {
                integer: true,
                minimum: Some(1.0),
                ..
            }
        ));
        assert_eq!(
            field("colour").kind,
            FieldKind::Choice {
                options: vec![("r".into(), "Red".into()), ("g".into(), "Green".into())],
                default: None
            }
        );
        assert!(
            matches!(field("size").kind, FieldKind::Choice { ref options, .. } if options[0].1 == "Small")
        );
        assert!(
            super::fields(&json!({ "type": "object", "properties": { "x": { "type": "array" } } }))
                .is_err()
        );
    }

    #[test]
    fn answers_are_checked_and_typed() {
        let fields = fields(&schema()).unwrap();
        let ok = answer(
            &fields,
            &values(&[("confirm", "true"), ("copies", "2"), ("colour", "g")]),
        )
        .unwrap();
        assert_eq!(
            Value::Object(ok),
            json!({ "confirm": true, "copies": 2, "colour": "g" })
        );
        // Unchecked checkbox: false.
        let ok = answer(&fields, &values(&[("copies", "1")])).unwrap();
        assert_eq!(ok["confirm"], json!(false));
        for (bad, message) in [
            (vec![("copies", "")], "required"),
            (vec![("copies", "9")], "out of range"),
            (vec![("copies", "1.5")], "whole number"),
            (vec![("copies", "x")], "number"),
            (vec![("copies", "1"), ("colour", "blue")], "options"),
            (vec![("copies", "1"), ("reason", "too long")], "at most"),
            (vec![("copies", "1"), ("admin", "yes")], "unknown field"),
        ] {
            let error = answer(&fields, &values(&bad)).unwrap_err();
            assert!(error.contains(message), "{bad:?}: {error}");
        }
    }
}
