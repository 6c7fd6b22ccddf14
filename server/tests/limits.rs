//! Per-user rate limits: messages per minute, counted in the shared database (so every instance behind a
//! load balancer counts the same messages) and refused with 429 and `Retry-After`; tool calls per
//! minute, counted by the loop, where a call over the limit is not made and says when to try again.

mod common;

use app::chat::{CallStatus, Entry};
use axum::http::{StatusCode, header};
use common::*;
use serde_json::json;

#[tokio::test]
async fn messages_over_the_limit_get_429_with_retry_after_on_every_instance() {
    let app = test_app_with(json!({ "agent": { "messages_per_minute": 2 } })).await;
    let alice = app.sign_in("alice").await;
    for text in ["first", "second"] {
        let reply = app
            .call(
                &alice,
                "chat/start",
                json!({ "text": text, "mode": "Manual" }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let refused = |reply: &Reply| {
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.body
        );
        let retry: u64 = reply.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert!(reply.body.contains("RateLimited"), "{}", reply.body);
    };
    let third = app
        .call(
            &alice,
            "chat/start",
            json!({ "text": "third", "mode": "Manual" }),
        )
        .await;
    // A window can turn between two messages; then the limit starts over, which this test allows once.
    if third.status == StatusCode::OK {
        for text in ["fourth", "fifth"] {
            app.call(
                &alice,
                "chat/start",
                json!({ "text": text, "mode": "Manual" }),
            )
            .await;
        }
    }
    let listed = app.call(&alice, "chat/list", json!({})).await;
    let before: Vec<serde_json::Value> = serde_json::from_str(&listed.body).unwrap();
    let over = app
        .call(
            &alice,
            "chat/start",
            json!({ "text": "over", "mode": "Manual" }),
        )
        .await;
    refused(&over);
    // Nothing was created by the refused message; sending into a conversation is limited too.
    let listed = app.call(&alice, "chat/list", json!({})).await;
    let after: Vec<serde_json::Value> = serde_json::from_str(&listed.body).unwrap();
    assert_eq!(after.len(), before.len());
    let id = after[0]["id"].as_str().unwrap();
    refused(
        &app.call(&alice, "chat/send", json!({ "id": id, "text": "more" }))
            .await,
    );
    // Another instance over the same database (a new process: nothing kept in memory) counts the same
    // messages.
    let second = app.restart().await;
    refused(
        &second
            .call(
                &alice,
                "chat/start",
                json!({ "text": "elsewhere", "mode": "Manual" }),
            )
            .await,
    );
    // Bob has his own allowance.
    let bob = second.sign_in("bob").await;
    let reply = second
        .call(
            &bob,
            "chat/start",
            json!({ "text": "hello", "mode": "Manual" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn a_tool_call_over_the_limit_is_not_made_and_says_when_to_try_again() {
    let app =
        test_app_with(json!({ "agent": { "tool_calls_per_minute": 1, "messages_per_minute": 0 } }))
            .await;
    let alice = app.sign_in("alice").await;
    let call_of = |view: &app::chat::ConversationView| {
        view.entries
            .iter()
            .find_map(|e| match e {
                Entry::ToolCall(call) => Some(call.clone()),
                _ => None,
            })
            .expect("a tool call")
    };
    let first = call_of(&app.turn(&alice, "a random number between 1 and 10").await);
    let second = call_of(&app.turn(&alice, "a random number between 1 and 10").await);
    // A window can turn between the two; then both run, and a third shows the limit.
    let limited = if second.status == CallStatus::Done {
        call_of(&app.turn(&alice, "a random number between 1 and 10").await)
    } else {
        second
    };
    assert_eq!(first.status, CallStatus::Done, "{first:?}");
    assert_eq!(limited.status, CallStatus::Failed, "{limited:?}");
    let why = limited.result.unwrap_or_default();
    assert!(
        why.starts_with(
            "Rate limit: at most 1 tool calls a minute; this call was not made. Try again in "
        ),
        "{why}"
    );
}
