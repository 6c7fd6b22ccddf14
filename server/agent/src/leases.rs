//! One loop per conversation, across every process that shares the store. A process drives a
//! conversation only while it holds the conversation's lease (a row in the store, renewed every third of
//! its time); the in-process claim in [`Agent`] only spares the store a second attempt from the same
//! process. The holder of the lease is the only loop, so a call it finds `running` was left by a loop
//! that died (or stalled past its lease): it fails saying its outcome is unknown and is never re-run;
//! calls are claimed `approved` → `running` atomically before the MCP call.
//!
//! A change made where the lease is not held (an approval on another instance) is not lost: the holder
//! looks for work after it gives the lease up, and a sweep in every process resumes conversations whose
//! lease ran out or that have approved calls nobody drives.

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use service_kit::sync::lock;

use crate::{
    Agent,
    domain::{CallStatus, ConversationId, Finish, Role},
    policy::automatic_decision,
    ports::Change,
    run::{Step, next_step},
};

/// Marks a conversation as in a step while it lives (also when the step is dropped: a cancelled turn).
struct Driving<'a> {
    set: &'a std::sync::Mutex<std::collections::HashSet<ConversationId>>,
    id: &'a ConversationId,
}

impl<'a> Driving<'a> {
    fn new(
        set: &'a std::sync::Mutex<std::collections::HashSet<ConversationId>>,
        id: &'a ConversationId,
    ) -> Self {
        lock(set).insert(id.clone());
        Self { set, id }
    }
}

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        lock(self.set).remove(self.id);
    }
}

/// What a call that was running when its loop died says.
pub(crate) const INTERRUPTED: &str =
    "Interrupted: the process running it stopped; it may or may not have taken effect.";

impl Agent {
    /// Drives a conversation this process claimed in-process, while it holds the lease.
    pub(crate) async fn run_claimed(&self, id: &ConversationId) {
        let mut started = false;
        loop {
            let claimed_at = Instant::now();
            let held = self.take_lease(id).await;
            if !held {
                // Another process drives it and looks for work when it stops; the sweep covers its death.
                lock(&self.running).remove(id);
                if !started {
                    return;
                }
                break;
            }
            if !started {
                // Watchers learn that the loop runs once the lease says so, here and in other instances.
                started = true;
                self.journal.tell(id, Change::Stored);
            }
            {
                let _driving = Driving::new(&self.driving, id);
                self.drive_leased(id, claimed_at).await;
            }
            if let Err(error) = self.journal.release_loop(id, &self.holder).await {
                tracing::warn!(conversation = %id, error = format!("{error:#}"), "giving a loop lease up failed");
            }
            // A change made elsewhere while this process held the lease found it taken: look again.
            if self.has_work(id).await {
                continue;
            }
            let mut running = lock(&self.running);
            match running.get_mut(id) {
                Some(again) if *again => *again = false,
                _ => {
                    running.remove(id);
                    break;
                }
            }
        }
        self.journal.tell(id, Change::Settled);
    }

    /// Takes the lease; `false` when another process holds it. A database error is tried again a few
    /// times: the work that asked for a loop (a message just stored) is not something the sweep finds.
    async fn take_lease(&self, id: &ConversationId) -> bool {
        let mut pause = Duration::from_millis(250);
        for attempt in 1..=4 {
            match self
                .journal
                .claim_loop(id, &self.holder, self.settings.loop_lease)
                .await
            {
                Ok(held) => return held,
                Err(error) => {
                    tracing::error!(conversation = %id, attempt, error = format!("{error:#}"), "taking a loop lease failed");
                }
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        false
    }

    /// One drive under the lease; it stops early, leaving things as they are, if the lease is lost.
    async fn drive_leased(&self, id: &ConversationId, claimed_at: Instant) {
        tokio::select! {
            result = self.drive(id) => {
                if let Err(error) = result {
                    tracing::error!(conversation = %id, error = format!("{error:#}"), "agent loop failed");
                    self.stop_on_error(id).await;
                }
            }
            () = self.keep_lease(id, claimed_at) => {
                tracing::warn!(conversation = %id, "the loop lease was lost; another process resumes the conversation");
                self.journal.tell(id, Change::Streaming(None));
            }
        }
    }

    /// After a failed step, nothing is left open under the conversation's last reply (a call left
    /// `running` or `approved` would block every new message): a running call fails as of unknown
    /// outcome, an approved one as not called. Then the user is told. When even that cannot be written,
    /// the open call stays for the next holder to close.
    async fn stop_on_error(&self, id: &ConversationId) {
        let closed = async {
            self.close_open_calls(
                id,
                false,
                "Stopped: the server hit an error while it ran; it may or may not have taken effect.",
                "Not called: the server hit an error before it ran.",
            )
            .await?;
            self.journal
                .add_message(
                    id,
                    Role::Notice,
                    "Something went wrong on the server and the agent stopped. Send a message to continue.",
                )
                .await
        };
        if let Err(error) = closed.await {
            tracing::error!(conversation = %id, error = format!("{error:#}"), "closing a failed step failed");
        }
    }

    /// Renews the lease until it is lost: taken by another process, or about to run out because a
    /// renewal did not come back in time (a database outage, a stalled process). It returns while a
    /// third of the lease is left, so the drive it races is dropped before anyone else may take over.
    async fn keep_lease(&self, id: &ConversationId, claimed_at: Instant) {
        let lease = self.settings.loop_lease;
        // Counted from before the claim: the stored expiry was computed no later than that.
        let mut renewed = claimed_at;
        loop {
            tokio::time::sleep(lease / 3).await;
            let deadline = renewed + lease * 2 / 3;
            let attempt = Instant::now();
            match tokio::time::timeout_at(
                deadline.into(),
                self.journal.claim_loop(id, &self.holder, lease),
            )
            .await
            {
                Ok(Ok(true)) => renewed = attempt,
                Ok(Ok(false)) => return,
                Ok(Err(error)) => {
                    tracing::warn!(conversation = %id, error = format!("{error:#}"), "renewing a loop lease failed");
                    if Instant::now() >= deadline {
                        return;
                    }
                }
                Err(_) => {
                    tracing::warn!(conversation = %id, "renewing a loop lease took too long");
                    return;
                }
            }
        }
    }

    /// Whether the loop would act now ([`next_step`], as [`Agent::drive`] takes it). Errors count as
    /// no work (the sweep tries again).
    pub(crate) async fn has_work(&self, id: &ConversationId) -> bool {
        let store = self.journal.store();
        let work = async {
            let Some(conversation) = store.conversation(id).await? else {
                return anyhow::Ok(false);
            };
            let transcript = self.transcripts.read(store, id).await?;
            Ok(match next_step(&transcript) {
                Step::Idle => false,
                // Work only if the mode decides it; otherwise it waits for the user.
                Step::Settle(call) => automatic_decision(&conversation, call.into()).is_some(),
                Step::Model | Step::Execute(_) | Step::Recover => true,
            })
        };
        work.await
            .inspect_err(|error| {
                tracing::warn!(conversation = %id, error = format!("{error:#}"), "reading a conversation's state failed");
            })
            .unwrap_or(false)
    }

    /// Resumes, every third of the lease time, the conversations nobody drives: their process died
    /// mid-turn, or an approval arrived where the loop could not be started. Runs until the agent is
    /// dropped; the first sweep is at once (a process starting after a crash).
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let me: Weak<Self> = Arc::downgrade(self);
        let every = self.settings.loop_lease / 3;
        tokio::spawn(async move {
            loop {
                let Some(agent) = me.upgrade() else { return };
                match agent.journal.store().orphans().await {
                    Ok(ids) => {
                        for id in ids {
                            agent.resume(&id).await;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "the sweep for abandoned conversations failed"
                        );
                    }
                }
                drop(agent);
                tokio::time::sleep(every).await;
            }
        });
    }

    /// A conversation the sweep found: driven if there is work; otherwise a lease left by a dead
    /// process is taken and given up, which clears it.
    async fn resume(&self, id: &ConversationId) {
        if self.is_running(id) {
            return;
        }
        if self.has_work(id).await {
            tracing::info!(conversation = %id, "resuming a conversation nobody drives");
            self.kick(id);
            return;
        }
        let lease = self.settings.loop_lease;
        if let Ok(true) = self.journal.claim_loop(id, &self.holder, lease).await {
            // Calls left open under an earlier reply (a failed step that could not close them): no
            // loop reaches them, and they would block every new message.
            let stranded = self.close_open_calls(
                id,
                true,
                INTERRUPTED,
                "Not called: the agent stopped before it ran.",
            );
            if let Err(error) = stranded.await {
                tracing::warn!(conversation = %id, error = format!("{error:#}"), "closing stranded calls failed");
            }
            let _ = self.journal.release_loop(id, &self.holder).await;
            // A change made elsewhere in that moment found the lease taken.
            if self.has_work(id).await {
                self.kick(id);
            }
        }
    }

    /// Fails the conversation's calls left `running` (saying `running`) or `approved` (saying
    /// `approved`); with `earlier_only`, only those under a message before the last.
    async fn close_open_calls(
        &self,
        id: &ConversationId,
        earlier_only: bool,
        running: &str,
        approved: &str,
    ) -> anyhow::Result<()> {
        let transcript = self.journal.store().transcript(id).await?;
        let last = transcript.messages.last().map(|m| &m.id);
        for call in &transcript.calls {
            if earlier_only && Some(&call.message_id) == last {
                continue;
            }
            let text = match call.status {
                CallStatus::Running => running,
                CallStatus::Approved => approved,
                _ => continue,
            };
            self.journal
                .finish_call(id, &call.id, &Finish::failed(text))
                .await?;
        }
        Ok(())
    }
}
