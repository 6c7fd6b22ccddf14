//! [`Deferred`]: the [`Asker`] of front-ends that answer later, from another request or another
//! instance (the web). A request is stored and shown; the call waits (bounded) for the answer that
//! [`Deferred::answer`] delivers — straight to the waiting call in this process, or through the store to
//! the process whose loop holds the call's MCP session.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use async_trait::async_trait;
use serde_json::Value;
use service_kit::sync::lock;
use tokio::sync::oneshot;

use crate::{
    AgentError,
    domain::{
        Call, Conversation, ConversationId, Decision, ElicitationAction, ElicitationId,
        ElicitationKind, ElicitationStatus,
    },
    forms,
    journal::Journal,
    ports::{Asker, ElicitReply},
};

/// Asks by storing the request and waiting for an answer that arrives through [`Deferred::answer`];
/// approvals are never decided here (the loop waits for [`crate::Agent::decide`]).
pub struct Deferred {
    journal: Journal,
    timeout: Duration,
    waiters: Mutex<HashMap<ElicitationId, oneshot::Sender<ElicitReply>>>,
}

impl Deferred {
    pub fn new(journal: Journal, timeout: Duration) -> Self {
        Self {
            journal,
            timeout,
            waiters: Mutex::new(HashMap::new()),
        }
    }

    /// The user's answer to a pending request of `conversation` (whose owner the caller checked).
    pub async fn answer(
        &self,
        conversation: &Conversation,
        id: &ElicitationId,
        action: ElicitationAction,
        values: &[(String, String)],
    ) -> Result<(), AgentError> {
        let request = self
            .journal
            .store()
            .elicitation(&conversation.id, id)
            .await?
            .ok_or(AgentError::NotFound)?;
        if request.status != ElicitationStatus::Pending {
            return Err(AgentError::Conflict(format!(
                "This request was already {}.",
                request.status
            )));
        }
        let content = match (action, &request.kind) {
            (ElicitationAction::Accept, ElicitationKind::Form { schema }) => {
                let form = forms::form_from_json(schema).map_err(AgentError::Invalid)?;
                Some(forms::answer(&form, values).map_err(AgentError::Invalid)?)
            }
            // The step happens on the linked page; nothing typed here may travel with the answer.
            (ElicitationAction::Accept, ElicitationKind::Url { .. }) if !values.is_empty() => {
                return Err(AgentError::Invalid(
                    "A link request is answered without values.".to_owned(),
                ));
            }
            _ => None,
        };
        let answer = content
            .as_ref()
            .map(|c| Value::Object(c.clone()).to_string());
        let Some(waiter) = lock(&self.waiters).remove(id) else {
            // The call waits in another process (the one holding the conversation's loop lease), which
            // reads the answer from the store; with no loop at all, its MCP session is gone with the
            // process that ran it, and nothing is written, so the stored outcome stays true.
            if !self.journal.store().loop_held(&conversation.id).await? {
                return Err(AgentError::Conflict(
                    "This request is no longer waiting for an answer: the tool call that asked for it stopped (its server process restarted).".to_owned(),
                ));
            }
            let closed = self
                .journal
                .close_elicitation(&conversation.id, id, action.status(), answer.as_deref())
                .await?;
            return if closed {
                Ok(())
            } else {
                Err(AgentError::Conflict(
                    "This request was already answered.".to_owned(),
                ))
            };
        };
        let closed = self
            .journal
            .close_elicitation(&conversation.id, id, action.status(), answer.as_deref())
            .await?;
        if !closed {
            return Err(AgentError::Conflict(
                "This request was already answered.".to_owned(),
            ));
        }
        let _ = waiter.send(ElicitReply { action, content });
        Ok(())
    }
}

impl Deferred {
    /// The answer given through another process ([`Deferred::answer`] stores it, since this process
    /// holds the call): read from the store, every [`ANSWER_POLL`].
    async fn answered_elsewhere(
        &self,
        conversation: &ConversationId,
        id: &ElicitationId,
    ) -> ElicitReply {
        loop {
            tokio::time::sleep(ANSWER_POLL).await;
            match self.stored_reply(conversation, id).await {
                Ok(Some(reply)) => return reply,
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "reading an elicitation failed"
                    );
                }
            }
        }
    }

    /// The stored answer to a request; `None` while it is pending.
    async fn stored_reply(
        &self,
        conversation: &ConversationId,
        id: &ElicitationId,
    ) -> anyhow::Result<Option<ElicitReply>> {
        let Some(request) = self.journal.store().elicitation(conversation, id).await? else {
            return Ok(Some(ElicitReply::cancel()));
        };
        let action = match request.status {
            ElicitationStatus::Pending => return Ok(None),
            ElicitationStatus::Accepted => ElicitationAction::Accept,
            ElicitationStatus::Declined => ElicitationAction::Decline,
            ElicitationStatus::Cancelled | ElicitationStatus::Expired => ElicitationAction::Cancel,
        };
        // Checked against the schema where it was answered; only an object travels.
        let content = request
            .answer
            .as_deref()
            .and_then(|a| serde_json::from_str::<serde_json::Map<String, Value>>(a).ok());
        Ok(Some(ElicitReply { action, content }))
    }
}

/// Removes a request's waiter when the wait ends, however it ends.
struct Forget<'a> {
    waiters: &'a Mutex<HashMap<ElicitationId, oneshot::Sender<ElicitReply>>>,
    id: &'a ElicitationId,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.waiters).remove(self.id);
    }
}

/// How often a call waiting for input looks for an answer given through another process.
const ANSWER_POLL: Duration = Duration::from_millis(500);

#[async_trait]
impl Asker for Deferred {
    async fn approve(&self, _conversation: &Conversation, _call: &Call) -> Option<Decision> {
        None
    }

    async fn elicit(
        &self,
        conversation: &Conversation,
        call: &Call,
        message: &str,
        kind: &ElicitationKind,
    ) -> ElicitReply {
        let id = ElicitationId::random();
        // The waiter exists before anyone can see the request, so an answer cannot arrive too early.
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiters).insert(id.clone(), sender);
        // Removed however the wait ends, also when this call is dropped midway (its loop lost its
        // lease, the turn was cancelled).
        let _forget = Forget {
            waiters: &self.waiters,
            id: &id,
        };
        if let Err(error) = self
            .journal
            .add_elicitation(&conversation.id, &id, &call.id, message, kind)
            .await
        {
            tracing::error!(
                error = format!("{error:#}"),
                "storing an elicitation failed"
            );
            return ElicitReply::cancel();
        }
        let mut receiver = receiver;
        let waited = tokio::select! {
            reply = &mut receiver => reply.ok(),
            reply = self.answered_elsewhere(&conversation.id, &id) => Some(reply),
            () = tokio::time::sleep(self.timeout) => None,
        };
        match waited {
            Some(reply) => reply,
            None => {
                if lock(&self.waiters).remove(&id).is_none() {
                    // An answer took the waiter just as time ran out: it is stored as given, so it is
                    // the one the server gets.
                    if let Ok(reply) = receiver.await {
                        return reply;
                    }
                }
                match self
                    .journal
                    .close_elicitation(&conversation.id, &id, ElicitationStatus::Expired, None)
                    .await
                {
                    Ok(true) => {}
                    // Answered through another process just as time ran out: that answer is stored.
                    Ok(false) => {
                        if let Ok(Some(reply)) = self.stored_reply(&conversation.id, &id).await {
                            return reply;
                        }
                    }
                    Err(error) => tracing::warn!(
                        error = format!("{error:#}"),
                        "expiring an elicitation failed"
                    ),
                }
                ElicitReply::cancel()
            }
        }
    }
}
