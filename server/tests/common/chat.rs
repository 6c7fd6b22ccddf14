//! The chat's server functions and its live-update stream, as the router tests drive them.

use std::time::Duration;

use app::chat::{
    AuditRecord, CallStatus, ConversationSummary, ConversationView, Entry, ToolCallView,
    delta::{Delta, apply},
};
use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::{Reply, TestApp};

impl TestApp {
    pub async fn create(&self, cookie: &str, mode: &str) -> String {
        let reply = self
            .call(cookie, "chat/create", json!({ "mode": mode }))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        serde_json::from_str::<ConversationSummary>(&reply.body)
            .unwrap()
            .id
    }

    pub async fn say(&self, cookie: &str, id: &str, text: &str) {
        let reply = self
            .call(cookie, "chat/send", json!({ "id": id, "text": text }))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    pub async fn decide(
        &self,
        cookie: &str,
        id: &str,
        call: &ToolCallView,
        decision: &str,
    ) -> Reply {
        self.call(
            cookie,
            "chat/decide",
            json!({ "id": id, "call_id": call.id, "args_hash": call.args_hash, "decision": decision }),
        )
        .await
    }

    pub async fn answer(
        &self,
        cookie: &str,
        id: &str,
        request: &str,
        action: &str,
        values: Value,
    ) -> Reply {
        self.call(
            cookie,
            "chat/answer",
            json!({ "id": id, "elicitation_id": request, "action": action, "values": values }),
        )
        .await
    }

    pub async fn audit(&self, cookie: &str) -> Vec<AuditRecord> {
        let reply = self.call(cookie, "audit/list", json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    }

    /// Subscribes to the conversation's live updates.
    pub async fn events(&self, cookie: &str, id: &str) -> Events {
        self.events_from(cookie, id, None).await
    }

    /// Subscribes again, saying the id of the last event seen (as a reconnecting browser does).
    pub async fn events_from(&self, cookie: &str, id: &str, last_event_id: Option<&str>) -> Events {
        let mut request =
            Request::get(format!("/api/chat/{id}/events")).header(header::COOKIE, cookie);
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last);
        }
        let response =
            tower::ServiceExt::oneshot(self.router.clone(), request.body(Body::empty()).unwrap())
                .await
                .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        Events {
            body: response.into_body(),
            buffer: String::new(),
            shown: None,
            last_id: None,
            kinds: Vec::new(),
        }
    }
}

/// A live-update stream, read event by event and applied as a browser does: the first event is the
/// whole view, later ones deltas.
pub struct Events {
    pub body: Body,
    pub buffer: String,
    /// What a browser would show now.
    pub shown: Option<ConversationView>,
    pub last_id: Option<String>,
    /// The kind of every event so far (`state` / `delta`).
    pub kinds: Vec<String>,
}

impl Events {
    /// The view after the next event.
    pub async fn next_state(&mut self) -> ConversationView {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    event
                        .lines()
                        .filter_map(|l| l.strip_prefix(name))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                let (kind, data, id) = (field("event: "), field("data: "), field("id: "));
                match kind.as_str() {
                    "state" => self.shown = Some(serde_json::from_str(&data).unwrap()),
                    "delta" => {
                        let deltas: Vec<Delta> = serde_json::from_str(&data).unwrap();
                        let shown = self.shown.as_mut().expect("a delta before any state");
                        apply(shown, &deltas).expect("the delta fits the view shown");
                    }
                    _ => continue,
                }
                assert!(!id.is_empty(), "every event has an id: {event}");
                self.kinds.push(kind);
                self.last_id = Some(id);
                return self.shown.clone().unwrap();
            }
            let frame = self.body.frame().await.expect("stream ended").unwrap();
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// The first state that satisfies `done`.
    pub async fn until(
        &mut self,
        what: &str,
        done: impl Fn(&ConversationView) -> bool,
    ) -> ConversationView {
        let wait = async {
            loop {
                let state = self.next_state().await;
                if done(&state) {
                    return state;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for: {what}"))
    }
}

pub fn calls(view: &ConversationView) -> Vec<ToolCallView> {
    view.entries
        .iter()
        .filter_map(|e| match e {
            Entry::ToolCall(call) => Some(call.clone()),
            _ => None,
        })
        .collect()
}

pub fn last_call(view: &ConversationView) -> Option<ToolCallView> {
    calls(view).pop()
}

pub fn assistant_texts(view: &ConversationView) -> Vec<String> {
    view.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Assistant { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

pub fn notices(view: &ConversationView) -> Vec<String> {
    view.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Notice { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

pub fn settled(view: &ConversationView) -> bool {
    !view.busy && view.streaming.is_none()
}

pub fn pending_call(view: &ConversationView) -> bool {
    last_call(view).is_some_and(|c| c.status == CallStatus::Pending)
}

/// The last call waits for an answer to a form (or link) request.
pub fn form_pending(view: &ConversationView) -> bool {
    last_call(view).is_some_and(|c| {
        c.elicitations
            .iter()
            .any(|e| e.status == app::chat::ElicitationStatus::Pending)
    })
}
