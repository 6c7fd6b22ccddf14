//! Server side: what the server functions call (implemented by the server crate).

use std::sync::Arc;

use super::{
    ApprovalMode, AuditRecord, ChatError, ConversationSummary, ConversationView, Decision,
    ElicitationAction,
};
use crate::auth::Identity;

#[async_trait::async_trait]
pub trait ChatBackend: Send + Sync + 'static {
    async fn list(&self, user: &Identity) -> Result<Vec<ConversationSummary>, ChatError>;
    async fn create(
        &self,
        user: &Identity,
        mode: ApprovalMode,
    ) -> Result<ConversationSummary, ChatError>;
    /// Creates a conversation and sends its first message, which names it; an invalid message
    /// creates nothing.
    async fn start(
        &self,
        user: &Identity,
        text: &str,
        mode: ApprovalMode,
    ) -> Result<ConversationSummary, ChatError>;
    /// A new title: trimmed, 1 to [`MAX_TITLE_CHARS`](super::MAX_TITLE_CHARS) characters.
    async fn rename(&self, user: &Identity, id: &str, title: &str) -> Result<(), ChatError>;
    /// Deletes the conversation (not while the agent works on it); the audit trail keeps its calls.
    async fn delete(&self, user: &Identity, id: &str) -> Result<(), ChatError>;
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
