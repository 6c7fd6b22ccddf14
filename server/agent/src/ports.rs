//! What the agent core needs from a front-end, as small traits: where conversations are kept, who is told
//! about changes, how the user is asked, which model answers. (The MCP directory's port, the token
//! source, is in [`crate::mcp`].) The web app implements them with SQL, Server-Sent Events and forms; a
//! console client with its own store and terminal prompts.

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::domain::{
    ApprovalMode, ArgsHash, Call, CallId, CallStatus, Conversation, ConversationId, DecidedBy,
    Decision, Elicitation, ElicitationAction, ElicitationId, ElicitationKind, ElicitationStatus,
    Finish, NewCall, Role, Transcript, TurnTiming, UserKey,
};

/// Reading conversations, their messages, tool calls and elicitation requests.
#[async_trait]
pub trait ConversationReads: Send + Sync + 'static {
    /// By id alone: the loop acts for the conversation's owner. Front-ends check ownership first.
    async fn conversation(&self, id: &ConversationId) -> anyhow::Result<Option<Conversation>>;
    async fn transcript(&self, id: &ConversationId) -> anyhow::Result<Transcript>;
    /// The transcript from the message at index `first` (0-based) on: those messages, their calls and
    /// the calls' elicitation requests. Stores that can read only that part override this (the loop
    /// reads it after every step, so its cost should not grow with the conversation).
    async fn transcript_from(
        &self,
        id: &ConversationId,
        first: usize,
    ) -> anyhow::Result<Transcript> {
        let mut whole = self.transcript(id).await?;
        let first = first.min(whole.messages.len());
        let dropped: std::collections::HashSet<_> =
            whole.messages.drain(..first).map(|m| m.id).collect();
        whole.calls.retain(|c| !dropped.contains(&c.message_id));
        let calls: std::collections::HashSet<_> =
            whole.calls.iter().map(|c| c.id.clone()).collect();
        whole.elicitations.retain(|e| calls.contains(&e.call_id));
        Ok(whole)
    }
    async fn call(&self, id: &ConversationId, call: &CallId) -> anyhow::Result<Option<Call>>;
    /// Calls not over yet (pending, approved or running).
    async fn open_calls(&self, id: &ConversationId) -> anyhow::Result<u64>;
    async fn elicitation(
        &self,
        id: &ConversationId,
        elicitation: &ElicitationId,
    ) -> anyhow::Result<Option<Elicitation>>;
    /// Whether a loop holds the conversation now (its lease has not run out), in any instance.
    async fn loop_held(&self, id: &ConversationId) -> anyhow::Result<bool>;
    /// Conversations that need a loop nobody holds: a lease whose time ran out (its instance died or
    /// stalled mid-turn), or approved or running calls without a live lease.
    async fn orphans(&self) -> anyhow::Result<Vec<ConversationId>>;
}

/// Where conversations are kept: reads, and the writes the agent makes only through [`crate::Journal`],
/// which tells the [`Notifier`] after every write (its `store()` hands out the reads alone).
#[async_trait]
pub trait ConversationStore: ConversationReads {
    async fn create_conversation(
        &self,
        user: &UserKey,
        mode: ApprovalMode,
    ) -> anyhow::Result<Conversation>;
    /// Appends a message; the first message of a conversation, when the user's, names it.
    async fn add_message(&self, id: &ConversationId, role: Role, text: &str) -> anyhow::Result<()>;
    /// Appends an assistant message with the calls it proposes, atomically; returns the calls' ids in
    /// the order given.
    async fn add_assistant(
        &self,
        id: &ConversationId,
        text: &str,
        calls: Vec<NewCall>,
    ) -> anyhow::Result<Vec<CallId>>;
    async fn set_mode(&self, id: &ConversationId, mode: ApprovalMode) -> anyhow::Result<()>;
    async fn allow_always(&self, conversation: &Conversation, function: &str)
    -> anyhow::Result<()>;
    /// Moves a pending call to `to`, only if it is still pending with exactly these arguments; whether
    /// this request made the decision (a replay or a double click gets `false`).
    async fn decide(
        &self,
        id: &ConversationId,
        call: &CallId,
        args_hash: &ArgsHash,
        to: CallStatus,
        by: DecidedBy,
    ) -> anyhow::Result<bool>;
    /// Claims an approved call for execution; `false` when it was no longer approved.
    async fn start_call(&self, call: &CallId) -> anyhow::Result<bool>;
    /// Ends a call that is not over yet and writes its audit record, atomically; a call already done or
    /// failed (a stalled loop finishing a call another instance recovered) is left as it is.
    async fn finish_call(&self, call: &CallId, finish: &Finish) -> anyhow::Result<()>;
    async fn add_elicitation(
        &self,
        id: &ConversationId,
        elicitation: &ElicitationId,
        call: &CallId,
        message: &str,
        kind: &ElicitationKind,
    ) -> anyhow::Result<()>;
    /// Closes a pending request; `false` when it was no longer pending.
    async fn close_elicitation(
        &self,
        elicitation: &ElicitationId,
        status: ElicitationStatus,
        answer: Option<&str>,
    ) -> anyhow::Result<bool>;
    async fn record_turn(&self, id: &ConversationId, timing: TurnTiming) -> anyhow::Result<()>;
    /// Takes or renews the conversation's loop lease for `holder` until `ttl` from now: only if nobody
    /// holds it, its time ran out, or `holder` has it already. One statement, so two instances never
    /// both take it; whether `holder` has it now.
    async fn claim_loop(
        &self,
        id: &ConversationId,
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<bool>;
    /// Gives the lease up, if `holder` still has it.
    async fn release_loop(&self, id: &ConversationId, holder: &str) -> anyhow::Result<()>;
}

/// A change to a conversation, as watchers need to hear it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Something stored changed (read it again), or the loop started or stopped.
    Stored,
    /// The assistant text streamed so far (`None`: the stream was abandoned).
    Streaming(Option<String>),
    /// The streamed text became a stored message (or the loop stopped): one change that also clears the
    /// streamed text, so nothing is shown twice.
    Settled,
}

/// Hears about every change (the web's live updates; a console may redraw).
pub trait Notifier: Send + Sync + 'static {
    fn notify(&self, id: &ConversationId, change: Change);
}

/// What the user answered to an elicitation request.
#[derive(Debug, Clone, PartialEq)]
pub struct ElicitReply {
    pub action: ElicitationAction,
    /// The accepted content, checked against the requested schema.
    pub content: Option<Map<String, Value>>,
}

impl ElicitReply {
    pub fn cancel() -> Self {
        Self {
            action: ElicitationAction::Cancel,
            content: None,
        }
    }

    pub fn decline() -> Self {
        Self {
            action: ElicitationAction::Decline,
            content: None,
        }
    }
}

/// How the user is asked: about a proposed call the conversation's mode does not decide, and for the
/// input an MCP server requests during a call.
#[async_trait]
pub trait Asker: Send + Sync + 'static {
    /// A decision now (a console prompt), or `None` to wait: the loop stops, and
    /// [`crate::Agent::decide`] resumes it when the decision arrives (the web).
    async fn approve(&self, conversation: &Conversation, call: &Call) -> Option<Decision>;

    /// Input an MCP server asks for during `call`: a form (its schema already known to render as a
    /// [`crate::forms::Form`]), or a checked URL to show in full and open only at the user's click (the
    /// reply to a URL request carries no content).
    async fn elicit(
        &self,
        conversation: &Conversation,
        call: &Call,
        message: &str,
        kind: &ElicitationKind,
    ) -> ElicitReply;
}
