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
