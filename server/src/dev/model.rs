//! The development model: a deterministic OpenAI-compatible `/v1/chat/completions` endpoint.
//!
//! It is a development stand-in, not an AI. It reads the tools offered in the request and maps the
//! user's last message onto one of them by keywords in the tool's name, with simple argument extraction
//! from the tool's JSON schema: integers and numbers in order ("between -10 and 10"), a city after
//! "in", an IANA time zone (`Area/City`), quoted text. After tool results it writes a final message that
//! states them. It answers plainly when no tool fits. `stream: true` produces Server-Sent Events with
//! content and tool-call deltas as the OpenAI API does.

use std::{
    convert::Infallible,
    sync::atomic::{AtomicU64, Ordering},
};

use axum::{
    Json, Router,
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, Sse},
    },
    routing::post,
};
use serde_json::{Map, Value, json};

/// Words that say nothing about which tool is meant.
const STOP_WORDS: [&str; 5] = ["get", "set", "the", "a", "my"];

static COUNTER: AtomicU64 = AtomicU64::new(1);

fn next_id(prefix: &str) -> String {
    format!("{prefix}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub fn router() -> Router {
    Router::new().route("/v1/chat/completions", post(completions))
}

/// What the model decided to say.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text(String),
    ToolCall { name: String, arguments: Value },
}

fn text_of(message: &Value) -> String {
    match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A tool's name without a `server__` namespace prefix, split into keywords.
fn tool_keywords(name: &str) -> Vec<String> {
    let bare = name.rsplit("__").next().unwrap_or(name);
    bare.split('_')
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

fn singular(word: &str) -> &str {
    word.strip_suffix('s')
        .filter(|w| w.len() > 2)
        .unwrap_or(word)
}

fn numbers(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let negative = chars[i] == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if chars[i].is_ascii_digit() || negative {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let token: String = chars[start..i].iter().collect();
            if let Ok(n) = token.trim_end_matches('.').parse() {
                out.push(n);
            }
        } else {
            i += 1;
        }
    }
    out
}

fn quoted(text: &str) -> Option<String> {
    for (open, close) in [('"', '"'), ('\'', '\''), ('\u{201c}', '\u{201d}')] {
        if let Some(start) = text.find(open) {
            let rest = &text[start + open.len_utf8()..];
            if let Some(end) = rest.find(close) {
                return Some(rest[..end].to_owned());
            }
        }
    }
    None
}

fn after_in(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let index = lower.rfind(" in ")?;
    let place: String = text[index + 4..]
        .trim()
        .trim_end_matches(['?', '.', '!'])
        .split([',', '?', '!'])
        .next()?
        .trim()
        .to_owned();
    (!place.is_empty()).then_some(place)
}

fn time_zone(text: &str) -> Option<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '/' && c != '_'))
        .find(|w| {
            w.contains('/')
                && w.split('/')
                    .all(|p| p.chars().next().is_some_and(char::is_uppercase))
        })
        .map(str::to_owned)
}

/// Where a numeric parameter sits in a range: lower bounds take the first number said.
fn range_rank(name: &str) -> u8 {
    let name = name.to_lowercase();
    if ["min", "start", "from", "low", "first"]
        .iter()
        .any(|k| name.contains(k))
    {
        0
    } else if ["max", "end", "to", "high", "last"]
        .iter()
        .any(|k| name.contains(k))
    {
        2
    } else {
        1
    }
}

/// Fills the tool's parameters from the message, guided by the schema's property names and types.
fn arguments(schema: &Value, text: &str) -> Value {
    let mut args = Map::new();
    let mut numbers = numbers(text).into_iter();
    let Some(properties) = schema["properties"].as_object() else {
        return Value::Object(args);
    };
    // JSON objects lose declaration order here; order numeric bounds by meaning instead.
    let mut properties: Vec<(&String, &Value)> = properties.iter().collect();
    properties.sort_by_key(|(name, _)| range_rank(name));
    for (name, property) in properties {
        let kind = property["type"].as_str().unwrap_or("string");
        let value = match kind {
            "integer" => numbers.next().map(|n| json!(n as i64)),
            "number" => numbers.next().map(|n| json!(n)),
            _ if name.contains("zone") => time_zone(text).map(Value::String),
            _ if name == "city" || name.contains("location") || name.contains("place") => {
                after_in(text).map(Value::String)
            }
            _ => quoted(text).map(Value::String),
        };
        if let Some(value) = value {
            args.insert(name.clone(), value);
        }
    }
    Value::Object(args)
}

/// Picks the tool whose name keywords best match the message; ties go to the first offered.
fn choose_tool<'a>(tools: &'a [Value], text: &str) -> Option<&'a Value> {
    let said: Vec<String> = words(text);
    let said: Vec<&str> = said.iter().map(|w| singular(w)).collect();
    tools
        .iter()
        .map(|tool| {
            let name = tool["function"]["name"].as_str().unwrap_or_default();
            let keywords = tool_keywords(name);
            let hits = keywords
                .iter()
                .filter(|k| said.contains(&singular(k)))
                .count();
            (hits, keywords.len(), tool)
        })
        // Every keyword of the tool's name must appear: "list notes" is not "delete note".
        .filter(|(hits, total, _)| *hits > 0 && hits == total)
        .max_by_key(|(hits, _, _)| *hits)
        .map(|(_, _, tool)| tool)
}

/// The deterministic policy.
pub fn plan(messages: &[Value], tools: &[Value]) -> Reply {
    let Some(last) = messages.last() else {
        return Reply::Text("Hello! Ask me something.".to_owned());
    };
    if last["role"] == "tool" {
        // State every tool result since the last user message.
        let mut results = Vec::new();
        for message in messages.iter().rev().take_while(|m| m["role"] != "user") {
            if message["role"] == "tool" {
                results.push(text_of(message));
            }
        }
        results.reverse();
        let calls: Vec<String> = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "assistant" && m["tool_calls"].is_array())
            .map(|m| {
                m["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["function"]["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let name = calls
            .first()
            .cloned()
            .unwrap_or_else(|| "the tool".to_owned());
        let result = results.join("\n");
        if result.to_lowercase().contains("declined by the user") {
            return Reply::Text(format!(
                "The call to {name} was declined by the user, so I did not run it."
            ));
        }
        return Reply::Text(format!("{name} returned: {result}"));
    }
    let text = text_of(last);
    match choose_tool(tools, &text) {
        Some(tool) => Reply::ToolCall {
            name: tool["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            arguments: arguments(&tool["function"]["parameters"], &text),
        },
        None => Reply::Text(format!(
            "I am the Portcullis development model (a deterministic stand-in, not an AI). I found no tool for: {text}"
        )),
    }
}

async fn completions(Json(request): Json<Value>) -> Response {
    let Some(messages) = request["messages"].as_array() else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "message": "messages is required", "type": "invalid_request_error" } })),
        )
            .into_response();
    };
    let tools = request["tools"].as_array().cloned().unwrap_or_default();
    let model = request["model"]
        .as_str()
        .unwrap_or("portcullis-dev")
        .to_owned();
    let reply = plan(messages, &tools);
    let id = next_id("chatcmpl-dev");
    let created = chrono::Utc::now().timestamp();
    if request["stream"] == json!(true) {
        return stream(id, created, model, reply).into_response();
    }
    let (message, finish) = match reply {
        Reply::Text(text) => (json!({ "role": "assistant", "content": text }), "stop"),
        Reply::ToolCall { name, arguments } => (
            json!({ "role": "assistant", "content": null, "tool_calls": [{
                "id": next_id("call"), "type": "function",
                "function": { "name": name, "arguments": arguments.to_string() }
            }]}),
            "tool_calls",
        ),
    };
    Json(json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
        "usage": { "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0 },
    }))
    .into_response()
}

/// The reply as OpenAI-style stream chunks: role, content pieces or tool-call deltas (name first, then
/// the arguments in pieces), the finish reason, then `[DONE]`.
fn stream(
    id: String,
    created: i64,
    model: String,
    reply: Reply,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
    };
    let mut chunks = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    match reply {
        Reply::Text(text) => {
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            for piece in words.chunks(3) {
                chunks.push(chunk(json!({ "content": piece.concat() }), None));
            }
            chunks.push(chunk(json!({}), Some("stop")));
        }
        Reply::ToolCall { name, arguments } => {
            let call_id = next_id("call");
            chunks.push(chunk(
                json!({ "tool_calls": [{ "index": 0, "id": call_id, "type": "function",
                    "function": { "name": name, "arguments": "" } }] }),
                None,
            ));
            let arguments = arguments.to_string();
            let bytes = arguments.as_bytes();
            for piece in bytes.chunks(8) {
                chunks.push(chunk(
                    json!({ "tool_calls": [{ "index": 0, "function": { "arguments": String::from_utf8_lossy(piece) } }] }),
                    None,
                ));
            }
            chunks.push(chunk(json!({}), Some("tool_calls")));
        }
    }
    let events = chunks
        .into_iter()
        .map(|c| Ok(Event::default().data(c.to_string())))
        .chain(std::iter::once(Ok(Event::default().data("[DONE]"))));
    Sse::new(futures::stream::iter(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, properties: Value) -> Value {
        json!({ "type": "function", "function": { "name": name, "parameters": { "type": "object", "properties": properties } } })
    }

    fn tools() -> Vec<Value> {
        vec![
            tool(
                "get_random_number",
                json!({ "min": { "type": "integer" }, "max": { "type": "integer" } }),
            ),
            tool(
                "get_current_date",
                json!({ "time_zone": { "type": "string" } }),
            ),
            tool("get_weather", json!({ "city": { "type": "string" } })),
            tool("add_note", json!({ "text": { "type": "string" } })),
            tool("list_notes", json!({})),
            tool("delete_note", json!({ "id": { "type": "integer" } })),
        ]
    }

    fn user(text: &str) -> Vec<Value> {
        vec![json!({ "role": "user", "content": text })]
    }

    #[test]
    fn maps_requests_to_tools_with_arguments() {
        let t = tools();
        let call = |text| plan(&user(text), &t);
        assert_eq!(
            call("give me a random number between -10 and 10"),
            Reply::ToolCall {
                name: "get_random_number".into(),
                arguments: json!({ "min": -10, "max": 10 })
            }
        );
        assert_eq!(
            call("What's the weather in Paris?"),
            Reply::ToolCall {
                name: "get_weather".into(),
                arguments: json!({ "city": "Paris" })
            }
        );
        assert_eq!(
            call("current date in Asia/Tokyo please"),
            Reply::ToolCall {
                name: "get_current_date".into(),
                arguments: json!({ "time_zone": "Asia/Tokyo" })
            }
        );
        assert_eq!(
            call(r#"add a note "buy milk""#),
            Reply::ToolCall {
                name: "add_note".into(),
                arguments: json!({ "text": "buy milk" })
            }
        );
        assert_eq!(
            call("list my notes"),
            Reply::ToolCall {
                name: "list_notes".into(),
                arguments: json!({})
            }
        );
        assert_eq!(
            call("delete note 3"),
            Reply::ToolCall {
                name: "delete_note".into(),
                arguments: json!({ "id": 3 })
            }
        );
        assert!(matches!(call("tell me a joke"), Reply::Text(t) if t.contains("not an AI")));
    }

    #[test]
    fn namespaced_tools_match_by_their_own_name() {
        let t = vec![tool(
            "tools__get_weather",
            json!({ "city": { "type": "string" } }),
        )];
        assert_eq!(
            plan(&user("weather in Oslo"), &t),
            Reply::ToolCall {
                name: "tools__get_weather".into(),
                arguments: json!({ "city": "Oslo" })
            }
        );
    }

    #[test]
    fn states_tool_results_and_declines() {
        let mut messages = user("random number between 1 and 6");
        messages.push(json!({ "role": "assistant", "content": null, "tool_calls": [
            { "id": "c1", "type": "function", "function": { "name": "get_random_number", "arguments": "{}" } }] }));
        messages.push(json!({ "role": "tool", "tool_call_id": "c1", "content": "4" }));
        assert_eq!(
            plan(&messages, &tools()),
            Reply::Text("get_random_number returned: 4".into())
        );
        messages.pop();
        messages.push(
            json!({ "role": "tool", "tool_call_id": "c1", "content": "declined by the user" }),
        );
        assert!(
            matches!(plan(&messages, &tools()), Reply::Text(t) if t.contains("declined by the user"))
        );
    }
}
