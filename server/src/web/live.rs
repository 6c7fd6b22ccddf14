//! `GET /api/chat/{id}/events`: a conversation's live updates as Server-Sent Events, each the complete
//! conversation view (so a reload or a reconnect always shows the current state).

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

use crate::chat::Chat;

/// The conversation's view now, then again after every change.
pub async fn events(
    State(chat): State<Arc<Chat>>,
    user: Option<Extension<Identity>>,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(user)) = user else {
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
        while changes.changed().await.is_ok() {
            // Before the borrow, for the reason given in `Chat::view_for`.
            let busy = chat.is_running(&conversation);
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

fn state_event(view: &ConversationView) -> Event {
    Event::default()
        .event("state")
        .data(serde_json::to_string(view).unwrap_or_default())
}
