//! A bar chart of a result table, when the table suits one (sales by quarter, top products): decided
//! and laid out on the server by [`bar_chart`] (pure), drawn by the page as plain inline SVG.
//!
//! The rule — a table gets a chart when all of these hold:
//! - it has 2 to [`MAX_BARS`] rows and none were cut by the table's cap;
//! - a *label column*: every row holds a non-empty, non-numeric string, no two alike (repeated
//!   labels, e.g. one customer's orders of the same product, would make bars nobody can tell
//!   apart). A column named `label`, `name` or `title` is preferred, else the first such column;
//! - a *value column*: every row holds a JSON number and the column's name says it is an amount
//!   ([`MEASURE_WORDS`], earlier words first: `revenue_cents` over `orders`); ids, ranks and
//!   years are never charted;
//! - every value is finite and not negative, and the largest is above zero (bars start at zero;
//!   a mixed-sign or empty chart would say less than the table).
//!
//! A `…_cents` column is shown in whole units with two decimals (`123456` → `1,234.56`) and named
//! without the suffix. Values are formatted here and bar lengths sent as per-mille integers, so
//! the browser does no float arithmetic or formatting (the WASM bundle stays small).

use serde_json::Value;

use super::structured::cut;

/// Most bars a chart shows; a longer table is only a table.
pub const MAX_BARS: usize = 24;
/// Longest label shown beside a bar; the whole label (capped at [`MAX_LABEL_CHARS`]) is in the
/// bar's tooltip.
pub const MAX_TICK_CHARS: usize = 22;
/// Longest label kept for a bar's tooltip.
pub const MAX_LABEL_CHARS: usize = 120;
/// Bar length of the largest value.
pub const FULL: u16 = 1000;

/// Words naming a column an amount worth charting, by preference.
pub const MEASURE_WORDS: [&str; 10] = [
    "revenue", "sales", "amount", "total", "value", "price", "cost", "count", "quantity", "units",
];

/// Column names preferred as the bars' labels.
const LABEL_NAMES: [&str; 3] = ["label", "name", "title"];

/// A horizontal bar chart of one numeric column by one text column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarChart {
    /// What the chart shows, its accessible name: "Bar chart of revenue by quarter".
    pub title: String,
    pub label_column: String,
    pub value_column: String,
    /// In the table's row order.
    pub bars: Vec<Bar>,
}

/// One bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// The row's label (capped at [`MAX_LABEL_CHARS`]).
    pub label: String,
    /// The label as shown beside the bar (cut at [`MAX_TICK_CHARS`]).
    pub tick: String,
    /// The value as shown: `1,234.56`.
    pub value: String,
    /// Length in thousandths of the longest bar (0..=[`FULL`]).
    pub length: u16,
}

/// The last segment of a flattened column name (`total.revenue` → `revenue`), lower case.
fn leaf(column: &str) -> String {
    column.rsplit('.').next().unwrap_or(column).to_lowercase()
}

fn is_id(column: &str) -> bool {
    let leaf = leaf(column);
    leaf == "id" || leaf.ends_with("_id") || column.ends_with("Id")
}

fn is_cents(column: &str) -> bool {
    leaf(column).ends_with("cents")
}

/// A column name as words: `revenue_cents` → `revenue`, `unit_price` → `unit price`.
fn humanize(column: &str) -> String {
    let leaf = column.rsplit('.').next().unwrap_or(column);
    let bare = leaf
        .strip_suffix("_cents")
        .or_else(|| leaf.strip_suffix("Cents"))
        .filter(|b| !b.is_empty())
        .unwrap_or(leaf);
    bare.replace(['_', '-'], " ")
}

/// A table's name as the thing each row is: `products` → `product`.
fn singular(name: &str) -> String {
    let word = humanize(name);
    match word.strip_suffix('s') {
        Some(stem) if stem.len() > 2 && !stem.ends_with('s') => stem.to_owned(),
        _ => word,
    }
}

fn is_label_column(column: usize, rows: &[Vec<Option<&Value>>]) -> bool {
    let mut seen: Vec<&str> = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(Value::String(text)) = row.get(column).copied().flatten() else {
            return false;
        };
        let text = text.trim();
        if text.is_empty() || text.parse::<f64>().is_ok() || seen.contains(&text) {
            return false;
        }
        seen.push(text);
    }
    true
}

fn label_column(columns: &[String], rows: &[Vec<Option<&Value>>]) -> Option<usize> {
    let candidates: Vec<usize> = (0..columns.len())
        .filter(|&c| is_label_column(c, rows))
        .collect();
    LABEL_NAMES
        .iter()
        .find_map(|name| {
            candidates
                .iter()
                .copied()
                .find(|&c| leaf(&columns[c]) == *name)
        })
        .or_else(|| candidates.first().copied())
}

fn value_column(columns: &[String], rows: &[Vec<Option<&Value>>]) -> Option<usize> {
    let numeric = |c: usize| {
        rows.iter()
            .all(|row| matches!(row.get(c).copied().flatten(), Some(Value::Number(_))))
    };
    MEASURE_WORDS.iter().find_map(|word| {
        (0..columns.len()).find(|&c| {
            let name = leaf(&columns[c]);
            name.contains(word) && !is_id(&columns[c]) && numeric(c)
        })
    })
}

/// `1234567` → `1,234,567`.
fn grouped(whole: u128) -> String {
    let digits = whole.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A value as shown: thousands grouped; cents as units with two decimals; other fractions with
/// up to two decimals.
fn format_value(value: &serde_json::Number, cents: bool) -> String {
    if cents {
        // Whole cents stay exact; fractional ones are rounded to the cent.
        let cents = value
            .as_i64()
            .map(i128::from)
            .or_else(|| value.as_u64().map(i128::from))
            .unwrap_or_else(|| value.as_f64().unwrap_or_default().round() as i128);
        let sign = if cents < 0 { "-" } else { "" };
        let cents = cents.unsigned_abs();
        return format!("{sign}{}.{:02}", grouped(cents / 100), cents % 100);
    }
    if let Some(n) = value.as_u64() {
        return grouped(u128::from(n));
    }
    if let Some(n) = value.as_i64() {
        return format!("-{}", grouped(u128::from(n.unsigned_abs())));
    }
    let n = value.as_f64().unwrap_or_default();
    let hundredths = (n.abs() * 100.0).round() as u128;
    let sign = if n < 0.0 && hundredths > 0 { "-" } else { "" };
    let whole = grouped(hundredths / 100);
    match hundredths % 100 {
        0 => format!("{sign}{whole}"),
        f if f % 10 == 0 => format!("{sign}{whole}.{}", f / 10),
        f => format!("{sign}{whole}.{f:02}"),
    }
}

/// The chart of a shaped table, when the table suits one (see the module's rule).
///
/// `rows` are the shown rows, one value per column (`None` where a row lacks it); `table_name`
/// is the field that held the rows; `group_by` is the result's own `group_by` field, when it has
/// one, which names what the labels are ("quarter").
pub fn bar_chart(
    columns: &[String],
    rows: &[Vec<Option<&Value>>],
    omitted_rows: usize,
    table_name: Option<&str>,
    group_by: Option<&str>,
) -> Option<BarChart> {
    if omitted_rows > 0 || !(2..=MAX_BARS).contains(&rows.len()) {
        return None;
    }
    let label = label_column(columns, rows)?;
    let value = value_column(columns, rows)?;
    let numbers: Vec<(&str, &serde_json::Number, f64)> = rows
        .iter()
        .map(|row| match (row[label], row[value]) {
            (Some(Value::String(text)), Some(Value::Number(n))) => {
                Some((text.trim(), n, n.as_f64()?))
            }
            _ => None,
        })
        .collect::<Option<_>>()?;
    if numbers.iter().any(|(_, _, v)| !v.is_finite() || *v < 0.0) {
        return None;
    }
    let max = numbers.iter().map(|(_, _, v)| *v).fold(0.0, f64::max);
    if max <= 0.0 {
        return None;
    }
    let label_column = columns[label].clone();
    let value_column = columns[value].clone();
    let cents = is_cents(&value_column);
    let by = match (group_by, table_name) {
        (Some(by), _) if !by.trim().is_empty() => humanize(by.trim()),
        (_, Some(table)) if LABEL_NAMES.contains(&leaf(&label_column).as_str()) => singular(table),
        _ => humanize(&label_column),
    };
    let bars = numbers
        .into_iter()
        .map(|(text, number, v)| Bar {
            label: cut(text, MAX_LABEL_CHARS),
            tick: cut(text, MAX_TICK_CHARS),
            value: format_value(number, cents),
            // Within 0..=FULL: v is in 0..=max.
            length: ((v / max) * f64::from(FULL))
                .round()
                .clamp(0.0, f64::from(FULL)) as u16,
        })
        .collect();
    Some(BarChart {
        title: format!("Bar chart of {} by {by}", humanize(&value_column)),
        label_column,
        value_column,
        bars,
    })
}

/// The chart's drawing, in SVG user units (it scales to the card's width): labels right-aligned in
/// the left column, bars from zero, each bar's value after it.
mod layout {
    pub const WIDTH: u32 = 560;
    /// Where the bars start; the labels end just before.
    pub const LABELS: u32 = 160;
    /// Room after the longest bar for its value.
    pub const VALUES: u32 = 96;
    pub const ROW: u32 = 24;
    pub const BAR: u32 = 16;
    pub const PAD: u32 = 4;
}

impl BarChart {
    /// The chart as plain inline SVG markup, every text escaped. Rendered on the server and sent as
    /// finished markup (like assistant Markdown), so no chart code or decoding is in the WASM bundle.
    /// The image is named by the chart's title; the table below holds the same data for screen
    /// readers.
    pub fn svg(&self) -> String {
        use layout::*;

        use crate::html::escape;

        let span = WIDTH - LABELS - VALUES;
        let count = u32::try_from(self.bars.len()).unwrap_or(u32::MAX);
        let height = count.saturating_mul(ROW).saturating_add(2 * PAD);
        let bars: String = (self.bars.iter().zip(0u32..))
            .map(|(bar, index)| {
                let top = PAD + index * ROW;
                let middle = top + ROW / 2;
                let width = u32::from(bar.length.min(FULL)) * span / u32::from(FULL);
                format!(
                    r#"<g class="chart-bar" data-testid="chart-bar"><title>{}: {}</title><text class="chart-label" x="{}" y="{middle}" dy="0.35em" text-anchor="end">{}</text><rect class="chart-rect" x="{LABELS}" y="{}" width="{width}" height="{BAR}" rx="2"></rect><text class="chart-value" x="{}" y="{middle}" dy="0.35em">{}</text></g>"#,
                    escape(&bar.label),
                    escape(&bar.value),
                    LABELS - 8,
                    escape(&bar.tick),
                    top + (ROW - BAR) / 2,
                    LABELS + width + 6,
                    escape(&bar.value),
                )
            })
            .collect();
        format!(
            r#"<svg class="result-chart" data-testid="result-chart" role="img" aria-label="{}" viewBox="0 0 {WIDTH} {height}" preserveAspectRatio="xMinYMin meet"><line class="chart-axis" x1="{LABELS}" y1="0" x2="{LABELS}" y2="{height}"></line>{bars}</svg>"#,
            escape(&self.title)
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The chart of rows given as JSON objects, columns in first-seen order as the table has them.
    fn chart_of(rows: Value, table: Option<&str>, group_by: Option<&str>) -> Option<BarChart> {
        let objects: Vec<&serde_json::Map<String, Value>> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap())
            .collect();
        let mut columns: Vec<String> = Vec::new();
        for object in &objects {
            for key in object.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
        let grid: Vec<Vec<Option<&Value>>> = objects
            .iter()
            .map(|o| columns.iter().map(|c| o.get(c)).collect())
            .collect();
        bar_chart(&columns, &grid, 0, table, group_by)
    }

    fn quarters() -> Value {
        // What sales_summary gives for `group_by: quarter` (its rows).
        json!([
            { "key": "Q1", "label": "Q1 2026", "orders": 3, "units": 4, "revenue_cents": 8000 },
            { "key": "Q2", "label": "Q2 2026", "orders": 1, "units": 3, "revenue_cents": 123456 },
            { "key": "Q3", "label": "Q3 2026", "orders": 0, "units": 0, "revenue_cents": 0 },
            { "key": "Q4", "label": "Q4 2026", "orders": 1, "units": 2, "revenue_cents": 10000 },
        ])
    }

    #[test]
    fn a_sales_summary_is_revenue_by_its_group() {
        let chart = chart_of(quarters(), Some("rows"), Some("quarter")).unwrap();
        assert_eq!(chart.title, "Bar chart of revenue by quarter");
        assert_eq!(
            (chart.label_column.as_str(), chart.value_column.as_str()),
            ("label", "revenue_cents")
        );
        let bars: Vec<(&str, &str, u16)> = chart
            .bars
            .iter()
            .map(|b| (b.label.as_str(), b.value.as_str(), b.length))
            .collect();
        assert_eq!(
            bars,
            [
                ("Q1 2026", "80.00", 65),
                ("Q2 2026", "1,234.56", FULL),
                ("Q3 2026", "0.00", 0),
                ("Q4 2026", "100.00", 81),
            ]
        );
        // By product: the product ids in `key` are numbers, so the names label the bars.
        let products = json!([
            { "key": "1", "label": "Widget", "orders": 2, "units": 3, "revenue_cents": 3000 },
            { "key": "2", "label": "Gadget", "orders": 2, "units": 3, "revenue_cents": 15000 },
        ]);
        let chart = chart_of(products, Some("rows"), Some("product")).unwrap();
        assert_eq!(chart.title, "Bar chart of revenue by product");
        assert_eq!(chart.bars[1].tick, "Gadget");
    }

    #[test]
    fn top_products_are_revenue_by_product_named_after_the_table() {
        let top = json!([
            { "rank": 1, "product_id": 2, "name": "A very long product name indeed", "orders": 2, "units": 3, "revenue_cents": 15000 },
            { "rank": 2, "product_id": 3, "name": "Gizmo", "orders": 1, "units": 3, "revenue_cents": 6000 },
        ]);
        let chart = chart_of(top, Some("products"), None).unwrap();
        assert_eq!(chart.title, "Bar chart of revenue by product");
        assert_eq!(chart.label_column, "name");
        assert_eq!(chart.bars[0].tick.chars().count(), MAX_TICK_CHARS);
        assert!(chart.bars[0].tick.ends_with('…'));
        assert_eq!(chart.bars[0].label, "A very long product name indeed");
        assert_eq!(chart.bars[1].length, 400);
    }

    #[test]
    fn plain_numbers_are_grouped_and_labels_without_a_preferred_name_are_the_first_text_column() {
        let chart = chart_of(
            json!([
                { "city": "Oslo", "count": 1234567 },
                { "city": "Rome", "count": 2.5 },
                { "city": "Lima", "count": 0.125 },
            ]),
            None,
            None,
        )
        .unwrap();
        assert_eq!(chart.title, "Bar chart of count by city");
        let values: Vec<&str> = chart.bars.iter().map(|b| b.value.as_str()).collect();
        assert_eq!(values, ["1,234,567", "2.5", "0.13"]);
    }

    #[test]
    fn tables_that_do_not_suit_a_chart_have_none() {
        let none = |rows: Value| chart_of(rows, Some("rows"), None);
        // One row, or more than MAX_BARS.
        assert_eq!(none(json!([{ "name": "a", "total": 1 }])), None);
        let many: Vec<Value> = (0..=MAX_BARS)
            .map(|i| json!({ "name": format!("n{i}"), "total": i }))
            .collect();
        assert_eq!(none(Value::Array(many)), None);
        // No amount column: ids, ranks and years are not charted.
        assert_eq!(
            none(
                json!([{ "name": "a", "id": 1, "rank": 1, "year": 2026 }, { "name": "b", "id": 2, "rank": 2, "year": 2026 }])
            ),
            None
        );
        // No text labels, or repeated ones (one customer's orders of the same product).
        assert_eq!(
            none(json!([{ "key": "1", "total": 1 }, { "key": "2", "total": 2 }])),
            None
        );
        assert_eq!(
            none(
                json!([{ "product": "Widget", "total_cents": 1 }, { "product": "Widget", "total_cents": 2 }])
            ),
            None
        );
        // A missing or textual value.
        assert_eq!(
            none(json!([{ "name": "a", "total": 1 }, { "name": "b" }])),
            None
        );
        assert_eq!(
            none(json!([{ "name": "a", "total": 1 }, { "name": "b", "total": "2" }])),
            None
        );
        // A negative value, or nothing above zero.
        assert_eq!(
            none(json!([{ "name": "a", "total": 1 }, { "name": "b", "total": -2 }])),
            None
        );
        assert_eq!(
            none(json!([{ "name": "a", "total": 0 }, { "name": "b", "total": 0.0 }])),
            None
        );
        // Rows cut by the table's cap.
        let rows = [json!("a"), json!("b")];
        let values = [json!(1), json!(2)];
        let grid = vec![
            vec![Some(&rows[0]), Some(&values[0])],
            vec![Some(&rows[1]), Some(&values[1])],
        ];
        let columns = ["name".to_owned(), "total".to_owned()];
        assert!(bar_chart(&columns, &grid, 0, None, None).is_some());
        assert_eq!(bar_chart(&columns, &grid, 1, None, None), None);
    }

    #[test]
    fn the_svg_escapes_every_text_and_scales_bars_to_the_longest() {
        let chart = BarChart {
            title: "Bar chart of <b>revenue</b> by \"x\"".into(),
            label_column: "name".into(),
            value_column: "total".into(),
            bars: vec![
                Bar {
                    label: "<script>alert(1)</script>".into(),
                    tick: "<script>…".into(),
                    value: "1 & 2".into(),
                    length: FULL,
                },
                Bar {
                    label: "b".into(),
                    tick: "b".into(),
                    value: "0.5".into(),
                    length: FULL / 4,
                },
            ],
        };
        let svg = chart.svg();
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(
            svg.contains("aria-label=\"Bar chart of &lt;b&gt;revenue&lt;/b&gt; by &quot;x&quot;\""),
            "{svg}"
        );
        assert!(
            svg.contains("<title>&lt;script&gt;alert(1)&lt;/script&gt;: 1 &amp; 2</title>"),
            "{svg}"
        );
        assert_eq!(svg.matches("data-testid=\"chart-bar\"").count(), 2);
        assert!(
            svg.contains("width=\"304\"") && svg.contains("width=\"76\""),
            "{svg}"
        );
    }
}
