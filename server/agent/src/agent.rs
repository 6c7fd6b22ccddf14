//! [`Agent`]: the front-end-facing side of the loop: start it, and act on a conversation for its owner
//! (send a message, change the mode, decide a call). Front-ends check that the user owns the
//! conversation before calling these; the loop itself is in [`crate::run`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
};

use service_kit::sync::lock;

use crate::{
    AgentError,
    domain::{
        ApprovalMode, ArgsHash, Call, CallId, CallStatus, Conversation, ConversationId, DecidedBy,
        Decision, ElicitationStatus, Finish, Role,
    },
    journal::Journal,
    mcp::McpDirectory,
    model::ChatModel,
    ports::{Asker, Change},
    settings::AgentSettings,
    transcripts::Transcripts,
};

/// Longest user message accepted.
pub const MAX_MESSAGE_CHARS: usize = 8000;

/// A user message as the agent takes it (trimmed), or why it is refused; front-ends may check first
/// (before creating a conversation for it, say).
pub fn check_message(text: &str) -> Result<&str, AgentError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AgentError::Invalid("Type a message first.".to_owned()));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(AgentError::Invalid(format!(
            "A message may have at most {MAX_MESSAGE_CHARS} characters."
        )));
    }
    Ok(text)
}

/// The agent: one per process and front-end.
pub struct Agent {
    pub(crate) me: Weak<Agent>,
    pub(crate) journal: Journal,
    pub(crate) model: Arc<dyn ChatModel>,
    pub(crate) directory: Arc<McpDirectory>,
    pub(crate) asker: Arc<dyn Asker>,
    pub(crate) settings: AgentSettings,
    /// The MCP client name servers see.
    pub(crate) client_name: &'static str,
    /// Conversations whose loop is running in this process → "run once more when done".
    pub(crate) running: Mutex<HashMap<ConversationId, bool>>,
    /// This agent's id as a holder of conversations' loop leases (random per process).
    pub(crate) holder: String,
    /// Conversations whose loop is in a step now (not merely looking for more work after one).
    pub(crate) driving: Mutex<std::collections::HashSet<ConversationId>>,
    /// What the loop has read of each conversation, brought up to date by reading the tail.
    pub(crate) transcripts: Transcripts,
    /// Tool calls per user per minute.
    pub(crate) tool_calls: crate::limits::PerMinute,
}

impl Agent {
    pub fn new(
        journal: Journal,
        model: Arc<dyn ChatModel>,
        directory: Arc<McpDirectory>,
        asker: Arc<dyn Asker>,
        settings: AgentSettings,
        client_name: &'static str,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            journal,
            model,
            directory,
            asker,
            client_name,
            running: Mutex::new(HashMap::new()),
            holder: uuid::Uuid::new_v4().simple().to_string(),
            driving: Mutex::default(),
            transcripts: Transcripts::default(),
            tool_calls: crate::limits::PerMinute::new(settings.tool_calls_per_minute),
            settings,
        })
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn directory(&self) -> &Arc<McpDirectory> {
        &self.directory
    }

    pub fn is_running(&self, id: &ConversationId) -> bool {
        lock(&self.running).contains_key(id)
    }

    /// Runs the loop for a conversation in the background, or asks the running one to look again when
    /// it is done.
    pub fn kick(&self, id: &ConversationId) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        if !self.claim(id) {
            return;
        }
        let id = id.clone();
        tokio::spawn(async move { me.run_claimed(&id).await });
    }

    /// Runs the loop for a conversation until it needs the user or is finished (a front-end that waits,
    /// like a console). When a loop already runs, it is asked to look again and this returns at once.
    pub async fn run_until_idle(&self, id: &ConversationId) {
        self.run_until_idle_or(id, std::future::pending()).await;
    }

    /// As [`Self::run_until_idle`], but the turn ends when `cancel` completes first (a console's
    /// Ctrl-C): the loop stops where it is, and nothing is left half-open — a call waiting for a
    /// decision is declined, an approved one that had not started fails without being called, one that
    /// was running fails saying its outcome is unknown (it is never re-run), open requests for input are
    /// cancelled, and a notice says the turn was stopped. `true` when it was cancelled.
    pub async fn run_until_idle_or(
        &self,
        id: &ConversationId,
        cancel: impl Future<Output = ()>,
    ) -> bool {
        if !self.claim(id) {
            return false;
        }
        let cancelled = tokio::select! {
            () = self.run_claimed(id) => false,
            () = cancel => true,
        };
        if cancelled {
            lock(&self.running).remove(id);
            // The turn is closed here; the lease is given up after, so no other process resumes it first.
            self.journal.tell(id, Change::Streaming(None));
            if let Err(error) = self.abandon(id).await {
                tracing::error!(conversation = %id, error = format!("{error:#}"), "closing a cancelled turn failed");
            }
            if let Err(error) = self.journal.release_loop(id, &self.holder).await {
                tracing::warn!(conversation = %id, error = format!("{error:#}"), "giving a loop lease up failed");
            }
            self.journal.tell(id, Change::Settled);
        }
        cancelled
    }

    /// A conversation whose front-end process stopped mid-turn (a console killed at a prompt): a call
    /// that was running fails saying its outcome is unknown (it is never re-run) and open requests for
    /// input expire; pending and approved calls stay for the next run to ask about or make. Whether
    /// such calls remain.
    pub async fn recover_interrupted(&self, id: &ConversationId) -> anyhow::Result<bool> {
        let transcript = self.journal.store().transcript(id).await?;
        for call in transcript
            .calls
            .iter()
            .filter(|c| c.status == CallStatus::Running)
        {
            let interrupted = Finish::failed(crate::leases::INTERRUPTED);
            self.journal.finish_call(id, &call.id, &interrupted).await?;
        }
        for request in transcript
            .elicitations
            .iter()
            .filter(|e| e.status == ElicitationStatus::Pending)
        {
            self.journal
                .close_elicitation(id, &request.id, ElicitationStatus::Expired, None)
                .await?;
        }
        Ok(transcript
            .calls
            .iter()
            .any(|c| matches!(c.status, CallStatus::Pending | CallStatus::Approved)))
    }

    /// Closes what a cancelled turn left open.
    async fn abandon(&self, id: &ConversationId) -> anyhow::Result<()> {
        let transcript = self.journal.store().transcript(id).await?;
        for call in transcript.calls.iter().filter(|c| !c.status.is_final()) {
            let finish = match call.status {
                CallStatus::Pending => {
                    self.journal
                        .decline(
                            id,
                            &call.id,
                            &call.args_hash,
                            DecidedBy::User,
                            "Cancelled by the user before it was decided; it was not called.",
                        )
                        .await?;
                    continue;
                }
                CallStatus::Running => Finish::failed(
                    "Cancelled by the user while it ran; it may or may not have taken effect.",
                ),
                _ => Finish::failed("Cancelled by the user; it was not called."),
            };
            self.journal.finish_call(id, &call.id, &finish).await?;
        }
        for request in transcript
            .elicitations
            .iter()
            .filter(|e| e.status == ElicitationStatus::Pending)
        {
            self.journal
                .close_elicitation(id, &request.id, ElicitationStatus::Cancelled, None)
                .await?;
        }
        self.journal
            .add_message(
                id,
                Role::Notice,
                "Stopped: you cancelled this turn. Send a message to continue.",
            )
            .await?;
        Ok(())
    }

    /// `true`: the caller runs the loop; `false`: the running loop will look again.
    fn claim(&self, id: &ConversationId) -> bool {
        let mut running = lock(&self.running);
        if let Some(again) = running.get_mut(id) {
            *again = true;
            return false;
        }
        running.insert(id.clone(), false);
        true
    }

    /// A user message: stored, then the loop runs in the background.
    pub async fn send(&self, conversation: &Conversation, text: &str) -> Result<(), AgentError> {
        self.accept_message(conversation, text).await?;
        self.kick(&conversation.id);
        Ok(())
    }

    /// A user message: stored, then the loop runs until it needs the user or is finished (a front-end
    /// that waits for the answer, like a console).
    pub async fn send_and_wait(
        &self,
        conversation: &Conversation,
        text: &str,
    ) -> Result<(), AgentError> {
        self.send_and_wait_or(conversation, text, std::future::pending())
            .await
            .map(|_| ())
    }

    /// As [`Self::send_and_wait`], but `cancel` ends the turn (see [`Self::run_until_idle_or`]);
    /// `Ok(true)` when it was cancelled.
    pub async fn send_and_wait_or(
        &self,
        conversation: &Conversation,
        text: &str,
        cancel: impl Future<Output = ()>,
    ) -> Result<bool, AgentError> {
        self.accept_message(conversation, text).await?;
        Ok(self.run_until_idle_or(&conversation.id, cancel).await)
    }

    async fn accept_message(
        &self,
        conversation: &Conversation,
        text: &str,
    ) -> Result<(), AgentError> {
        let text = check_message(text)?;
        let id = &conversation.id;
        // The lease is taken before the message is stored: no loop here or in another process runs
        // now, and if this process dies before its loop starts, the lease runs out and the sweep
        // answers the message.
        // A loop of this process that has finished its step and only looks for more work will take
        // the message up; one in a step (or another process's, holding the lease) is still working.
        if lock(&self.driving).contains(id)
            || !self
                .journal
                .claim_loop(id, &self.holder, self.settings.loop_lease)
                .await?
        {
            return Err(AgentError::Conflict(
                "The agent is still working on this conversation.".to_owned(),
            ));
        }
        let stored = async {
            if self.journal.store().open_calls(id).await? > 0 {
                return Err(AgentError::Conflict(
                    "Approve or decline the pending tool call first.".to_owned(),
                ));
            }
            self.journal.add_message(id, Role::User, text).await?;
            Ok(())
        };
        let stored = stored.await;
        if stored.is_err()
            && let Err(error) = self.journal.release_loop(id, &self.holder).await
        {
            tracing::warn!(conversation = %id, error = format!("{error:#}"), "giving a loop lease up failed");
        }
        stored
    }

    /// A new mode; a pending call the new mode approves on its own goes ahead.
    pub async fn set_mode(
        &self,
        conversation: &Conversation,
        mode: ApprovalMode,
    ) -> Result<(), AgentError> {
        let id = &conversation.id;
        let open = self.journal.store().open_calls(id).await? > 0;
        if open {
            // As for a message: a lease taken first is found by the sweep if this process dies before
            // its loop starts. Another process holding it looks at the new mode when its step ends.
            self.journal
                .claim_loop(id, &self.holder, self.settings.loop_lease)
                .await?;
        }
        self.journal.set_mode(id, mode).await?;
        if open {
            self.kick(id);
        }
        Ok(())
    }

    /// The user's decision about a pending call, bound to its arguments' hash; then the loop goes on.
    pub async fn decide(
        &self,
        conversation: &Conversation,
        call: &CallId,
        args_hash: &ArgsHash,
        decision: Decision,
    ) -> Result<(), AgentError> {
        let call = self
            .journal
            .store()
            .call(&conversation.id, call)
            .await?
            .ok_or(AgentError::NotFound)?;
        self.apply(conversation, &call, args_hash, decision).await?;
        self.kick(&conversation.id);
        Ok(())
    }

    /// Records a decision made by the user (through [`Self::decide`] or an [`Asker`]).
    pub(crate) async fn apply(
        &self,
        conversation: &Conversation,
        call: &Call,
        args_hash: &ArgsHash,
        decision: Decision,
    ) -> Result<(), AgentError> {
        if decision == Decision::ApproveAlways && !call.read_only {
            return Err(AgentError::Invalid(
                "Only tools marked read-only can be always allowed.".to_owned(),
            ));
        }
        let to = match decision {
            Decision::Approve | Decision::ApproveAlways => CallStatus::Approved,
            Decision::Decline => CallStatus::Declined,
        };
        let (id, by) = (&conversation.id, DecidedBy::User);
        let won = match decision {
            Decision::Decline => {
                self.journal
                    .decline(id, &call.id, args_hash, by, "Declined by the user.")
                    .await?
            }
            _ => self.journal.decide(id, &call.id, args_hash, to, by).await?,
        };
        if !won {
            return Err(AgentError::Conflict(if &call.args_hash != args_hash {
                "The arguments changed; this approval does not apply to them.".to_owned()
            } else {
                format!("This tool call was already {}.", call.status)
            }));
        }
        if decision == Decision::ApproveAlways {
            self.journal
                .allow_always(conversation, &call.function_name)
                .await?;
        }
        tracing::info!(conversation = %conversation.id, tool = %call.tool, decision = %to, "tool call decided");
        Ok(())
    }
}
