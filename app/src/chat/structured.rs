//! A tool result's `structuredContent` shaped for display: an array of objects (or an object whose one
//! array field holds objects) as a table, a plain object as key/value rows, anything else as text.
//!
//! The server shapes it ([`shape`], pure and capped) and sends only the shaped data, so a large result
//! never travels whole with every live update; the page renders it as text nodes, never as markup.
//! A table that suits one also gets a bar chart (the `chart` module has the rule).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chart::bar_chart;
pub use super::chart::{Bar, BarChart};

/// Most rows a table shows.
pub const MAX_ROWS: usize = 50;
/// Most columns a table shows.
pub const MAX_COLUMNS: usize = 12;
/// Most key/value rows shown.
pub const MAX_FIELDS: usize = 50;
/// Longest cell text shown; a longer value is cut, and kept whole (up to [`MAX_FULL_CHARS`]) for the
/// cell's tooltip.
pub const MAX_CELL_CHARS: usize = 120;
/// Longest value kept for a tooltip.
pub const MAX_FULL_CHARS: usize = 2000;

/// How a structured result is displayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StructuredView {
    /// An array of objects, or an object whose one array field holds objects (the table is named by
    /// that field), with the object's other fields as key/value rows, and a bar chart of the table
    /// when it suits one.
    Table {
        table: ResultTable,
        fields: ResultFields,
        /// The table's bar chart as SVG markup the server rendered (see [`BarChart::svg`]).
        chart: Option<String>,
    },
    /// An object's fields.
    Fields(ResultFields),
    /// A scalar, or a shape with no better display (compact JSON).
    Text(Cell),
}

/// Rows of objects as columns: the union of their keys in first-seen order, nested objects flattened
/// one level (`start.dateTime`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultTable {
    /// The field that held the rows, when the result is an object.
    pub name: Option<String>,
    pub columns: Vec<String>,
    /// One cell per column.
    pub rows: Vec<Vec<Cell>>,
    /// Rows and columns beyond the caps.
    pub omitted_rows: usize,
    pub omitted_columns: usize,
}

/// Key/value rows, nested objects flattened one level.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResultFields {
    pub fields: Vec<(String, Cell)>,
    /// Fields beyond the cap.
    pub omitted: usize,
}

/// One value as text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cell {
    pub text: String,
    /// The whole value (itself capped), when `text` was cut short.
    pub full: Option<String>,
}

impl Cell {
    fn new(whole: String) -> Self {
        if whole.chars().count() <= MAX_CELL_CHARS {
            return Self {
                text: whole,
                full: None,
            };
        }
        let text = cut(&whole, MAX_CELL_CHARS);
        Self {
            text,
            full: Some(cut(&whole, MAX_FULL_CHARS)),
        }
    }

    fn of(value: &Value) -> Self {
        Self::new(plain(value))
    }
}

/// At most `max` characters, the last one an ellipsis when something was cut (cells and chart labels).
pub(super) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A value as a person reads it: strings without quotes, `null` as nothing, structures as compact JSON.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

/// An object's entries with nested (non-empty) objects flattened one level: `("a.b", value)`.
fn flatten<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>) -> Vec<(String, &'a Value)> {
    let mut out = Vec::new();
    for (key, value) in entries {
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                for (inner_key, inner_value) in inner {
                    out.push((format!("{key}.{inner_key}"), inner_value));
                }
            }
            _ => out.push((key.clone(), value)),
        }
    }
    out
}

fn is_table(items: &[Value]) -> bool {
    items.iter().all(Value::is_object)
}

/// The table of `items` and its chart; `group_by` is the result's own `group_by` field, if any.
fn table(
    name: Option<String>,
    items: &[Value],
    group_by: Option<&str>,
) -> (ResultTable, Option<BarChart>) {
    let rows: Vec<Vec<(String, &Value)>> = items
        .iter()
        .filter_map(Value::as_object)
        .map(|object| flatten(object.iter()))
        .collect();
    let mut columns: Vec<String> = Vec::new();
    for row in &rows {
        for (key, _) in row {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let omitted_columns = columns.len().saturating_sub(MAX_COLUMNS);
    columns.truncate(MAX_COLUMNS);
    let omitted_rows = rows.len().saturating_sub(MAX_ROWS);
    // The shown rows' values, one per column (`None` where a row lacks the column).
    let grid: Vec<Vec<Option<&Value>>> = rows
        .iter()
        .take(MAX_ROWS)
        .map(|row| {
            columns
                .iter()
                .map(|column| {
                    row.iter()
                        .find(|(key, _)| key == column)
                        .map(|(_, value)| *value)
                })
                .collect()
        })
        .collect();
    let chart = bar_chart(&columns, &grid, omitted_rows, name.as_deref(), group_by);
    let rows = grid
        .iter()
        .map(|row| {
            row.iter()
                .map(|value| value.map_or_else(Cell::default, Cell::of))
                .collect()
        })
        .collect();
    let table = ResultTable {
        name,
        columns,
        rows,
        omitted_rows,
        omitted_columns,
    };
    (table, chart)
}

fn fields<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>) -> ResultFields {
    let flat = flatten(entries);
    let omitted = flat.len().saturating_sub(MAX_FIELDS);
    ResultFields {
        fields: flat
            .into_iter()
            .take(MAX_FIELDS)
            .map(|(key, value)| (key, Cell::of(value)))
            .collect(),
        omitted,
    }
}

/// The display of a structured result.
pub fn shape(value: &Value) -> StructuredView {
    match value {
        Value::Array(items) if is_table(items) => {
            let (table, chart) = table(None, items, None);
            StructuredView::Table {
                table,
                fields: ResultFields::default(),
                chart: chart.as_ref().map(BarChart::svg),
            }
        }
        Value::Object(object) => {
            let mut arrays = object
                .iter()
                .filter(|(_, v)| v.as_array().is_some_and(|items| is_table(items)));
            match (arrays.next(), arrays.next()) {
                (Some((name, Value::Array(items))), None) => {
                    let group_by = object.get("group_by").and_then(Value::as_str);
                    let (table, chart) = table(Some(name.clone()), items, group_by);
                    StructuredView::Table {
                        table,
                        fields: fields(object.iter().filter(|(key, _)| *key != name)),
                        chart: chart.as_ref().map(BarChart::svg),
                    }
                }
                _ => StructuredView::Fields(fields(object.iter())),
            }
        }
        _ => StructuredView::Text(Cell::of(value)),
    }
}

/// The display of a stored structured result (JSON text); `None` when it is not JSON.
pub fn shape_json(text: &str) -> Option<StructuredView> {
    serde_json::from_str::<Value>(text).ok().map(|v| shape(&v))
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    fn texts(row: &[Cell]) -> Vec<&str> {
        row.iter().map(|c| c.text.as_str()).collect()
    }

    fn keys(fields: &ResultFields) -> Vec<(&str, &str)> {
        fields
            .fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.text.as_str()))
            .collect()
    }

    // serde_json keeps objects' keys sorted unless its `preserve_order` feature is on: every object
    // below is written with its keys in order, so the tests hold either way.

    #[test]
    fn an_array_of_objects_is_a_table_with_the_union_of_keys_in_first_seen_order() {
        let view = shape(&json!([
            { "start": { "dateTime": "09:00", "timeZone": "UTC" }, "subject": "Standup" },
            { "attendees": 3, "location": "Room 4", "online": true, "subject": "Review" },
            { "organizer": { "emailAddress": { "name": "Bob" } }, "subject": null },
        ]));
        let StructuredView::Table {
            table,
            fields,
            chart,
        } = view
        else {
            panic!("{view:?}")
        };
        assert_eq!(chart, None);
        assert_eq!(table.name, None);
        assert!(fields.fields.is_empty());
        assert_eq!(
            table.columns,
            [
                "start.dateTime",
                "start.timeZone",
                "subject",
                "attendees",
                "location",
                "online",
                "organizer.emailAddress"
            ]
        );
        assert_eq!(
            texts(&table.rows[0]),
            ["09:00", "UTC", "Standup", "", "", "", ""]
        );
        assert_eq!(
            texts(&table.rows[1]),
            ["", "", "Review", "3", "Room 4", "true", ""]
        );
        // Deeper than one level: compact JSON; null: nothing.
        assert_eq!(
            texts(&table.rows[2]),
            ["", "", "", "", "", "", r#"{"name":"Bob"}"#]
        );
        assert_eq!((table.omitted_rows, table.omitted_columns), (0, 0));
    }

    #[test]
    fn an_object_with_one_array_of_objects_is_that_table_plus_its_other_fields() {
        let view = shape(&json!({
            "end": "2026-03-09T00:00:00Z",
            "events": [{ "organizer": "Alice", "subject": "Standup" }],
            "start": "2026-03-02T00:00:00Z",
            "truncated": false,
            "window": { "days": 7 },
        }));
        let StructuredView::Table {
            table,
            fields,
            chart,
        } = view
        else {
            panic!("{view:?}")
        };
        assert_eq!(chart, None);
        assert_eq!(table.name.as_deref(), Some("events"));
        assert_eq!(table.columns, ["organizer", "subject"]);
        assert_eq!(texts(&table.rows[0]), ["Alice", "Standup"]);
        assert_eq!(
            keys(&fields),
            [
                ("end", "2026-03-09T00:00:00Z"),
                ("start", "2026-03-02T00:00:00Z"),
                ("truncated", "false"),
                ("window.days", "7"),
            ]
        );
        // No events is still the events table, empty.
        let StructuredView::Table { table, .. } = shape(&json!({ "events": [], "start": "x" }))
        else {
            panic!()
        };
        assert!(table.rows.is_empty() && table.columns.is_empty());
    }

    #[test]
    fn a_sales_summary_gets_a_chart_and_one_customers_orders_do_not() {
        // sales_summary's structured result, grouped by month.
        let rows: Vec<Value> = (1..=12)
            .map(|m| {
                json!({ "key": format!("2026-{m:02}"), "label": format!("M{m} 2026"),
                "orders": m, "units": m, "revenue_cents": m * 1000 })
            })
            .collect();
        let view = shape(&json!({
            "year": 2026,
            "group_by": "month",
            "rows": rows,
            "total": { "orders": 78, "units": 78, "revenue_cents": 78000 },
        }));
        let StructuredView::Table {
            table,
            fields,
            chart: Some(chart),
        } = view
        else {
            panic!("{view:?}")
        };
        assert_eq!(table.rows.len(), 12);
        assert_eq!(keys(&fields)[1], ("group_by", "month"));
        assert!(
            chart.contains(r#"aria-label="Bar chart of revenue by month""#),
            "{chart}"
        );
        assert_eq!(chart.matches(r#"data-testid="chart-bar""#).count(), 12);
        // The longest bar spans the whole width (304 units), the sixth half of it.
        assert!(
            chart.contains(r#"<title>M12 2026: 120.00</title>"#),
            "{chart}"
        );
        assert!(
            chart.contains(r#"width="304""#) && chart.contains(r#"width="152""#),
            "{chart}"
        );

        // get_customer_orders: the orders repeat products and dates, so no label tells bars apart.
        let order = |id: i64| {
            json!({ "id": id, "customer_id": 7, "ordered_on": "2026-01-02",
            "product": "Widget", "quantity": 1, "total_cents": 100 * id, "flagged": false })
        };
        let view = shape(&json!({
            "customer": { "id": 7, "name": "Acme" },
            "orders": [order(1), order(2)],
        }));
        assert!(
            matches!(view, StructuredView::Table { chart: None, .. }),
            "{view:?}"
        );
    }

    #[test]
    fn plain_objects_are_key_value_rows_and_other_shapes_are_text() {
        let profile = json!({
            "displayName": "Alice Example",
            "jobTitle": null,
            "mail": "alice@example.com",
            "tags": ["a", "b"],
        });
        assert_eq!(
            shape(&profile),
            StructuredView::Fields(ResultFields {
                fields: vec![
                    ("displayName".into(), Cell::new("Alice Example".into())),
                    ("jobTitle".into(), Cell::default()),
                    ("mail".into(), Cell::new("alice@example.com".into())),
                    ("tags".into(), Cell::new(r#"["a","b"]"#.into())),
                ],
                omitted: 0,
            })
        );
        // Two arrays of objects: neither is "the" table.
        assert!(matches!(
            shape(&json!({ "a": [{ "x": 1 }], "b": [{ "y": 2 }] })),
            StructuredView::Fields(_)
        ));
        assert_eq!(
            shape(&json!("hi")),
            StructuredView::Text(Cell::new("hi".into()))
        );
        assert_eq!(
            shape(&json!(42)),
            StructuredView::Text(Cell::new("42".into()))
        );
        assert_eq!(
            shape(&json!([1, { "a": 2 }])),
            StructuredView::Text(Cell::new(r#"[1,{"a":2}]"#.into()))
        );
        assert_eq!(shape_json("not json"), None);
    }

    #[test]
    fn markup_stays_text() {
        let StructuredView::Fields(fields) = shape(&json!({ "<b>": "<script>alert(1)</script>" }))
        else {
            panic!()
        };
        assert_eq!(keys(&fields), [("<b>", "<script>alert(1)</script>")]);
    }

    #[test]
    fn rows_columns_fields_and_cells_are_capped() {
        let wide: Map<String, Value> = (0..20).map(|i| (format!("c{i:02}"), json!(i))).collect();
        let rows: Vec<Value> = (0..70).map(|_| Value::Object(wide.clone())).collect();
        let StructuredView::Table { table, .. } = shape(&Value::Array(rows)) else {
            panic!()
        };
        assert_eq!(table.columns.len(), MAX_COLUMNS);
        assert_eq!(table.columns[11], "c11");
        assert_eq!(table.omitted_columns, 8);
        assert_eq!(table.rows.len(), MAX_ROWS);
        assert_eq!(table.omitted_rows, 20);
        assert!(table.rows.iter().all(|r| r.len() == MAX_COLUMNS));

        let many: Map<String, Value> = (0..60).map(|i| (format!("k{i:02}"), json!(i))).collect();
        let StructuredView::Fields(fields) = shape(&Value::Object(many)) else {
            panic!()
        };
        assert_eq!((fields.fields.len(), fields.omitted), (MAX_FIELDS, 10));

        let long = "é".repeat(5000);
        let cell = Cell::of(&json!(long));
        assert_eq!(cell.text.chars().count(), MAX_CELL_CHARS);
        assert!(cell.text.ends_with('…'));
        let full = cell.full.unwrap();
        assert_eq!(full.chars().count(), MAX_FULL_CHARS);
        assert!(full.ends_with('…'));
        assert_eq!(Cell::of(&json!("short")).full, None);
    }
}
