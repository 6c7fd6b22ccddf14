//! A structured tool result in its card: a table (scrolling sideways when wide), key/value rows, or a
//! value, all as text nodes. Cut cells keep their whole value in the `title` tooltip.

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

/// The structured part of a tool card.
pub(super) fn structured_view(view: StructuredView) -> impl IntoView {
    let body = match view {
        StructuredView::Table { table, fields } => view! {
            {fields_view(fields)}
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
    use leptos::prelude::*;
    use serde_json::json;

    use super::structured_view;
    use crate::chat::structured::{MAX_CELL_CHARS, shape};

    fn render(value: serde_json::Value) -> String {
        // Without the hydration markers (`<!>`), which are not part of what is asserted.
        Owner::new()
            .with(move || structured_view(shape(&value)).to_html())
            .replace("<!>", "")
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
