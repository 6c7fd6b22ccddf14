//! `GET /api/chat/{id}/events`: a conversation's live updates as Server-Sent Events. The first event
//! is the whole view (`state`); after it only what changed (`delta`: appended text, a card's new state,
//! new entries — `app::chat::delta`), so a change costs the same at the first turn and the hundredth.
//! Every event has an id naming the position it brings the browser to; a browser that reconnects sends
//! it back (`Last-Event-ID`) and gets only what changed since, while this process still keeps the
//! stored view of that position (the hub keeps recent ones), else the whole view again.
//!
//! A stream lives no longer than the session that opened it: the session is re-checked in the store
//! every [`SESSION_CHECK`] and before every new stored change is sent, so sign-out, the idle and
//! absolute timeouts and a store purge all end the stream within that time, and nothing added after the
//! end reaches it. A browser's reconnect then meets the sign-in check.

use std::{convert::Infallible, sync::Arc, time::Duration};

use agent::domain::ConversationId;
use app::{
    auth::Identity,
    chat::{
        ChatError, ConversationView,
        delta::{Delta, diff_stored},
    },
};
use axum::{
    Extension,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use tokio::time::{Instant, MissedTickBehavior};
use tower_sessions::Session;

use crate::{
    auth::AuthState,
    chat::{Chat, hub::Live},
    sessions::AnyStore,
};

/// How often a stream re-checks its session while nothing new is sent.
pub const SESSION_CHECK: Duration = Duration::from_secs(2);

/// Where a browser is: the stored version it has, which streamed text and how many bytes of it (none:
/// no text is being streamed).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Position {
    version: u64,
    stream: u64,
    streamed: Option<usize>,
}

impl Position {
    fn id(&self, epoch: &str) -> String {
        let streamed = self
            .streamed
            .map_or_else(|| "-".to_owned(), |n| n.to_string());
        format!("{epoch}.{}.{}.{streamed}", self.version, self.stream)
    }

    /// A position this process gave out (another process's or an earlier run's ids never parse).
    fn parse(id: &str, epoch: &str) -> Option<Self> {
        let mut parts = id.strip_prefix(epoch)?.strip_prefix('.')?.split('.');
        let position = Self {
            version: parts.next()?.parse().ok()?,
            stream: parts.next()?.parse().ok()?,
            streamed: match parts.next()? {
                "-" => None,
                n => Some(n.parse().ok()?),
            },
        };
        parts.next().is_none().then_some(position)
    }

    fn of(live: &Live) -> Self {
        Self {
            version: live.version,
            stream: live.stream,
            streamed: live.streaming.as_ref().map(String::len),
        }
    }
}

/// How the streamed text moves from what a browser has (`from`) to `live`'s.
fn stream_delta(from: Position, live: &Live) -> Option<Delta> {
    match (&live.streaming, from.streamed) {
        // The same text, grown: send what was added.
        (Some(text), Some(had))
            if from.stream == live.stream && text.len() >= had && text.is_char_boundary(had) =>
        {
            (text.len() > had).then(|| Delta::StreamAppend(text[had..].to_owned()))
        }
        (None, None) => None,
        (streaming, _) => Some(Delta::StreamSet(streaming.clone())),
    }
}

/// The conversation's view now, then what changes, while the session lasts.
pub async fn events(
    State(chat): State<Arc<Chat>>,
    State(auth): State<Arc<AuthState>>,
    State(sessions): State<AnyStore>,
    session: Session,
    user: Option<Extension<Identity>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (Some(Extension(user)), Some(session_id)) = (user, session.id()) else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    // The owner check comes first, on every request: the kept views below are per conversation and
    // are handed out without asking whose they are.
    match chat.owned(&user, &id).await {
        Ok(_) => {}
        Err(ChatError::NotFound) => return (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(error) => return (error.status(), error.to_string()).into_response(),
    }
    let conversation = ConversationId::from(id.as_str());
    // Subscribe before the first read so no change can fall between the two.
    let (mut changes, snapshots) = chat.hub().subscribe(&conversation);
    let live = changes.borrow_and_update().clone();
    // Before the stored view, for the reason given in `Chat::view_for`.
    let mut busy = chat.busy(&conversation).await;
    let mut stored = match snapshots
        .at(live.version, || chat.stored_view_for(&user, &id))
        .await
    {
        Ok(view) => view,
        Err(ChatError::NotFound) => return (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(error) => return (error.status(), error.to_string()).into_response(),
    };
    let epoch = chat.hub().epoch().to_owned();
    let resume = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| Position::parse(value, &epoch));
    let mut position = Position::of(&live);
    let first = match resume {
        Some(had) => snapshots.kept(had.version).await.map(|old| {
            let mut deltas = diff_stored(&old, &stored);
            // The browser's streamed text, as far as it has it, is a prefix of this one if it
            // is the same text; otherwise it is replaced.
            deltas.extend(stream_delta(had, &live));
            deltas.push(Delta::Busy(busy));
            delta_event(&deltas, position.id(&epoch))
        }),
        None => None,
    };
    let first = first.unwrap_or_else(|| {
        let view = ConversationView {
            streaming: live.streaming.clone(),
            busy,
            ..(*stored).clone()
        };
        state_event(&view, position.id(&epoch))
    });

    let stream = async_stream::stream! {
        yield Ok::<_, Infallible>(first);
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
            let now_busy = chat.busy(&conversation).await;
            let now = changes.borrow_and_update().clone();
            let mut deltas = Vec::new();
            if now.version != position.version {
                // A new entry goes only to a session that still holds this user.
                if !auth.session_holds(&sessions, &session_id, &user.key).await {
                    break;
                }
                match snapshots.at(now.version, || chat.stored_view_for(&user, &id)).await {
                    Ok(fresh) => {
                        deltas = diff_stored(&stored, &fresh);
                        stored = fresh;
                    }
                    // Gone (or the database failed): end the stream; the browser reconnects.
                    Err(_) => break,
                }
            }
            deltas.extend(stream_delta(position, &now));
            if now_busy != busy {
                deltas.push(Delta::Busy(now_busy));
            }
            busy = now_busy;
            position = Position::of(&now);
            if !deltas.is_empty() {
                yield Ok(delta_event(&deltas, position.id(&epoch)));
            }
        }
    };
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn state_event(view: &ConversationView, id: String) -> Event {
    Event::default()
        .event("state")
        .id(id)
        .data(serde_json::to_string(view).unwrap_or_default())
}

fn delta_event(deltas: &[Delta], id: String) -> Event {
    Event::default()
        .event("delta")
        .id(id)
        .data(serde_json::to_string(deltas).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_only_within_this_epoch() {
        for streamed in [Some(42), Some(0), None] {
            let position = Position {
                version: 7,
                stream: 3,
                streamed,
            };
            assert_eq!(
                Position::parse(&position.id("abc123"), "abc123"),
                Some(position)
            );
        }
        assert_eq!(
            Position {
                version: 7,
                stream: 3,
                streamed: None
            }
            .id("abc123"),
            "abc123.7.3.-"
        );
        for foreign in [
            "zzz.7.3.42",
            "abc123.7.3",
            "abc123.7.3.42.1",
            "abc123.x.3.42",
            "abc1237.3.42",
            "abc123.7.3.-1",
            "",
        ] {
            assert_eq!(Position::parse(foreign, "abc123"), None, "{foreign}");
        }
    }

    fn live(stream: u64, text: Option<&str>) -> Live {
        Live {
            version: 1,
            streaming: text.map(str::to_owned),
            stream,
        }
    }

    #[test]
    fn the_streamed_text_travels_as_appends_within_one_text() {
        let had = Position::of(&live(2, Some("The ")));
        assert_eq!(
            stream_delta(had, &live(2, Some("The answer"))),
            Some(Delta::StreamAppend("answer".to_owned()))
        );
        assert_eq!(stream_delta(had, &live(2, Some("The "))), None);
        // Another text (a retry) or the end of the stream replaces it.
        assert_eq!(
            stream_delta(had, &live(3, Some("A"))),
            Some(Delta::StreamSet(Some("A".to_owned())))
        );
        assert_eq!(
            stream_delta(had, &live(3, None)),
            Some(Delta::StreamSet(None))
        );
        // Nothing streamed before or now: nothing to say; an empty text starting is said.
        let idle = Position::of(&live(0, None));
        assert_eq!(stream_delta(idle, &live(1, None)), None);
        assert_eq!(
            stream_delta(idle, &live(1, Some(""))),
            Some(Delta::StreamSet(Some(String::new())))
        );
        // A cut inside a character (a forged position) replaces instead of splitting it.
        let mid = Position {
            streamed: Some(1),
            ..Position::of(&live(2, Some("é")))
        };
        assert_eq!(
            stream_delta(mid, &live(2, Some("éa"))),
            Some(Delta::StreamSet(Some("éa".to_owned())))
        );
    }
}
