//! The one place that writes a change and notifies: every write the agent (or a front-end acting on a
//! conversation) makes goes through [`Journal`], so no path can store without telling watchers, or tell
//! without storing.

use std::sync::Arc;

use crate::{
    domain::{
        ApprovalMode, ArgsHash, CallId, CallStatus, Conversation, ConversationId, DecidedBy,
        ElicitationId, ElicitationKind, ElicitationStatus, Finish, NewCall, Role, TurnTiming,
        UserKey,
    },
    ports::{Change, ConversationReads, ConversationStore, Notifier},
};

/// A store paired with its notifier.
#[derive(Clone)]
pub struct Journal {
    store: Arc<dyn ConversationStore>,
    notifier: Arc<dyn Notifier>,
}

impl Journal {
    pub fn new(store: Arc<dyn ConversationStore>, notifier: Arc<dyn Notifier>) -> Self {
        Self { store, notifier }
    }

    /// Reads only: every write goes through the journal.
    pub fn store(&self) -> &dyn ConversationReads {
        self.store.as_ref()
    }

    /// Tells watchers something that is not stored (streamed text, the loop starting or stopping).
    pub fn tell(&self, id: &ConversationId, change: Change) {
        self.notifier.notify(id, change);
    }

    fn stored(&self, id: &ConversationId) {
        self.notifier.notify(id, Change::Stored);
    }

    pub async fn create_conversation(
        &self,
        user: &UserKey,
        mode: ApprovalMode,
    ) -> anyhow::Result<Conversation> {
        self.store.create_conversation(user, mode).await
    }

    pub async fn add_message(
        &self,
        id: &ConversationId,
        role: Role,
        text: &str,
    ) -> anyhow::Result<()> {
        self.store.add_message(id, role, text).await?;
        self.stored(id);
        Ok(())
    }

    /// Stores a model reply with the calls it proposes; calls that cannot run are ended at once with their
    /// reason (and audited). Watchers hear of it once, after all of it, so no call that cannot run is ever
    /// shown as waiting; the streamed text the reply replaces disappears in the same change.
    pub async fn add_reply(
        &self,
        id: &ConversationId,
        text: &str,
        calls: Vec<(NewCall, Option<Finish>)>,
    ) -> anyhow::Result<Vec<CallId>> {
        let (calls, endings): (Vec<NewCall>, Vec<Option<Finish>>) = calls.into_iter().unzip();
        let outcome = async {
            let ids = self.store.add_assistant(id, text, calls).await?;
            for (call, finish) in ids.iter().zip(&endings) {
                if let Some(finish) = finish {
                    self.store.finish_call(call, finish).await?;
                }
            }
            anyhow::Ok(ids)
        }
        .await;
        self.notifier.notify(id, Change::Settled);
        outcome
    }

    pub async fn set_mode(&self, id: &ConversationId, mode: ApprovalMode) -> anyhow::Result<()> {
        self.store.set_mode(id, mode).await?;
        self.stored(id);
        Ok(())
    }

    pub async fn allow_always(
        &self,
        conversation: &Conversation,
        function: &str,
    ) -> anyhow::Result<()> {
        self.store.allow_always(conversation, function).await?;
        self.stored(&conversation.id);
        Ok(())
    }

    pub async fn decide(
        &self,
        id: &ConversationId,
        call: &CallId,
        args_hash: &ArgsHash,
        to: CallStatus,
        by: DecidedBy,
    ) -> anyhow::Result<bool> {
        let won = self.store.decide(id, call, args_hash, to, by).await?;
        if won {
            self.stored(id);
        }
        Ok(won)
    }

    /// Declines a pending call (only if still pending with these arguments) and ends it with `reason`,
    /// audited; watchers hear of it once, so a declined call is never shown without its reason.
    pub async fn decline(
        &self,
        id: &ConversationId,
        call: &CallId,
        args_hash: &ArgsHash,
        by: DecidedBy,
        reason: &str,
    ) -> anyhow::Result<bool> {
        let won = self
            .store
            .decide(id, call, args_hash, CallStatus::Declined, by)
            .await?;
        if won {
            let declined = Finish {
                status: CallStatus::Declined,
                text: reason.to_owned(),
                structured: None,
                is_error: false,
            };
            let finished = self.store.finish_call(call, &declined).await;
            self.stored(id);
            finished?;
        }
        Ok(won)
    }

    /// Takes or renews the conversation's loop lease (nothing a watcher sees).
    pub async fn claim_loop(
        &self,
        id: &ConversationId,
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<bool> {
        self.store.claim_loop(id, holder, ttl).await
    }

    pub async fn release_loop(&self, id: &ConversationId, holder: &str) -> anyhow::Result<()> {
        self.store.release_loop(id, holder).await
    }

    pub async fn start_call(&self, id: &ConversationId, call: &CallId) -> anyhow::Result<bool> {
        let claimed = self.store.start_call(call).await?;
        if claimed {
            self.stored(id);
        }
        Ok(claimed)
    }

    pub async fn finish_call(
        &self,
        id: &ConversationId,
        call: &CallId,
        finish: &Finish,
    ) -> anyhow::Result<()> {
        self.store.finish_call(call, finish).await?;
        self.stored(id);
        Ok(())
    }

    pub async fn add_elicitation(
        &self,
        id: &ConversationId,
        elicitation: &ElicitationId,
        call: &CallId,
        message: &str,
        kind: &ElicitationKind,
    ) -> anyhow::Result<()> {
        self.store
            .add_elicitation(id, elicitation, call, message, kind)
            .await?;
        self.stored(id);
        Ok(())
    }

    pub async fn close_elicitation(
        &self,
        id: &ConversationId,
        elicitation: &ElicitationId,
        status: ElicitationStatus,
        answer: Option<&str>,
    ) -> anyhow::Result<bool> {
        let closed = self
            .store
            .close_elicitation(elicitation, status, answer)
            .await?;
        self.stored(id);
        Ok(closed)
    }

    /// Timing records are not shown: no notification.
    pub async fn record_turn(&self, id: &ConversationId, timing: TurnTiming) -> anyhow::Result<()> {
        self.store.record_turn(id, timing).await
    }
}
