//! The agent's conversation store in SQL, shared by the web app (`server`) and the console client
//! (`console`, a local SQLite file): conversations, messages, tool calls, elicitation requests and the
//! audit log through sqlx's `Any` driver (SQLite by default, PostgreSQL by configuration). It implements
//! the agent's [`ConversationStore`](agent::ports::ConversationStore) port, plus the reads only a
//! front-end needs (lists, ownership, audit, recovery after a restart).
//!
//! Every read that starts from something a client (browser, command line) names goes through [`SqlStore::owned`] with the
//! signed-in user's key first, so another user's ids behave exactly like unknown ones.
//!
//! Layout:
//! - this file: [`SqlStore`] and its reads, [`now_ms`], [`rfc3339`].
//! - `write`: the agent's `ConversationStore` port (reads by id, and every write).
//! - `rows`: rows as sqlx reads them, turned into the agent's domain records; [`AuditRow`].
//! - `database`: opening and migrating: [`connect`], [`migrate`], [`open_sqlite`]. The migrations are
//!   `migrations/app` (SQLite) and `migrations/app_postgres`, one schema in two dialects; they include the
//!   web app's token cache table (0001), which shares the database and the migration history.
//! - `round_trip` (tests): the store on a real SQLite file, across migration 0003; renaming and
//!   deleting a conversation.

mod database;
#[cfg(test)]
mod round_trip;
mod rows;
mod write;

use agent::domain::{
    Call, CallId, CallStatus, Conversation, ConversationId, Elicitation, ElicitationId, Transcript,
    UserKey,
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

/// `ms` (Unix milliseconds) as RFC 3339 in UTC, to the second.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub use self::database::{migrate, open_sqlite};
/// One audit record as stored.
pub use self::rows::AuditRow;

#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    /// The database's clock in Unix milliseconds, as SQL (see [`database_clock`]).
    clock: &'static str,
}

/// The database's own clock, in Unix milliseconds, as an SQL expression of its dialect. Loop leases are
/// written by several instances and compared by all of them: one clock (the database's) makes them
/// independent of how far the instances' clocks drift apart.
fn database_clock(pool: &AnyPool) -> &'static str {
    if pool
        .connect_options()
        .database_url
        .scheme()
        .starts_with("postgres")
    {
        "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    } else {
        "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    }
}

impl SqlStore {
    pub fn new(pool: AnyPool) -> Self {
        Self {
            clock: database_clock(&pool),
            pool,
        }
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
        self.read_transcript_from(id, 0).await
    }

    /// Messages from index `first` (0-based) on — `seq` counts a conversation's messages from 1, with no
    /// gaps — with their calls and those calls' elicitation requests: a read whose cost is the part read.
    pub(crate) async fn read_transcript_from(
        &self,
        id: &ConversationId,
        first: usize,
    ) -> anyhow::Result<Transcript> {
        let first_seq = i64::try_from(first).unwrap_or(i64::MAX).saturating_add(1);
        let messages: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, role, content FROM messages WHERE conversation_id = $1 AND seq >= $2 ORDER BY seq",
        )
        .bind(id.as_str())
        .bind(first_seq)
        .fetch_all(&self.pool)
        .await?;
        let calls: Vec<CallRow> = sqlx::query_as(&format!(
            "SELECT {CALL_COLUMNS} FROM tool_calls WHERE conversation_id = $1 AND message_id IN \
             (SELECT id FROM messages WHERE conversation_id = $1 AND seq >= $2) ORDER BY message_id, position"
        ))
        .bind(id.as_str())
        .bind(first_seq)
        .fetch_all(&self.pool)
        .await?;
        let elicitations: Vec<ElicitationRow> = sqlx::query_as(&format!(
            "SELECT {ELICITATION_COLUMNS} FROM elicitations WHERE conversation_id = $1 AND tool_call_id IN \
             (SELECT c.id FROM tool_calls c JOIN messages m ON m.id = c.message_id \
              WHERE c.conversation_id = $1 AND m.conversation_id = $1 AND m.seq >= $2) \
             ORDER BY created_at, id"
        ))
        .bind(id.as_str())
        .bind(first_seq)
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

    /// Renames the user's conversation; `false` when it is unknown or someone else's. The title is
    /// stored as given (the caller checks it).
    pub async fn rename(
        &self,
        user: &UserKey,
        id: &ConversationId,
        title: &str,
    ) -> anyhow::Result<bool> {
        let done =
            sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2 AND user_key = $3")
                .bind(title)
                .bind(id.as_str())
                .bind(user.as_str())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the user's conversation with its messages, tool calls and elicitation requests, in one
    /// transaction; `false` when it is unknown or someone else's. The audit log keeps its rows: it is
    /// the record of what was done, and has no foreign key to what it records.
    pub async fn delete(&self, user: &UserKey, id: &ConversationId) -> anyhow::Result<bool> {
        // Children first, each scoped to the owner's conversation (explicit rather than relying on
        // ON DELETE CASCADE, which SQLite applies only with foreign keys switched on); every statement
        // writes, so the SQLite transaction takes the write lock from the start.
        const OWNED: &str =
            "conversation_id IN (SELECT id FROM conversations WHERE id = $1 AND user_key = $2)";
        let mut tx = self.pool.begin().await?;
        for table in ["elicitations", "tool_calls", "messages"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE {OWNED}"))
                .bind(id.as_str())
                .bind(user.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM conversations WHERE id = $1 AND user_key = $2")
            .bind(id.as_str())
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
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
