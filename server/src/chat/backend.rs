//! The UI's server functions backed by the agent core: every request checks that the signed-in user
//! owns the conversation, then acts through the agent (writes go through its journal).

use std::sync::Arc;

use agent::{
    AgentError,
    domain::{ArgsHash, CallId, Conversation, ConversationId, ElicitationId, UserKey},
    ports::{Change, Notifier},
};
use app::{
    auth::Identity,
    chat::{
        ApprovalMode, AuditRecord, ChatError, ConversationSummary, ConversationView, Decision,
        ElicitationAction, backend::ChatBackend, clean_title,
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

    async fn start(
        &self,
        user: &Identity,
        text: &str,
        mode: ApprovalMode,
    ) -> Result<ConversationSummary, ChatError> {
        // Checked before the conversation is created: a refused first message leaves nothing behind.
        agent::agent::check_message(text).map_err(refused)?;
        self.messages.take(&user.key).await?;
        let key = user_key(user);
        let conversation = self
            .agent
            .journal()
            .create_conversation(&key, project::domain_mode(mode))
            .await
            .map_err(internal)?;
        if let Err(error) = self.agent.send(&conversation, text).await {
            // Nothing may be left behind by a message that was not taken (a new conversation has no
            // loop yet, so this is only a database failure).
            if let Err(cleanup) = self.store.delete(&key, &conversation.id).await {
                tracing::warn!(
                    conversation = %conversation.id,
                    error = format!("{cleanup:#}"),
                    "removing a conversation whose first message failed"
                );
            }
            return Err(refused(error));
        }
        // Read back: the first message named it.
        let stored = self.owned(user, conversation.id.as_str()).await?;
        Ok(project::summary(&stored))
    }

    async fn rename(&self, user: &Identity, id: &str, title: &str) -> Result<(), ChatError> {
        let title = clean_title(title)?;
        let id = ConversationId::from(id);
        if !self
            .store
            .rename(&user_key(user), &id, &title)
            .await
            .map_err(internal)?
        {
            return Err(ChatError::NotFound);
        }
        self.hub.notify(&id, Change::Stored);
        Ok(())
    }

    async fn delete(&self, user: &Identity, id: &str) -> Result<(), ChatError> {
        let conversation = self.owned(user, id).await?;
        // A running loop would go on writing to rows that are gone.
        if self.busy(&conversation.id).await {
            return Err(ChatError::Conflict(
                "The agent is still working on this conversation.".to_owned(),
            ));
        }
        if !self
            .store
            .delete(&conversation.user, &conversation.id)
            .await
            .map_err(internal)?
        {
            return Err(ChatError::NotFound);
        }
        tracing::info!(conversation = %conversation.id, "conversation deleted");
        // Watchers read again, and find it gone.
        self.hub.notify(&conversation.id, Change::Stored);
        Ok(())
    }

    async fn view(&self, user: &Identity, id: &str) -> Result<ConversationView, ChatError> {
        self.view_for(user, id).await
    }

    async fn send(&self, user: &Identity, id: &str, text: &str) -> Result<(), ChatError> {
        let conversation = self.owned(user, id).await?;
        self.messages.take(&user.key).await?;
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
        let busy = self.busy(&conversation.id).await;
        let mut view = self.stored_view(&conversation).await?;
        view.streaming = self.hub.current(&conversation.id).streaming;
        view.busy = busy;
        Ok(view)
    }

    /// What is stored of the conversation, for its owner only: no streamed text, not busy (the live
    /// updates add both).
    pub async fn stored_view_for(
        &self,
        user: &Identity,
        id: &str,
    ) -> Result<ConversationView, ChatError> {
        let conversation = self.owned(user, id).await?;
        self.stored_view(&conversation).await
    }

    async fn stored_view(
        &self,
        conversation: &Conversation,
    ) -> Result<ConversationView, ChatError> {
        let transcript = self
            .transcripts
            .read(&self.store, &conversation.id)
            .await
            .map_err(internal)?;
        let html = |key: &project::Rendered, render: &dyn Fn() -> String| -> String {
            self.html
                .get_with_by_ref(key, || Arc::from(render()))
                .to_string()
        };
        Ok(project::view(conversation, &transcript, None, false, &html))
    }
}
