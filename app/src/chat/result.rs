//! (Server only.) A structured tool result in its card: a table (scrolling sideways when wide) with a bar chart above
//! it when the server found one suits it, key/value rows, or a value, all as text nodes. Cut cells keep
//! their whole value in the `title` tooltip.

use leptos::prelude::*;

use super::structured::{Cell, ResultFields, ResultTable, StructuredView};

fn cell_text(cell: &Cell) -> (String, Option<String>) {
    (cell.text.clone(), cell.full.clone())
}

fn table_view(table: ResultTable) -> impl IntoView {
    let caption = table.name.clone().unwrap_or_else(|| "Result".to_owned());
    let shown_rows = table.rows.len();
    let shown_columns = table.columns.len();
    let mut notes = Vec::new();
    if table.omitted_rows > 0 {
        notes.push(format!(
            "Showing {shown_rows} of {} rows.",
            shown_rows + table.omitted_rows
        ));
    }
    if table.omitted_columns > 0 {
        notes.push(format!(
            "Showing {shown_columns} of {} columns.",
            shown_columns + table.omitted_columns
        ));
    }
    let note = (!notes.is_empty()).then(
        || view! { <p class="muted" data-testid="tool-result-omitted">{notes.join(" ")}</p> },
    );
    if table.rows.is_empty() {
        return view! {
            <p class="muted" data-testid="tool-result-empty">{format!("No {caption}.")}</p>
        }
        .into_any();
    }
    let header = table
        .columns
        .into_iter()
        .map(|column| view! { <th scope="col">{column}</th> })
        .collect_view();
    let rows = table
        .rows
        .into_iter()
        .map(|row| {
            let cells = row
                .iter()
                .map(|cell| {
                    let (text, full) = cell_text(cell);
                    view! { <td title=full>{text}</td> }
                })
                .collect_view();
            view! { <tr>{cells}</tr> }
        })
        .collect_view();
    let region = caption.clone();
    view! {
        // A wide table scrolls sideways: focusable, so the keyboard can scroll it too.
        <div class="result-table-scroll" tabindex="0" role="region" aria-label=region>
            <table class="result-table" data-testid="tool-result-table">
                <caption>{caption}</caption>
                <thead>
                    <tr>{header}</tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        {note}
    }
    .into_any()
}

fn fields_view(fields: ResultFields) -> Option<impl IntoView> {
    if fields.fields.is_empty() {
        return None;
    }
    let omitted = (fields.omitted > 0).then(|| {
        view! {
            <p class="muted" data-testid="tool-result-omitted">
                {format!("{} more fields not shown.", fields.omitted)}
            </p>
        }
    });
    let rows = fields
        .fields
        .into_iter()
        .map(|(key, value)| {
            let (text, full) = cell_text(&value);
            view! {
                <div>
                    <dt>{key}</dt>
                    <dd title=full>{text}</dd>
                </div>
            }
        })
        .collect_view();
    Some(view! {
        <dl class="result-kv" data-testid="tool-result-kv">{rows}</dl>
        {omitted}
    })
}

/// The structured part of a tool card as HTML, rendered on the server: the browser shows it as it
/// shows an answer's Markdown, so the bundle carries neither the shaped types nor their views.
pub fn render_structured(view: StructuredView) -> String {
    // Without the hydration markers (`<!>`): nothing hydrates this HTML. Every text in it is escaped, so
    // the markers are the only `<!>` there is.
    Owner::new()
        .with(move || structured_view(view).to_html())
        .replace("<!>", "")
}

/// The structured part of a tool card.
fn structured_view(view: StructuredView) -> impl IntoView {
    let body = match view {
        StructuredView::Table {
            table,
            fields,
            chart,
        } => view! {
            {fields_view(fields)}
            // SVG markup the server rendered and escaped (as it does an answer's Markdown).
            {chart.map(|svg| view! { <div class="result-chart-box" inner_html=svg></div> })}
            {table_view(table)}
        }
        .into_any(),
        StructuredView::Fields(fields) => fields_view(fields).into_any(),
        StructuredView::Text(cell) => {
            let (text, full) = cell_text(&cell);
            view! { <p class="result-value" data-testid="tool-result-value" title=full>{text}</p> }
                .into_any()
        }
    };
    view! { <div class="structured-result" data-testid="tool-result-structured">{body}</div> }
}

/// Server-side rendering: cells are text nodes, cut cells carry their whole value as a tooltip.
#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use serde_json::json;

    use super::render_structured;
    use crate::chat::structured::{MAX_CELL_CHARS, shape};

    fn render(value: serde_json::Value) -> String {
        render_structured(shape(&value))
    }

    #[test]
    fn a_table_and_its_fields_render_escaped() {
        let long = "x".repeat(MAX_CELL_CHARS + 10);
        let html = render(json!({
            "events": [
                { "subject": "<img src=x onerror=alert(1)>", "where": long },
                { "subject": "Review" },
            ],
            "truncated": false,
        }));
        assert!(
            html.contains(r#"data-testid="tool-result-table""#),
            "{html}"
        );
        assert!(html.contains(r#"data-testid="tool-result-kv""#), "{html}");
        assert!(html.contains("<caption>events</caption>"), "{html}");
        assert!(html.contains(r#"<th scope="col">subject</th>"#), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains(&format!(r#"title="{long}""#)), "{html}");
        assert!(html.contains("<dt>truncated</dt>"), "{html}");
    }

    #[test]
    fn a_table_that_suits_a_chart_has_one_above_it() {
        let html = render(json!({
            "year": 2026,
            "group_by": "quarter",
            "rows": [
                { "key": "Q1", "label": "Q1 <2026>", "revenue_cents": 5000 },
                { "key": "Q2", "label": "Q2 2026", "revenue_cents": 10000 },
            ],
        }));
        let chart = html.find(r#"data-testid="result-chart""#).expect(&html);
        assert!(
            chart
                < html
                    .find(r#"data-testid="tool-result-table""#)
                    .expect(&html),
            "{html}"
        );
        assert!(html.contains(r#"role="img""#), "{html}");
        assert!(
            html.contains(r#"aria-label="Bar chart of revenue by quarter""#),
            "{html}"
        );
        assert!(html.contains(r#"viewBox="0 0 560 56""#), "{html}");
        assert_eq!(
            html.matches(r#"data-testid="chart-bar""#).count(),
            2,
            "{html}"
        );
        // The longest bar spans the room left of the values; the other is half of it.
        assert!(html.contains(r#"width="304""#), "{html}");
        assert!(html.contains(r#"width="152""#), "{html}");
        assert!(
            html.contains("<title>Q1 &lt;2026&gt;: 50.00</title>"),
            "{html}"
        );
        assert!(html.contains(">100.00</text>"), "{html}");
        // A table without an amount column has no chart.
        let html = render(json!([{ "name": "a" }, { "name": "b" }]));
        assert!(!html.contains("result-chart"), "{html}");
    }

    #[test]
    fn an_empty_table_says_so_and_a_scalar_is_text() {
        let html = render(json!({ "events": [] }));
        assert!(html.contains("No events."), "{html}");
        assert!(!html.contains("<table"), "{html}");
        let html = render(json!("<i>plain</i>"));
        assert!(
            html.contains(r#"data-testid="tool-result-value""#),
            "{html}"
        );
        assert!(html.contains("&lt;i&gt;plain&lt;/i&gt;"), "{html}");
    }
}
