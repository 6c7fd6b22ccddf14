//! `GET /api/chat/{id}/events`: a conversation's live updates as Server-Sent Events, each the complete
//! conversation view (so a reload or a reconnect always shows the current state).
//!
//! A stream lives no longer than the session that opened it: the session is re-checked in the store
//! every [`SESSION_CHECK`] and before every new entry is sent, so sign-out, the idle and absolute
//! timeouts and a store purge all end the stream within that time, and nothing added after the end
//! reaches it. A browser's reconnect then meets the sign-in check.

use std::{convert::Infallible, sync::Arc, time::Duration};

use agent::domain::ConversationId;
use app::{
    auth::Identity,
    chat::{ChatError, ConversationView},
};
use axum::{
    Extension,
    extract::{Path, State},
    http::StatusCode,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use tokio::time::{Instant, MissedTickBehavior};
use tower_sessions::Session;

use crate::{auth::AuthState, chat::Chat, sessions::AnyStore};

/// How often a stream re-checks its session while nothing new is sent.
pub const SESSION_CHECK: Duration = Duration::from_secs(2);

/// The conversation's view now, then again after every change, while the session lasts.
pub async fn events(
    State(chat): State<Arc<Chat>>,
    State(auth): State<Arc<AuthState>>,
    State(sessions): State<AnyStore>,
    session: Session,
    user: Option<Extension<Identity>>,
    Path(id): Path<String>,
) -> Response {
    let (Some(Extension(user)), Some(session_id)) = (user, session.id()) else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let conversation = ConversationId::from(id.as_str());
    // Subscribe before the first read so no change can fall between the two.
    let mut changes = chat.hub().subscribe(&conversation);
    let mut version = changes.borrow_and_update().version;
    let first = match chat.view_for(&user, &id).await {
        Ok(view) => view,
        Err(ChatError::NotFound) => return (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(error) => return (error.status(), error.to_string()).into_response(),
    };
    let stream = async_stream::stream! {
        let mut view = first;
        yield Ok::<_, Infallible>(state_event(&view));
        let mut checks = tokio::time::interval_at(Instant::now() + SESSION_CHECK, SESSION_CHECK);
        checks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                _ = checks.tick() => {
                    if auth.session_holds(&sessions, &session_id, &user.key).await {
                        continue;
                    }
                    break;
                }
            }
            // Before the borrow, for the reason given in `Chat::view_for`.
            let busy = chat.is_running(&conversation);
            let live = changes.borrow_and_update().clone();
            if live.version != version {
                // A new entry goes only to a session that still holds this user.
                if !auth.session_holds(&sessions, &session_id, &user.key).await {
                    break;
                }
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

fn state_event(view: &ConversationView) -> Event {
    Event::default()
        .event("state")
        .data(serde_json::to_string(view).unwrap_or_default())
}
