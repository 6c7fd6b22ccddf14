//! The agent chat end to end over the router: server functions and the Server-Sent Events stream,
//! with the real dev identity provider, the real in-process mcp-tools (both MCP generations), and either
//! the dev model or a scripted OpenAI-compatible server for failures.

mod common;

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use app::chat::{
    CallStatus, ConversationSummary, ConversationView, DecidedBy, ElicitationRequest,
    ElicitationStatus, Entry, ToolCallView,
};
use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use common::{chat::*, *};
use http_body_util::BodyExt;
use serde_json::{Value, json};

#[tokio::test]
async fn live_updates_are_deltas_that_track_the_stored_view_and_a_reconnect_resumes() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Auto").await;
    let stored = |reply: Reply| -> ConversationView {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    };
    let mut events = app.events(&alice, &id).await;
    for turn in 1..=3 {
        app.say(&alice, &id, "give me a random number between 1 and 6")
            .await;
        events
            .until("the answer", |v| {
                settled(v) && assistant_texts(v).len() == turn
            })
            .await;
    }
    // One whole view, then only deltas.
    assert_eq!(events.kinds[0], "state");
    assert!(events.kinds.len() > 6, "{:?}", events.kinds);
    assert!(
        events.kinds[1..].iter().all(|k| k == "delta"),
        "{:?}",
        events.kinds
    );
    // What the deltas built is what the server has stored.
    let now = stored(app.call(&alice, "chat/get", json!({ "id": id })).await);
    assert_eq!(events.shown.as_ref(), Some(&now));

    // A reconnect with the last event's id while nothing changed: one small delta, no whole view.
    let last = events.last_id.clone();
    let mut again = app.events_from(&alice, &id, last.as_deref()).await;
    again.shown = Some(now.clone());
    assert_eq!(again.next_state().await, now);
    assert_eq!(again.kinds, ["delta"]);
    drop(again);

    // Away for a whole turn: the reconnect brings that turn only, as deltas.
    app.say(&alice, &id, "give me a random number between 1 and 6")
        .await;
    let after = events
        .until("the fourth answer", |v| {
            settled(v) && assistant_texts(v).len() == 4
        })
        .await;
    let mut back = app.events_from(&alice, &id, last.as_deref()).await;
    back.shown = Some(now.clone());
    assert_eq!(back.next_state().await, after);
    assert_eq!(back.kinds, ["delta"]);

    // An id this process did not give (another instance, an earlier run, forged): the whole view.
    for foreign in ["0123456789ab.1.1.-", "nonsense"] {
        let mut fresh = app.events_from(&alice, &id, Some(foreign)).await;
        assert_eq!(fresh.next_state().await, after);
        assert_eq!(fresh.kinds, ["state"]);
    }
}

#[tokio::test]
async fn manual_approval_runs_the_call_once_and_the_answer_states_its_result() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Manual").await;
    let mut events = app.events(&alice, &id).await;
    app.say(&alice, &id, "give me a random number between -10 and 10")
        .await;

    let view = events.until("a pending call", pending_call).await;
    let call = last_call(&view).unwrap();
    assert_eq!(call.tool, "get_random_number");
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({ "min": -10, "max": 10 })
    );
    assert!(call.read_only && call.result.is_none());
    // Nothing else may run, or be said, while the call waits.
    let reply = app
        .call(&alice, "chat/send", json!({ "id": id, "text": "hello" }))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);

    // An approval for other arguments does not apply.
    let mut forged = call.clone();
    forged.args_hash = "0".repeat(64);
    assert_eq!(
        app.decide(&alice, &id, &forged, "Approve").await.status,
        StatusCode::CONFLICT
    );

    // A double click: the first approval runs the call, the second is a conflict.
    let (first, second) = tokio::join!(
        app.decide(&alice, &id, &call, "Approve"),
        app.decide(&alice, &id, &call, "Approve")
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);

    let view = events
        .until("the final answer", |v| {
            settled(v) && !assistant_texts(v).is_empty()
        })
        .await;
    let call = last_call(&view).unwrap();
    assert_eq!(call.status, CallStatus::Done);
    let number: i64 = call.result.clone().unwrap().trim().parse().unwrap();
    assert!((-10..=10).contains(&number));
    assert_eq!(
        assistant_texts(&view),
        // Namespaced: the dev stack runs two servers (tools, sales).
        [format!("tools__get_random_number returned: {number}")]
    );
    assert_eq!(calls(&view).len(), 1, "ran once");

    // Replaying the approval after the fact changes nothing.
    assert_eq!(
        app.decide(&alice, &id, &call, "Approve").await.status,
        StatusCode::CONFLICT
    );

    let audit = app.audit(&alice).await;
    assert_eq!(audit.len(), 1);
    let record = &audit[0];
    assert_eq!(
        (
            record.tool.as_str(),
            record.decision.as_str(),
            record.decided_by.as_str(),
            record.outcome.as_str()
        ),
        ("get_random_number", "approved", "user", "done")
    );
    assert_eq!(record.args_hash, call.args_hash);
    assert_eq!(record.conversation_id, id);

    // The page renders the stored state on the server too, with the message box read-only and Send
    // disabled until the browser has hydrated them (typing before that would be lost).
    let page = app.get(&format!("/chat/{id}"), Some(&alice)).await;
    assert_eq!(page.status, StatusCode::OK);
    let tag = |start: &str| {
        let at = page
            .body
            .find(start)
            .unwrap_or_else(|| panic!("{start} in {}", page.body));
        page.body[at..]
            .split('>')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        tag("<textarea").contains("readonly"),
        "{}",
        tag("<textarea")
    );
    let send = r#"data-testid="send""#;
    let at = page.body.find(send).expect("the Send button");
    let open = page.body[..at].rfind("<button").expect("its tag");
    let button = page.body[open..].split('>').next().unwrap_or_default();
    assert!(button.contains("disabled"), "{button}");
    assert!(
        page.body
            .contains(&format!("get_random_number returned: {number}")),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_declined_call_never_runs_and_the_model_hears_so() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Manual").await;
    let mut events = app.events(&alice, &id).await;
    app.say(&alice, &id, "add a note \"buy milk\"").await;
    let view = events.until("a pending call", pending_call).await;
    let call = last_call(&view).unwrap();
    assert_eq!(call.tool, "add_note");
    assert_eq!(
        app.decide(&alice, &id, &call, "Decline").await.status,
        StatusCode::OK
    );
    let view = events
        .until("the final answer", |v| {
            settled(v) && !assistant_texts(v).is_empty()
        })
        .await;
    assert_eq!(last_call(&view).unwrap().status, CallStatus::Declined);
    assert!(
        assistant_texts(&view)[0].contains("declined"),
        "{:?}",
        assistant_texts(&view)
    );
    assert_eq!(
        app.decide(&alice, &id, &call, "Approve").await.status,
        StatusCode::CONFLICT
    );

    // The note was never saved: listing (read-only, always allowed from now on) shows none.
    app.say(&alice, &id, "list my notes").await;
    let view = events.until("list pending", pending_call).await;
    let list = last_call(&view).unwrap();
    assert_eq!(list.tool, "list_notes");
    assert_eq!(
        app.decide(&alice, &id, &list, "ApproveAlways").await.status,
        StatusCode::OK
    );
    let view = events
        .until("listed", |v| {
            settled(v) && last_call(v).is_some_and(|c| c.status == CallStatus::Done)
        })
        .await;
    assert_eq!(
        last_call(&view).unwrap().result.as_deref(),
        Some("You have no notes.")
    );
    // "Always allow" approves the same read-only tool on its own next time.
    app.say(&alice, &id, "list my notes").await;
    let view = events
        .until("listed again", |v| {
            settled(v)
                && calls(v).len() == 3
                && last_call(v).is_some_and(|c| c.status == CallStatus::Done)
        })
        .await;
    assert_eq!(
        last_call(&view).unwrap().decided_by.map(DecidedBy::as_str),
        Some("always-allow")
    );
    // …but not a tool that changes things.
    let add = calls(&view)[0].clone();
    let reply = app.decide(&alice, &id, &add, "ApproveAlways").await;
    assert_ne!(reply.status, StatusCode::OK);

    let audit = app.audit(&alice).await;
    let outcomes: Vec<(&str, &str)> = audit
        .iter()
        .map(|r| (r.tool.as_str(), r.outcome.as_str()))
        .collect();
    assert!(outcomes.contains(&("add_note", "declined")), "{outcomes:?}");
}

/// Asks for a note to be added and waits for the answer; returns the `add_note` call.
async fn add_note(
    app: &TestApp,
    cookie: &str,
    id: &str,
    events: &mut Events,
    text: &str,
) -> ToolCallView {
    app.say(cookie, id, &format!("add a note \"{text}\"")).await;
    let view = events
        .until("note added", |v| {
            settled(v) && !assistant_texts(v).is_empty()
        })
        .await;
    last_call(&view).unwrap()
}

/// The note id in an `add_note` result ("Saved note 7: …").
fn saved_note_id(call: &ToolCallView) -> i64 {
    call.result
        .as_deref()
        .and_then(|r| r.strip_prefix("Saved note "))
        .and_then(|r| r.split(':').next())
        .unwrap()
        .parse()
        .unwrap()
}

async fn elicitation_round(protocol: &str) {
    let app =
        test_app_with(json!({ "dev_mcp": { "bind": "127.0.0.1:0", "protocol": protocol } })).await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Elicitation").await;
    let mut events = app.events(&alice, &id).await;
    let added = add_note(&app, &alice, &id, &mut events, "call mum").await;
    assert_eq!(
        (added.status, added.decided_by.map(DecidedBy::as_str)),
        (CallStatus::Done, Some("auto"))
    );
    let note_id = saved_note_id(&added);

    for (action, kept) in [("Decline", true), ("Accept", false)] {
        app.say(&alice, &id, &format!("delete note {note_id}"))
            .await;
        let view = events.until("a form", form_pending).await;
        let call = last_call(&view).unwrap();
        assert_eq!(
            (call.tool.as_str(), call.status),
            ("delete_note", CallStatus::Running)
        );
        let request = call.elicitations.last().unwrap().clone();
        assert!(request.message.contains("call mum"), "{}", request.message);
        let ElicitationRequest::Form { fields } = &request.request else {
            panic!("a form: {request:?}");
        };
        assert_eq!(fields[0].name, "confirm");
        // A bad answer is refused with a reason; the request still waits.
        let reply = app
            .answer(
                &alice,
                &id,
                &request.id,
                "Accept",
                json!([["admin", "yes"]]),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(reply.body.contains("unknown field"), "{}", reply.body);
        // Bob cannot answer it.
        let bob = app.sign_in("bob").await;
        let reply = app
            .answer(
                &bob,
                &id,
                &request.id,
                "Accept",
                json!([["confirm", "true"]]),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);

        let values = if action == "Accept" {
            json!([["confirm", "true"]])
        } else {
            json!([])
        };
        let reply = app
            .answer(&alice, &id, &request.id, action, values.clone())
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        // Answered once only.
        let reply = app.answer(&alice, &id, &request.id, action, values).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        let view = events
            .until("deletion finished", |v| {
                settled(v) && last_call(v).is_some_and(|c| c.status.is_final())
            })
            .await;
        let result = last_call(&view).unwrap().result.unwrap();
        if kept {
            assert!(result.contains("declined"), "{protocol}: {result}");
        } else {
            assert_eq!(result, format!("Deleted note {note_id}."), "{protocol}");
        }
    }
    app.say(&alice, &id, "list my notes").await;
    let view = events
        .until("listed", |v| {
            settled(v)
                && last_call(v).is_some_and(|c| c.tool == "list_notes" && c.status.is_final())
        })
        .await;
    assert_eq!(
        last_call(&view).unwrap().result.as_deref(),
        Some("You have no notes.")
    );
}

#[tokio::test]
async fn elicitation_forms_work_with_legacy_sessions() {
    elicitation_round("legacy").await;
}

#[tokio::test]
async fn elicitation_forms_work_with_input_required_results() {
    elicitation_round("2026-07-28").await;
}

#[tokio::test]
async fn an_unanswered_form_is_cancelled_after_the_timeout() {
    let app = test_app_with(json!({ "agent": { "elicitation_timeout_secs": 1 } })).await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Elicitation").await;
    let mut events = app.events(&alice, &id).await;
    let note_id = saved_note_id(&add_note(&app, &alice, &id, &mut events, "keep me").await);
    app.say(&alice, &id, &format!("delete note {note_id}"))
        .await;
    let view = events
        .until("cancelled", |v| {
            settled(v) && last_call(v).is_some_and(|c| c.status.is_final())
        })
        .await;
    let call = last_call(&view).unwrap();
    assert_eq!(call.elicitations[0].status, ElicitationStatus::Expired);
    assert!(call.result.unwrap().contains("was not deleted"));
    // Too late to answer now.
    let reply = app
        .answer(
            &alice,
            &id,
            &call.elicitations[0].id,
            "Accept",
            json!([["confirm", "true"]]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn azure_openai_is_reached_at_its_deployment_url_with_its_key() {
    use axum::{extract::Query, http::HeaderMap, routing::post};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/openai/deployments/{deployment}/chat/completions",
        post({
            let seen = seen.clone();
            move |axum::extract::Path(deployment): axum::extract::Path<String>,
                  Query(query): Query<std::collections::HashMap<String, String>>,
                  headers: HeaderMap| async move {
                seen.lock().unwrap().push((
                    deployment,
                    query.get("api-version").cloned(),
                    headers
                        .get("api-key")
                        .map(|v| v.to_str().unwrap().to_owned()),
                ));
                (
                    [(header::CONTENT_TYPE, "text/event-stream")],
                    [
                        chunk(
                            json!({ "role": "assistant", "content": "Hello from Azure." }),
                            None,
                        ),
                        chunk(json!({}), Some("stop")),
                        "data: [DONE]\n\n".to_owned(),
                    ]
                    .concat(),
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let app = test_app_with(json!({ "model": {
        "provider": "azure", "base_url": format!("http://{addr}"), "deployment": "gpt-4o-mini",
        "api_version": "2024-10-21", "api_key": "azure-test-key",
    }}))
    .await;
    let view = one_turn(&app, "Manual", "hello").await;
    assert_eq!(assistant_texts(&view), ["Hello from Azure."]);
    assert_eq!(
        seen.lock().unwrap().clone(),
        [(
            "gpt-4o-mini".to_owned(),
            Some("2024-10-21".to_owned()),
            Some("azure-test-key".to_owned())
        )]
    );
}

#[tokio::test]
async fn auto_mode_runs_tools_but_destructive_ones_still_ask() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Auto").await;
    let mut events = app.events(&alice, &id).await;
    app.say(&alice, &id, "what is the weather in Lisbon?").await;
    let view = events
        .until("answered", |v| settled(v) && !assistant_texts(v).is_empty())
        .await;
    let call = last_call(&view).unwrap();
    assert_eq!(
        (
            call.tool.as_str(),
            call.status,
            call.decided_by.map(DecidedBy::as_str)
        ),
        ("get_weather", CallStatus::Done, Some("auto"))
    );
    app.say(&alice, &id, "delete note 42").await;
    let view = events.until("destructive call waits", pending_call).await;
    assert_eq!(last_call(&view).unwrap().tool, "delete_note");
}

#[tokio::test]
async fn another_user_can_neither_see_nor_touch_a_conversation() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;
    let bob = app.sign_in("bob").await;
    let id = app.create(&alice, "Manual").await;
    let mut events = app.events(&alice, &id).await;
    app.say(&alice, &id, "give me a random number between 1 and 6")
        .await;
    let view = events.until("a pending call", pending_call).await;
    let call = last_call(&view).unwrap();

    let list = app.call(&bob, "chat/list", json!({})).await;
    assert_eq!(list.body, "[]");
    for (endpoint, body) in [
        ("chat/get", json!({ "id": id })),
        ("chat/send", json!({ "id": id, "text": "hi" })),
        ("chat/mode", json!({ "id": id, "mode": "Auto" })),
        (
            "chat/decide",
            json!({ "id": id, "call_id": call.id, "args_hash": call.args_hash, "decision": "Approve" }),
        ),
        (
            "chat/answer",
            json!({ "id": id, "elicitation_id": "x", "action": "Cancel", "values": [] }),
        ),
    ] {
        let reply = app.call(&bob, endpoint, body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{endpoint}: {}",
            reply.body
        );
        assert!(!reply.body.contains("random"), "{endpoint}");
    }
    let sse = app.get(&format!("/api/chat/{id}/events"), Some(&bob)).await;
    assert_eq!(sse.status, StatusCode::NOT_FOUND);
    let page = app.get(&format!("/chat/{id}"), Some(&bob)).await;
    assert!(!page.body.contains("random number"), "{}", page.body);
    // Unknown ids look the same as someone else's.
    let unknown = app.call(&alice, "chat/get", json!({ "id": "nope" })).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.body,
        app.call(&bob, "chat/get", json!({ "id": id })).await.body
    );
    // Visitors get 401.
    assert_eq!(
        app.call("x=y", "chat/list", json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Still pending for alice; bob's attempts changed nothing.
    let reply = app.call(&alice, "chat/get", json!({ "id": id })).await;
    let view: ConversationView = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(last_call(&view).unwrap().status, CallStatus::Pending);
    assert_eq!(view.mode, app::chat::ApprovalMode::Manual);
    assert!(app.audit(&bob).await.is_empty());
}

#[tokio::test]
async fn a_pending_approval_survives_a_restart_and_can_still_be_approved() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Manual").await;
    let mut events = app.events(&alice, &id).await;
    app.say(&alice, &id, "give me a random number between 100 and 200")
        .await;
    events.until("a pending call", pending_call).await;
    drop(events);

    let app = app.restart().await;
    let reply = app.call(&alice, "chat/get", json!({ "id": id })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let view: ConversationView = serde_json::from_str(&reply.body).unwrap();
    let call = last_call(&view).unwrap();
    assert_eq!(call.status, CallStatus::Pending);
    let mut events = app.events(&alice, &id).await;
    assert_eq!(
        app.decide(&alice, &id, &call, "Approve").await.status,
        StatusCode::OK
    );
    let view = events
        .until("answered", |v| settled(v) && !assistant_texts(v).is_empty())
        .await;
    let number: i64 = last_call(&view).unwrap().result.unwrap().parse().unwrap();
    assert!((100..=200).contains(&number));
}

#[tokio::test]
async fn tools_of_several_servers_are_namespaced_and_each_call_goes_to_its_own_server() {
    let mut app = test_app().await;
    let url = app.dev.mcp[0].url.clone();
    app.config.mcp_servers = Some(vec![
        format!("alpha={url} api://portcullis-mcp/mcp:tools")
            .parse()
            .unwrap(),
        format!("beta={url} api://portcullis-mcp/mcp:tools protocol=legacy")
            .parse()
            .unwrap(),
    ]);
    let app = app.restart().await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Manual").await;
    let mut events = app.events(&alice, &id).await;
    app.say(&alice, &id, "give me a random number between 3 and 4")
        .await;
    let view = events.until("a pending call", pending_call).await;
    let call = last_call(&view).unwrap();
    assert!(
        ["alpha", "beta"].contains(&call.server.as_str()),
        "{}",
        call.server
    );
    assert_eq!(call.tool, "get_random_number");
    assert_eq!(
        app.decide(&alice, &id, &call, "Approve").await.status,
        StatusCode::OK
    );
    let view = events
        .until("answered", |v| settled(v) && !assistant_texts(v).is_empty())
        .await;
    let number = last_call(&view).unwrap().result.unwrap();
    // The model saw (and named) the namespaced function of the server the call went to.
    assert_eq!(
        assistant_texts(&view),
        [format!(
            "{}__get_random_number returned: {number}",
            call.server
        )]
    );
    let audit = app.audit(&alice).await;
    assert_eq!(audit[0].server, call.server);
}

// ----- model failures, against a scripted OpenAI-compatible server -----

#[derive(Clone, Debug)]
enum Step {
    Status(u16),
    /// A tool call whose stream ends before its arguments (and any finish reason) do.
    CutOffToolCall,
    /// No bytes for this long.
    Stall(Duration),
    Text(&'static str),
    ToolCall(&'static str, &'static str),
}

#[derive(Clone, Default)]
struct Script {
    steps: Arc<Mutex<VecDeque<Step>>>,
    /// Used when the script has run out.
    repeat: Arc<Mutex<Option<Step>>>,
    requests: Arc<AtomicUsize>,
}

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let body = json!({ "id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
    format!("data: {body}\n\n")
}

async fn scripted(script: Script) -> String {
    use axum::{extract::State, response::IntoResponse, routing::post};
    async fn completions(State(script): State<Script>) -> axum::response::Response {
        script.requests.fetch_add(1, Ordering::SeqCst);
        let step = script
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .or_else(|| script.repeat.lock().unwrap().clone())
            .expect("script ran out");
        let sse = |parts: Vec<String>| {
            (
                [(header::CONTENT_TYPE, "text/event-stream")],
                parts.concat(),
            )
                .into_response()
        };
        match step {
            Step::Status(code) => (
                StatusCode::from_u16(code).unwrap(),
                Json(json!({ "error": { "message": "scripted", "type": "server_error", "param": null, "code": null } })),
            )
                .into_response(),
            Step::Stall(time) => {
                tokio::time::sleep(time).await;
                sse(vec![chunk(json!({ "content": "late" }), Some("stop")), "data: [DONE]\n\n".into()])
            }
            Step::CutOffToolCall => sse(vec![
                chunk(json!({ "role": "assistant", "content": "" }), None),
                chunk(
                    json!({ "tool_calls": [{ "index": 0, "id": "c1", "type": "function",
                        "function": { "name": "tools__add_note", "arguments": "{\"text\": \"cut" } }] }),
                    None,
                ),
            ]),
            Step::Text(text) => sse(vec![
                chunk(json!({ "role": "assistant", "content": text }), None),
                chunk(json!({}), Some("stop")),
                "data: [DONE]\n\n".into(),
            ]),
            Step::ToolCall(name, arguments) => sse(vec![
                chunk(
                    json!({ "tool_calls": [{ "index": 0, "id": format!("c{}", script.requests.load(Ordering::SeqCst)),
                        "type": "function", "function": { "name": name, "arguments": arguments } }] }),
                    None,
                ),
                chunk(json!({}), Some("tool_calls")),
                "data: [DONE]\n\n".into(),
            ]),
        }
    }
    use axum::Json;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(script);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/v1")
}

async fn scripted_app(steps: Vec<Step>, repeat: Option<Step>, agent: Value) -> (TestApp, Script) {
    let script = Script::default();
    script.steps.lock().unwrap().extend(steps);
    *script.repeat.lock().unwrap() = repeat;
    let base = scripted(script.clone()).await;
    let app = test_app_with(json!({
        "model": { "base_url": base, "timeout_secs": 1, "max_attempts": 3 },
        "agent": agent,
    }))
    .await;
    (app, script)
}

async fn one_turn(app: &TestApp, mode: &str, text: &str) -> ConversationView {
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, mode).await;
    let mut events = app.events(&alice, &id).await;
    app.say(&alice, &id, text).await;
    events
        .until("the turn ends", |v| settled(v) && v.entries.len() > 1)
        .await
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times_then_reported() {
    let (app, script) = scripted_app(vec![], Some(Step::Status(503)), json!({})).await;
    let view = one_turn(&app, "Manual", "hello").await;
    // The user's message is kept, and the chat says what happened.
    assert!(matches!(&view.entries[0], Entry::User { text, .. } if text == "hello"));
    let notice = notices(&view).pop().unwrap();
    assert!(
        notice.contains("503") && notice.contains("kept"),
        "{notice}"
    );
    // async-openai's own backoff: the first request and three retries, never more.
    assert_eq!(script.requests.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn rate_limits_then_success_give_one_answer() {
    let (app, script) = scripted_app(
        vec![
            Step::Status(429),
            Step::Status(429),
            Step::Text("Hello after waiting."),
        ],
        None,
        json!({}),
    )
    .await;
    let view = one_turn(&app, "Manual", "hello").await;
    assert_eq!(assistant_texts(&view), ["Hello after waiting."]);
    assert!(notices(&view).is_empty());
    assert_eq!(script.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_cut_off_tool_call_is_never_executed() {
    // Cut off every time: reported, and no tool call exists at all.
    let (app, script) = scripted_app(vec![], Some(Step::CutOffToolCall), json!({})).await;
    let view = one_turn(&app, "Auto", "add a note \"cut\"").await;
    assert!(calls(&view).is_empty(), "{view:?}");
    assert!(notices(&view).pop().unwrap().contains("cut off"));
    assert_eq!(script.requests.load(Ordering::SeqCst), 3, "max_attempts");

    // Cut off once, then complete: the retried reply is the one used, once.
    let (app, _) = scripted_app(
        vec![
            Step::CutOffToolCall,
            Step::ToolCall("tools__add_note", r#"{"text":"whole"}"#),
            Step::Text("Saved."),
        ],
        None,
        json!({}),
    )
    .await;
    let view = one_turn(&app, "Auto", "add a note").await;
    let added = calls(&view);
    assert_eq!(added.len(), 1);
    assert!(
        added[0].result.as_deref().unwrap().ends_with(": whole"),
        "{added:?}"
    );
    assert_eq!(assistant_texts(&view), ["Saved."]);
}

#[tokio::test]
async fn a_stalled_model_is_abandoned_then_retried() {
    let (app, script) = scripted_app(
        vec![
            Step::Stall(Duration::from_secs(3)),
            Step::Text("Back again."),
        ],
        None,
        json!({}),
    )
    .await;
    let view = one_turn(&app, "Manual", "hello").await;
    assert_eq!(assistant_texts(&view), ["Back again."]);
    assert_eq!(script.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_loop_stops_at_the_step_limit() {
    let (app, script) = scripted_app(
        vec![],
        Some(Step::ToolCall("tools__list_notes", "{}")),
        json!({ "step_limit": 3 }),
    )
    .await;
    let view = one_turn(&app, "Auto", "list notes forever").await;
    assert_eq!(calls(&view).len(), 3);
    assert!(notices(&view).pop().unwrap().contains("step limit"));
    assert_eq!(script.requests.load(Ordering::SeqCst), 3);
}

// ---- Starting, renaming and deleting conversations (issue #14) ----

impl TestApp {
    async fn list(&self, cookie: &str) -> Vec<ConversationSummary> {
        let reply = self.call(cookie, "chat/list", json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    }

    async fn start(&self, cookie: &str, text: &str, mode: &str) -> Reply {
        self.call(cookie, "chat/start", json!({ "text": text, "mode": mode }))
            .await
    }
}

#[tokio::test]
async fn the_first_message_creates_the_conversation_and_names_it() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;

    // Refused messages create nothing, with the same errors as in a conversation.
    for (text, says) in [
        ("  \n ", "Type a message first."),
        (&"x".repeat(8001) as &str, "at most 8000 characters"),
    ] {
        let reply = app.start(&alice, text, "Manual").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(reply.body.contains(says), "{}", reply.body);
    }
    let reply = app.start(&alice, "hello", "Yolo").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(app.list(&alice).await.is_empty());
    assert_eq!(
        app.start("x=y", "hello", "Manual").await.status,
        StatusCode::UNAUTHORIZED
    );

    let reply = app
        .start(
            &alice,
            "  give me a random number between 1 and 6 ",
            "Manual",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let started: ConversationSummary = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(started.title, "give me a random number between 1 and 6");
    assert_eq!(started.mode, app::chat::ApprovalMode::Manual);
    assert!((chat_store::now_ms() - started.updated_ms).abs() < 60_000);
    assert_eq!(app.list(&alice).await, std::slice::from_ref(&started));

    // The turn goes on: the model's call waits for approval.
    let mut events = app.events(&alice, &started.id).await;
    let view = events.until("a pending call", pending_call).await;
    assert_eq!(last_call(&view).unwrap().tool, "get_random_number");

    // Newest first.
    let reply = app.start(&alice, "list my notes", "Auto").await;
    let second: ConversationSummary = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(second.mode, app::chat::ApprovalMode::Auto);
    let ids: Vec<String> = app.list(&alice).await.into_iter().map(|c| c.id).collect();
    assert_eq!(ids, [second.id, started.id]);
}

#[tokio::test]
async fn conversations_are_renamed_and_deleted_by_their_owner_and_the_audit_trail_stays() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;
    let bob = app.sign_in("bob").await;
    let reply = app
        .start(&alice, "give me a random number between 1 and 6", "Manual")
        .await;
    let id = serde_json::from_str::<ConversationSummary>(&reply.body)
        .unwrap()
        .id;
    let mut events = app.events(&alice, &id).await;
    let view = events.until("a pending call", pending_call).await;
    let call = last_call(&view).unwrap();
    assert_eq!(
        app.decide(&alice, &id, &call, "Approve").await.status,
        StatusCode::OK
    );
    events
        .until("the answer", |v| {
            settled(v) && last_call(v).is_some_and(|c| c.status == CallStatus::Done)
        })
        .await;

    // Bob gets what an unknown id gets, and changes nothing.
    for (endpoint, body) in [
        ("chat/rename", json!({ "id": id, "title": "bob's" })),
        ("chat/delete", json!({ "id": id })),
    ] {
        let reply = app.call(&bob, endpoint, body.clone()).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{endpoint}");
        let mut unknown = body;
        unknown["id"] = json!("nope");
        assert_eq!(
            reply.body,
            app.call(&alice, endpoint, unknown).await.body,
            "{endpoint}"
        );
    }

    for bad in ["", "  \t ", &"t".repeat(121) as &str] {
        let reply = app
            .call(&alice, "chat/rename", json!({ "id": id, "title": bad }))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad:?}");
    }
    let reply = app
        .call(
            &alice,
            "chat/rename",
            json!({ "id": id, "title": "  Dice  " }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(app.list(&alice).await[0].title, "Dice");
    // Watchers hear of it.
    events.until("the new title", |v| v.title == "Dice").await;

    let reply = app.call(&alice, "chat/delete", json!({ "id": id })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(app.list(&alice).await.is_empty());
    let gone = app.call(&alice, "chat/get", json!({ "id": id })).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let audit = app.audit(&alice).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].conversation_id.as_str(), audit[0].tool.as_str()),
        (id.as_str(), "get_random_number")
    );
    assert_eq!(
        app.call(&alice, "chat/delete", json!({ "id": id }))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// The chat page is rendered on the server, and the open conversation also travels to its island as JSON
/// in an attribute: a hostile title and message reach the page as text in both, never as markup.
#[tokio::test]
async fn hostile_text_reaches_the_chat_page_inert_in_the_html_and_the_islands_props() {
    let app = test_app().await;
    let alice = app.sign_in("alice").await;
    let hostile = r#""><script>alert(1)</script><img src=x onerror=alert(2)> & 'quotes'"#;
    let reply = app.start(&alice, hostile, "Manual").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let id = serde_json::from_str::<ConversationSummary>(&reply.body)
        .unwrap()
        .id;

    for path in [format!("/chat/{id}"), "/chat".to_owned()] {
        let page = app.get(&path, Some(&alice)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let body = &page.body;
        for markup in ["<script>alert", "<img", "onerror=alert(2)>"] {
            assert!(!body.contains(markup), "{path}: {markup} in {body}");
        }
        // The list's line, as text and in its island's props.
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: {body}"
        );
        assert!(
            body.contains(r#"<leptos-island data-component="ItemActions"#),
            "{path}: {body}"
        );
    }
    // The pane's island carries the whole view, attribute-escaped JSON that reads back as it was.
    let page = app.get(&format!("/chat/{id}"), Some(&alice)).await;
    let props = page
        .body
        .split(r#"<leptos-island data-component="ConversationPane"#)
        .nth(1)
        .and_then(|rest| rest.split(r#"data-props=""#).nth(1))
        .and_then(|rest| rest.split('"').next())
        .expect("the pane's island with its props");
    let json = props
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let props: serde_json::Value = serde_json::from_str(&json).expect("props are JSON");
    let view: ConversationView =
        serde_json::from_str(props["view"].as_str().expect("the view as a JSON string"))
            .expect("the view reads back");
    assert_eq!(view.id, id);
    // The title is the message's beginning; the message is whole.
    assert!(hostile.starts_with(&view.title), "{}", view.title);
    assert!(
        view.entries
            .iter()
            .any(|e| matches!(e, Entry::User { text, .. } if text == hostile)),
        "{:?}",
        view.entries
    );
}

/// A second web instance of `app`: the same configuration, database and dev stack; its own chat, agent,
/// hub and loop-lease holder id.
async fn second_instance(app: &TestApp) -> axum::Router {
    let other = server::AppState::build(
        app.config.clone(),
        app.state.leptos_options.clone(),
        &app.dev,
    )
    .await
    .unwrap();
    server::router(other)
}

/// A server function on `router` (another instance than the test app's).
async fn call_on(
    router: &axum::Router,
    cookie: &str,
    endpoint: &str,
    body: Value,
) -> (StatusCode, String) {
    let request = Request::post(format!("/api/{endpoint}"))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(router.clone(), request)
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A form pending in a delete_note call the test app's loop runs.
async fn pending_form(app: &TestApp, alice: &str, id: &str, events: &mut Events) -> (i64, String) {
    let note_id = saved_note_id(&add_note(app, alice, id, events, "shared").await);
    app.say(alice, id, &format!("delete note {note_id}")).await;
    let view = events.until("a form", form_pending).await;
    let request = last_call(&view)
        .unwrap()
        .elicitations
        .last()
        .unwrap()
        .id
        .clone();
    (note_id, request)
}

#[tokio::test]
async fn an_answer_given_through_another_instance_reaches_the_call_waiting_for_it() {
    let app = test_app().await;
    let other = second_instance(&app).await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Elicitation").await;
    let mut events = app.events(&alice, &id).await;
    let (note_id, request) = pending_form(&app, &alice, &id, &mut events).await;

    // The browser's answer lands on the other instance; the call waits in this one's MCP session.
    let answer = json!({ "id": id, "elicitation_id": request, "action": "Accept",
                         "values": [["confirm", "true"]] });
    let (status, body) = call_on(&other, &alice, "chat/answer", answer.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view = events
        .until("deletion finished", |v| {
            settled(v) && last_call(v).is_some_and(|c| c.status.is_final())
        })
        .await;
    assert_eq!(
        last_call(&view).unwrap().result.unwrap(),
        format!("Deleted note {note_id}.")
    );
    // Answered once, whichever instance is asked again.
    let (status, _) = call_on(&other, &alice, "chat/answer", answer.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let reply = app.call(&alice, "chat/answer", answer).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn an_answer_for_a_call_whose_process_is_gone_is_refused_and_nothing_is_stored() {
    let app = test_app().await;
    let other = second_instance(&app).await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Elicitation").await;
    let mut events = app.events(&alice, &id).await;
    let (_, request) = pending_form(&app, &alice, &id, &mut events).await;

    // As if the instance running the call had died: its lease ran out.
    let pool = sqlx::AnyPool::connect(&app_database(&app)).await.unwrap();
    sqlx::query("UPDATE conversation_leases SET expires_at = 0")
        .execute(&pool)
        .await
        .unwrap();
    let answer = json!({ "id": id, "elicitation_id": request, "action": "Accept",
                         "values": [["confirm", "true"]] });
    let (status, body) = call_on(&other, &alice, "chat/answer", answer).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("no longer waiting"), "{body}");
    let stored: String = sqlx::query_scalar("SELECT status FROM elicitations WHERE id = $1")
        .bind(&request)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        stored, "pending",
        "nothing written for an answer nobody can deliver"
    );
}

fn app_database(app: &TestApp) -> String {
    sqlx::any::install_default_drivers();
    match app.config.database() {
        server::config::Database::Sqlite(url) => url,
        server::config::Database::Postgres(url) => {
            secrecy::ExposeSecret::expose_secret(&url).to_owned()
        }
    }
}

#[tokio::test]
async fn on_postgresql_a_watcher_on_one_instance_sees_a_turn_another_instance_runs() {
    let postgres = service_kit::testing::TempPostgres::start();
    let app = test_app_with(json!({ "database_url": postgres.url() })).await;
    let other = second_instance(&app).await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Manual").await;
    let mut events = app.events(&alice, &id).await;

    // Sent and approved through the other instance: its loop runs the turn, this one only watches.
    let (status, body) = call_on(
        &other,
        &alice,
        "chat/send",
        json!({ "id": id, "text": "give me a random number between 5 and 6" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view = events.until("the pending call", pending_call).await;
    let call = last_call(&view).unwrap();
    let decision = json!({ "id": id, "call_id": call.id, "args_hash": call.args_hash,
                           "decision": "Approve" });
    let (status, body) = call_on(&other, &alice, "chat/decide", decision).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view = events
        .until("the answer", |v| {
            !assistant_texts(v).is_empty()
                && last_call(v).is_some_and(|c| c.status.is_final())
                && v.entries
                    .last()
                    .is_some_and(|e| matches!(e, Entry::Assistant { .. }))
        })
        .await;
    let number: i64 = last_call(&view).unwrap().result.unwrap().parse().unwrap();
    assert!((5..=6).contains(&number));
    assert!(
        !app.state
            .chat
            .is_running(&agent::domain::ConversationId::from(id.as_str()))
    );
    // A form another instance's loop waits on: busy here too (its lease says so), and the answer
    // given here reaches that instance's MCP session through the database.
    let form = app.create(&alice, "Elicitation").await;
    let mut events = app.events(&alice, &form).await;
    for text in ["add a note \"across\"", "delete note 1"] {
        let (status, body) = call_on(
            &other,
            &alice,
            "chat/send",
            json!({ "id": form, "text": text }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if text.starts_with("add") {
            events
                .until("the note", |v| settled(v) && !assistant_texts(v).is_empty())
                .await;
        }
    }
    let view = events
        .until("the form, while the other instance works", |v| {
            v.busy && form_pending(v)
        })
        .await;
    let request = last_call(&view).unwrap().elicitations[0].id.clone();
    let reply = app
        .answer(
            &alice,
            &form,
            &request,
            "Accept",
            json!([["confirm", "true"]]),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let view = events
        .until("deleted, and idle", |v| {
            settled(v) && last_call(v).is_some_and(|c| c.status.is_final())
        })
        .await;
    assert_eq!(last_call(&view).unwrap().result.unwrap(), "Deleted note 1.");
}

/// The app's conversation store, opened beside the app as another process would.
async fn store_of(app: &TestApp) -> server::chat::SqlStore {
    server::chat::SqlStore::new(sqlx::AnyPool::connect(&app_database(app)).await.unwrap())
}

/// Polls the conversation until `done` holds (20 s at most).
async fn poll(
    app: &TestApp,
    cookie: &str,
    id: &str,
    what: &str,
    done: impl Fn(&ConversationView) -> bool,
) -> ConversationView {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = app.call(cookie, "chat/get", json!({ "id": id })).await;
        let view: ConversationView = serde_json::from_str(&reply.body).unwrap();
        if done(&view) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {what}: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_message_left_by_an_instance_that_died_before_its_loop_started_is_answered() {
    use agent::ports::ConversationStore;
    let app = test_app_with(json!({ "agent": { "loop_lease_secs": 1 } })).await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Manual").await;
    // What a dying instance leaves: the lease it took before storing the message, and the message.
    let store = store_of(&app).await;
    let conversation = agent::domain::ConversationId::from(id.as_str());
    assert!(
        store
            .claim_loop(&conversation, "dead", Duration::from_millis(300))
            .await
            .unwrap()
    );
    store
        .add_message(&conversation, agent::domain::Role::User, "what time is it?")
        .await
        .unwrap();
    // The sweep finds the lease run out and answers.
    let view = poll(&app, &alice, &id, "answered", |v| {
        v.entries
            .iter()
            .any(|e| matches!(e, Entry::ToolCall(_) | Entry::Assistant { .. }))
    })
    .await;
    assert!(!view.entries.is_empty());
}

#[tokio::test]
async fn a_call_stranded_by_a_failed_step_is_closed_and_the_conversation_goes_on() {
    use agent::ports::ConversationStore;
    let app = test_app_with(json!({ "agent": { "loop_lease_secs": 1 } })).await;
    let alice = app.sign_in("alice").await;
    let id = app.create(&alice, "Manual").await;
    let store = store_of(&app).await;
    let conversation = agent::domain::ConversationId::from(id.as_str());
    // An approved call under a reply, then the notice of a step that failed before it could close it.
    let call = agent::domain::NewCall {
        model_call_id: "call_1".to_owned(),
        function_name: "get_random_number".to_owned(),
        server: "tools".to_owned(),
        tool: "get_random_number".to_owned(),
        arguments: r#"{"min":1,"max":2}"#.to_owned(),
        read_only: true,
        destructive: false,
        status: agent::domain::CallStatus::Approved,
        decided_by: Some(agent::domain::DecidedBy::User),
    };
    store
        .add_assistant(&conversation, "", vec![call])
        .await
        .unwrap();
    store
        .add_message(
            &conversation,
            agent::domain::Role::Notice,
            "Something went wrong.",
        )
        .await
        .unwrap();
    let view = poll(&app, &alice, &id, "the call closed", |v| {
        last_call(v).is_some_and(|c| c.status == CallStatus::Failed)
    })
    .await;
    assert!(
        last_call(&view)
            .unwrap()
            .result
            .unwrap()
            .starts_with("Not called"),
        "never run: {view:?}"
    );
    // Not blocked any more.
    app.say(&alice, &id, "what time is it?").await;
}
