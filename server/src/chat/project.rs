//! Projections: the agent's domain records as the UI's display data (`app::chat`). The two sides
//! share their text forms (both declared with `strum`), so states convert through them; a test checks
//! every variant.

use std::collections::HashMap;

use agent::{
    domain::{self, Call, Conversation, Elicitation, MessageId, Transcript},
    forms::{self, Field},
};
use app::chat::{
    self as ui, ConversationSummary, ConversationView, ElicitationRequest, ElicitationView, Entry,
    FieldKind, FormField, ToolCallView, pretty, structured,
};
use chat_store::{AuditRow, rfc3339};

/// A state from one side to the other by its text form.
fn convert<T: std::str::FromStr + Default>(text: &str) -> T {
    text.parse().unwrap_or_default()
}

pub fn mode(mode: domain::ApprovalMode) -> ui::ApprovalMode {
    convert(mode.as_str())
}

pub fn domain_mode(mode: ui::ApprovalMode) -> domain::ApprovalMode {
    convert(mode.as_str())
}

fn call_status(status: domain::CallStatus) -> ui::CallStatus {
    status.as_str().parse().unwrap_or(ui::CallStatus::Failed)
}

fn elicitation_status(status: domain::ElicitationStatus) -> ui::ElicitationStatus {
    status
        .as_str()
        .parse()
        .unwrap_or(ui::ElicitationStatus::Expired)
}

fn decided_by(by: domain::DecidedBy) -> Option<ui::DecidedBy> {
    by.as_str().parse().ok()
}

pub fn decision(decision: ui::Decision) -> domain::Decision {
    match decision {
        ui::Decision::Approve => domain::Decision::Approve,
        ui::Decision::ApproveAlways => domain::Decision::ApproveAlways,
        ui::Decision::Decline => domain::Decision::Decline,
    }
}

pub fn action(action: ui::ElicitationAction) -> domain::ElicitationAction {
    match action {
        ui::ElicitationAction::Accept => domain::ElicitationAction::Accept,
        ui::ElicitationAction::Decline => domain::ElicitationAction::Decline,
        ui::ElicitationAction::Cancel => domain::ElicitationAction::Cancel,
    }
}

pub fn summary(conversation: &Conversation) -> ConversationSummary {
    ConversationSummary {
        id: conversation.id.to_string(),
        title: conversation.title.clone(),
        mode: mode(conversation.mode),
        updated_at: rfc3339(conversation.updated_at),
        updated_ms: conversation.updated_at,
    }
}

/// What the page shows as HTML the server renders: an assistant message's Markdown, a finished call's
/// structured result. Neither changes once stored, so a caller may keep the HTML by this key instead of
/// rendering again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rendered {
    Answer(MessageId),
    Result(domain::CallId),
}

/// Gives the HTML of `key`: kept, or from `render`.
pub type Html<'a> = &'a dyn Fn(&Rendered, &dyn Fn() -> String) -> String;

/// The conversation's view; `streaming` and `busy` come from the live state.
pub fn view(
    conversation: &Conversation,
    transcript: &Transcript,
    streaming: Option<String>,
    busy: bool,
    html: Html<'_>,
) -> ConversationView {
    ConversationView {
        id: conversation.id.to_string(),
        title: conversation.title.clone(),
        mode: mode(conversation.mode),
        entries: entries(transcript, html),
        streaming,
        busy,
    }
}

fn field(field: Field) -> FormField {
    FormField {
        name: field.name,
        title: field.title,
        description: field.description,
        required: field.required,
        kind: match field.kind {
            forms::FieldKind::Text {
                default,
                min_length,
                max_length,
                format,
            } => FieldKind::Text {
                default,
                min_length,
                max_length,
                format,
            },
            forms::FieldKind::Number {
                integer,
                default,
                minimum,
                maximum,
            } => FieldKind::Number {
                integer,
                default,
                minimum,
                maximum,
            },
            forms::FieldKind::Boolean { default } => FieldKind::Boolean { default },
            forms::FieldKind::Choice { options, default } => FieldKind::Choice { options, default },
        },
    }
}

/// Tool text as the card shows and copies it: JSON objects and arrays pretty-printed as received (keys
/// in their order, numbers and escapes as written), anything else as it is. Done here rather than in
/// the browser, so the WASM bundle carries no JSON formatter.
fn display_text(text: &str) -> String {
    pretty::pretty_json(text).unwrap_or_else(|| text.to_owned())
}

fn elicitation(request: &domain::Elicitation) -> ElicitationView {
    ElicitationView {
        id: request.id.to_string(),
        message: request.message.clone(),
        request: match &request.kind {
            domain::ElicitationKind::Form { schema } => ElicitationRequest::Form {
                fields: forms::form_from_json(schema)
                    .map(|form| form.into_iter().map(field).collect())
                    .unwrap_or_default(),
            },
            domain::ElicitationKind::Url { url } => ElicitationRequest::Url {
                url: url.as_str().to_owned(),
                host: url.host().to_owned(),
            },
        },
        status: elicitation_status(request.status),
    }
}

fn entries(transcript: &Transcript, html: Html<'_>) -> Vec<Entry> {
    // Grouped in one pass (looking them up per message made the view quadratic in the conversation's
    // length); each group keeps the transcript's order.
    let mut calls_of: HashMap<&MessageId, Vec<&Call>> = HashMap::new();
    for call in &transcript.calls {
        calls_of.entry(&call.message_id).or_default().push(call);
    }
    let mut requests_of: HashMap<&domain::CallId, Vec<&Elicitation>> = HashMap::new();
    for request in &transcript.elicitations {
        requests_of
            .entry(&request.call_id)
            .or_default()
            .push(request);
    }
    let mut entries = Vec::with_capacity(transcript.messages.len() + transcript.calls.len());
    for message in &transcript.messages {
        let id = message.id.to_string();
        let text = message.content.clone();
        match message.role {
            domain::Role::User => entries.push(Entry::User { id, text }),
            domain::Role::Notice => entries.push(Entry::Notice { id, text }),
            domain::Role::Assistant => {
                if !text.is_empty() {
                    let html = html(&Rendered::Answer(message.id.clone()), &|| {
                        ui::render_markdown(&text)
                    });
                    entries.push(Entry::Assistant { id, text, html });
                }
                for call in calls_of.get(&message.id).into_iter().flatten() {
                    let elicitations = requests_of
                        .get(&call.id)
                        .into_iter()
                        .flatten()
                        .map(|request| elicitation(request))
                        .collect();
                    entries.push(Entry::ToolCall(ToolCallView {
                        id: call.id.to_string(),
                        server: call.server.clone(),
                        tool: call.tool.clone(),
                        arguments: display_text(&call.arguments),
                        args_hash: call.args_hash.to_string(),
                        status: call_status(call.status),
                        result: call.result.as_deref().map(display_text),
                        // Unreadable or empty structured content shows as none.
                        structured: call
                            .structured
                            .as_deref()
                            .map(|json| {
                                html(&Rendered::Result(call.id.clone()), &|| {
                                    structured::shape_json(json)
                                        .map(ui::render_structured)
                                        .unwrap_or_default()
                                })
                            })
                            .filter(|html| !html.is_empty()),
                        is_error: call.is_error,
                        read_only: call.read_only,
                        destructive: call.destructive,
                        decided_by: call.decided_by.and_then(decided_by),
                        elicitations,
                    }));
                }
            }
        }
    }
    entries
}

pub fn audit(row: AuditRow) -> ui::AuditRecord {
    ui::AuditRecord {
        conversation_id: row.conversation_id,
        server: row.server,
        tool: row.tool,
        args_hash: row.args_hash,
        decision: row.decision,
        decided_by: row.decided_by,
        proposed_at: rfc3339(row.proposed_at),
        decided_at: row.decided_at.map(rfc3339),
        finished_at: row.finished_at.map(rfc3339),
        outcome: row.outcome,
    }
}

#[cfg(test)]
mod tests {
    use agent::domain::{
        CallId, Elicitation, ElicitationId, ElicitationKind, ElicitationUrl, MessageId,
    };
    use strum::VariantArray;

    use super::*;

    fn call(structured: Option<&str>) -> domain::Call {
        domain::Call {
            id: CallId::from("c1"),
            message_id: MessageId::from("m1"),
            model_call_id: "call_1".into(),
            function_name: "list_my_events".into(),
            server: "tools".into(),
            tool: "list_my_events".into(),
            arguments: "{}".into(),
            args_hash: domain::ArgsHash::of("{}"),
            read_only: true,
            destructive: false,
            status: domain::CallStatus::Done,
            decided_by: Some(domain::DecidedBy::Auto),
            result: Some("1 event".into()),
            structured: structured.map(str::to_owned),
            is_error: false,
        }
    }

    fn transcript(structured: Option<&str>, kind: ElicitationKind) -> Transcript {
        Transcript {
            messages: vec![domain::Message {
                id: MessageId::from("m1"),
                role: domain::Role::Assistant,
                content: String::new(),
            }],
            calls: vec![call(structured)],
            elicitations: vec![Elicitation {
                id: ElicitationId::from("e1"),
                call_id: CallId::from("c1"),
                message: "Grant access".into(),
                kind,
                status: domain::ElicitationStatus::Pending,
                answer: None,
            }],
        }
    }

    fn only_call(entries: Vec<Entry>) -> ToolCallView {
        match entries.into_iter().next() {
            Some(Entry::ToolCall(call)) => call,
            other => panic!("{other:?}"),
        }
    }

    fn entries_of(transcript: &Transcript) -> Vec<Entry> {
        entries(transcript, &|_, render| render())
    }

    #[test]
    fn url_requests_and_structured_results_reach_the_page_shaped() {
        let url = ElicitationUrl::parse("https://login.example.com/consent").unwrap();
        let view = only_call(entries_of(&transcript(
            Some(r#"{"events":[{"subject":"Standup"}]}"#),
            ElicitationKind::Url { url },
        )));
        assert_eq!(
            view.elicitations[0].request,
            ElicitationRequest::Url {
                url: "https://login.example.com/consent".into(),
                host: "login.example.com".into(),
            }
        );
        // Shaped as a table, and rendered: the page gets the HTML.
        let html = view.structured.as_deref().unwrap_or_default();
        assert!(
            html.contains(r#"data-testid="tool-result-table""#),
            "{html}"
        );
        assert!(html.contains("<caption>events</caption>"), "{html}");
        assert!(html.contains("<td>Standup</td>"), "{html}");
        assert_eq!(view.result.as_deref(), Some("1 event"));

        // A form keeps its fields; a result without (or with unreadable) structured content has none.
        let schema = r#"{"type":"object","properties":{"confirm":{"type":"boolean"}}}"#;
        for stored in [None, Some("not json")] {
            let view = only_call(entries_of(&transcript(
                stored,
                ElicitationKind::Form {
                    schema: schema.into(),
                },
            )));
            let ElicitationRequest::Form { fields } = &view.elicitations[0].request else {
                panic!()
            };
            assert_eq!(fields[0].name, "confirm");
            assert_eq!(view.structured, None);
        }
    }

    #[test]
    fn arguments_and_json_results_are_pretty_printed_as_received_and_text_stays() {
        let raw_args = r#"{"text":"a, b","tags":["x"],"id":1.50}"#;
        let mut stored = transcript(
            None,
            ElicitationKind::Form {
                schema: "{}".into(),
            },
        );
        stored.calls[0].arguments = raw_args.into();
        stored.calls[0].result = Some(r#"{"z":1,"a":{}}"#.into());
        let view = only_call(entries_of(&stored));
        assert_eq!(
            view.arguments,
            "{\n  \"text\": \"a, b\",\n  \"tags\": [\n    \"x\"\n  ],\n  \"id\": 1.50\n}"
        );
        assert_eq!(
            view.result.as_deref(),
            Some("{\n  \"z\": 1,\n  \"a\": {}\n}")
        );

        // Text (even text with braces) is shown as the model read it.
        for text in [
            "Saved note 1: {milk}",
            "#1 (2026-01-01): a\n#2 (2026-01-02): b",
            "42",
        ] {
            stored.calls[0].result = Some(text.into());
            assert_eq!(only_call(entries_of(&stored)).result.as_deref(), Some(text));
        }
    }

    #[test]
    fn every_state_has_its_counterpart() {
        for status in domain::CallStatus::VARIANTS {
            assert_eq!(call_status(*status).as_str(), status.as_str());
        }
        for m in domain::ApprovalMode::VARIANTS {
            assert_eq!(domain_mode(mode(*m)), *m);
        }
        for by in [
            domain::DecidedBy::User,
            domain::DecidedBy::Auto,
            domain::DecidedBy::AlwaysAllow,
        ] {
            assert_eq!(decided_by(by).map(|b| b.as_str()), Some(by.as_str()));
        }
        for status in [
            domain::ElicitationStatus::Pending,
            domain::ElicitationStatus::Accepted,
            domain::ElicitationStatus::Declined,
            domain::ElicitationStatus::Cancelled,
            domain::ElicitationStatus::Expired,
        ] {
            assert_eq!(elicitation_status(status).as_str(), status.as_str());
        }
    }
}
