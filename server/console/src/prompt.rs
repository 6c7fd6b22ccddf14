//! Asking the user at the terminal: a proposed tool call is shown (server, tool, its kind, the
//! pretty-printed arguments exactly as they will be sent) and answered `y` or `n`; `a` (always for this
//! tool in this conversation) is offered only where the caller allows it, and never for a destructive
//! tool. Prompts go to stderr, so `--json` output on stdout stays clean; end of input is a "no".

use std::io::{self, BufRead, Write};

use serde_json::{Map, Value};

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

/// Shows the call and asks until the answer is one of the offered ones.
pub fn approve(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    request: &ApprovalRequest,
    offer_always: bool,
) -> io::Result<Approval> {
    let offer_always = offer_always && !request.destructive;
    let arguments = serde_json::to_string_pretty(&Value::Object(request.arguments.clone()))
        .unwrap_or_else(|_| "{}".to_owned());
    writeln!(
        out,
        "server:    {} ({})",
        request.server, request.server_url
    )?;
    writeln!(
        out,
        "tool:      {} ({})",
        request.tool,
        kind(request.read_only, request.destructive)
    )?;
    writeln!(out, "arguments:")?;
    for line in arguments.lines() {
        writeln!(out, "  {line}")?;
    }
    let question = if offer_always {
        "approve? [y]es / [n]o / [a]lways for this tool in this conversation "
    } else {
        "approve? [y]es / [n]o "
    };
    loop {
        write!(out, "{question}")?;
        out.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            writeln!(out)?;
            return Ok(Approval::No);
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok(Approval::Yes),
            "n" | "no" => return Ok(Approval::No),
            "a" | "always" if offer_always => return Ok(Approval::Always),
            _ => writeln!(
                out,
                "Please answer {}.",
                if offer_always { "y, n or a" } else { "y or n" }
            )?,
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
        let mut out = Vec::new();
        let approval = approve(
            &mut answers.as_bytes(),
            &mut out,
            &request(destructive),
            always,
        )
        .unwrap();
        (approval, String::from_utf8(out).unwrap())
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
