//! The store on a real SQLite file: what the agent writes reads back the same (URL requests, structured
//! results), and rows stored before migration 0003 read as they were meant.

use std::borrow::Cow;

use agent::{
    domain::{
        ApprovalMode, CallStatus, ElicitationId, ElicitationKind, ElicitationStatus,
        ElicitationUrl, Finish, NewCall, UserKey,
    },
    ports::{ConversationReads, ConversationStore},
};
use sqlx::AnyPool;

use super::SqlStore;

/// A fresh SQLite database, migrated up to (not including) `before` when given.
async fn database(dir: &tempfile::TempDir, before: Option<i64>) -> AnyPool {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    migrate(&pool, before).await;
    pool
}

async fn migrate(pool: &AnyPool, before: Option<i64>) {
    let mut migrator = sqlx::migrate!("./migrations/app");
    if let Some(before) = before {
        migrator.migrations = Cow::Owned(
            migrator
                .migrations
                .iter()
                .filter(|m| m.version < before)
                .cloned()
                .collect(),
        );
    }
    migrator.run(pool).await.unwrap();
}

fn new_call(tool: &str) -> NewCall {
    NewCall {
        model_call_id: format!("call_{tool}"),
        function_name: tool.to_owned(),
        server: "tools".to_owned(),
        tool: tool.to_owned(),
        arguments: "{}".to_owned(),
        read_only: true,
        destructive: false,
        status: CallStatus::Approved,
        decided_by: None,
    }
}

#[tokio::test]
async fn url_requests_and_structured_results_round_trip_and_older_rows_read_as_forms() {
    let dir = tempfile::tempdir().unwrap();
    // A database as the previous version left it: one form request stored before kinds existed.
    let pool = database(&dir, Some(3)).await;
    let store = SqlStore::new(pool.clone());
    let conversation = store
        .create_conversation(&UserKey::from("tenant.alice"), ApprovalMode::Elicitation)
        .await
        .unwrap();
    let id = &conversation.id;
    let calls = store
        .add_assistant(
            id,
            "",
            vec![
                new_call("delete_note"),
                new_call("list_my_events"),
                new_call("echo"),
            ],
        )
        .await
        .unwrap();
    let schema = r#"{"type":"object","properties":{"confirm":{"type":"boolean"}}}"#;
    sqlx::query(
        "INSERT INTO elicitations (id, conversation_id, tool_call_id, message, schema, status, created_at) \
         VALUES ('old', $1, $2, 'Delete?', $3, 'declined', 1)",
    )
    .bind(id.as_str())
    .bind(calls[0].as_str())
    .bind(schema)
    .execute(&pool)
    .await
    .unwrap();
    migrate(&pool, None).await;

    let old = store
        .elicitation(id, &ElicitationId::from("old"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        old.kind,
        ElicitationKind::Form {
            schema: schema.to_owned()
        }
    );
    assert_eq!(old.status, ElicitationStatus::Declined);

    let consent = ElicitationId::random();
    let url =
        ElicitationUrl::parse("https://login.example.com/consent?scope=Calendars.Read").unwrap();
    store
        .add_elicitation(
            id,
            &consent,
            &calls[1],
            "Grant Calendars.Read",
            &ElicitationKind::Url { url: url.clone() },
        )
        .await
        .unwrap();
    let stored = store.elicitation(id, &consent).await.unwrap().unwrap();
    assert_eq!(stored.kind, ElicitationKind::Url { url: url.clone() });
    assert_eq!(
        (stored.message.as_str(), stored.status),
        ("Grant Calendars.Read", ElicitationStatus::Pending)
    );
    assert!(
        store
            .close_elicitation(&consent, ElicitationStatus::Accepted, None)
            .await
            .unwrap()
    );

    let structured = r#"{"events":[{"subject":"Standup"}],"truncated":false}"#;
    store
        .finish_call(
            &calls[1],
            &Finish {
                status: CallStatus::Done,
                text: "1 event: Standup".to_owned(),
                structured: Some(structured.to_owned()),
                is_error: false,
            },
        )
        .await
        .unwrap();
    store
        .finish_call(
            &calls[2],
            &Finish {
                status: CallStatus::Done,
                text: "echo".to_owned(),
                structured: None,
                is_error: false,
            },
        )
        .await
        .unwrap();

    let transcript = store.transcript(id).await.unwrap();
    let by_tool = |tool: &str| transcript.calls.iter().find(|c| c.tool == tool).unwrap();
    assert_eq!(
        by_tool("list_my_events").structured.as_deref(),
        Some(structured)
    );
    assert_eq!(
        by_tool("list_my_events").result.as_deref(),
        Some("1 event: Standup")
    );
    assert_eq!(by_tool("echo").structured, None);
    assert_eq!(by_tool("delete_note").structured, None);
    let kinds: Vec<&str> = transcript
        .elicitations
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["form", "url"]);
    assert_eq!(
        transcript.elicitations[1].status,
        ElicitationStatus::Accepted
    );

    // A URL that no longer passes the check (edited in the database) is never read back as a link.
    sqlx::query("UPDATE elicitations SET url = 'javascript:alert(1)' WHERE id = $1")
        .bind(consent.as_str())
        .execute(&pool)
        .await
        .unwrap();
    assert!(store.elicitation(id, &consent).await.unwrap().is_none());
    let transcript = store.transcript(id).await.unwrap();
    assert_eq!(transcript.elicitations.len(), 1);
    assert_eq!(transcript.elicitations[0].kind.as_str(), "form");
}

async fn count(pool: &AnyPool, table: &str, id: &str) -> i64 {
    sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {table} WHERE conversation_id = $1"
    ))
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Renaming and deleting act on the owner's conversation only; deleting takes its messages, calls and
/// elicitation requests with it but leaves the audit log as it was.
#[tokio::test]
async fn rename_and_delete_are_the_owners_and_deleting_keeps_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let pool = database(&dir, None).await;
    let store = SqlStore::new(pool.clone());
    let (alice, bob) = (UserKey::from("tenant.alice"), UserKey::from("tenant.bob"));
    let mine = store
        .create_conversation(&alice, ApprovalMode::Manual)
        .await
        .unwrap();
    let theirs = store
        .create_conversation(&bob, ApprovalMode::Manual)
        .await
        .unwrap();
    for conversation in [&mine, &theirs] {
        store
            .add_message(&conversation.id, agent::domain::Role::User, "list my notes")
            .await
            .unwrap();
    }
    let id = &mine.id;
    let calls = store
        .add_assistant(id, "", vec![new_call("list_notes"), new_call("add_note")])
        .await
        .unwrap();
    store
        .finish_call(
            &calls[0],
            &Finish {
                status: CallStatus::Done,
                text: "no notes".to_owned(),
                structured: None,
                is_error: false,
            },
        )
        .await
        .unwrap();
    store
        .add_elicitation(
            id,
            &ElicitationId::random(),
            &calls[1],
            "Which note?",
            &ElicitationKind::Form {
                schema: r#"{"type":"object","properties":{}}"#.to_owned(),
            },
        )
        .await
        .unwrap();
    let audit_before = store.audit(&alice).await.unwrap();
    assert_eq!(audit_before.len(), 1);

    // Someone else's id behaves like an unknown one, and changes nothing.
    assert!(!store.rename(&bob, id, "mine now").await.unwrap());
    assert!(!store.delete(&bob, id).await.unwrap());
    assert_eq!(
        store.owned(&alice, id).await.unwrap().unwrap().title,
        "list my notes"
    );

    assert!(store.rename(&alice, id, "Notes").await.unwrap());
    assert_eq!(
        store.owned(&alice, id).await.unwrap().unwrap().title,
        "Notes"
    );

    assert!(store.delete(&alice, id).await.unwrap());
    assert!(store.owned(&alice, id).await.unwrap().is_none());
    for table in ["messages", "tool_calls", "elicitations"] {
        assert_eq!(count(&pool, table, id.as_str()).await, 0, "{table}");
    }
    let audit_after = store.audit(&alice).await.unwrap();
    assert_eq!(audit_after.len(), 1, "the audit log keeps the call");
    assert_eq!(audit_after[0].conversation_id, id.as_str());
    assert!(!store.delete(&alice, id).await.unwrap(), "already gone");
    assert!(!store.rename(&alice, id, "again").await.unwrap());

    // Bob's conversation is untouched.
    assert_eq!(count(&pool, "messages", theirs.id.as_str()).await, 1);
    assert_eq!(
        store
            .conversations(&bob)
            .await
            .unwrap()
            .iter()
            .map(|c| &c.id)
            .collect::<Vec<_>>(),
        [&theirs.id]
    );
}

/// The tail read (what the loop reads after every step) is exactly the whole transcript from that
/// message on, for every starting point, with calls and elicitation requests of other conversations
/// and of earlier messages left out.
#[tokio::test]
async fn a_transcript_read_from_a_message_on_is_that_part_of_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::new(database(&dir, None).await);
    let user = UserKey::from("tenant.alice");
    let mine = store
        .create_conversation(&user, ApprovalMode::Manual)
        .await
        .unwrap();
    let other = store
        .create_conversation(&user, ApprovalMode::Manual)
        .await
        .unwrap();
    let kind = ElicitationKind::Form {
        schema: r#"{"type":"object","properties":{}}"#.to_owned(),
    };
    for conversation in [&other, &mine] {
        let id = &conversation.id;
        for turn in 0..3 {
            store
                .add_message(id, agent::domain::Role::User, &format!("turn {turn}"))
                .await
                .unwrap();
            let calls = store
                .add_assistant(id, "", vec![new_call("list_notes"), new_call("add_note")])
                .await
                .unwrap();
            store
                .add_elicitation(id, &ElicitationId::random(), &calls[1], "sure?", &kind)
                .await
                .unwrap();
        }
    }
    let whole = store.transcript(&mine.id).await.unwrap();
    assert_eq!(whole.messages.len(), 6);
    for first in 0..=7 {
        let tail = store.transcript_from(&mine.id, first).await.unwrap();
        let messages: Vec<_> = whole.messages.iter().skip(first).map(|m| &m.id).collect();
        assert_eq!(
            tail.messages.iter().map(|m| &m.id).collect::<Vec<_>>(),
            messages
        );
        let mut calls: Vec<_> = whole
            .calls
            .iter()
            .filter(|c| messages.contains(&&c.message_id))
            .map(|c| &c.id)
            .collect();
        let mut read: Vec<_> = tail.calls.iter().map(|c| &c.id).collect();
        calls.sort();
        read.sort();
        assert_eq!(read, calls, "calls from message {first}");
        let requests: Vec<_> = whole
            .elicitations
            .iter()
            .filter(|e| calls.contains(&&e.call_id))
            .map(|e| &e.id)
            .collect();
        assert_eq!(
            tail.elicitations.iter().map(|e| &e.id).collect::<Vec<_>>(),
            requests,
            "requests from message {first}"
        );
    }
}

#[tokio::test]
async fn one_holder_drives_a_conversation_and_a_dead_holders_work_is_found() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::new(database(&dir, None).await);
    let user = UserKey::from("tenant.alice");
    let conversation = store
        .create_conversation(&user, ApprovalMode::Manual)
        .await
        .unwrap();
    let id = &conversation.id;
    let long = Duration::from_secs(60);

    assert!(store.claim_loop(id, "a", long).await.unwrap());
    assert!(store.loop_held(id).await.unwrap());
    // Another holder cannot take a live lease; its holder renews it.
    assert!(!store.claim_loop(id, "b", long).await.unwrap());
    assert!(store.claim_loop(id, "a", long).await.unwrap());
    // Work under a live lease is nobody's orphan.
    let calls = store
        .add_assistant(id, "", vec![new_call("get_random_number")])
        .await
        .unwrap();
    assert!(store.start_call(&calls[0]).await.unwrap());
    assert!(store.orphans().await.unwrap().is_empty());

    // "a" dies: its lease runs out. The call it was running is found, and "b" can take the lease.
    assert!(store.claim_loop(id, "a", Duration::ZERO).await.unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!store.loop_held(id).await.unwrap());
    assert_eq!(store.orphans().await.unwrap(), vec![id.clone()]);
    assert!(store.claim_loop(id, "b", long).await.unwrap());
    // "b" closes the interrupted call; a late finish from "a" changes nothing and audits nothing.
    store
        .finish_call(&calls[0], &Finish::failed("Interrupted"))
        .await
        .unwrap();
    store
        .finish_call(
            &calls[0],
            &Finish {
                status: CallStatus::Done,
                text: "42".to_owned(),
                structured: None,
                is_error: false,
            },
        )
        .await
        .unwrap();
    let call = store.call(id, &calls[0]).await.unwrap().unwrap();
    assert_eq!(
        (call.status, call.result.as_deref()),
        (CallStatus::Failed, Some("Interrupted"))
    );
    assert_eq!(store.audit(&user).await.unwrap().len(), 1);

    // Only the holder gives the lease up.
    store.release_loop(id, "a").await.unwrap();
    assert!(store.loop_held(id).await.unwrap());
    store.release_loop(id, "b").await.unwrap();
    assert!(!store.loop_held(id).await.unwrap());
    assert!(store.orphans().await.unwrap().is_empty());
}
