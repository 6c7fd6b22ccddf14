//! What the chat pages display: conversations, their transcript entries, tool calls with their
//! elicitation forms, and the audit trail. The server builds these; the browser only renders them.

use serde::{Deserialize, Serialize};

use super::{
    ChatError,
    status::{ApprovalMode, CallStatus, DecidedBy, ElicitationStatus},
};

/// The longest title a conversation may be given, in characters.
pub const MAX_TITLE_CHARS: usize = 120;

/// A title the user typed, trimmed, or why it cannot be one.
pub fn clean_title(title: &str) -> Result<String, ChatError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ChatError::Invalid("Type a title first.".to_owned()));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ChatError::Invalid(format!(
            "A title may have at most {MAX_TITLE_CHARS} characters."
        )));
    }
    Ok(title.to_owned())
}

/// One conversation in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    pub title: String,
    pub mode: ApprovalMode,
    /// RFC 3339, UTC.
    pub updated_at: String,
    /// The same instant in Unix milliseconds (what the list's relative time is computed from).
    pub updated_ms: i64,
}

/// A conversation's complete current state: what the page renders, and what every live update carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationView {
    pub id: String,
    pub title: String,
    pub mode: ApprovalMode,
    pub entries: Vec<Entry>,
    /// The assistant text being streamed right now, if any.
    pub streaming: Option<String>,
    /// The agent is working on this conversation (a new message waits until it is done).
    pub busy: bool,
}

/// One item of the transcript, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    User {
        id: String,
        text: String,
    },
    Assistant {
        id: String,
        /// The Markdown the model wrote.
        text: String,
        /// `text` rendered as sanitized HTML by the server (`render_markdown`): what the page shows.
        html: String,
    },
    /// Something the application says (model unavailable, step limit reached…); never sent to the model.
    Notice {
        id: String,
        text: String,
    },
    ToolCall(ToolCallView),
}

/// A tool call the model proposed, with its decision and outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallView {
    pub id: String,
    pub server: String,
    pub tool: String,
    /// The exact arguments, pretty-printed JSON (re-indented as received: `pretty::pretty_json`).
    pub arguments: String,
    /// SHA-256 (hex) of the arguments as the model sent them; an approval names it.
    pub args_hash: String,
    pub status: CallStatus,
    /// The result as text (what the model read), pretty-printed when it is a JSON object or array.
    pub result: Option<String>,
    /// The result's structured content, shaped for display (`structured::shape_json`) and rendered
    /// to HTML on the server (`render_structured`: a table, key/value rows or a value, every text
    /// escaped, with a bar chart when one suits), when the tool gave one.
    pub structured: Option<String>,
    pub is_error: bool,
    pub read_only: bool,
    pub destructive: bool,
    /// Who decided, once decided.
    pub decided_by: Option<DecidedBy>,
    pub elicitations: Vec<ElicitationView>,
}

/// An MCP server's request for input during a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElicitationView {
    pub id: String,
    pub message: String,
    pub request: ElicitationRequest,
    pub status: ElicitationStatus,
}

/// What the server asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ElicitationRequest {
    /// Fill in a form.
    Form { fields: Vec<FormField> },
    /// Open a page and complete a step there (e.g. consent for a downstream API), then answer Accept,
    /// Decline or Cancel; the answer carries no values. The server checked the URL: absolute http(s),
    /// no user information; `host` is its host as the URL spells it (IDN in punycode).
    Url { url: String, host: String },
}

/// One field of an elicitation form, from the requested schema's property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormField {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub required: bool,
    pub kind: FieldKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FieldKind {
    Text {
        default: Option<String>,
        min_length: Option<u32>,
        max_length: Option<u32>,
        /// `email`, `uri`, `date`, `date-time`.
        format: Option<String>,
    },
    Number {
        integer: bool,
        default: Option<f64>,
        minimum: Option<f64>,
        maximum: Option<f64>,
    },
    Boolean {
        default: Option<bool>,
    },
    Choice {
        /// (value, label)
        options: Vec<(String, String)>,
        default: Option<String>,
    },
}

/// One line of the signed-in user's audit trail: a tool call and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub conversation_id: String,
    pub server: String,
    pub tool: String,
    pub args_hash: String,
    /// approved, declined…
    pub decision: String,
    pub decided_by: String,
    pub proposed_at: String,
    pub decided_at: Option<String>,
    pub finished_at: Option<String>,
    /// done, failed, declined.
    pub outcome: String,
}

#[cfg(test)]
mod tests {
    use super::{ChatError, MAX_TITLE_CHARS, clean_title};

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(clean_title("  Notes \n").unwrap(), "Notes");
        let longest = "é".repeat(MAX_TITLE_CHARS);
        assert_eq!(clean_title(&longest).unwrap(), longest);
        for bad in ["", "   \n\t", &"a".repeat(MAX_TITLE_CHARS + 1)] {
            assert!(
                matches!(clean_title(bad), Err(ChatError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
