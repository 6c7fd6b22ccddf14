//! The deterministic policy: which tool the user's last message asks for (by the words of the tool's
//! name), its arguments (from the tool's JSON schema and the message), and what to say after tool
//! results. Works on async-openai's typed request messages and tools.

use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestAssistantMessageContentPart, ChatCompletionRequestDeveloperMessageContent,
    ChatCompletionRequestDeveloperMessageContentPart, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestSystemMessageContentPart,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestToolMessageContentPart,
    ChatCompletionRequestUserMessageContent, ChatCompletionRequestUserMessageContentPart,
    ChatCompletionTools, FunctionObject,
};
use serde_json::Value;

use super::arguments::arguments;

/// Words that say nothing about which tool is meant.
const STOP_WORDS: [&str; 5] = ["get", "set", "the", "a", "my"];

/// Everyday words for what a tool's name says: "what is on my calendar this week" asks for
/// `list_my_events`, "who am I" for `get_my_profile`. Each word stands for the keywords after it.
const SYNONYMS: [(&str, &[&str]); 8] = [
    ("calendar", &["list", "event"]),
    ("agenda", &["list", "event"]),
    ("schedule", &["list", "event"]),
    ("meeting", &["list", "event"]),
    ("appointment", &["list", "event"]),
    ("show", &["list"]),
    ("who", &["profile"]),
    ("account", &["profile"]),
];

/// What the model decided to say.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Text(String),
    ToolCall { name: String, arguments: Value },
}

/// The text of a message, its text parts joined with spaces (images, audio and files are ignored).
fn text_of(message: &ChatCompletionRequestMessage) -> String {
    use ChatCompletionRequestMessage as M;
    let parts: Vec<&str> = match message {
        M::User(m) => match &m.content {
            ChatCompletionRequestUserMessageContent::Text(text) => vec![text],
            ChatCompletionRequestUserMessageContent::Array(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ChatCompletionRequestUserMessageContentPart::Text(t) => Some(t.text.as_str()),
                    _ => None,
                })
                .collect(),
        },
        M::Tool(m) => match &m.content {
            ChatCompletionRequestToolMessageContent::Text(text) => vec![text],
            ChatCompletionRequestToolMessageContent::Array(parts) => parts
                .iter()
                .map(|ChatCompletionRequestToolMessageContentPart::Text(t)| t.text.as_str())
                .collect(),
        },
        M::Assistant(m) => match &m.content {
            None => vec![],
            Some(ChatCompletionRequestAssistantMessageContent::Text(text)) => vec![text],
            Some(ChatCompletionRequestAssistantMessageContent::Array(parts)) => parts
                .iter()
                .filter_map(|p| match p {
                    ChatCompletionRequestAssistantMessageContentPart::Text(t) => {
                        Some(t.text.as_str())
                    }
                    _ => None,
                })
                .collect(),
        },
        M::System(m) => match &m.content {
            ChatCompletionRequestSystemMessageContent::Text(text) => vec![text],
            ChatCompletionRequestSystemMessageContent::Array(parts) => parts
                .iter()
                .map(|ChatCompletionRequestSystemMessageContentPart::Text(t)| t.text.as_str())
                .collect(),
        },
        M::Developer(m) => match &m.content {
            ChatCompletionRequestDeveloperMessageContent::Text(text) => vec![text],
            ChatCompletionRequestDeveloperMessageContent::Array(parts) => parts
                .iter()
                .map(|ChatCompletionRequestDeveloperMessageContentPart::Text(t)| t.text.as_str())
                .collect(),
        },
        M::Function(m) => m.content.as_deref().into_iter().collect(),
    };
    parts.join(" ")
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

/// Picks the function whose name keywords best match the message; ties go to the first offered.
fn choose_tool<'a>(tools: &'a [ChatCompletionTools], text: &str) -> Option<&'a FunctionObject> {
    let said: Vec<String> = words(text);
    let mut said: Vec<&str> = said.iter().map(|w| singular(w)).collect();
    let implied: Vec<&str> = SYNONYMS
        .iter()
        .filter(|(word, _)| said.contains(word))
        .flat_map(|(_, keywords)| keywords.iter().copied())
        .collect();
    said.extend(implied);
    tools
        .iter()
        .filter_map(|tool| match tool {
            ChatCompletionTools::Function(tool) => Some(&tool.function),
            ChatCompletionTools::Custom(_) => None,
        })
        .map(|function| {
            let keywords = tool_keywords(&function.name);
            let hits = keywords
                .iter()
                .filter(|k| said.contains(&singular(k)))
                .count();
            (hits, keywords.len(), function)
        })
        // Every keyword of the tool's name must appear: "list notes" is not "delete note".
        .filter(|(hits, total, _)| *hits > 0 && hits == total)
        // `max_by_key` keeps the last of equal maxima; the smallest `Reverse` is the first of them.
        .min_by_key(|(hits, _, _)| std::cmp::Reverse(*hits))
        .map(|(_, _, function)| function)
}

/// The names of the functions the last assistant turn called.
fn last_calls(messages: &[ChatCompletionRequestMessage]) -> Vec<String> {
    messages
        .iter()
        .rev()
        .find_map(|m| match m {
            ChatCompletionRequestMessage::Assistant(a) => a.tool_calls.as_ref(),
            _ => None,
        })
        .into_iter()
        .flatten()
        .filter_map(|call| match call {
            ChatCompletionMessageToolCalls::Function(call) => Some(call.function.name.clone()),
            ChatCompletionMessageToolCalls::Custom(_) => None,
        })
        .collect()
}

/// The answer stating a tool's result, in Markdown as a real model writes it: one line as it is
/// (`get_random_number returned: 4`), several (e.g. a list of notes) as a bulleted list under the tool's
/// name in inline code, so the chat's Markdown rendering is exercised offline.
fn answer(name: &str, result: &str) -> String {
    let lines: Vec<&str> = result
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() < 2 {
        return format!("{name} returned: {result}");
    }
    let items: Vec<String> = lines.iter().map(|l| format!("- {l}")).collect();
    format!("`{name}` returned:\n\n{}", items.join("\n"))
}

/// The deterministic policy.
pub fn plan(messages: &[ChatCompletionRequestMessage], tools: &[ChatCompletionTools]) -> Reply {
    let Some(last) = messages.last() else {
        return Reply::Text("Hello! Ask me something.".to_owned());
    };
    if matches!(last, ChatCompletionRequestMessage::Tool(_)) {
        // State every tool result since the last user message.
        let mut results: Vec<String> = messages
            .iter()
            .rev()
            .take_while(|m| !matches!(m, ChatCompletionRequestMessage::User(_)))
            .filter(|m| matches!(m, ChatCompletionRequestMessage::Tool(_)))
            .map(text_of)
            .collect();
        results.reverse();
        let name = last_calls(messages)
            .into_iter()
            .next()
            .unwrap_or_else(|| "the tool".to_owned());
        let result = results.join("\n");
        if result.to_lowercase().contains("declined by the user") {
            return Reply::Text(format!(
                "The call to {name} was declined by the user, so I did not run it."
            ));
        }
        return Reply::Text(answer(&name, &result));
    }
    let text = text_of(last);
    match choose_tool(tools, &text) {
        Some(function) => Reply::ToolCall {
            name: function.name.clone(),
            arguments: arguments(function.parameters.as_ref().unwrap_or(&Value::Null), &text),
        },
        None => Reply::Text(format!(
            "I am the Portcullis development model (a deterministic stand-in, not an AI). I found no tool for: {text}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).expect("valid OpenAI JSON")
    }

    fn tool(name: &str, properties: Value) -> ChatCompletionTools {
        typed(
            json!({ "type": "function", "function": { "name": name, "parameters": { "type": "object", "properties": properties } } }),
        )
    }

    fn tools() -> Vec<ChatCompletionTools> {
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
            tool("get_my_profile", json!({})),
            tool(
                "list_my_events",
                json!({ "start": { "type": ["string", "null"] }, "end": { "type": ["string", "null"] } }),
            ),
        ]
    }

    fn user(text: &str) -> Vec<ChatCompletionRequestMessage> {
        vec![typed(json!({ "role": "user", "content": text }))]
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
    fn everyday_words_reach_the_graph_tools() {
        let t = tools();
        let name = |text| match plan(&user(text), &t) {
            Reply::ToolCall { name, arguments } => (name, arguments),
            other => panic!("a tool call expected for {text:?}, got {other:?}"),
        };
        for text in [
            "what is on my calendar this week",
            "show my meetings",
            "list my events",
        ] {
            assert_eq!(name(text), ("list_my_events".into(), json!({})), "{text}");
        }
        for text in ["show my profile", "who am I?"] {
            assert_eq!(name(text), ("get_my_profile".into(), json!({})), "{text}");
        }
        // Notes keep their own words: "list my notes" is not the calendar.
        assert_eq!(name("list my notes").0, "list_notes");
    }

    #[test]
    fn a_tie_goes_to_the_first_tool_offered() {
        // "add a note and list notes" names both tools completely: two hits each.
        let text = "add a note and list notes";
        let offered = |names: [&str; 2]| -> Vec<ChatCompletionTools> {
            names
                .iter()
                .map(|name| tool(name, json!({ "text": { "type": "string" } })))
                .collect()
        };
        let chosen = |tools: &[ChatCompletionTools]| match plan(&user(text), tools) {
            Reply::ToolCall { name, .. } => name,
            other => panic!("a tool call expected, got {other:?}"),
        };
        assert_eq!(chosen(&offered(["add_note", "list_notes"])), "add_note");
        assert_eq!(chosen(&offered(["list_notes", "add_note"])), "list_notes");
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
        messages.push(typed(json!({ "role": "assistant", "content": null, "tool_calls": [
            { "id": "c1", "type": "function", "function": { "name": "get_random_number", "arguments": "{}" } }] })));
        messages.push(typed(
            json!({ "role": "tool", "tool_call_id": "c1", "content": "4" }),
        ));
        assert_eq!(
            plan(&messages, &tools()),
            Reply::Text("get_random_number returned: 4".into())
        );
        messages.pop();
        messages.push(typed(
            json!({ "role": "tool", "tool_call_id": "c1", "content": "declined by the user" }),
        ));
        assert!(
            matches!(plan(&messages, &tools()), Reply::Text(t) if t.contains("declined by the user"))
        );
    }

    #[test]
    fn several_result_lines_are_a_markdown_list() {
        let mut messages = user("list my notes");
        messages.push(typed(json!({ "role": "assistant", "content": null, "tool_calls": [
            { "id": "c1", "type": "function", "function": { "name": "list_notes", "arguments": "{}" } }] })));
        messages.push(typed(json!({ "role": "tool", "tool_call_id": "c1",
            "content": "#1 (2026-01-01): milk\n#2 (2026-01-02): <b>bold</b>\n" })));
        assert_eq!(
            plan(&messages, &tools()),
            Reply::Text(
                "`list_notes` returned:\n\n- #1 (2026-01-01): milk\n- #2 (2026-01-02): <b>bold</b>"
                    .into()
            )
        );
    }
}
