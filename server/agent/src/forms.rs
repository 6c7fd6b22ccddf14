//! Elicitation requests as forms: rmcp's typed [`ElicitationSchema`] (MCP's restricted JSON Schema: a flat
//! object of string, number, integer, boolean and single-select enum properties) as fields, and the
//! user's typed answers checked against them. Front-ends render [`Form`] their own way (HTML, prompts).

use rmcp::model::{
    ElicitationSchema, EnumSchema, PrimitiveSchemaDefinition, SingleSelectEnumSchema, StringFormat,
};
use serde_json::{Map, Value};

/// One input of a form.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub required: bool,
    pub kind: FieldKind,
}

impl Field {
    /// What the user sees as the field's name.
    pub fn label(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text {
        default: Option<String>,
        min_length: Option<u32>,
        max_length: Option<u32>,
        /// `email`, `uri`, `date`, `date-time`.
        format: Option<String>,
    },
    Number {
        integer: bool,
        default: Option<f64>,
        minimum: Option<f64>,
        maximum: Option<f64>,
    },
    Boolean {
        default: Option<bool>,
    },
    /// One of the options: (value, label).
    Choice {
        options: Vec<(String, String)>,
        default: Option<String>,
    },
}

/// The fields of a requested schema, in the order the server gave them.
pub type Form = Vec<Field>;

/// The form for a schema, or why it cannot be shown (multi-select enums).
pub fn form(schema: &ElicitationSchema) -> Result<Form, String> {
    let required = schema.required.as_deref().unwrap_or_default();
    // The server's order; properties it left out of the order come after, by name (as rmcp writes them).
    // A name repeated in the order (possible in a schema built in code) is one field, as rmcp's own
    // encoding makes it (found by `tests/fuzz_forms.rs`).
    let mut names: Vec<&String> = Vec::with_capacity(schema.properties.len());
    let ordered = schema.property_order.iter().flatten();
    for name in ordered.chain(schema.properties.keys()) {
        if schema.properties.contains_key(name) && !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let property = &schema.properties[name];
            let (title, description, kind) = describe(name, property)?;
            Ok(Field {
                name: name.clone(),
                title,
                description,
                required: required.contains(name),
                kind,
            })
        })
        .collect()
}

/// A stored schema (JSON text) as a form.
pub fn form_from_json(schema: &str) -> Result<Form, String> {
    let schema: ElicitationSchema =
        serde_json::from_str(schema).map_err(|e| format!("an unreadable schema: {e}"))?;
    form(&schema)
}

type Described = (Option<String>, Option<String>, FieldKind);

fn text(value: &Option<std::borrow::Cow<'static, str>>) -> Option<String> {
    value.as_ref().map(|v| v.to_string())
}

fn describe(name: &str, property: &PrimitiveSchemaDefinition) -> Result<Described, String> {
    Ok(match property {
        PrimitiveSchemaDefinition::String(s) => (
            text(&s.title),
            text(&s.description),
            FieldKind::Text {
                default: s.default.clone(),
                min_length: s.min_length,
                max_length: s.max_length,
                format: s.format.and_then(|f| {
                    match f {
                        StringFormat::Email => Some("email"),
                        StringFormat::Uri => Some("uri"),
                        StringFormat::Date => Some("date"),
                        StringFormat::DateTime => Some("date-time"),
                        // A format this client does not know is not checked.
                        _ => None,
                    }
                    .map(str::to_owned)
                }),
            },
        ),
        PrimitiveSchemaDefinition::Number(n) => (
            text(&n.title),
            text(&n.description),
            FieldKind::Number {
                integer: false,
                default: n.default,
                minimum: n.minimum,
                maximum: n.maximum,
            },
        ),
        PrimitiveSchemaDefinition::Integer(n) => (
            text(&n.title),
            text(&n.description),
            #[allow(clippy::cast_precision_loss)] // form bounds; far below 2^53 in practice
            FieldKind::Number {
                integer: true,
                default: n.default.map(|v| v as f64),
                minimum: n.minimum.map(|v| v as f64),
                maximum: n.maximum.map(|v| v as f64),
            },
        ),
        PrimitiveSchemaDefinition::Boolean(b) => (
            text(&b.title),
            text(&b.description),
            FieldKind::Boolean { default: b.default },
        ),
        PrimitiveSchemaDefinition::Enum(EnumSchema::Single(SingleSelectEnumSchema::Untitled(
            e,
        ))) => (
            text(&e.title),
            text(&e.description),
            choice(e.enum_.iter().map(|v| (v.clone(), v.clone())), &e.default),
        ),
        PrimitiveSchemaDefinition::Enum(EnumSchema::Single(SingleSelectEnumSchema::Titled(e))) => (
            text(&e.title),
            text(&e.description),
            choice(
                e.one_of.iter().map(|c| (c.const_.clone(), c.title.clone())),
                &e.default,
            ),
        ),
        PrimitiveSchemaDefinition::Enum(EnumSchema::Legacy(e)) => {
            let labels = e.enum_names.as_deref().unwrap_or_default();
            (
                text(&e.title),
                text(&e.description),
                choice(
                    e.enum_.iter().enumerate().map(|(i, v)| {
                        (
                            v.clone(),
                            labels.get(i).cloned().unwrap_or_else(|| v.clone()),
                        )
                    }),
                    &e.default,
                ),
            )
        }
        _ => return Err(format!("field {name:?} has a type forms cannot show")),
    })
}

fn choice(options: impl Iterator<Item = (String, String)>, default: &Option<String>) -> FieldKind {
    FieldKind::Choice {
        options: options.collect(),
        default: default.clone(),
    }
}

/// Checks the typed answers against the form and builds the content to send back. Empty optional
/// fields are left out; unknown names are refused. The message names the field and what is wrong.
pub fn answer(form: &[Field], values: &[(String, String)]) -> Result<Map<String, Value>, String> {
    if let Some((name, _)) = values
        .iter()
        .find(|(name, _)| !form.iter().any(|f| &f.name == name))
    {
        return Err(format!("unknown field {name:?}"));
    }
    let mut content = Map::new();
    for field in form {
        let raw = values
            .iter()
            .rev()
            .find(|(name, _)| name == &field.name)
            .map(|(_, v)| v.trim());
        let raw = match raw {
            Some(v) if !v.is_empty() => v,
            // An unchecked checkbox sends nothing: that is `false`, not a missing answer.
            _ if matches!(field.kind, FieldKind::Boolean { .. }) => "false",
            _ if field.required => return Err(format!("{} is required.", field.label())),
            _ => continue,
        };
        content.insert(field.name.clone(), value(field, raw)?);
    }
    Ok(content)
}

/// One answer, typed and checked.
pub fn value(field: &Field, raw: &str) -> Result<Value, String> {
    let label = field.label();
    Ok(match &field.kind {
        FieldKind::Text {
            min_length,
            max_length,
            format,
            ..
        } => {
            let length = u32::try_from(raw.chars().count()).unwrap_or(u32::MAX);
            if let Some(min) = min_length.filter(|min| length < *min) {
                return Err(format!("{label} must have at least {min} characters."));
            }
            if let Some(max) = max_length.filter(|max| length > *max) {
                return Err(format!("{label} may have at most {max} characters."));
            }
            match format.as_deref() {
                Some("email") if !raw.contains('@') => {
                    return Err(format!("{label} must be an email address."));
                }
                Some("uri") if url::Url::parse(raw).is_err() => {
                    return Err(format!("{label} must be a URL."));
                }
                // The formats the form names are checked too (unchecked until `tests/fuzz_forms.rs`).
                Some("date") if chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_err() => {
                    return Err(format!("{label} must be a date such as 2026-03-02."));
                }
                Some("date-time") if chrono::DateTime::parse_from_rfc3339(raw).is_err() => {
                    return Err(format!(
                        "{label} must be a date and time such as 2026-03-02T09:00:00Z."
                    ));
                }
                _ => {}
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
            if minimum.is_some_and(|min| number < min) || maximum.is_some_and(|max| number > max) {
                return Err(format!("{label} is out of range."));
            }
            if *integer {
                whole_number(raw, number).ok_or_else(|| format!("{label} is out of range."))?
            } else {
                Value::from(number)
            }
        }
        // `true`/`on` come from a web form's checkbox, `yes`/`y` from a console prompt.
        FieldKind::Boolean { .. } => match raw {
            "true" | "on" | "yes" | "y" => Value::Bool(true),
            "false" | "off" | "no" | "n" => Value::Bool(false),
            _ => return Err(format!("{label} must be yes or no.")),
        },
        FieldKind::Choice { options, .. } => {
            if !options.iter().any(|(value, _)| value == raw) {
                return Err(format!("{label}: choose one of the options."));
            }
            Value::String(raw.to_owned())
        }
    })
}

/// A whole answer as an integer, exactly as typed: through `f64` alone a number past 2^53 became a
/// neighbour and one past `i64` saturated (found by `tests/fuzz_forms.rs`). `None` when no `i64`
/// holds it.
fn whole_number(raw: &str, number: f64) -> Option<Value> {
    // 2^63: the first whole `f64` outside `i64`.
    const PAST_I64: f64 = 9_223_372_036_854_775_808.0;
    match raw.parse::<i64>() {
        Ok(exact) => Some(Value::from(exact)),
        // `2.0`, `1e3`: whole, written another way.
        #[allow(clippy::cast_possible_truncation)] // whole and inside `i64`
        Err(_) if (-PAST_I64..PAST_I64).contains(&number) => Some(Value::from(number as i64)),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Written as text, so the properties' order is the server's.
    fn schema() -> Form {
        form_from_json(
            r#"{
                "type": "object",
                "properties": {
                    "confirm": { "type": "boolean", "title": "Delete it?", "default": false },
                    "reason": { "type": "string", "maxLength": 5, "description": "Why" },
                    "copies": { "type": "integer", "minimum": 1, "maximum": 3 },
                    "colour": { "type": "string", "enum": ["r", "g"], "enumNames": ["Red", "Green"] },
                    "size": { "type": "string", "oneOf": [{ "const": "s", "title": "Small" }] }
                },
                "required": ["confirm", "copies"]
            }"#,
        )
        .unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn every_primitive_becomes_a_field() {
        let fields = schema();
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
        // The server's order is kept.
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["confirm", "reason", "copies", "colour", "size"]);
        assert!(
            form_from_json(
                &json!({ "type": "object", "properties": { "x": { "type": "array" } } })
                    .to_string()
            )
            .is_err()
        );
    }

    #[test]
    fn answers_are_checked_and_typed() {
        let fields = schema();
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

    /// Found while writing `tests/fuzz_forms.rs`: `date` and `date-time` fields took any text.
    #[test]
    fn dates_and_date_times_are_checked() {
        let fields = form_from_json(
            r#"{ "type": "object", "properties": {
                "day": { "type": "string", "format": "date" },
                "at": { "type": "string", "format": "date-time" } } }"#,
        )
        .unwrap();
        let ok = answer(
            &fields,
            &values(&[("day", "2026-03-02"), ("at", "2026-03-02T09:00:00+01:00")]),
        )
        .unwrap();
        assert_eq!(ok["day"], json!("2026-03-02"));
        for (bad, message) in [
            (vec![("day", "tomorrow")], "day must be a date"),
            (vec![("day", "2026-02-30")], "day must be a date"),
            (vec![("at", "2026-03-02 9am")], "at must be a date and time"),
        ] {
            let error = answer(&fields, &values(&bad)).unwrap_err();
            assert!(error.contains(message), "{bad:?}: {error}");
        }
    }

    /// Regression (found by `tests/fuzz_forms.rs`): a name repeated in a schema's order is one field.
    #[test]
    fn a_repeated_name_in_the_order_is_one_field() {
        let mut schema: ElicitationSchema = serde_json::from_str(
            r#"{ "type": "object", "properties": { "a": { "type": "string" }, "b": { "type": "boolean" } } }"#,
        )
        .unwrap();
        schema.property_order = Some(vec!["b".into(), "a".into(), "b".into(), "zz".into()]);
        let names: Vec<String> = form(&schema).unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["b", "a"]);
    }

    /// Regression (found by `tests/fuzz_forms.rs`): integers past 2^53 kept their digits, and whole
    /// numbers no `i64` holds were refused instead of saturating.
    #[test]
    fn large_integers_are_kept_exactly_or_refused() {
        let fields =
            form_from_json(r#"{ "type": "object", "properties": { "n": { "type": "integer" } } }"#)
                .unwrap();
        for (raw, typed) in [
            ("82773947627701435", json!(82_773_947_627_701_435_i64)),
            ("9223372036854775807", json!(i64::MAX)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("2.0", json!(2)),
            ("1e3", json!(1000)),
        ] {
            let content = answer(&fields, &values(&[("n", raw)])).unwrap();
            assert_eq!(content["n"], typed, "{raw}");
        }
        for raw in ["1e19", "-1e19", "9223372036854775808"] {
            let error = answer(&fields, &values(&[("n", raw)])).unwrap_err();
            assert!(error.contains("out of range"), "{raw}: {error}");
        }
    }
}
