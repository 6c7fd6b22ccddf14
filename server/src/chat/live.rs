//! Live updates: a watch channel per conversation (coalescing bursts: a slow browser gets the latest
//! state, never a backlog) and the Server-Sent Events endpoint that sends each change as the complete
//! conversation view.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use app::{auth::Identity, chat::ChatError};
use axum::{
    Extension,
    extract::{Path, State},
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use tokio::sync::watch;

use super::Chat;

/// What changes between database reads: a version bump means "read again"; the streaming text is only
/// ever in memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub version: u64,
    pub streaming: Option<String>,
}

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<String, watch::Sender<Live>>>,
}

impl Hub {
    fn sender(&self, id: &str) -> watch::Sender<Live> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        // Forget conversations nobody watches any more.
        if channels.len() > 1024 {
            channels.retain(|_, sender| sender.receiver_count() > 0);
        }
        channels
            .entry(id.to_owned())
            .or_insert_with(|| watch::channel(Live::default()).0)
            .clone()
    }

    pub fn subscribe(&self, id: &str) -> watch::Receiver<Live> {
        self.sender(id).subscribe()
    }

    pub fn current(&self, id: &str) -> Live {
        self.sender(id).borrow().clone()
    }

    /// Something persistent changed.
    pub fn changed(&self, id: &str) {
        self.sender(id).send_modify(|live| live.version += 1);
    }

    pub fn streaming(&self, id: &str, text: Option<String>) {
        self.sender(id).send_modify(|live| live.streaming = text);
    }

    /// The streamed text became a stored message (one update, so nothing is shown twice).
    pub fn stored(&self, id: &str) {
        self.sender(id).send_modify(|live| {
            live.streaming = None;
            live.version += 1;
        });
    }
}

/// `GET /api/chat/{id}/events`: the conversation's view now, then again after every change.
pub async fn events(
    State(chat): State<Arc<Chat>>,
    user: Option<Extension<Identity>>,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(user)) = user else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    // Subscribe before the first read so no change can fall between the two.
    let mut changes = chat.hub.subscribe(&id);
    let mut version = changes.borrow_and_update().version;
    let first = match chat.view_for(&user, &id).await {
        Ok(view) => view,
        Err(ChatError::NotFound) => return (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(error) => return (error.status(), error.to_string()).into_response(),
    };
    let stream = async_stream::stream! {
        let mut view = first;
        yield Ok::<_, Infallible>(state_event(&view));
        while changes.changed().await.is_ok() {
            // Before the borrow, for the reason given in `view_for`.
            let busy = chat.is_running(&id);
            let live = changes.borrow_and_update().clone();
            if live.version != version {
                version = live.version;
                match chat.view_for(&user, &id).await {
                    Ok(fresh) => view = fresh,
                    // Gone (or the database failed): end the stream; the browser reconnects.
                    Err(_) => break,
                }
            } else {
                view.streaming = live.streaming;
                view.busy = busy;
            }
            yield Ok(state_event(&view));
        }
    };
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn state_event(view: &app::chat::ConversationView) -> Event {
    Event::default()
        .event("state")
        .data(serde_json::to_string(view).unwrap_or_default())
}
