//! The loop's reads of a conversation's transcript, kept per conversation and brought up to date by
//! reading only from its last message on, so a step's read costs the same at the hundredth turn as at
//! the first.
//!
//! Why that is enough: messages are only ever appended, and only the last message's calls (and their
//! elicitation requests) still change — a call before the last message is over, or the loop would not
//! have gone past it. Whatever else writes (a decision from the web, another process on the same
//! database) shows in that tail. When the kept copy no longer fits (the conversation was deleted,
//! the last message is not where it was), the whole transcript is read again.

use std::{collections::HashSet, sync::Arc, time::Duration};

use moka::sync::Cache;

use crate::{
    domain::{ConversationId, Transcript},
    ports::ConversationReads,
};

/// How many bytes of transcripts are kept (text, roughly), across conversations.
const KEEP_BYTES: u64 = 64 * 1024 * 1024;
/// A conversation not stepped in this long is forgotten (read whole when it next runs).
const IDLE: Duration = Duration::from_secs(600);

pub struct Transcripts {
    kept: Cache<ConversationId, Arc<Transcript>>,
}

impl Default for Transcripts {
    fn default() -> Self {
        Self {
            kept: Cache::builder()
                .max_capacity(KEEP_BYTES)
                .weigher(|_, transcript: &Arc<Transcript>| weight(transcript))
                .time_to_idle(IDLE)
                .build(),
        }
    }
}

fn weight(transcript: &Transcript) -> u32 {
    let text: usize = transcript
        .messages
        .iter()
        .map(|m| m.content.len() + 64)
        .sum::<usize>()
        + transcript
            .calls
            .iter()
            .map(|c| c.arguments.len() + c.result.as_ref().map_or(0, String::len) + 256)
            .sum::<usize>()
        + transcript.elicitations.len() * 512;
    u32::try_from(text).unwrap_or(u32::MAX)
}

impl Transcripts {
    /// The conversation's transcript as stored now.
    pub async fn read(
        &self,
        store: &dyn ConversationReads,
        id: &ConversationId,
    ) -> anyhow::Result<Arc<Transcript>> {
        let fresh = match self.kept.get(id) {
            // Calls before the last message are over in the kept copy; one that is not (closed since by
            // a sweep, after a failed step) cannot be brought up to date from the tail.
            Some(kept) if !kept.messages.is_empty() && settled_before_last(&kept) => {
                let last = kept.messages.len() - 1;
                let tail = store.transcript_from(id, last).await?;
                match tail.messages.first() {
                    Some(first) if first.id == kept.messages[last].id => join(&kept, last, tail),
                    _ => store.transcript(id).await?,
                }
            }
            _ => store.transcript(id).await?,
        };
        let fresh = Arc::new(fresh);
        self.kept.insert(id.clone(), fresh.clone());
        Ok(fresh)
    }
}

/// Whether every call of `kept` before its last message is over.
fn settled_before_last(kept: &Transcript) -> bool {
    let last = kept.messages.last().map(|m| &m.id);
    kept.calls
        .iter()
        .all(|c| c.status.is_final() || Some(&c.message_id) == last)
}

/// The first `keep` messages of `kept` (with their calls and requests), then `tail`.
fn join(kept: &Transcript, keep: usize, tail: Transcript) -> Transcript {
    let messages: HashSet<_> = kept.messages[..keep].iter().map(|m| &m.id).collect();
    let calls: Vec<_> = kept
        .calls
        .iter()
        .filter(|c| messages.contains(&c.message_id))
        .cloned()
        .collect();
    let call_ids: HashSet<_> = calls.iter().map(|c| &c.id).collect();
    let elicitations = kept
        .elicitations
        .iter()
        .filter(|e| call_ids.contains(&e.call_id))
        .cloned()
        .chain(tail.elicitations)
        .collect();
    Transcript {
        messages: kept.messages[..keep]
            .iter()
            .cloned()
            .chain(tail.messages)
            .collect(),
        calls: calls.into_iter().chain(tail.calls).collect(),
        elicitations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{
            ApprovalMode, CallStatus, DecidedBy, ElicitationId, ElicitationKind, ElicitationStatus,
            Finish, NewCall, Role, UserKey,
        },
        memory::MemoryStore,
        ports::ConversationStore,
    };

    fn new_call(name: &str) -> NewCall {
        NewCall {
            model_call_id: format!("m-{name}"),
            function_name: name.to_owned(),
            server: "tools".to_owned(),
            tool: name.to_owned(),
            arguments: "{}".to_owned(),
            read_only: false,
            destructive: false,
            status: CallStatus::Pending,
            decided_by: None,
        }
    }

    /// After every kind of change, the kept transcript is exactly a whole read.
    #[tokio::test]
    async fn a_kept_transcript_equals_a_whole_read_after_every_change() {
        let store = MemoryStore::default();
        let transcripts = Transcripts::default();
        let conversation = store
            .create_conversation(&UserKey::from("tid.oid"), ApprovalMode::Manual)
            .await
            .unwrap();
        let id = &conversation.id;
        let same = async || {
            let kept = transcripts.read(&store, id).await.unwrap();
            let whole = store.transcript(id).await.unwrap();
            assert_eq!(format!("{kept:?}"), format!("{whole:?}"));
        };
        same().await;
        store
            .add_message(id, Role::User, "add two notes")
            .await
            .unwrap();
        same().await;
        let calls = store
            .add_assistant(id, "", vec![new_call("add_note"), new_call("delete_note")])
            .await
            .unwrap();
        same().await;
        let hash = store.call(id, &calls[0]).await.unwrap().unwrap().args_hash;
        assert!(
            store
                .decide(id, &calls[0], &hash, CallStatus::Approved, DecidedBy::User)
                .await
                .unwrap()
        );
        same().await;
        assert!(store.start_call(&calls[0]).await.unwrap());
        store
            .finish_call(&calls[0], &Finish::failed("no"))
            .await
            .unwrap();
        same().await;
        let request = ElicitationId::random();
        let kind = ElicitationKind::Form {
            schema: r#"{"type":"object","properties":{}}"#.to_owned(),
        };
        store
            .add_elicitation(id, &request, &calls[1], "sure?", &kind)
            .await
            .unwrap();
        same().await;
        store
            .close_elicitation(&request, ElicitationStatus::Declined, None)
            .await
            .unwrap();
        same().await;
        for text in ["ok", "next", "again"] {
            store.add_message(id, Role::Assistant, text).await.unwrap();
            same().await;
        }
        assert_eq!(
            transcripts.read(&store, id).await.unwrap().messages.len(),
            5
        );
    }
}
