//! Property tests ("fuzz targets", issue #13) of elicitation schemas as forms and of the answers checked
//! against them: any requested schema, however malformed, is read or refused without a panic; a form
//! built from a schema accepts every answer the schema allows, typed as the schema says, and refuses an
//! answer with one field wrong with a message naming that field.
//!
//! Each property runs a modest number of cases so `make test` stays quick; `PROPTEST_CASES=<n>` raises
//! it for a long run (`PROPTEST_CASES=100000 cargo nextest run -p agent fuzz_`).

use agent::forms::{self, Field, FieldKind};
use proptest::prelude::*;
use rmcp::model::ElicitationSchema;
use serde_json::{Map, Value, json};

/// `cases` unless `PROPTEST_CASES` says otherwise (`ProptestConfig::with_cases` would ignore it).
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    // No `proptest-regressions` files in the source tree: a failure found here becomes a plain test.
    config.failure_persistence = None;
    config
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "object",
            "string",
            "number",
            "integer",
            "boolean",
            "array",
            "email",
            "uri",
            "date",
            "date-time",
            "enum",
            "oneOf",
            "const",
            "type",
            "properties",
            "required",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((".{0,10}", inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// A property definition as a server might send it: every kind MCP allows, with random (possibly
/// contradictory) constraints, plus kinds and values it does not allow.
fn any_property() -> impl Strategy<Value = Value> {
    let number = || {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any_json()
        ]
    };
    let maybe = |s: BoxedStrategy<Value>| prop::option::weighted(0.5, s);
    prop_oneof![
        (
            maybe(prop_oneof![any::<u32>().prop_map(Value::from), any_json()].boxed()),
            maybe(prop_oneof![any::<u32>().prop_map(Value::from), any_json()].boxed()),
            maybe(
                prop_oneof![
                    prop::sample::select(vec!["email", "uri", "date", "date-time", "ipv4", ""])
                        .prop_map(Value::from),
                    any_json()
                ]
                .boxed()
            ),
            maybe(any_json().boxed()),
        )
            .prop_map(|(min, max, format, default)| {
                let mut p = json!({ "type": "string" });
                put(&mut p, "minLength", min);
                put(&mut p, "maxLength", max);
                put(&mut p, "format", format);
                put(&mut p, "default", default);
                p
            }),
        (
            prop::sample::select(vec!["number", "integer"]),
            maybe(number().boxed()),
            maybe(number().boxed()),
            maybe(number().boxed()),
        )
            .prop_map(|(kind, min, max, default)| {
                let mut p = json!({ "type": kind });
                put(&mut p, "minimum", min);
                put(&mut p, "maximum", max);
                put(&mut p, "default", default);
                p
            }),
        maybe(any_json().boxed()).prop_map(|default| {
            let mut p = json!({ "type": "boolean" });
            put(&mut p, "default", default);
            p
        }),
        (
            any_json(),
            maybe(any_json().boxed()),
            maybe(any_json().boxed())
        )
            .prop_map(|(values, names, default)| {
                let mut p = json!({ "type": "string", "enum": values });
                put(&mut p, "enumNames", names);
                put(&mut p, "default", default);
                p
            }),
        prop::collection::vec((".{0,6}", ".{0,6}"), 0..5).prop_map(|options| {
            let one_of: Vec<Value> = options
                .into_iter()
                .map(|(value, title)| json!({ "const": value, "title": title }))
                .collect();
            json!({ "type": "string", "oneOf": one_of })
        }),
        // Multi-select enums and other kinds forms cannot show.
        any_json().prop_map(|items| json!({ "type": "array", "items": items })),
        any_json(),
    ]
}

fn put(object: &mut Value, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        object[key] = value;
    }
}

/// A requested schema: an object of random properties and a random `required` list (names that exist
/// and names that do not).
fn any_schema() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(("[a-z]{1,3}|.{0,8}", any_property()), 0..8),
        prop::collection::vec("[a-z]{1,3}", 0..4),
        any::<bool>(),
    )
        .prop_map(|(properties, required, with_required)| {
            let mut schema = json!({
                "type": "object",
                "properties": Value::Object(properties.into_iter().collect::<Map<_, _>>()),
            });
            if with_required {
                schema["required"] = json!(required);
            }
            schema
        })
}

/// One field of a form the property tests fill in, with its answer: `raw` as typed, `typed` the value
/// the content must carry (`None`: left out of the content).
#[derive(Debug, Clone)]
struct Filled {
    name: String,
    title: Option<String>,
    required: bool,
    property: Value,
    raw: String,
    typed: Option<Value>,
}

impl Filled {
    fn label(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.name)
    }
}

/// Characters of text answers that are not trimmed away.
const WORD: &str = "[a-zA-Z0-9ÄéßЖ漢😀._-]";

/// A valid text property and an answer it allows.
fn text_field() -> impl Strategy<Value = (Value, String)> {
    let plain = (0u32..6, 0u32..30, any::<bool>(), any::<bool>()).prop_flat_map(
        |(min, extra, with_min, with_max)| {
            let max = min + extra;
            let low = if with_min { min.max(1) } else { 1 };
            let high = if with_max { max.max(low) } else { low + 30 };
            let mut p = json!({ "type": "string" });
            if with_min {
                p["minLength"] = json!(min);
            }
            if with_max {
                p["maxLength"] = json!(high);
            }
            // The answer: `low..=high` characters, none at either end trimmed away.
            (
                Just(p),
                prop::collection::vec(WORD, low as usize..=high as usize),
            )
                .prop_map(|(p, chars)| (p, chars.concat()))
        },
    );
    prop_oneof![
        3 => plain,
        1 => "[a-z0-9.]{1,10}@[a-z]{1,10}\\.[a-z]{2,4}"
            .prop_map(|email| (json!({ "type": "string", "format": "email" }), email)),
        1 => "[a-z0-9/._-]{0,20}".prop_map(|path| (
            json!({ "type": "string", "format": "uri" }),
            format!("https://example.com/{path}"),
        )),
        1 => (1000u32..9999, 1u32..13, 1u32..29).prop_map(|(y, m, d)| (
            json!({ "type": "string", "format": "date" }),
            format!("{y:04}-{m:02}-{d:02}"),
        )),
        1 => (1000u32..9999, 1u32..13, 1u32..29, 0u32..24, 0u32..60, prop::sample::select(vec!["Z", "+01:00", "-05:30"]))
            .prop_map(|(y, mo, d, h, mi, zone)| (
                json!({ "type": "string", "format": "date-time" }),
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00{zone}"),
            )),
    ]
}

/// A valid field of any kind with an answer it allows.
fn filled_field() -> impl Strategy<Value = Filled> {
    // Bounds well inside the range f64 holds exactly, so `bound ± 1` is out of range.
    const BOUND: i64 = 1 << 40;
    let kind = prop_oneof![
        text_field().prop_map(|(p, raw)| {
            let typed = json!(raw);
            (p, raw, Some(typed))
        }),
        (-BOUND..BOUND, 0..BOUND, any::<bool>(), any::<bool>()).prop_flat_map(
            |(min, span, with_min, with_max)| {
                let max = min.saturating_add(span);
                let mut p = json!({ "type": "integer" });
                if with_min {
                    p["minimum"] = json!(min);
                }
                if with_max {
                    p["maximum"] = json!(max);
                }
                let low = if with_min { min } else { i64::MIN };
                let high = if with_max { max } else { i64::MAX };
                (Just(p), low..=high).prop_map(|(p, n)| (p, n.to_string(), Some(json!(n))))
            }
        ),
        (-1e9f64..1e9, 0f64..1e9, any::<bool>(), any::<bool>()).prop_flat_map(
            |(min, span, with_min, with_max)| {
                let max = min + span;
                let mut p = json!({ "type": "number" });
                if with_min {
                    p["minimum"] = json!(min);
                }
                if with_max {
                    p["maximum"] = json!(max);
                }
                (Just(p), min..=max).prop_map(|(p, n)| (p, n.to_string(), Some(json!(n))))
            }
        ),
        prop::sample::select(vec![
            ("true", true),
            ("on", true),
            ("yes", true),
            ("y", true),
            ("false", false),
            ("off", false),
            ("no", false),
            ("n", false),
            // An unchecked checkbox sends nothing: `false`.
            ("", false),
        ])
        .prop_map(|(raw, typed)| (json!({ "type": "boolean" }), raw.to_owned(), Some(json!(typed)))),
        (prop::collection::btree_set("[a-zA-Z0-9_-]{1,8}", 1..6), any::<prop::sample::Index>(), 0..3u8)
            .prop_map(|(options, pick, style)| {
                let options: Vec<String> = options.into_iter().collect();
                let chosen = pick.get(&options).clone();
                let p = match style {
                    0 => json!({ "type": "string", "enum": options }),
                    1 => json!({
                        "type": "string",
                        "enum": options,
                        "enumNames": options.iter().map(|o| format!("Label {o}")).collect::<Vec<_>>(),
                    }),
                    _ => json!({
                        "type": "string",
                        "oneOf": options
                            .iter()
                            .map(|o| json!({ "const": o, "title": format!("Label {o}") }))
                            .collect::<Vec<_>>(),
                    }),
                };
                (p, chosen.clone(), Some(json!(chosen)))
            }),
    ];
    (
        "[a-z_][a-z0-9_]{0,10}",
        prop::option::of("[A-Z][a-z]{1,8}( [a-z]{1,8})?"),
        any::<bool>(),
        any::<bool>(),
        kind,
    )
        .prop_map(
            |(name, title, required, skip, (mut property, raw, typed))| {
                if let Some(title) = &title {
                    property["title"] = json!(title);
                }
                let is_boolean = property["type"] == "boolean";
                // An optional field may be left empty: it is then left out (a checkbox reads `false`).
                let (raw, typed) = if skip && !required && !is_boolean {
                    (String::new(), None)
                } else {
                    (raw, typed)
                };
                Filled {
                    name,
                    title,
                    required,
                    property,
                    raw,
                    typed,
                }
            },
        )
}

/// Several fields with distinct names.
fn filled_form() -> impl Strategy<Value = Vec<Filled>> {
    prop::collection::vec(filled_field(), 1..7).prop_map(|fields| {
        let mut seen = std::collections::HashSet::new();
        fields
            .into_iter()
            .filter(|f| seen.insert(f.name.clone()))
            .collect()
    })
}

fn schema_of(fields: &[Filled]) -> String {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|f| (f.name.clone(), f.property.clone()))
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    json!({ "type": "object", "properties": properties, "required": required }).to_string()
}

fn answers_of(fields: &[Filled]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| (f.name.clone(), f.raw.clone()))
        .collect()
}

/// Wrong answers for `field` (each must be refused, naming the field).
fn wrong_answers(field: &Field) -> Vec<String> {
    let mut wrong = Vec::new();
    // (An empty checkbox is `false`, an answer.)
    if field.required && !matches!(field.kind, FieldKind::Boolean { .. }) {
        wrong.push(String::new());
        wrong.push("   ".to_owned());
    }
    match &field.kind {
        FieldKind::Text {
            min_length,
            max_length,
            format,
            ..
        } => {
            if let Some(min) = min_length.filter(|min| *min >= 2) {
                wrong.push("x".repeat(min as usize - 1));
            }
            if let Some(max) = max_length {
                wrong.push("x".repeat(*max as usize + 1));
            }
            match format.as_deref() {
                Some("email") => wrong.push("no-at-sign".to_owned()),
                Some("uri") => wrong.push("not a url".to_owned()),
                Some("date") => wrong
                    .extend(["2026-02-30", "tomorrow", "2026-03-02T09:00:00Z"].map(str::to_owned)),
                Some("date-time") => {
                    wrong.extend(["2026-03-02", "2026-03-02 09:00", "noon"].map(str::to_owned))
                }
                _ => {}
            }
        }
        FieldKind::Number {
            integer,
            minimum,
            maximum,
            ..
        } => {
            wrong.extend(["abc", "NaN", "inf", "1e999", "--1", "0x10"].map(str::to_owned));
            if *integer {
                wrong.push(format!("{}.5", minimum.unwrap_or(0.0)));
            }
            if let Some(min) = minimum {
                wrong.push((min - 1.0).to_string());
            }
            if let Some(max) = maximum {
                wrong.push((max + 1.0).to_string());
            }
        }
        FieldKind::Boolean { .. } => {
            wrong.extend(["maybe", "TRUE1", "2", "nope"].map(str::to_owned));
        }
        FieldKind::Choice { options, .. } => {
            wrong.push(format!(
                "{}-not-an-option",
                options.first().map_or("", |(v, _)| v.as_str())
            ));
        }
    }
    wrong
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary JSON (and text that is not JSON) as a schema: read or refused, never a panic; and a
    /// form that is built has one field per property, each once, required as the schema says.
    #[test]
    fn fuzz_any_schema_is_read_or_refused(schema in prop_oneof![any_schema(), any_json()], text in ".{0,40}") {
        let _ = forms::form_from_json(&text);
        let json = schema.to_string();
        if let Ok(form) = forms::form_from_json(&json) {
            let properties = schema["properties"].as_object().cloned().unwrap_or_default();
            prop_assert_eq!(form.len(), properties.len());
            for (field, name) in form.iter().zip(properties.keys()) {
                prop_assert_eq!(&field.name, name, "the server's order");
                let required = schema["required"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|n| n == name));
                prop_assert_eq!(field.required, required);
            }
            // Any answers at all are checked without a panic.
            let values: Vec<(String, String)> = form
                .iter()
                .map(|f| (f.name.clone(), text.clone()))
                .collect();
            let _ = forms::answer(&form, &values);
        }
    }

    /// A schema built in code with any property order (repeated, unknown and missing names) still makes
    /// a form with every property exactly once.
    #[test]
    fn fuzz_property_order_never_repeats_or_drops_fields(
        fields in filled_form(),
        order in prop::collection::vec(prop_oneof!["[a-z_][a-z0-9_]{0,10}", "[a-z]{1,2}"], 0..12),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut schema: ElicitationSchema = serde_json::from_str(&schema_of(&fields)).unwrap();
        let mut order = order;
        order.extend(picks.iter().map(|i| i.get(&fields).name.clone()));
        schema.property_order = Some(order);
        let form = forms::form(&schema).unwrap();
        let mut names: Vec<&str> = form.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        let mut expected: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        expected.sort_unstable();
        prop_assert_eq!(names, expected);
    }

    /// Answers the schema allows are accepted and typed as the schema says.
    #[test]
    fn fuzz_allowed_answers_are_accepted(fields in filled_form()) {
        let form = forms::form_from_json(&schema_of(&fields)).unwrap();
        let content = forms::answer(&form, &answers_of(&fields));
        let content = match content {
            Ok(content) => content,
            Err(error) => return Err(TestCaseError::fail(format!("refused: {error}"))),
        };
        for field in &fields {
            prop_assert_eq!(content.get(&field.name), field.typed.as_ref(), "{}", field.name);
        }
        prop_assert_eq!(content.len(), fields.iter().filter(|f| f.typed.is_some()).count());
    }

    /// One wrong answer (wrong type, out of range, too long or short, missing, not an option) is
    /// refused with a message naming its field; an unknown field is refused by name.
    #[test]
    fn fuzz_one_wrong_answer_is_refused_by_name(
        fields in filled_form(),
        which in any::<prop::sample::Index>(),
        how in any::<prop::sample::Index>(),
        stranger in "[a-z]{1,8}",
    ) {
        let form = forms::form_from_json(&schema_of(&fields)).unwrap();
        let target = which.index(fields.len());
        let field = form.iter().find(|f| f.name == fields[target].name).unwrap();
        let wrong = wrong_answers(field);
        if !wrong.is_empty() {
            let mut values = answers_of(&fields);
            values[target].1 = how.get(&wrong).clone();
            match forms::answer(&form, &values) {
                Ok(content) => {
                    return Err(TestCaseError::fail(format!(
                        "{:?} accepted for {:?}: {content:?}",
                        values[target].1, field
                    )));
                }
                Err(error) => prop_assert!(
                    error.contains(fields[target].label()),
                    "{error:?} does not name {:?}",
                    fields[target].label()
                ),
            }
        }
        if !fields.iter().any(|f| f.name == stranger) {
            let mut values = answers_of(&fields);
            values.push((stranger.clone(), "x".to_owned()));
            let error = forms::answer(&form, &values).unwrap_err();
            prop_assert!(error.contains(&stranger), "{}", error);
        }
    }
}
