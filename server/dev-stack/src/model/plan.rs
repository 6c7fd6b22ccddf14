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
/// `list_my_events`, "who am I" for `get_my_profile`, "customers named acme" for `list_customers`,
/// "revenue by quarter" for `sales_summary`. Each word stands for the keywords after it (singular, as
/// the name's keywords are compared).
const SYNONYMS: [(&str, &[&str]); 16] = [
    ("calendar", &["list", "event"]),
    ("agenda", &["list", "event"]),
    ("schedule", &["list", "event"]),
    ("meeting", &["list", "event"]),
    ("appointment", &["list", "event"]),
    ("show", &["list"]),
    ("who", &["profile"]),
    ("account", &["profile"]),
    ("named", &["list"]),
    ("called", &["list"]),
    ("summarise", &["summary"]),
    ("summarize", &["summary"]),
    ("revenue", &["sale", "summary"]),
    ("best", &["top"]),
    ("bestselling", &["top", "product"]),
    ("bestseller", &["top", "product"]),
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

/// The message without its double-quoted parts: quoted text is what a tool is given (a note's
/// text), not what is asked for, so `add a note "sales summary"` is no sales question.
fn unquoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find(['"', '\u{201c}']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let close = if quote == '"' { '"' } else { '\u{201d}' };
        let after = &rest[open + quote.len_utf8()..];
        let Some(end) = after.find(close) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push(' ');
        rest = &after[end + close.len_utf8()..];
    }
    out.push_str(rest);
    out
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

/// Picks the function whose name keywords best match the message: every keyword must be said or
/// implied by an everyday word; more keywords win, then more said literally ("show orders of
/// customer 42" names `get_customer_orders` outright, `list_customers` only through "show"); ties go
/// to the first offered.
fn choose_tool<'a>(tools: &'a [ChatCompletionTools], text: &str) -> Option<&'a FunctionObject> {
    let said: Vec<String> = words(&unquoted(text));
    let said: Vec<&str> = said.iter().map(|w| singular(w)).collect();
    let implied: Vec<&str> = SYNONYMS
        .iter()
        .filter(|(word, _)| said.contains(word))
        .flat_map(|(_, keywords)| keywords.iter().copied())
        .collect();
    tools
        .iter()
        .filter_map(|tool| match tool {
            ChatCompletionTools::Function(tool) => Some(&tool.function),
            ChatCompletionTools::Custom(_) => None,
        })
        .map(|function| {
            let keywords = tool_keywords(&function.name);
            let literal = keywords
                .iter()
                .filter(|k| said.contains(&singular(k)))
                .count();
            let hits = keywords
                .iter()
                .filter(|k| said.contains(&singular(k)) || implied.contains(&singular(k)))
                .count();
            (hits, literal, keywords.len(), function)
        })
        // Every keyword of the tool's name must appear: "list notes" is not "delete note".
        .filter(|(hits, _, total, _)| *hits > 0 && hits == total)
        // `max_by_key` keeps the last of equal maxima; the smallest `Reverse` is the first of them.
        .min_by_key(|(hits, literal, _, _)| std::cmp::Reverse((*hits, *literal)))
        .map(|(_, _, _, function)| function)
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

/// Whether a line starts as a Markdown ordered-list item does: `1. Widget`.
fn numbered(line: &str) -> bool {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && line[digits..].starts_with(". ")
}

/// The answer stating a tool's result, in Markdown as a real model writes it: one line as it is
/// (`get_random_number returned: 4`), several (e.g. a list of notes) as a list under the tool's
/// name in inline code, so the chat's Markdown rendering is exercised offline. A first line ending
/// in a colon ("Top products of 2026:") introduces the rest; numbered lines ("1. Widget: …") stay
/// an ordered list, others become bullets.
fn answer(name: &str, result: &str) -> String {
    let lines: Vec<&str> = result
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() < 2 {
        return format!("{name} returned: {result}");
    }
    let (lead, rest) = match lines.split_first() {
        Some((first, rest)) if first.ends_with(':') => (Some(*first), rest),
        _ => (None, &lines[..]),
    };
    let items: Vec<String> = if rest.iter().all(|l| numbered(l)) {
        rest.iter().map(|l| (*l).to_owned()).collect()
    } else {
        rest.iter()
            .map(|l| match l.find(". ") {
                // "- 1. x" would open a list inside the bullet: escape the dot.
                Some(dot) if numbered(l) => format!("- {}\\{}", &l[..dot], &l[dot..]),
                _ => format!("- {l}"),
            })
            .collect()
    };
    match lead {
        Some(lead) => format!("`{name}` returned:\n\n{lead}\n\n{}", items.join("\n")),
        None => format!("`{name}` returned:\n\n{}", items.join("\n")),
    }
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
        // The name the model called (namespaced when there are several servers): tests read it back.
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

    /// A tool with its real parameter schema, as rmcp derives it for mcp-tools (`$defs`, `oneOf`
    /// enums, `["string", "null"]`, integer formats), named as the agent offers it.
    fn real<T: rmcp::schemars::JsonSchema + 'static>(name: &str) -> ChatCompletionTools {
        let schema = rmcp::handler::server::common::schema_for_type::<T>();
        typed(json!({ "type": "function", "function": {
            "name": name, "parameters": Value::Object((*schema).clone()) } }))
    }

    /// Two servers' tools, namespaced: the notes tools (hand-written schemas) and the sales tools.
    fn two_servers() -> Vec<ChatCompletionTools> {
        use mcp_tools::sales::{
            CustomerOrdersArgs, FlagOrderArgs, ListCustomersArgs, SalesSummaryArgs, TopProductsArgs,
        };
        let mut offered: Vec<ChatCompletionTools> = [
            (
                "tools__get_random_number",
                json!({ "min": { "type": "integer" }, "max": { "type": "integer" } }),
            ),
            (
                "tools__get_weather",
                json!({ "city": { "type": "string" } }),
            ),
            ("tools__add_note", json!({ "text": { "type": "string" } })),
            ("tools__list_notes", json!({})),
            ("tools__delete_note", json!({ "id": { "type": "integer" } })),
            ("tools__get_my_profile", json!({})),
            (
                "tools__list_my_events",
                json!({ "start": { "type": ["string", "null"] } }),
            ),
        ]
        .into_iter()
        .map(|(name, properties)| tool(name, properties))
        .collect();
        offered.extend([
            real::<ListCustomersArgs>("sales__list_customers"),
            real::<CustomerOrdersArgs>("sales__get_customer_orders"),
            real::<SalesSummaryArgs>("sales__sales_summary"),
            real::<TopProductsArgs>("sales__top_products"),
            real::<FlagOrderArgs>("sales__flag_order"),
        ]);
        offered
    }

    fn call_of(tools: &[ChatCompletionTools], text: &str) -> (String, Value) {
        match plan(&user(text), tools) {
            Reply::ToolCall { name, arguments } => (name, arguments),
            other => panic!("a tool call expected for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn the_real_sales_schemas_are_what_the_arguments_read() {
        // The shapes the filling relies on; if rmcp or schemars change them, this says so first.
        let ChatCompletionTools::Function(summary) = &two_servers()[9] else {
            panic!()
        };
        let schema = summary.function.parameters.clone().unwrap();
        assert_eq!(schema["properties"]["year"]["type"], "integer", "{schema}");
        assert!(
            schema["properties"]["group_by"]["$ref"].is_string(),
            "{schema}"
        );
        assert_eq!(schema["required"], json!(["year", "group_by"]), "{schema}");
    }

    #[test]
    fn sales_questions_reach_the_sales_tools_with_arguments() {
        let t = two_servers();
        let call = |text| call_of(&t, text);
        for (text, year, group_by) in [
            ("sales summary for 2026 by quarter", 2026, "quarter"),
            ("Sales summary 2025 by month", 2025, "month"),
            ("monthly sales summary for 2026", 2026, "month"),
            ("sales summary of 2026 by product", 2026, "product"),
            ("summarise the revenue of 2026 per quarter", 2026, "quarter"),
            // A product named in passing does not outweigh "by month".
            (
                "sales summary for product sales in 2026 by month",
                2026,
                "month",
            ),
        ] {
            assert_eq!(
                call(text),
                (
                    "sales__sales_summary".into(),
                    json!({ "year": year, "group_by": group_by })
                ),
                "{text}"
            );
        }
        // The enum is required: a summary that names no grouping gets the first (month).
        assert_eq!(
            call("sales summary for 2026").1,
            json!({ "year": 2026, "group_by": "month" })
        );
        assert_eq!(
            call("top 3 products in 2026"),
            (
                "sales__top_products".into(),
                json!({ "year": 2026, "limit": 3 })
            )
        );
        // The year wherever it stands; the limit defaults when not said.
        assert_eq!(
            call("top products of 2026, top 10").1,
            json!({ "year": 2026, "limit": 10 })
        );
        assert_eq!(
            call("best-selling products of 2025").1,
            json!({ "year": 2025, "limit": 5 })
        );
        assert_eq!(
            call("orders of customer 42"),
            (
                "sales__get_customer_orders".into(),
                json!({ "customer_id": 42 })
            )
        );
        assert_eq!(
            call("show the orders of customer 7").0,
            "sales__get_customer_orders"
        );
        assert_eq!(
            call("list customers"),
            ("sales__list_customers".into(), json!({}))
        );
        assert_eq!(
            call("customers named acme"),
            ("sales__list_customers".into(), json!({ "search": "acme" }))
        );
        assert_eq!(
            call(r#"list customers "Berlin""#).1,
            json!({ "search": "Berlin" })
        );
        assert_eq!(
            call("flag order 17 because it was entered twice"),
            (
                "sales__flag_order".into(),
                json!({ "order_id": 17, "reason": "it was entered twice" })
            )
        );
    }

    #[test]
    fn notes_and_sales_keep_to_their_own_words() {
        let t = two_servers();
        let name = |text| call_of(&t, text).0;
        assert_eq!(name(r#"add a note "call the customer""#), "tools__add_note");
        assert_eq!(name("list my notes"), "tools__list_notes");
        assert_eq!(name("delete note 3"), "tools__delete_note");
        assert_eq!(
            name("what is on my calendar this week"),
            "tools__list_my_events"
        );
        assert_eq!(name("weather in Oslo"), "tools__get_weather");
        assert_eq!(
            call_of(&t, "random number between -10 and 10").1,
            json!({ "min": -10, "max": 10 })
        );
        assert_eq!(
            call_of(&t, r#"add a note "sales summary by quarter""#),
            (
                "tools__add_note".into(),
                json!({ "text": "sales summary by quarter" })
            )
        );
        // Quoted words are the note, not the question, whichever server is offered first.
        let mut sales_first = t.clone();
        sales_first.rotate_left(7);
        assert_eq!(
            call_of(&sales_first, r#"add a note "sales summary by quarter""#).0,
            "tools__add_note"
        );
        assert_eq!(name("list customers"), "sales__list_customers");
        assert!(matches!(
            plan(&user("what do we sell?"), &t),
            Reply::Text(_)
        ));
        assert_eq!(unquoted("a \"b\" c \u{201c}d\u{201d} \"e"), "a   c   \"e");
    }

    #[test]
    fn a_sales_result_reads_as_an_answer() {
        let after = |name: &str, result: &str| {
            let mut messages = user("question");
            messages.push(typed(json!({ "role": "assistant", "content": null, "tool_calls": [
                { "id": "c1", "type": "function", "function": { "name": name, "arguments": "{}" } }] })));
            messages.push(typed(
                json!({ "role": "tool", "tool_call_id": "c1", "content": result }),
            ));
            match plan(&messages, &two_servers()) {
                Reply::Text(text) => text,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            after(
                "sales__sales_summary",
                "Sales 2026: 240.00 EUR (5 orders, 9 units)\nQ1 2026: 80.00 EUR (3 orders, 4 units)\nQ2 2026: 60.00 EUR (1 orders, 3 units)"
            ),
            "`sales__sales_summary` returned:\n\n- Sales 2026: 240.00 EUR (5 orders, 9 units)\n- Q1 2026: 80.00 EUR (3 orders, 4 units)\n- Q2 2026: 60.00 EUR (1 orders, 3 units)"
        );
        // A heading line, then the ranked products as an ordered list.
        assert_eq!(
            after(
                "sales__top_products",
                "Top products of 2026:\n1. Gadget: 150.00 EUR (2 orders, 3 units)\n2. Gizmo: 60.00 EUR (1 orders, 3 units)"
            ),
            "`sales__top_products` returned:\n\nTop products of 2026:\n\n1. Gadget: 150.00 EUR (2 orders, 3 units)\n2. Gizmo: 60.00 EUR (1 orders, 3 units)"
        );
        // A numbered line among others is escaped, not a list inside a bullet.
        assert_eq!(after("x", "a\n2. b"), "`x` returned:\n\n- a\n- 2\\. b");
        assert_eq!(
            after("sales__flag_order", "Flagged order 17 for review."),
            "sales__flag_order returned: Flagged order 17 for review."
        );
    }
}
