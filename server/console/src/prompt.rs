//! Asking the user at the terminal: a proposed tool call is shown (server, tool, its kind, the
//! pretty-printed arguments exactly as they will be sent) and answered `y` or `n`; `a` (always for this
//! tool in this conversation) is offered only where the caller allows it, and never for a destructive
//! tool. Prompts go to stderr, so `--json` output on stdout stays clean; end of input is a "no".

use serde_json::{Map, Value};

use crate::terminal::Input;

/// A call to approve.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    pub server: String,
    pub server_url: String,
    pub tool: String,
    pub read_only: bool,
    pub destructive: bool,
    pub arguments: Map<String, Value>,
}

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    Yes,
    No,
    /// Allow this tool for the rest of the conversation (chat only).
    Always,
}

/// `read-only`, `destructive` or `writes`, as the server's annotations say.
pub fn kind(read_only: bool, destructive: bool) -> &'static str {
    if read_only {
        "read-only"
    } else if destructive {
        "destructive"
    } else {
        "writes"
    }
}

/// The call as shown before the question: server, tool and kind, the arguments pretty-printed.
pub fn card(request: &ApprovalRequest) -> String {
    let arguments = serde_json::to_string_pretty(&Value::Object(request.arguments.clone()))
        .unwrap_or_else(|_| "{}".to_owned());
    let mut card = format!(
        "server:    {} ({})\ntool:      {} ({})\narguments:\n",
        request.server,
        request.server_url,
        request.tool,
        kind(request.read_only, request.destructive)
    );
    for line in arguments.lines() {
        card.push_str("  ");
        card.push_str(line);
        card.push('\n');
    }
    card
}

/// One typed answer, or `None` when it is not one of the offered ones.
pub fn parse(answer: &str, offer_always: bool) -> Option<Approval> {
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(Approval::Yes),
        "n" | "no" => Some(Approval::No),
        "a" | "always" if offer_always => Some(Approval::Always),
        _ => None,
    }
}

/// Shows the call and asks until the answer is one of the offered ones; lines typed before the card
/// was shown do not count; end of input is a "no".
pub async fn approve(
    input: &mut Input,
    out: &mut (dyn FnMut(&str) + Send),
    request: &ApprovalRequest,
    offer_always: bool,
) -> Approval {
    let offer_always = offer_always && !request.destructive;
    input.discard_typed_ahead();
    out(&card(request));
    let question = if offer_always {
        "approve? [y]es / [n]o / [a]lways for this tool in this conversation "
    } else {
        "approve? [y]es / [n]o "
    };
    loop {
        out(question);
        let Some(line) = input.line().await else {
            out("\n");
            return Approval::No;
        };
        match parse(&line, offer_always) {
            Some(approval) => return approval,
            None => out(if offer_always {
                "Please answer y, n or a.\n"
            } else {
                "Please answer y or n.\n"
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(destructive: bool) -> ApprovalRequest {
        ApprovalRequest {
            server: "tools".into(),
            server_url: "http://127.0.0.1:8081/mcp".into(),
            tool: "get_random_number".into(),
            read_only: !destructive,
            destructive,
            arguments: json!({"min": 1, "max": 6}).as_object().unwrap().clone(),
        }
    }

    fn ask(answers: &str, destructive: bool, always: bool) -> (Approval, String) {
        let mut input = Input::script(answers.lines());
        let mut shown = String::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let approval = runtime.block_on(approve(
            &mut input,
            &mut |text: &str| shown.push_str(text),
            &request(destructive),
            always,
        ));
        (approval, shown)
    }

    #[test]
    fn the_call_is_shown_and_answers_are_read() {
        let (approval, shown) = ask("y\n", false, false);
        assert_eq!(approval, Approval::Yes);
        assert!(shown.contains("server:    tools (http://127.0.0.1:8081/mcp)"));
        assert!(shown.contains("tool:      get_random_number (read-only)"));
        assert!(
            shown.contains("  {\n    \"min\": 1,\n    \"max\": 6\n  }"),
            "{shown}"
        );
        assert!(shown.ends_with("approve? [y]es / [n]o "));
        assert_eq!(ask("NO\n", false, false).0, Approval::No);
        assert_eq!(
            ask("", false, false).0,
            Approval::No,
            "end of input is a no"
        );
        let (approval, shown) = ask("maybe\nyes\n", false, false);
        assert_eq!(approval, Approval::Yes);
        assert!(shown.contains("Please answer y or n."));
    }

    #[test]
    fn always_is_never_offered_for_destructive_tools() {
        assert_eq!(ask("a\n", false, true).0, Approval::Always);
        let (approval, shown) = ask("a\nn\n", true, true);
        assert_eq!(approval, Approval::No);
        assert!(!shown.contains("[a]lways"));
        assert!(shown.contains("tool:      get_random_number (destructive)"));
    }
}
