//! Live state per conversation, for this process's watchers: a watch channel each (coalescing bursts: a
//! slow browser gets the latest state, never a backlog), and the stored view at its recent versions
//! (read once per version however many browsers watch, and kept so a reconnecting browser gets only
//! what changed since the version it had). It is the agent's [`Notifier`].

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    sync::{Arc, Mutex},
};

use agent::{
    domain::ConversationId,
    ports::{Change, Notifier},
};
use app::chat::ConversationView;
use service_kit::sync::lock;
use tokio::sync::watch;

/// What changes between database reads: a version bump means "read again"; the streaming text is only
/// ever in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub version: u64,
    pub streaming: Option<String>,
    /// Counts the streamed texts: within one, every change only appends, so a watcher that has sent
    /// its first `n` bytes sends the rest as an append.
    pub stream: u64,
}

/// Channels nobody watches are forgotten once there are this many.
const FORGET_ABOVE: usize = 1024;
/// How many versions of a conversation's stored view are kept for reconnecting browsers.
const KEEP_VERSIONS: usize = 16;

/// A conversation's stored view (no streamed text, not busy) at its recent versions.
#[derive(Default)]
pub struct Snapshots {
    recent: tokio::sync::Mutex<VecDeque<(u64, Arc<ConversationView>)>>,
}

impl Snapshots {
    /// The view at `version`, read by `read` if no watcher has read it yet. One read at a time per
    /// conversation, so every watcher of a version sends the same view under the same event id.
    pub async fn at<E, F>(
        &self,
        version: u64,
        read: impl FnOnce() -> F,
    ) -> Result<Arc<ConversationView>, E>
    where
        F: Future<Output = Result<ConversationView, E>>,
    {
        let mut recent = self.recent.lock().await;
        if let Some((_, view)) = recent.iter().find(|(v, _)| *v == version) {
            return Ok(view.clone());
        }
        let view = Arc::new(read().await?);
        if recent.len() >= KEEP_VERSIONS {
            recent.pop_front();
        }
        recent.push_back((version, view.clone()));
        Ok(view)
    }

    /// The view a watcher sent at `version`, if it is still kept.
    pub async fn kept(&self, version: u64) -> Option<Arc<ConversationView>> {
        let recent = self.recent.lock().await;
        recent
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, view)| view.clone())
    }
}

struct Channel {
    sender: watch::Sender<Live>,
    snapshots: Arc<Snapshots>,
}

pub struct Hub {
    channels: Mutex<HashMap<ConversationId, Channel>>,
    /// Names this process's numbering of versions: an event id from another process (or an earlier
    /// run) never matches, so a browser that reconnects elsewhere gets the whole state.
    epoch: String,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            channels: Mutex::default(),
            epoch: format!("{:012x}", rand::random::<u64>() >> 16),
        }
    }
}

impl Hub {
    fn with_channel<T>(&self, id: &ConversationId, f: impl FnOnce(&Channel) -> T) -> T {
        let mut channels = lock(&self.channels);
        if channels.len() > FORGET_ABOVE {
            channels.retain(|_, channel| channel.sender.receiver_count() > 0);
        }
        let channel = channels.entry(id.clone()).or_insert_with(|| Channel {
            sender: watch::channel(Live::default()).0,
            snapshots: Arc::default(),
        });
        f(channel)
    }

    /// The conversation's live state, and its stored views.
    pub fn subscribe(&self, id: &ConversationId) -> (watch::Receiver<Live>, Arc<Snapshots>) {
        self.with_channel(id, |channel| {
            (channel.sender.subscribe(), channel.snapshots.clone())
        })
    }

    pub fn current(&self, id: &ConversationId) -> Live {
        self.with_channel(id, |channel| channel.sender.borrow().clone())
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// A change made in another instance: read again if anybody here has watched the conversation (a
    /// channel is not made for every conversation changed anywhere).
    pub fn touch(&self, id: &ConversationId) {
        if let Some(channel) = lock(&self.channels).get(id) {
            channel.sender.send_modify(|live| live.version += 1);
        }
    }

    /// Every conversation watched here is read again (changes made elsewhere may have been missed).
    pub fn touch_all(&self) {
        for channel in lock(&self.channels).values() {
            channel.sender.send_modify(|live| live.version += 1);
        }
    }

    fn send_modify(&self, id: &ConversationId, modify: impl FnOnce(&mut Live)) {
        self.with_channel(id, |channel| channel.sender.send_modify(modify));
    }
}

impl Notifier for Hub {
    fn notify(&self, id: &ConversationId, change: Change) {
        match change {
            Change::Stored => self.send_modify(id, |live| live.version += 1),
            Change::Streaming(text) => self.send_modify(id, |live| {
                let continues = match (&live.streaming, &text) {
                    (Some(old), Some(new)) => new.starts_with(old.as_str()),
                    (None, None) => true,
                    _ => false,
                };
                if !continues {
                    live.stream += 1;
                }
                live.streaming = text;
            }),
            Change::Settled => self.send_modify(id, |live| {
                live.streaming = None;
                live.stream += 1;
                live.version += 1;
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(hub: &Hub, id: &ConversationId, text: Option<&str>) -> Live {
        hub.notify(id, Change::Streaming(text.map(str::to_owned)));
        hub.current(id)
    }

    #[test]
    fn a_streamed_text_keeps_its_number_while_it_only_grows() {
        let hub = Hub::default();
        let id = ConversationId::from("c1");
        let first = streamed(&hub, &id, Some("The"));
        assert_eq!(streamed(&hub, &id, Some("The answer")).stream, first.stream);
        // A retry starts over with other text: a new number, so watchers replace instead of append.
        let retry = streamed(&hub, &id, Some("A"));
        assert_eq!(retry.stream, first.stream + 1);
        hub.notify(&id, Change::Settled);
        let settled = hub.current(&id);
        assert_eq!(settled.stream, retry.stream + 1);
        assert_eq!(settled.version, 1);
        assert_eq!(settled.streaming, None);
    }

    #[tokio::test]
    async fn a_version_is_read_once_and_kept_for_a_while() {
        let snapshots = Snapshots::default();
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let read = |title: &str| {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let view = ConversationView {
                id: "c1".to_owned(),
                title: title.to_owned(),
                mode: Default::default(),
                entries: Vec::new(),
                streaming: None,
                busy: false,
            };
            async move { Ok::<_, ()>(view) }
        };
        let first = snapshots.at(1, || read("one")).await.unwrap();
        let again = snapshots.at(1, || read("other")).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
        for version in 2..=(KEEP_VERSIONS as u64 + 1) {
            snapshots.at(version, || read("later")).await.unwrap();
        }
        assert!(snapshots.kept(1).await.is_none(), "the oldest is dropped");
        assert!(snapshots.kept(2).await.is_some());
    }
}
