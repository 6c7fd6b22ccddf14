//! What an attacker or a careless client meets: malformed server-function bodies are a generic 400 for
//! every server function, signed in or not, and change nothing; a live stream ends soon after its
//! session does (sign-out, idle and absolute timeouts, a store purge), and nothing added afterwards
//! reaches it.

mod common;

use std::{str::FromStr, time::Duration};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_sessions::{SessionStore, session::Id};

/// The one body every undecodable request gets: a serialized `ChatError::BadRequest`.
const BAD_REQUEST: &str = r#""BadRequest""#;

impl TestApp {
    async fn post_raw(&self, cookie: Option<&str>, path: &str, body: Vec<u8>) -> Reply {
        let mut request = Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    async fn sign_out(&self, cookie: &str) -> Reply {
        self.send(
            Request::post("/auth/logout")
                .header(header::COOKIE, cookie)
                .header("sec-fetch-site", "same-origin")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Opens the conversation's live stream and reads its first event.
    async fn stream(&self, cookie: &str, id: &str) -> Stream {
        let response = self
            .router
            .clone()
            .oneshot(
                Request::get(format!("/api/chat/{id}/events"))
                    .header(header::COOKIE, cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut stream = Stream {
            body: response.into_body(),
            seen: String::new(),
        };
        let first = tokio::time::timeout(Duration::from_secs(10), stream.frame())
            .await
            .expect("a first event");
        assert!(first, "the stream ended at once");
        assert!(stream.seen.contains("event: state"), "{}", stream.seen);
        stream
    }
}

struct Stream {
    body: Body,
    seen: String,
}

impl Stream {
    /// Reads one frame; `false` when the stream has ended.
    async fn frame(&mut self) -> bool {
        match self.body.frame().await {
            Some(frame) => {
                if let Ok(data) = frame.unwrap().into_data() {
                    self.seen.push_str(&String::from_utf8_lossy(&data));
                }
                true
            }
            None => false,
        }
    }

    /// Reads until the stream ends; panics if it is still open after `within`.
    async fn ends_within(&mut self, within: Duration, what: &str) {
        let ended = tokio::time::timeout(within, async { while self.frame().await {} }).await;
        assert!(
            ended.is_ok(),
            "{what}: the stream was still open after {within:?}; it sent: {}",
            self.seen
        );
    }
}

async fn create(app: &TestApp, cookie: &str) -> String {
    let reply = app
        .call(cookie, "chat/create", json!({ "mode": "Manual" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    serde_json::from_str::<Value>(&reply.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn session_id(cookie: &str) -> Id {
    Id::from_str(cookie.split_once('=').unwrap().1).unwrap()
}

#[tokio::test]
async fn malformed_server_function_bodies_are_a_generic_400_and_change_nothing() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;
    let id = create(&app, &alice).await;
    let list_before = app.call(&alice, "chat/list", json!({})).await.body;
    let view_before = app.call(&alice, "chat/get", json!({ "id": id })).await.body;

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    // Every registered server function, including those that take no arguments: bytes that are
    // neither JSON nor text.
    let paths: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path)
        .collect();
    assert!(paths.len() >= 10, "{paths:?}");
    for path in &paths {
        cases.push((path.to_string(), vec![0xff, 0xfe, b'{']));
    }
    // Every function taking JSON: not JSON at all.
    for endpoint in [
        "chat/list",
        "chat/create",
        "chat/get",
        "chat/send",
        "chat/mode",
        "chat/decide",
        "chat/answer",
        "audit/list",
    ] {
        cases.push((format!("/api/{endpoint}"), b"not json".to_vec()));
    }
    // Missing arguments, unknown modes, decisions and actions.
    let with =
        |endpoint: &str, body: Value| (format!("/api/{endpoint}"), body.to_string().into_bytes());
    for endpoint in [
        "chat/create",
        "chat/get",
        "chat/send",
        "chat/mode",
        "chat/decide",
        "chat/answer",
    ] {
        cases.push(with(endpoint, json!({})));
    }
    cases.push(with("chat/create", json!({ "mode": "Yolo" })));
    cases.push(with("chat/mode", json!({ "id": id, "mode": "Yolo" })));
    cases.push(with(
        "chat/decide",
        json!({ "id": id, "call_id": "c", "args_hash": "h", "decision": "Maybe" }),
    ));
    cases.push(with(
        "chat/answer",
        json!({ "id": id, "elicitation_id": "e", "action": "Shrug", "values": [] }),
    ));
    cases.push(with("chat/send", json!({ "id": id, "text": 42 })));

    for cookie in [None, Some(alice.as_str())] {
        for (path, body) in &cases {
            let reply = app.post_raw(cookie, path, body.clone()).await;
            let who = if cookie.is_some() {
                "alice"
            } else {
                "a visitor"
            };
            assert_eq!(
                (reply.status, reply.body.as_str()),
                (StatusCode::BAD_REQUEST, BAD_REQUEST),
                "{path} {:?} as {who}",
                String::from_utf8_lossy(body)
            );
        }
    }

    // Nothing changed: same list, same conversation, still signed in.
    assert_eq!(
        app.call(&alice, "chat/list", json!({})).await.body,
        list_before
    );
    assert_eq!(
        app.call(&alice, "chat/get", json!({ "id": id })).await.body,
        view_before
    );
    assert!(app.home_names(&alice, "Alice Smith").await);
}

#[tokio::test]
async fn a_stream_ends_when_its_session_signs_out_and_gets_nothing_posted_afterwards() {
    let app = test_app().await;
    let first = app.sign_in("alice").await;
    let id = create(&app, &first).await;
    let mut stream = app.stream(&first, &id).await;

    let reply = app.sign_out(&first).await;
    assert!(
        !reply.status.is_client_error() && !reply.status.is_server_error(),
        "{}",
        reply.body
    );
    let signed_out = tokio::time::Instant::now();
    // The same user, in another session, adds to the conversation at once.
    let second = app.sign_in("alice").await;
    let reply = app
        .call(
            &second,
            "chat/send",
            json!({ "id": id, "text": "posted after sign-out" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let left = Duration::from_secs(5).saturating_sub(signed_out.elapsed());
    stream.ends_within(left, "signed out").await;
    assert!(
        !stream.seen.contains("posted after sign-out"),
        "{}",
        stream.seen
    );
    // A reconnect is refused.
    let reply = app
        .get(&format!("/api/chat/{id}/events"), Some(&first))
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_stream_ends_at_the_idle_and_absolute_timeouts_and_at_a_store_purge() {
    // Idle: the session record expires 3 s after it was last written (at sign-in).
    let idle = test_app_with(json!({ "auth": { "session_idle_secs": 3 } })).await;
    // Absolute: 3 s after sign-in, however recently the session was written.
    let absolute = test_app_with(json!({ "auth": { "session_absolute_secs": 3 } })).await;
    for (app, what) in [(&idle, "idle timeout"), (&absolute, "absolute timeout")] {
        let cookie = app.sign_in("bob").await;
        let signed_in = tokio::time::Instant::now();
        let id = create(app, &cookie).await;
        let mut stream = app.stream(&cookie, &id).await;
        // Up to a second of rounding, then up to one re-check interval, then slack.
        let left = Duration::from_secs(3 + 1 + 2 + 2).saturating_sub(signed_in.elapsed());
        stream.ends_within(left, what).await;
        assert!(
            signed_in.elapsed() >= Duration::from_secs(2),
            "{what}: ended before the session did"
        );
    }

    // A purge from the store (an administrator, or another instance's cleanup).
    let app = test_app().await;
    let cookie = app.sign_in("bob").await;
    let id = create(&app, &cookie).await;
    let mut stream = app.stream(&cookie, &id).await;
    app.state
        .sessions
        .delete(&session_id(&cookie))
        .await
        .unwrap();
    stream
        .ends_within(Duration::from_secs(4), "store purge")
        .await;
}
