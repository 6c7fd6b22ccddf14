//! The agent chat as the UI sees it: conversations, their entries (messages, tool calls with their
//! approvals and elicitation forms), the server functions that act on them, and the components.
//!
//! Submodules:
//! - `view`: the Chat and Audit pages' components.
//! - `form`: an elicitation request rendered as a form.
//! - `live`: the browser side of the live updates (Server-Sent Events).
//! - [`backend`] (server only): the trait the server crate implements.
//!
//! Everything here is display data: ids are opaque, tokens never appear, and every server function
//! acts for the signed-in user only (another user's ids answer 404).

mod form;
mod live;
pub(crate) mod view;

use leptos::{
    prelude::*,
    server_fn::{
        codec::{Json, JsonEncoding},
        error::{FromServerFnError, ServerFnErrorErr},
    },
};
use serde::{Deserialize, Serialize};

/// How a conversation's tool calls are approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ApprovalMode {
    /// Every proposed call waits for the user's Approve or Decline.
    #[default]
    Manual,
    /// Calls run without asking, except tools annotated destructive.
    Auto,
    /// Calls run without asking; MCP elicitation requests are shown as forms.
    Elicitation,
}

impl ApprovalMode {
    pub const ALL: [ApprovalMode; 3] = [Self::Manual, Self::Auto, Self::Elicitation];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Auto => "auto",
            Self::Elicitation => "elicitation",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Manual => "Manual approval",
            Self::Auto => "Auto (no approval)",
            Self::Elicitation => "Elicitation",
        }
    }
}

/// One conversation in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    pub title: String,
    pub mode: ApprovalMode,
    /// RFC 3339, UTC.
    pub updated_at: String,
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
        text: String,
    },
    /// Something the application says (model unavailable, step limit reached…); never sent to the model.
    Notice {
        id: String,
        text: String,
    },
    ToolCall(ToolCallView),
}

/// Where a tool call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallStatus {
    /// Waiting for the user's decision.
    Pending,
    Approved,
    Declined,
    Running,
    Done,
    Failed,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Approved,
            Self::Declined,
            Self::Running,
            Self::Done,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Declined | Self::Done | Self::Failed)
    }
}

/// A tool call the model proposed, with its decision and outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallView {
    pub id: String,
    pub server: String,
    pub tool: String,
    /// The exact arguments, pretty-printed JSON.
    pub arguments: String,
    /// SHA-256 (hex) of the arguments as the model sent them; an approval names it.
    pub args_hash: String,
    pub status: CallStatus,
    pub result: Option<String>,
    pub is_error: bool,
    pub read_only: bool,
    pub destructive: bool,
    /// "user", "auto", "always-allow"…, once decided.
    pub decided_by: Option<String>,
    pub elicitations: Vec<ElicitationView>,
}

/// Where an elicitation request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElicitationStatus {
    Pending,
    Accepted,
    Declined,
    Cancelled,
    /// Nobody answered in time (or the server restarted): cancelled.
    Expired,
}

impl ElicitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Accepted,
            Self::Declined,
            Self::Cancelled,
            Self::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// An MCP server's request for input, as a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElicitationView {
    pub id: String,
    pub message: String,
    pub fields: Vec<FormField>,
    pub status: ElicitationStatus,
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

/// The user's answer to an elicitation request. Values are as typed; the server checks them against
/// the requested schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElicitationAction {
    Accept,
    Decline,
    Cancel,
}

/// The user's decision on a pending tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Approve,
    /// Approve, and approve this (read-only) tool without asking for the rest of the conversation.
    ApproveAlways,
    Decline,
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

/// Why a chat action failed, as the browser may see it (no internals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ChatError {
    #[error("Please sign in.")]
    SignedOut,
    #[error("Your sign-in has expired. Please sign in again.")]
    SignInRequired,
    /// Unknown, or someone else's: the two are indistinguishable on purpose.
    #[error("Not found.")]
    NotFound,
    /// The action no longer applies (already decided, already answered, arguments changed…).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("Something went wrong. Please try again.")]
    Unavailable,
    #[error("The request could not be sent: {0}")]
    Transport(String),
}

impl FromServerFnError for ChatError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl ChatError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Self::SignedOut | Self::SignInRequired => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid(_) | Self::Transport(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Server side: what the server functions call (implemented by the server crate).
#[cfg(feature = "ssr")]
pub mod backend {
    use std::sync::Arc;

    use super::*;
    use crate::auth::Identity;

    #[async_trait::async_trait]
    pub trait ChatBackend: Send + Sync + 'static {
        async fn list(&self, user: &Identity) -> Result<Vec<ConversationSummary>, ChatError>;
        async fn create(
            &self,
            user: &Identity,
            mode: ApprovalMode,
        ) -> Result<ConversationSummary, ChatError>;
        async fn view(&self, user: &Identity, id: &str) -> Result<ConversationView, ChatError>;
        async fn send(&self, user: &Identity, id: &str, text: &str) -> Result<(), ChatError>;
        async fn set_mode(
            &self,
            user: &Identity,
            id: &str,
            mode: ApprovalMode,
        ) -> Result<(), ChatError>;
        async fn decide(
            &self,
            user: &Identity,
            id: &str,
            call_id: &str,
            args_hash: &str,
            decision: Decision,
        ) -> Result<(), ChatError>;
        async fn answer(
            &self,
            user: &Identity,
            id: &str,
            elicitation_id: &str,
            action: ElicitationAction,
            values: Vec<(String, String)>,
        ) -> Result<(), ChatError>;
        async fn audit(&self, user: &Identity) -> Result<Vec<AuditRecord>, ChatError>;
    }

    pub type SharedChat = Arc<dyn ChatBackend>;
}

/// Server-function plumbing: who is asking, which backend answers, and the status of a failure.
#[cfg(feature = "ssr")]
mod ssr {
    use axum::Extension;
    use leptos::prelude::use_context;

    use super::{ChatError, backend::SharedChat};
    use crate::auth::Identity;

    pub async fn context() -> Result<(SharedChat, Identity), ChatError> {
        let user: Option<Extension<Identity>> = leptos_axum::extract()
            .await
            .map_err(|_| ChatError::Unavailable)?;
        let Some(Extension(user)) = user else {
            return Err(ChatError::SignedOut);
        };
        let chat = use_context::<SharedChat>().ok_or(ChatError::Unavailable)?;
        Ok((chat, user))
    }

    pub async fn respond<T>(result: Result<T, ChatError>) -> Result<T, ChatError> {
        if let Err(error) = &result {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(error.status());
            }
            if *error == ChatError::SignInRequired {
                // The grant is gone: end the session so the next page shows "Sign in", with no loop.
                if let Ok(session) = leptos_axum::extract::<tower_sessions::Session>().await {
                    let _ = session.flush().await;
                }
            }
        }
        result
    }
}

/// Calls the backend for the signed-in user and answers failures with their HTTP status.
#[cfg(feature = "ssr")]
macro_rules! with_chat {
    (|$chat:ident, $user:ident| $body:expr) => {{
        let result = match self::ssr::context().await {
            Ok(($chat, $user)) => $body,
            Err(error) => Err(error),
        };
        self::ssr::respond(result).await
    }};
}

#[server(endpoint = "chat/list", input = Json)]
pub async fn list_conversations() -> Result<Vec<ConversationSummary>, ChatError> {
    with_chat!(|chat, user| chat.list(&user).await)
}

#[server(endpoint = "chat/create", input = Json)]
pub async fn create_conversation(mode: ApprovalMode) -> Result<ConversationSummary, ChatError> {
    with_chat!(|chat, user| chat.create(&user, mode).await)
}

#[server(endpoint = "chat/get", input = Json)]
pub async fn get_conversation(id: String) -> Result<ConversationView, ChatError> {
    with_chat!(|chat, user| chat.view(&user, &id).await)
}

#[server(endpoint = "chat/send", input = Json)]
pub async fn send_message(id: String, text: String) -> Result<(), ChatError> {
    with_chat!(|chat, user| chat.send(&user, &id, &text).await)
}

#[server(endpoint = "chat/mode", input = Json)]
pub async fn set_mode(id: String, mode: ApprovalMode) -> Result<(), ChatError> {
    with_chat!(|chat, user| chat.set_mode(&user, &id, mode).await)
}

#[server(endpoint = "chat/decide", input = Json)]
pub async fn decide(
    id: String,
    call_id: String,
    args_hash: String,
    decision: Decision,
) -> Result<(), ChatError> {
    with_chat!(|chat, user| chat
        .decide(&user, &id, &call_id, &args_hash, decision)
        .await)
}

#[server(endpoint = "chat/answer", input = Json)]
pub async fn answer_elicitation(
    id: String,
    elicitation_id: String,
    action: ElicitationAction,
    values: Vec<(String, String)>,
) -> Result<(), ChatError> {
    with_chat!(|chat, user| chat
        .answer(&user, &id, &elicitation_id, action, values)
        .await)
}

#[server(endpoint = "audit/list", input = Json)]
pub async fn audit_trail() -> Result<Vec<AuditRecord>, ChatError> {
    with_chat!(|chat, user| chat.audit(&user).await)
}
