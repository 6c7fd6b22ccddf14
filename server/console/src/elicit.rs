//! Answering an MCP server's request for input at the terminal, in both of its forms:
//!
//! - a **form**: the requested schema (through the agent core's [`agent::forms`], the same reading the
//!   web's forms use) becomes one prompt per field, with its type, default and whether it is required;
//!   a bad answer says why and asks that field again; then accept / decline / cancel.
//! - a **URL**: the full address with its host set apart (a look-alike host is what a phishing link
//!   relies on), opened only if the user accepts.
//!
//! Lines typed before the request was shown do not answer it.

use agent::{
    domain::{ElicitationAction, ElicitationUrl},
    forms::{self, Field, FieldKind},
    ports::ElicitReply,
};
use serde_json::Map;

use crate::terminal::Input;

/// Who asks and why, as shown above the prompts.
pub struct Request<'a> {
    pub server: &'a str,
    pub tool: &'a str,
    pub message: &'a str,
}

/// Asks until an answer is one of `choices` (single letters or the words); `None` at the end of input.
async fn choose(
    input: &mut Input,
    out: &mut (dyn FnMut(&str) + Send),
    question: &str,
    choices: &[(&str, &str)],
) -> Option<usize> {
    loop {
        out(question);
        let line = input.line().await?;
        let answer = line.trim().to_ascii_lowercase();
        if let Some(index) = choices
            .iter()
            .position(|(letter, word)| answer == *letter || answer == *word)
        {
            return Some(index);
        }
        let letters: Vec<&str> = choices.iter().map(|(letter, _)| *letter).collect();
        out(&format!("Please answer {}.\n", letters.join(", ")));
    }
}

/// The hint after a field's label: its type, choices, default, and whether it may be left empty.
fn hint(field: &Field) -> String {
    let mut parts: Vec<String> = Vec::new();
    match &field.kind {
        FieldKind::Text {
            default, format, ..
        } => {
            parts.push(format.clone().unwrap_or_else(|| "text".to_owned()));
            if let Some(default) = default {
                parts.push(format!("default {default}"));
            }
        }
        FieldKind::Number {
            integer,
            default,
            minimum,
            maximum,
        } => {
            parts.push(if *integer { "whole number" } else { "number" }.to_owned());
            match (minimum, maximum) {
                (Some(min), Some(max)) => parts.push(format!("{min} to {max}")),
                (Some(min), None) => parts.push(format!("at least {min}")),
                (None, Some(max)) => parts.push(format!("at most {max}")),
                (None, None) => {}
            }
            if let Some(default) = default {
                parts.push(format!("default {default}"));
            }
        }
        FieldKind::Boolean { default } => {
            parts.push("y/n".to_owned());
            if let Some(default) = default {
                parts.push(format!("default {}", if *default { "y" } else { "n" }));
            }
        }
        FieldKind::Choice { default, .. } => {
            parts.push("a number or a value from the list".to_owned());
            if let Some(default) = default {
                parts.push(format!("default {default}"));
            }
        }
    }
    if !field.required {
        parts.push("Enter to leave empty".to_owned());
    }
    parts.join(", ")
}

/// The field's default as it would be typed.
fn default_text(field: &Field) -> Option<String> {
    match &field.kind {
        FieldKind::Text { default, .. } | FieldKind::Choice { default, .. } => default.clone(),
        FieldKind::Number { default, .. } => default.map(|d| d.to_string()),
        FieldKind::Boolean { default } => default.map(|d| if d { "y" } else { "n" }.to_owned()),
    }
}

/// One field, asked until its answer is valid; `Ok(None)`: left empty (optional, no default);
/// `Err(())`: the input ended.
async fn ask_field(
    input: &mut Input,
    out: &mut (dyn FnMut(&str) + Send),
    field: &Field,
) -> Result<Option<serde_json::Value>, ()> {
    if let Some(description) = &field.description {
        out(&format!("  {description}\n"));
    }
    if let FieldKind::Choice { options, .. } = &field.kind {
        for (number, (value, label)) in options.iter().enumerate() {
            if label == value {
                out(&format!("    {}) {value}\n", number + 1));
            } else {
                out(&format!("    {}) {label} ({value})\n", number + 1));
            }
        }
    }
    let required = if field.required { " *" } else { "" };
    let question = format!("{}{required} ({}): ", field.label(), hint(field));
    loop {
        out(&question);
        let Some(line) = input.line().await else {
            return Err(());
        };
        let typed = line.trim();
        let raw = if typed.is_empty() {
            match default_text(field) {
                Some(default) => default,
                None if field.required => {
                    out(&format!("{} is required.\n", field.label()));
                    continue;
                }
                None => return Ok(None),
            }
        } else {
            typed.to_owned()
        };
        // A choice may be answered by its number in the list.
        let raw = match &field.kind {
            FieldKind::Choice { options, .. } => raw
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| options.get(i))
                .map_or(raw, |(value, _)| value.clone()),
            _ => raw,
        };
        match forms::value(field, &raw) {
            Ok(value) => return Ok(Some(value)),
            Err(reason) => out(&format!("{reason}\n")),
        }
    }
}

fn header(request: &Request<'_>) -> String {
    format!(
        "{} asks, during {}:\n  {}\n",
        request.server, request.tool, request.message
    )
}

/// A form request: fields one by one, then accept / decline / cancel. The end of input cancels.
pub async fn form(
    input: &mut Input,
    out: &mut (dyn FnMut(&str) + Send),
    request: &Request<'_>,
    schema: &str,
) -> ElicitReply {
    let form = match forms::form_from_json(schema) {
        Ok(form) => form,
        Err(reason) => {
            out(&format!(
                "The request cannot be shown ({reason}); declined.\n"
            ));
            return ElicitReply::decline();
        }
    };
    input.discard_typed_ahead();
    out(&header(request));
    let choices = [("a", "answer"), ("d", "decline"), ("c", "cancel")];
    match choose(
        input,
        out,
        "answer? [a]nswer / [d]ecline / [c]ancel ",
        &choices,
    )
    .await
    {
        Some(0) => {}
        Some(1) => return ElicitReply::decline(),
        _ => return ElicitReply::cancel(),
    }
    loop {
        let mut content = Map::new();
        for field in &form {
            match ask_field(input, out, field).await {
                Ok(Some(value)) => {
                    content.insert(field.name.clone(), value);
                }
                Ok(None) => {}
                Err(()) => return ElicitReply::cancel(),
            }
        }
        let summary = serde_json::to_string_pretty(&serde_json::Value::Object(content.clone()))
            .unwrap_or_default();
        out(&format!("{summary}\n"));
        let send = [
            ("s", "send"),
            ("e", "edit"),
            ("d", "decline"),
            ("c", "cancel"),
        ];
        match choose(
            input,
            out,
            "send? [s]end / [e]dit / [d]ecline / [c]ancel ",
            &send,
        )
        .await
        {
            Some(0) => {
                return ElicitReply {
                    action: ElicitationAction::Accept,
                    content: Some(content),
                };
            }
            Some(1) => continue,
            Some(2) => return ElicitReply::decline(),
            _ => return ElicitReply::cancel(),
        }
    }
}

/// What the user chose for a URL request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlChoice {
    /// Go to the page (the caller opens it or prints it).
    Open,
    Decline,
    Cancel,
}

/// A URL request: the message, the full URL and its host, then open / decline / cancel.
pub async fn url(
    input: &mut Input,
    out: &mut (dyn FnMut(&str) + Send),
    request: &Request<'_>,
    url: &ElicitationUrl,
) -> UrlChoice {
    input.discard_typed_ahead();
    out(&header(request));
    out(&format!(
        "  page: {}\n  host: {}\n",
        url.as_str(),
        url.host()
    ));
    let choices = [("o", "open"), ("d", "decline"), ("c", "cancel")];
    match choose(
        input,
        out,
        "continue there? [o]pen the page / [d]ecline / [c]ancel ",
        &choices,
    )
    .await
    {
        Some(0) => UrlChoice::Open,
        Some(1) => UrlChoice::Decline,
        _ => UrlChoice::Cancel,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SCHEMA: &str = r#"{"type":"object","properties":{
        "confirm":{"type":"boolean","title":"Delete it?"},
        "reason":{"type":"string","minLength":3},
        "copies":{"type":"integer","minimum":1,"maximum":5,"default":2},
        "colour":{"type":"string","enum":["red","green"]}
    },"required":["confirm","colour"]}"#;

    fn run<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn answer(lines: &[&str]) -> (ElicitReply, String) {
        let mut input = Input::script(lines.iter().copied());
        let mut shown = String::new();
        let request = Request {
            server: "tools",
            tool: "delete_note",
            message: "Really delete?",
        };
        let reply = run(form(
            &mut input,
            &mut |text: &str| shown.push_str(text),
            &request,
            SCHEMA,
        ));
        (reply, shown)
    }

    #[test]
    fn a_form_is_asked_field_by_field_with_re_asks_and_defaults() {
        let (reply, shown) = answer(&[
            "a",     // answer
            "maybe", // confirm: not y/n
            "y",     //
            "no",    // reason: too short
            "",      // reason: optional, left empty
            "9",     // copies: out of range
            "",      // copies: the default
            "",      // colour: required
            "2",     // colour: by number
            "s",
        ]);
        assert_eq!(reply.action, ElicitationAction::Accept);
        assert_eq!(
            serde_json::Value::Object(reply.content.unwrap()),
            json!({"confirm": true, "copies": 2, "colour": "green"})
        );
        assert!(shown.contains("tools asks, during delete_note:\n  Really delete?"));
        assert!(shown.contains("must be yes or no"), "{shown}");
        assert!(shown.contains("at least 3 characters"), "{shown}");
        assert!(shown.contains("out of range"), "{shown}");
        assert!(shown.contains("is required"), "{shown}");
        assert!(shown.contains("2) green"), "{shown}");
        assert!(
            shown.contains("copies (whole number, 1 to 5, default 2, Enter to leave empty): "),
            "{shown}"
        );
    }

    #[test]
    fn decline_cancel_edit_and_the_end_of_input() {
        assert_eq!(answer(&["d"]).0.action, ElicitationAction::Decline);
        assert_eq!(answer(&["c"]).0.action, ElicitationAction::Cancel);
        assert_eq!(answer(&[]).0.action, ElicitationAction::Cancel);
        assert_eq!(answer(&["a", "y"]).0.action, ElicitationAction::Cancel);
        let (reply, _) = answer(&["a", "n", "", "", "red", "e", "y", "", "", "green", "send"]);
        assert_eq!(
            serde_json::Value::Object(reply.content.unwrap()),
            json!({"confirm": true, "copies": 2, "colour": "green"})
        );
    }

    #[test]
    fn a_url_request_shows_the_whole_address_and_its_host() {
        let link = ElicitationUrl::parse("https://login.example.com/consent?scope=Calendars.Read")
            .unwrap();
        let request = Request {
            server: "tools",
            tool: "list_my_events",
            message: "Grant Calendars.Read",
        };
        let mut shown = String::new();
        let mut input = Input::script(["x", "o"]);
        let choice = run(url(
            &mut input,
            &mut |text: &str| shown.push_str(text),
            &request,
            &link,
        ));
        assert_eq!(choice, UrlChoice::Open);
        assert!(shown.contains("page: https://login.example.com/consent?scope=Calendars.Read"));
        assert!(shown.contains("host: login.example.com"));
        assert!(shown.contains("Please answer o, d, c."));
        let mut input = Input::script(Vec::<String>::new());
        assert_eq!(
            run(url(&mut input, &mut |_: &str| {}, &request, &link)),
            UrlChoice::Cancel
        );
    }
}
