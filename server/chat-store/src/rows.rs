//! Rows as sqlx reads them (`FromRow`), turned into the agent's domain records. Text forms are parsed by
//! the domain's own types; an unknown one (a newer version's data) reads as the safest state.

use agent::domain::{
    ApprovalMode, Call, CallStatus, Conversation, DecidedBy, Elicitation, ElicitationKind,
    ElicitationStatus, ElicitationUrl, Message, Role,
};

#[derive(sqlx::FromRow)]
pub(super) struct ConversationRow {
    id: String,
    user_key: String,
    title: String,
    mode: String,
    always_allow: String,
    updated_at: i64,
}

impl From<ConversationRow> for Conversation {
    fn from(row: ConversationRow) -> Self {
        Self {
            id: row.id.into(),
            user: row.user_key.into(),
            title: row.title,
            mode: row.mode.parse().unwrap_or(ApprovalMode::Manual),
            always_allow: row
                .always_allow
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            updated_at: row.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    id: String,
    role: String,
    content: String,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Self {
            id: row.id.into(),
            // Unknown roles are shown as the application's, never sent to the model.
            role: row.role.parse().unwrap_or(Role::Notice),
            content: row.content,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CallRow {
    id: String,
    message_id: String,
    model_call_id: String,
    function_name: String,
    server: String,
    tool: String,
    arguments: String,
    args_hash: String,
    read_only: i64,
    destructive: i64,
    status: String,
    decided_by: Option<String>,
    result: Option<String>,
    structured: Option<String>,
    is_error: i64,
}

impl From<CallRow> for Call {
    fn from(row: CallRow) -> Self {
        Self {
            id: row.id.into(),
            message_id: row.message_id.into(),
            model_call_id: row.model_call_id,
            function_name: row.function_name,
            server: row.server,
            tool: row.tool,
            arguments: row.arguments,
            args_hash: row.args_hash.into(),
            read_only: row.read_only != 0,
            destructive: row.destructive != 0,
            status: row.status.parse().unwrap_or(CallStatus::Failed),
            decided_by: row.decided_by.and_then(|by| by.parse::<DecidedBy>().ok()),
            result: row.result,
            structured: row.structured,
            is_error: row.is_error != 0,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ElicitationRow {
    id: String,
    tool_call_id: String,
    message: String,
    kind: String,
    schema: String,
    url: Option<String>,
    status: String,
    answer: Option<String>,
}

impl ElicitationRow {
    /// The stored request; `None` for a URL request whose URL no longer passes the check (stored by a
    /// version with looser rules, or edited in the database): it is never shown as a link.
    pub(super) fn into_elicitation(self) -> Option<Elicitation> {
        let kind = match self.kind.as_str() {
            "url" => {
                let url = self.url.as_deref().unwrap_or_default();
                match ElicitationUrl::parse(url) {
                    Ok(url) => ElicitationKind::Url { url },
                    Err(reason) => {
                        tracing::warn!(elicitation = %self.id, %reason, "a stored URL request is not shown");
                        return None;
                    }
                }
            }
            // `form`, the default of rows stored before URL requests existed.
            _ => ElicitationKind::Form {
                schema: self.schema,
            },
        };
        Some(Elicitation {
            id: self.id.into(),
            call_id: self.tool_call_id.into(),
            message: self.message,
            kind,
            status: self.status.parse().unwrap_or(ElicitationStatus::Expired),
            answer: self.answer,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    pub conversation_id: String,
    pub server: String,
    pub tool: String,
    pub args_hash: String,
    pub decision: String,
    pub decided_by: String,
    pub proposed_at: i64,
    pub decided_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub outcome: String,
}

pub(super) const CONVERSATION_COLUMNS: &str = "id, user_key, title, mode, always_allow, updated_at";
pub(super) const CALL_COLUMNS: &str = "id, message_id, model_call_id, function_name, server, tool, \
     arguments, args_hash, read_only, destructive, status, decided_by, result, structured, is_error";
pub(super) const ELICITATION_COLUMNS: &str =
    "id, tool_call_id, message, kind, schema, url, status, answer";
