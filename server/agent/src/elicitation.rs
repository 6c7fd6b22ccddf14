//! Elicitation: an MCP server asking the user for input during a tool call.
//!
//! - [`Bridge`]: the MCP client handler of one tool call; both protocol generations reach it (rmcp turns
//!   2026-07-28 input-required results into the same `create_elicitation` call as 2025-11-25 server
//!   requests). It hands form requests to the front-end's [`Asker`].
//! - [`Deferred`]: an [`Asker`] for front-ends that answer later, from another request (the web): the
//!   request is stored and shown, the call waits (bounded), and [`Deferred::answer`] delivers the user's
//!   answer, checked against the schema, to exactly the request it belongs to.

use std::{collections::HashMap, sync::Arc, sync::Mutex, time::Duration};

use async_trait::async_trait;
use rmcp::{
    ClientHandler, ErrorData, RoleClient,
    model::{
        ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationSchema,
        Implementation,
    },
    service::RequestContext,
};
use serde_json::Value;
use service_kit::sync::lock;
use tokio::sync::oneshot;

use crate::{
    AgentError,
    domain::{Call, Conversation, Decision, ElicitationAction, ElicitationId, ElicitationStatus},
    forms,
    journal::Journal,
    ports::{Asker, ElicitReply},
};

/// Answers one tool call's elicitation requests by asking the user through the front-end.
#[derive(Clone)]
pub struct Bridge {
    pub(crate) asker: Arc<dyn Asker>,
    pub(crate) conversation: Conversation,
    pub(crate) call: Call,
    pub(crate) client_name: &'static str,
}

impl ClientHandler for Bridge {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new(self.client_name, env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        Ok(self.ask(request).await)
    }
}

impl Bridge {
    async fn ask(&self, request: ElicitRequestParams) -> ElicitResult {
        use rmcp::model::ElicitationAction as Action;
        // URL-mode elicitation is not offered (the client does not declare it).
        let (message, schema) = match request {
            ElicitRequestParams::FormElicitationParams {
                message,
                requested_schema,
                ..
            } => (message, requested_schema),
            _ => return ElicitResult::new(Action::Decline),
        };
        if let Err(reason) = forms::form(&schema) {
            tracing::warn!(%reason, "elicitation request declined");
            return ElicitResult::new(Action::Decline);
        }
        let reply = self
            .asker
            .elicit(&self.conversation, &self.call, &message, &schema)
            .await;
        let result = ElicitResult::new(match reply.action {
            ElicitationAction::Accept => Action::Accept,
            ElicitationAction::Decline => Action::Decline,
            ElicitationAction::Cancel => Action::Cancel,
        });
        match reply.content {
            Some(content) => result.with_content(Value::Object(content)),
            None => result,
        }
    }
}

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
        let content = match action {
            ElicitationAction::Accept => {
                let form = forms::form_from_json(&request.schema).map_err(AgentError::Invalid)?;
                Some(forms::answer(&form, values).map_err(AgentError::Invalid)?)
            }
            ElicitationAction::Decline | ElicitationAction::Cancel => None,
        };
        let Some(waiter) = lock(&self.waiters).remove(id) else {
            // Nobody here waits for it (a double submit already answered it, or the process restarted and
            // recovery expired it): nothing to write, so the answer that did arrive is never overwritten.
            return Err(AgentError::Conflict(
                "This request is no longer waiting for an answer.".to_owned(),
            ));
        };
        let answer = content
            .as_ref()
            .map(|c| Value::Object(c.clone()).to_string());
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
        schema: &ElicitationSchema,
    ) -> ElicitReply {
        let id = ElicitationId::random();
        let schema = match serde_json::to_string(schema) {
            Ok(schema) => schema,
            Err(error) => {
                tracing::error!(%error, "an elicitation schema could not be stored");
                return ElicitReply::cancel();
            }
        };
        // The waiter exists before anyone can see the request, so an answer cannot arrive too early.
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiters).insert(id.clone(), sender);
        if let Err(error) = self
            .journal
            .add_elicitation(&conversation.id, &id, &call.id, message, &schema)
            .await
        {
            lock(&self.waiters).remove(&id);
            tracing::error!(
                error = format!("{error:#}"),
                "storing an elicitation failed"
            );
            return ElicitReply::cancel();
        }
        let mut receiver = receiver;
        match tokio::time::timeout(self.timeout, &mut receiver).await {
            Ok(Ok(reply)) => reply,
            _ => {
                if lock(&self.waiters).remove(&id).is_none() {
                    // An answer took the waiter just as time ran out: it is stored as given, so it is
                    // the one the server gets.
                    if let Ok(reply) = receiver.await {
                        return reply;
                    }
                }
                if let Err(error) = self
                    .journal
                    .close_elicitation(&conversation.id, &id, ElicitationStatus::Expired, None)
                    .await
                {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "expiring an elicitation failed"
                    );
                }
                ElicitReply::cancel()
            }
        }
    }
}
