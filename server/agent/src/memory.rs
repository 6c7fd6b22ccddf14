//! A [`ConversationStore`] in memory: for front-ends whose conversations live as long as the process
//! (a console session) and for tests. Same rules as the SQL store: decisions only from `pending` with
//! the same arguments' hash, a call claimed once, elicitation requests closed once.

use std::sync::Mutex;

use async_trait::async_trait;
use service_kit::sync::lock;

use crate::{
    domain::{
        ApprovalMode, ArgsHash, Call, CallId, CallStatus, Conversation, ConversationId, DecidedBy,
        Elicitation, ElicitationId, ElicitationKind, ElicitationStatus, Finish, Message, MessageId,
        NewCall, Role, Transcript, TurnTiming, UserKey,
    },
    ports::{ConversationReads, ConversationStore},
};

#[derive(Default)]
struct State {
    conversations: Vec<Conversation>,
    /// (conversation, message), in order.
    messages: Vec<(ConversationId, Message)>,
    calls: Vec<(ConversationId, Call)>,
    elicitations: Vec<(ConversationId, Elicitation)>,
    timings: Vec<(ConversationId, TurnTiming)>,
    /// Loop leases: conversation → (holder, expires at, Unix ms).
    leases: std::collections::HashMap<ConversationId, (String, i64)>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// The timing records of a conversation (for tests and a console's summary).
    pub fn timings(&self, id: &ConversationId) -> Vec<TurnTiming> {
        lock(&self.state)
            .timings
            .iter()
            .filter(|(c, _)| c == id)
            .map(|(_, t)| *t)
            .collect()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl State {
    fn call_mut(&mut self, call: &CallId) -> Option<&mut Call> {
        self.calls
            .iter_mut()
            .map(|(_, c)| c)
            .find(|c| &c.id == call)
    }

    fn touch(&mut self, id: &ConversationId) {
        if let Some(c) = self.conversations.iter_mut().find(|c| &c.id == id) {
            c.updated_at = now_ms();
        }
    }
}

#[async_trait]
impl ConversationReads for MemoryStore {
    async fn conversation(&self, id: &ConversationId) -> anyhow::Result<Option<Conversation>> {
        Ok(lock(&self.state)
            .conversations
            .iter()
            .find(|c| &c.id == id)
            .cloned())
    }

    async fn transcript(&self, id: &ConversationId) -> anyhow::Result<Transcript> {
        let state = lock(&self.state);
        let of = |c: &ConversationId| c == id;
        Ok(Transcript {
            messages: state
                .messages
                .iter()
                .filter(|(c, _)| of(c))
                .map(|(_, m)| m.clone())
                .collect(),
            calls: state
                .calls
                .iter()
                .filter(|(c, _)| of(c))
                .map(|(_, m)| m.clone())
                .collect(),
            elicitations: state
                .elicitations
                .iter()
                .filter(|(c, _)| of(c))
                .map(|(_, m)| m.clone())
                .collect(),
        })
    }

    async fn call(&self, id: &ConversationId, call: &CallId) -> anyhow::Result<Option<Call>> {
        Ok(lock(&self.state)
            .calls
            .iter()
            .find(|(c, m)| c == id && &m.id == call)
            .map(|(_, m)| m.clone()))
    }

    async fn open_calls(&self, id: &ConversationId) -> anyhow::Result<u64> {
        Ok(lock(&self.state)
            .calls
            .iter()
            .filter(|(c, m)| c == id && !m.status.is_final())
            .count() as u64)
    }

    async fn elicitation(
        &self,
        id: &ConversationId,
        elicitation: &ElicitationId,
    ) -> anyhow::Result<Option<Elicitation>> {
        Ok(lock(&self.state)
            .elicitations
            .iter()
            .find(|(c, e)| c == id && &e.id == elicitation)
            .map(|(_, e)| e.clone()))
    }

    async fn loop_held(&self, id: &ConversationId) -> anyhow::Result<bool> {
        Ok(lock(&self.state)
            .leases
            .get(id)
            .is_some_and(|(_, expires)| *expires >= now_ms()))
    }

    async fn orphans(&self) -> anyhow::Result<Vec<ConversationId>> {
        let state = lock(&self.state);
        let now = now_ms();
        let live = |id: &ConversationId| state.leases.get(id).is_some_and(|(_, e)| *e >= now);
        let mut ids: Vec<ConversationId> = state
            .leases
            .iter()
            .filter(|(_, (_, expires))| *expires < now)
            .map(|(id, _)| id.clone())
            .collect();
        for (id, call) in &state.calls {
            let open = matches!(call.status, CallStatus::Approved | CallStatus::Running);
            if open && !live(id) && !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        Ok(ids)
    }
}

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn create_conversation(
        &self,
        user: &UserKey,
        mode: ApprovalMode,
    ) -> anyhow::Result<Conversation> {
        let conversation = Conversation {
            id: ConversationId::random(),
            user: user.clone(),
            title: "New chat".to_owned(),
            mode,
            always_allow: Vec::new(),
            updated_at: now_ms(),
        };
        lock(&self.state).conversations.push(conversation.clone());
        Ok(conversation)
    }

    async fn add_message(&self, id: &ConversationId, role: Role, text: &str) -> anyhow::Result<()> {
        self.add_assistant_or_message(id, role, text, Vec::new());
        Ok(())
    }

    async fn add_assistant(
        &self,
        id: &ConversationId,
        text: &str,
        calls: Vec<NewCall>,
    ) -> anyhow::Result<Vec<CallId>> {
        Ok(self.add_assistant_or_message(id, Role::Assistant, text, calls))
    }

    async fn set_mode(&self, id: &ConversationId, mode: ApprovalMode) -> anyhow::Result<()> {
        let mut state = lock(&self.state);
        if let Some(c) = state.conversations.iter_mut().find(|c| &c.id == id) {
            c.mode = mode;
        }
        state.touch(id);
        Ok(())
    }

    async fn allow_always(
        &self,
        conversation: &Conversation,
        function: &str,
    ) -> anyhow::Result<()> {
        let mut state = lock(&self.state);
        if let Some(c) = state
            .conversations
            .iter_mut()
            .find(|c| c.id == conversation.id)
            && !c.always_allow.iter().any(|f| f == function)
        {
            c.always_allow.push(function.to_owned());
        }
        Ok(())
    }

    async fn decide(
        &self,
        id: &ConversationId,
        call: &CallId,
        args_hash: &ArgsHash,
        to: CallStatus,
        by: DecidedBy,
    ) -> anyhow::Result<bool> {
        let mut state = lock(&self.state);
        let Some((_, c)) = state
            .calls
            .iter_mut()
            .find(|(c, m)| c == id && &m.id == call)
        else {
            return Ok(false);
        };
        if c.status != CallStatus::Pending || &c.args_hash != args_hash {
            return Ok(false);
        }
        c.status = to;
        c.decided_by = Some(by);
        Ok(true)
    }

    async fn start_call(&self, call: &CallId) -> anyhow::Result<bool> {
        let mut state = lock(&self.state);
        Ok(match state.call_mut(call) {
            Some(c) if c.status == CallStatus::Approved => {
                c.status = CallStatus::Running;
                true
            }
            _ => false,
        })
    }

    async fn finish_call(&self, call: &CallId, finish: &Finish) -> anyhow::Result<()> {
        let mut state = lock(&self.state);
        if let Some(c) = state
            .call_mut(call)
            .filter(|c| !matches!(c.status, CallStatus::Done | CallStatus::Failed))
        {
            c.status = finish.status;
            c.result = Some(finish.text.clone());
            c.structured.clone_from(&finish.structured);
            c.is_error = finish.is_error;
        }
        Ok(())
    }

    async fn add_elicitation(
        &self,
        id: &ConversationId,
        elicitation: &ElicitationId,
        call: &CallId,
        message: &str,
        kind: &ElicitationKind,
    ) -> anyhow::Result<()> {
        lock(&self.state).elicitations.push((
            id.clone(),
            Elicitation {
                id: elicitation.clone(),
                call_id: call.clone(),
                message: message.to_owned(),
                kind: kind.clone(),
                status: ElicitationStatus::Pending,
                answer: None,
            },
        ));
        Ok(())
    }

    async fn close_elicitation(
        &self,
        elicitation: &ElicitationId,
        status: ElicitationStatus,
        answer: Option<&str>,
    ) -> anyhow::Result<bool> {
        let mut state = lock(&self.state);
        Ok(
            match state
                .elicitations
                .iter_mut()
                .find(|(_, e)| &e.id == elicitation)
            {
                Some((_, e)) if e.status == ElicitationStatus::Pending => {
                    e.status = status;
                    e.answer = answer.map(str::to_owned);
                    true
                }
                _ => false,
            },
        )
    }

    async fn record_turn(&self, id: &ConversationId, timing: TurnTiming) -> anyhow::Result<()> {
        lock(&self.state).timings.push((id.clone(), timing));
        Ok(())
    }

    async fn claim_loop(
        &self,
        id: &ConversationId,
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<bool> {
        let now = now_ms();
        let mut state = lock(&self.state);
        let free = state
            .leases
            .get(id)
            .is_none_or(|(h, expires)| *expires < now || h == holder);
        if free {
            let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
            state.leases.insert(id.clone(), (holder.to_owned(), until));
        }
        Ok(free)
    }

    async fn release_loop(&self, id: &ConversationId, holder: &str) -> anyhow::Result<()> {
        let mut state = lock(&self.state);
        if state.leases.get(id).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(id);
        }
        Ok(())
    }
}

impl MemoryStore {
    fn add_assistant_or_message(
        &self,
        id: &ConversationId,
        role: Role,
        text: &str,
        calls: Vec<NewCall>,
    ) -> Vec<CallId> {
        let mut state = lock(&self.state);
        let message = Message {
            id: MessageId::random(),
            role,
            content: text.to_owned(),
        };
        // As the SQL store: the conversation's very first message names it when it is the user's.
        let first_user = role == Role::User && !state.messages.iter().any(|(c, _)| c == id);
        if first_user && let Some(c) = state.conversations.iter_mut().find(|c| &c.id == id) {
            c.title = text.chars().take(60).collect::<String>().trim().to_owned();
        }
        let ids: Vec<CallId> = calls
            .into_iter()
            .map(|call| {
                let stored = Call {
                    id: CallId::random(),
                    message_id: message.id.clone(),
                    model_call_id: call.model_call_id,
                    function_name: call.function_name,
                    server: call.server,
                    tool: call.tool,
                    args_hash: ArgsHash::of(&call.arguments),
                    arguments: call.arguments,
                    read_only: call.read_only,
                    destructive: call.destructive,
                    status: call.status,
                    decided_by: call.decided_by,
                    result: None,
                    structured: None,
                    is_error: false,
                };
                let call_id = stored.id.clone();
                state.calls.push((id.clone(), stored));
                call_id
            })
            .collect();
        state.messages.push((id.clone(), message));
        state.touch(id);
        ids
    }
}
