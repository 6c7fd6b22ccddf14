//! The UI's server functions backed by the agent core: every request checks that the signed-in user
//! owns the conversation, then acts through the agent (writes go through its journal).

use agent::{
    AgentError,
    domain::{ArgsHash, CallId, Conversation, ConversationId, ElicitationId, UserKey},
    ports::ConversationReads,
};
use app::{
    auth::Identity,
    chat::{
        ApprovalMode, AuditRecord, ChatError, ConversationSummary, ConversationView, Decision,
        ElicitationAction, backend::ChatBackend,
    },
};

use super::{Chat, internal, project};

fn user_key(user: &Identity) -> UserKey {
    UserKey::from(user.key.as_str())
}

/// The agent's refusal as the browser may see it.
fn refused(error: AgentError) -> ChatError {
    match error {
        AgentError::NotFound => ChatError::NotFound,
        AgentError::Invalid(message) => ChatError::Invalid(message),
        AgentError::Conflict(message) => ChatError::Conflict(message),
        AgentError::Internal(error) => internal(error),
    }
}

impl Chat {
    /// The conversation, if the user owns it; another user's id answers exactly like an unknown one.
    pub(crate) async fn owned(&self, user: &Identity, id: &str) -> Result<Conversation, ChatError> {
        self.store
            .owned(&user_key(user), &ConversationId::from(id))
            .await
            .map_err(internal)?
            .ok_or(ChatError::NotFound)
    }
}

#[async_trait::async_trait]
impl ChatBackend for Chat {
    async fn list(&self, user: &Identity) -> Result<Vec<ConversationSummary>, ChatError> {
        let conversations = self
            .store
            .conversations(&user_key(user))
            .await
            .map_err(internal)?;
        Ok(conversations.iter().map(project::summary).collect())
    }

    async fn create(
        &self,
        user: &Identity,
        mode: ApprovalMode,
    ) -> Result<ConversationSummary, ChatError> {
        let conversation = self
            .agent
            .journal()
            .create_conversation(&user_key(user), project::domain_mode(mode))
            .await
            .map_err(internal)?;
        Ok(project::summary(&conversation))
    }

    async fn view(&self, user: &Identity, id: &str) -> Result<ConversationView, ChatError> {
        self.view_for(user, id).await
    }

    async fn send(&self, user: &Identity, id: &str, text: &str) -> Result<(), ChatError> {
        let conversation = self.owned(user, id).await?;
        self.agent.send(&conversation, text).await.map_err(refused)
    }

    async fn set_mode(
        &self,
        user: &Identity,
        id: &str,
        mode: ApprovalMode,
    ) -> Result<(), ChatError> {
        let conversation = self.owned(user, id).await?;
        self.agent
            .set_mode(&conversation, project::domain_mode(mode))
            .await
            .map_err(refused)
    }

    async fn decide(
        &self,
        user: &Identity,
        id: &str,
        call_id: &str,
        args_hash: &str,
        decision: Decision,
    ) -> Result<(), ChatError> {
        let conversation = self.owned(user, id).await?;
        self.agent
            .decide(
                &conversation,
                &CallId::from(call_id),
                &ArgsHash::from(args_hash),
                project::decision(decision),
            )
            .await
            .map_err(refused)
    }

    async fn answer(
        &self,
        user: &Identity,
        id: &str,
        elicitation_id: &str,
        action: ElicitationAction,
        values: Vec<(String, String)>,
    ) -> Result<(), ChatError> {
        let conversation = self.owned(user, id).await?;
        self.deferred
            .answer(
                &conversation,
                &ElicitationId::from(elicitation_id),
                project::action(action),
                &values,
            )
            .await
            .map_err(refused)
    }

    async fn audit(&self, user: &Identity) -> Result<Vec<AuditRecord>, ChatError> {
        let rows = self.store.audit(&user_key(user)).await.map_err(internal)?;
        Ok(rows.into_iter().map(project::audit).collect())
    }
}

impl Chat {
    /// The conversation's current view, for its owner only.
    pub async fn view_for(&self, user: &Identity, id: &str) -> Result<ConversationView, ChatError> {
        let conversation = self.owned(user, id).await?;
        // Read before the transcript: a loop writes everything before it stops running, so a view that
        // says "not busy" never lacks the loop's last entries (read after, a loop ending in between gave
        // a settled-looking view without its final notice).
        let busy = self.agent.is_running(&conversation.id);
        let transcript = self
            .store
            .transcript(&conversation.id)
            .await
            .map_err(internal)?;
        let live = self.hub.current(&conversation.id);
        Ok(project::view(
            &conversation,
            &transcript,
            live.streaming,
            busy,
        ))
    }
}
