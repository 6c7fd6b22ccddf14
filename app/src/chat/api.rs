//! The chat's server functions (`/api/chat/*`, `/api/audit/list`): each acts for the signed-in user
//! through the server's [`ChatBackend`](super::backend::ChatBackend) and answers a failure with its
//! HTTP status.

use leptos::{prelude::*, server_fn::codec::Json};

use super::{
    ApprovalMode, AuditRecord, ChatError, ConversationSummary, ConversationView, Decision,
    ElicitationAction,
};

/// Server-function plumbing: who is asking, which backend answers, and the status of a failure.
#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use axum::Extension;
    use leptos::prelude::use_context;

    use super::super::{ChatError, backend::SharedChat};
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
                if let ChatError::RateLimited(seconds) = error {
                    response.insert_header(
                        axum::http::header::RETRY_AFTER,
                        axum::http::HeaderValue::from(*seconds),
                    );
                }
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

/// Creates a conversation and sends its first message in one request: nothing is created when the
/// message is refused (empty, too long).
#[server(endpoint = "chat/start", input = Json)]
pub async fn start_conversation(
    text: String,
    mode: ApprovalMode,
) -> Result<ConversationSummary, ChatError> {
    with_chat!(|chat, user| chat.start(&user, &text, mode).await)
}

#[server(endpoint = "chat/rename", input = Json)]
pub async fn rename_conversation(id: String, title: String) -> Result<(), ChatError> {
    with_chat!(|chat, user| chat.rename(&user, &id, &title).await)
}

#[server(endpoint = "chat/delete", input = Json)]
pub async fn delete_conversation(id: String) -> Result<(), ChatError> {
    with_chat!(|chat, user| chat.delete(&user, &id).await)
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
