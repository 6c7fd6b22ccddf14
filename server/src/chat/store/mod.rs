//! The web app's conversation store: conversations, messages, tool calls, elicitation requests and the
//! audit log in SQL through sqlx's `Any` driver (SQLite by default, PostgreSQL by configuration). It
//! implements the agent's [`ConversationStore`] port (writes in `write`), plus the reads only the web
//! needs (lists, ownership, audit, recovery after a restart).
//!
//! Every read that starts from something the browser names goes through [`SqlStore::owned`] with the
//! signed-in user's key first, so another user's ids behave exactly like unknown ones.

#[cfg(test)]
mod round_trip;
mod rows;
mod write;

use agent::domain::{
    Call, CallId, CallStatus, Conversation, ConversationId, Elicitation, ElicitationId,
    ElicitationStatus, Finish, Transcript, UserKey,
};
use sqlx::AnyPool;

use self::rows::{
    CALL_COLUMNS, CONVERSATION_COLUMNS, CallRow, ConversationRow, ELICITATION_COLUMNS,
    ElicitationRow, MessageRow,
};

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One audit record as stored.
pub use rows::AuditRow;

#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
}

impl SqlStore {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// After a restart nothing is running: calls that were running are failed (whether they took effect
    /// is unknown, so they are not retried) and open elicitation requests expire. Pending approvals stay.
    /// Returns the conversations with approved calls still to run.
    pub async fn recover(&self) -> anyhow::Result<Vec<ConversationId>> {
        sqlx::query("UPDATE elicitations SET status = $1, answered_at = $2 WHERE status = $3")
            .bind(ElicitationStatus::Expired.as_str())
            .bind(now_ms())
            .bind(ElicitationStatus::Pending.as_str())
            .execute(&self.pool)
            .await?;
        let interrupted: Vec<String> =
            sqlx::query_scalar("SELECT id FROM tool_calls WHERE status = $1")
                .bind(CallStatus::Running.as_str())
                .fetch_all(&self.pool)
                .await?;
        for id in interrupted {
            self.finish(
                &CallId::from(id),
                &Finish::failed(
                    "Interrupted by a server restart; it may or may not have taken effect.",
                ),
            )
            .await?;
        }
        // Approved calls that had not started can safely run now: their conversations need a loop.
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT conversation_id FROM tool_calls WHERE status = $1")
                .bind(CallStatus::Approved.as_str())
                .fetch_all(&self.pool)
                .await?;
        Ok(ids.into_iter().map(ConversationId::from).collect())
    }

    pub async fn conversations(&self, user: &UserKey) -> anyhow::Result<Vec<Conversation>> {
        let rows: Vec<ConversationRow> = sqlx::query_as(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user_key = $1 \
             ORDER BY updated_at DESC, id LIMIT 200"
        ))
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Conversation::from).collect())
    }

    /// The conversation, if it exists and belongs to `user`.
    pub async fn owned(
        &self,
        user: &UserKey,
        id: &ConversationId,
    ) -> anyhow::Result<Option<Conversation>> {
        let row: Option<ConversationRow> = sqlx::query_as(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND user_key = $2"
        ))
        .bind(id.as_str())
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Conversation::from))
    }

    pub(crate) async fn by_id(&self, id: &ConversationId) -> anyhow::Result<Option<Conversation>> {
        let row: Option<ConversationRow> = sqlx::query_as(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Conversation::from))
    }

    pub(crate) async fn read_transcript(&self, id: &ConversationId) -> anyhow::Result<Transcript> {
        let messages: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, role, content FROM messages WHERE conversation_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        let calls: Vec<CallRow> = sqlx::query_as(&format!(
            "SELECT {CALL_COLUMNS} FROM tool_calls WHERE conversation_id = $1 ORDER BY message_id, position"
        ))
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        let elicitations: Vec<ElicitationRow> = sqlx::query_as(&format!(
            "SELECT {ELICITATION_COLUMNS} FROM elicitations WHERE conversation_id = $1 \
             ORDER BY created_at, id"
        ))
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(Transcript {
            messages: messages.into_iter().map(Into::into).collect(),
            calls: calls.into_iter().map(Into::into).collect(),
            elicitations: elicitations
                .into_iter()
                .filter_map(ElicitationRow::into_elicitation)
                .collect(),
        })
    }

    pub(crate) async fn read_call(
        &self,
        id: &ConversationId,
        call: &CallId,
    ) -> anyhow::Result<Option<Call>> {
        let row: Option<CallRow> = sqlx::query_as(&format!(
            "SELECT {CALL_COLUMNS} FROM tool_calls WHERE id = $1 AND conversation_id = $2"
        ))
        .bind(call.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Call::from))
    }

    pub(crate) async fn read_elicitation(
        &self,
        id: &ConversationId,
        elicitation: &ElicitationId,
    ) -> anyhow::Result<Option<Elicitation>> {
        let row: Option<ElicitationRow> = sqlx::query_as(&format!(
            "SELECT {ELICITATION_COLUMNS} FROM elicitations WHERE id = $1 AND conversation_id = $2"
        ))
        .bind(elicitation.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(ElicitationRow::into_elicitation))
    }

    pub(crate) async fn count_open_calls(&self, id: &ConversationId) -> anyhow::Result<u64> {
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tool_calls WHERE conversation_id = $1 \
             AND status IN ($2, $3, $4)",
        )
        .bind(id.as_str())
        .bind(CallStatus::Pending.as_str())
        .bind(CallStatus::Approved.as_str())
        .bind(CallStatus::Running.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(open).unwrap_or_default())
    }

    /// The user's audit trail, newest first.
    pub async fn audit(&self, user: &UserKey) -> anyhow::Result<Vec<AuditRow>> {
        Ok(sqlx::query_as(
            "SELECT conversation_id, server, tool, args_hash, decision, decided_by, proposed_at, \
             decided_at, finished_at, outcome FROM audit_log WHERE user_key = $1 \
             ORDER BY finished_at DESC LIMIT 500",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, path::Path};

    /// The statements of a migration folder, comments dropped and the dialects' type names folded.
    fn statements(folder: &str) -> BTreeMap<String, String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                let sql: String = text
                    .lines()
                    .map(|line| line.split("--").next().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(" ");
                let folded = sql
                    .split_whitespace()
                    .map(|word| match word {
                        "BYTEA" | "BYTEA," => word.replace("BYTEA", "BLOB"),
                        "BIGINT" | "BIGINT," => word.replace("BIGINT", "INTEGER"),
                        _ => word.to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                (
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    folded,
                )
            })
            .collect()
    }

    /// The two migration sets are one schema in two dialects: applied migrations cannot be edited
    /// (sqlx checks their checksums), so this test is what keeps them from drifting.
    #[test]
    fn sqlite_and_postgres_migrations_do_not_drift() {
        let sqlite = statements("migrations/app");
        let postgres = statements("migrations/app_postgres");
        assert_eq!(
            sqlite.keys().collect::<Vec<_>>(),
            postgres.keys().collect::<Vec<_>>(),
            "the same migration files on both"
        );
        for (file, statements) in &sqlite {
            assert_eq!(
                statements, &postgres[file],
                "{file} differs beyond its dialect"
            );
        }
    }
}
