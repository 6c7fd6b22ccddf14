//! Live state per conversation, for this process's watchers: a watch channel each (coalescing bursts: a
//! slow browser gets the latest state, never a backlog). It is the agent's [`Notifier`].

use std::{collections::HashMap, sync::Mutex};

use agent::{
    domain::ConversationId,
    ports::{Change, Notifier},
};
use service_kit::sync::lock;
use tokio::sync::watch;

/// What changes between database reads: a version bump means "read again"; the streaming text is only
/// ever in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub version: u64,
    pub streaming: Option<String>,
}

/// Channels nobody watches are forgotten once there are this many.
const FORGET_ABOVE: usize = 1024;

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<ConversationId, watch::Sender<Live>>>,
}

impl Hub {
    fn sender(&self, id: &ConversationId) -> watch::Sender<Live> {
        let mut channels = lock(&self.channels);
        if channels.len() > FORGET_ABOVE {
            channels.retain(|_, sender| sender.receiver_count() > 0);
        }
        channels
            .entry(id.clone())
            .or_insert_with(|| watch::channel(Live::default()).0)
            .clone()
    }

    pub fn subscribe(&self, id: &ConversationId) -> watch::Receiver<Live> {
        self.sender(id).subscribe()
    }

    pub fn current(&self, id: &ConversationId) -> Live {
        self.sender(id).borrow().clone()
    }
}

impl Notifier for Hub {
    fn notify(&self, id: &ConversationId, change: Change) {
        let sender = self.sender(id);
        match change {
            Change::Stored => sender.send_modify(|live| live.version += 1),
            Change::Streaming(text) => sender.send_modify(|live| live.streaming = text),
            Change::Settled => sender.send_modify(|live| {
                live.streaming = None;
                live.version += 1;
            }),
        }
    }
}
