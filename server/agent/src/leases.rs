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
    time::Instant,
};

use service_kit::sync::lock;

use crate::{
    Agent,
    domain::{Call, CallStatus, ConversationId, Role},
    policy::{CallFacts, automatic_decision},
    ports::Change,
};

/// What a call that was running when its loop died says.
pub(crate) const INTERRUPTED: &str =
    "Interrupted: the process running it stopped; it may or may not have taken effect.";

impl Agent {
    /// Drives a conversation this process claimed in-process, while it holds the lease.
    pub(crate) async fn run_claimed(&self, id: &ConversationId) {
        let mut started = false;
        loop {
            let held = self
                .journal
                .claim_loop(id, &self.holder, self.settings.loop_lease)
                .await
                .inspect_err(|error| {
                    tracing::error!(conversation = %id, error = format!("{error:#}"), "taking a loop lease failed");
                })
                .unwrap_or(false);
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
            self.drive_leased(id).await;
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

    /// One drive under the lease; it stops early, leaving things as they are, if the lease is lost.
    async fn drive_leased(&self, id: &ConversationId) {
        tokio::select! {
            result = self.drive(id) => {
                if let Err(error) = result {
                    tracing::error!(conversation = %id, error = format!("{error:#}"), "agent loop failed");
                    let _ = self
                        .journal
                        .add_message(
                            id,
                            Role::Notice,
                            "Something went wrong on the server and the agent stopped. Send a message to continue.",
                        )
                        .await;
                }
            }
            () = self.keep_lease(id) => {
                tracing::warn!(conversation = %id, "the loop lease was lost; another process resumes the conversation");
                self.journal.tell(id, Change::Streaming(None));
            }
        }
    }

    /// Renews the lease until it is lost: taken by another process after this one could not renew it
    /// in time (a database outage, a stalled process).
    async fn keep_lease(&self, id: &ConversationId) {
        let lease = self.settings.loop_lease;
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(lease / 3).await;
            match self.journal.claim_loop(id, &self.holder, lease).await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => return,
                Err(error) => {
                    tracing::warn!(conversation = %id, error = format!("{error:#}"), "renewing a loop lease failed");
                    if renewed.elapsed() >= lease {
                        return;
                    }
                }
            }
        }
    }

    /// Whether the loop would act now: the same first step [`Agent::drive`] takes. Errors count as no
    /// work (the sweep tries again).
    pub(crate) async fn has_work(&self, id: &ConversationId) -> bool {
        let store = self.journal.store();
        let work = async {
            let Some(conversation) = store.conversation(id).await? else {
                return anyhow::Ok(false);
            };
            let transcript = self.transcripts.read(store, id).await?;
            let Some(last) = transcript.messages.last() else {
                return Ok(false);
            };
            Ok(match last.role {
                Role::User => true,
                Role::Notice => false,
                Role::Assistant => {
                    let calls: Vec<&Call> = transcript.calls_of(&last.id).collect();
                    match calls.iter().find(|c| !c.status.is_final()) {
                        // Every call over: the model reads the results.
                        None => !calls.is_empty(),
                        Some(call) if call.status == CallStatus::Pending => {
                            let facts = CallFacts {
                                function_name: &call.function_name,
                                read_only: call.read_only,
                                destructive: call.destructive,
                            };
                            automatic_decision(&conversation, facts).is_some()
                        }
                        // Approved: to run; running with no loop: interrupted.
                        Some(_) => true,
                    }
                }
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
            let _ = self.journal.release_loop(id, &self.holder).await;
            // A change made elsewhere in that moment found the lease taken.
            if self.has_work(id).await {
                self.kick(id);
            }
        }
    }
}
