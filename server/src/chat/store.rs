//! Persistence of conversations, messages, tool calls, elicitation requests and the audit log, through
//! sqlx's `Any` driver (SQLite by default, PostgreSQL by configuration).
//!
//! Every read that starts from something the browser names goes through [`Store::conversation`] with
//! the signed-in user's key first, so another user's ids behave exactly like unknown ones.

use anyhow::Context;
use app::chat::{ApprovalMode, AuditRecord, CallStatus, ElicitationStatus};
use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row, any::AnyRow};

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A random 128-bit id, hex.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    pub user_key: String,
    pub title: String,
    pub mode: ApprovalMode,
    /// Function names approved for the rest of the conversation.
    pub always_allow: Vec<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct Call {
    pub id: String,
    pub message_id: String,
    pub model_call_id: String,
    pub function_name: String,
    pub server: String,
    pub tool: String,
    pub arguments: String,
    pub args_hash: String,
    pub read_only: bool,
    pub destructive: bool,
    pub status: CallStatus,
    pub decided_by: Option<String>,
    pub result: Option<String>,
    pub is_error: bool,
}

#[derive(Debug, Clone)]
pub struct Elicitation {
    pub id: String,
    pub tool_call_id: String,
    pub message: String,
    pub schema: String,
    pub status: ElicitationStatus,
}

/// A tool call as the model proposed it, before it is stored.
pub struct NewCall {
    pub model_call_id: String,
    pub function_name: String,
    pub server: String,
    pub tool: String,
    pub arguments: String,
    pub read_only: bool,
    pub destructive: bool,
    /// Pending, or already approved by the conversation's mode.
    pub status: CallStatus,
    pub decided_by: Option<String>,
}

/// Everything a conversation holds, in order.
pub struct Transcript {
    pub messages: Vec<Message>,
    pub calls: Vec<Call>,
    pub elicitations: Vec<Elicitation>,
}

impl Transcript {
    /// The calls proposed by `message_id`, in the order the model gave them.
    pub fn calls_of<'a>(&'a self, message_id: &'a str) -> impl Iterator<Item = &'a Call> + 'a {
        self.calls
            .iter()
            .filter(move |c| c.message_id == message_id)
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
}

fn conversation(row: &AnyRow) -> Result<Conversation, sqlx::Error> {
    let mode: String = row.try_get("mode")?;
    let always: String = row.try_get("always_allow")?;
    Ok(Conversation {
        id: row.try_get("id")?,
        user_key: row.try_get("user_key")?,
        title: row.try_get("title")?,
        mode: ApprovalMode::parse(&mode).unwrap_or_default(),
        always_allow: always
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        updated_at: row.try_get("updated_at")?,
    })
}

fn call(row: &AnyRow) -> Result<Call, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Call {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        model_call_id: row.try_get("model_call_id")?,
        function_name: row.try_get("function_name")?,
        server: row.try_get("server")?,
        tool: row.try_get("tool")?,
        arguments: row.try_get("arguments")?,
        args_hash: row.try_get("args_hash")?,
        read_only: row.try_get::<i64, _>("read_only")? != 0,
        destructive: row.try_get::<i64, _>("destructive")? != 0,
        status: CallStatus::parse(&status).unwrap_or(CallStatus::Failed),
        decided_by: row.try_get("decided_by")?,
        result: row.try_get("result")?,
        is_error: row.try_get::<i64, _>("is_error")? != 0,
    })
}

fn elicitation(row: &AnyRow) -> Result<Elicitation, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Elicitation {
        id: row.try_get("id")?,
        tool_call_id: row.try_get("tool_call_id")?,
        message: row.try_get("message")?,
        schema: row.try_get("schema")?,
        status: ElicitationStatus::parse(&status).unwrap_or(ElicitationStatus::Expired),
    })
}

const CONVERSATION_COLUMNS: &str = "id, user_key, title, mode, always_allow, updated_at";
const CALL_COLUMNS: &str = "id, message_id, model_call_id, function_name, server, tool, arguments, \
     args_hash, read_only, destructive, status, decided_by, result, is_error";

impl Store {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// After a restart nothing is running: calls that were running are failed (whether they took effect
    /// is unknown, so they are not retried) and open elicitation requests expire. Pending approvals stay.
    /// Returns the conversations with approved calls still to run.
    pub async fn recover(&self) -> anyhow::Result<Vec<String>> {
        sqlx::query(
            "UPDATE elicitations SET status = 'expired', answered_at = $1 WHERE status = 'pending'",
        )
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        let interrupted: Vec<String> =
            sqlx::query_scalar("SELECT id FROM tool_calls WHERE status = 'running'")
                .fetch_all(&self.pool)
                .await?;
        for id in interrupted {
            self.finish_call(
                &id,
                CallStatus::Failed,
                "Interrupted by a server restart; it may or may not have taken effect.",
                true,
            )
            .await?;
        }
        // Approved calls that had not started can safely run now: their conversations need a loop.
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT conversation_id FROM tool_calls WHERE status = 'approved'",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn create_conversation(
        &self,
        user_key: &str,
        mode: ApprovalMode,
    ) -> anyhow::Result<Conversation> {
        let now = now_ms();
        let id = new_id();
        sqlx::query(
            "INSERT INTO conversations (id, user_key, title, mode, always_allow, created_at, updated_at) \
             VALUES ($1, $2, 'New chat', $3, '', $4, $4)",
        )
        .bind(&id)
        .bind(user_key)
        .bind(mode.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .context("creating a conversation")?;
        Ok(Conversation {
            id,
            user_key: user_key.to_owned(),
            title: "New chat".to_owned(),
            mode,
            always_allow: Vec::new(),
            updated_at: now,
        })
    }

    pub async fn conversations(&self, user_key: &str) -> anyhow::Result<Vec<Conversation>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE user_key = $1 \
             ORDER BY updated_at DESC, id LIMIT 200"
        ))
        .bind(user_key)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(conversation).collect::<Result<_, _>>()?)
    }

    /// The conversation, if it exists and belongs to `user_key`.
    pub async fn conversation(
        &self,
        user_key: &str,
        id: &str,
    ) -> anyhow::Result<Option<Conversation>> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND user_key = $2"
        ))
        .bind(id)
        .bind(user_key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(conversation).transpose()?)
    }

    /// The conversation by id alone: for the agent loop, which acts for the conversation's owner.
    pub async fn conversation_by_id(&self, id: &str) -> anyhow::Result<Option<Conversation>> {
        let row = sqlx::query(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(conversation).transpose()?)
    }

    /// Tool calls of the conversation that are not over.
    pub async fn open_calls(&self, conversation_id: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM tool_calls WHERE conversation_id = $1 \
             AND status IN ('pending', 'approved', 'running')",
        )
        .bind(conversation_id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn set_mode(&self, id: &str, mode: ApprovalMode) -> anyhow::Result<()> {
        sqlx::query("UPDATE conversations SET mode = $1, updated_at = $2 WHERE id = $3")
            .bind(mode.as_str())
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn allow_always(
        &self,
        conversation: &Conversation,
        function: &str,
    ) -> anyhow::Result<()> {
        if conversation.always_allow.iter().any(|f| f == function) {
            return Ok(());
        }
        let mut list = conversation.always_allow.clone();
        list.push(function.to_owned());
        sqlx::query("UPDATE conversations SET always_allow = $1 WHERE id = $2")
            .bind(list.join("\n"))
            .bind(&conversation.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Appends a message; the first user message names the conversation.
    pub async fn add_message(
        &self,
        conversation_id: &str,
        role: &str,
        content: &str,
    ) -> anyhow::Result<()> {
        self.add_assistant_or_message(conversation_id, role, content, Vec::new())
            .await
            .map(drop)
    }

    /// Appends an assistant message with the tool calls it proposes, atomically; returns the calls'
    /// ids in the order given.
    pub async fn add_assistant(
        &self,
        conversation_id: &str,
        content: &str,
        calls: Vec<NewCall>,
    ) -> anyhow::Result<Vec<String>> {
        self.add_assistant_or_message(conversation_id, "assistant", content, calls)
            .await
    }

    async fn add_assistant_or_message(
        &self,
        conversation_id: &str,
        role: &str,
        content: &str,
        calls: Vec<NewCall>,
    ) -> anyhow::Result<Vec<String>> {
        let now = now_ms();
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        // A write first: a SQLite transaction that reads before it writes cannot wait for the write
        // lock (it fails with SQLITE_BUSY under concurrency), one that starts with a write can.
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO messages (id, conversation_id, seq, role, content, created_at) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5 FROM messages WHERE conversation_id = $2 \
             RETURNING seq",
        )
        .bind(&id)
        .bind(conversation_id)
        .bind(role)
        .bind(content)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("storing a message")?;
        let mut call_ids = Vec::with_capacity(calls.len());
        for (position, call) in calls.into_iter().enumerate() {
            let call_id = new_id();
            let decided_at = (call.status != CallStatus::Pending).then_some(now);
            sqlx::query(
                "INSERT INTO tool_calls (id, conversation_id, message_id, position, model_call_id, \
                 function_name, server, tool, arguments, args_hash, read_only, destructive, status, \
                 decided_by, is_error, proposed_at, decided_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, $15, $16)",
            )
            .bind(&call_id)
            .bind(conversation_id)
            .bind(&id)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(&call.model_call_id)
            .bind(&call.function_name)
            .bind(&call.server)
            .bind(&call.tool)
            .bind(&call.arguments)
            .bind(sha256_hex(&call.arguments))
            .bind(i64::from(call.read_only))
            .bind(i64::from(call.destructive))
            .bind(call.status.as_str())
            .bind(call.decided_by)
            .bind(now)
            .bind(decided_at)
            .execute(&mut *tx)
            .await
            .context("storing a tool call")?;
            call_ids.push(call_id);
        }
        if role == "user" && seq == 1 {
            let title: String = content.chars().take(60).collect();
            sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2")
                .bind(title.trim())
                .bind(conversation_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(call_ids)
    }

    pub async fn transcript(&self, conversation_id: &str) -> anyhow::Result<Transcript> {
        let messages = sqlx::query(
            "SELECT id, role, content FROM messages WHERE conversation_id = $1 ORDER BY seq",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Message {
                id: row.try_get("id")?,
                role: row.try_get("role")?,
                content: row.try_get("content")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let calls = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM tool_calls WHERE conversation_id = $1 ORDER BY message_id, position"
        ))
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(call)
        .collect::<Result<_, _>>()?;
        let elicitations = sqlx::query(
            "SELECT id, tool_call_id, message, schema, status FROM elicitations \
             WHERE conversation_id = $1 ORDER BY created_at, id",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(elicitation)
        .collect::<Result<_, _>>()?;
        Ok(Transcript {
            messages,
            calls,
            elicitations,
        })
    }

    pub async fn call(&self, conversation_id: &str, call_id: &str) -> anyhow::Result<Option<Call>> {
        let row = sqlx::query(&format!(
            "SELECT {CALL_COLUMNS} FROM tool_calls WHERE id = $1 AND conversation_id = $2"
        ))
        .bind(call_id)
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(call).transpose()?)
    }

    /// Moves a pending call to `to`, only if it is still pending with exactly these arguments. Returns
    /// whether this request made the decision (a replay or a double click gets `false`).
    pub async fn decide(
        &self,
        conversation_id: &str,
        call_id: &str,
        args_hash: &str,
        to: CallStatus,
        decided_by: &str,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE tool_calls SET status = $1, decided_by = $2, decided_at = $3 \
             WHERE id = $4 AND conversation_id = $5 AND status = 'pending' AND args_hash = $6",
        )
        .bind(to.as_str())
        .bind(decided_by)
        .bind(now_ms())
        .bind(call_id)
        .bind(conversation_id)
        .bind(args_hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims an approved call for execution; `false` when someone else already did.
    pub async fn start_call(&self, call_id: &str) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE tool_calls SET status = 'running', started_at = $1 WHERE id = $2 AND status = 'approved'",
        )
        .bind(now_ms())
        .bind(call_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a call (done, failed or declined) and writes its audit record, atomically.
    pub async fn finish_call(
        &self,
        call_id: &str,
        status: CallStatus,
        result: &str,
        is_error: bool,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE tool_calls SET status = $1, result = $2, is_error = $3, finished_at = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(result)
        .bind(i64::from(is_error))
        .bind(now)
        .bind(call_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO audit_log (tool_call_id, user_key, conversation_id, server, tool, args_hash, \
             decision, decided_by, proposed_at, decided_at, finished_at, outcome) \
             SELECT t.id, c.user_key, t.conversation_id, t.server, t.tool, t.args_hash, \
                    CASE WHEN t.status = 'declined' THEN 'declined' ELSE 'approved' END, \
                    COALESCE(t.decided_by, 'nobody'), t.proposed_at, t.decided_at, $1, t.status \
             FROM tool_calls t JOIN conversations c ON c.id = t.conversation_id WHERE t.id = $2",
        )
        .bind(now)
        .bind(call_id)
        .execute(&mut *tx)
        .await
        .context("writing the audit record")?;
        sqlx::query(
            "UPDATE conversations SET updated_at = $1 \
             WHERE id = (SELECT conversation_id FROM tool_calls WHERE id = $2)",
        )
        .bind(now)
        .bind(call_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_elicitation(
        &self,
        conversation_id: &str,
        tool_call_id: &str,
        message: &str,
        schema: &str,
    ) -> anyhow::Result<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO elicitations (id, conversation_id, tool_call_id, message, schema, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
        )
        .bind(&id)
        .bind(conversation_id)
        .bind(tool_call_id)
        .bind(message)
        .bind(schema)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    pub async fn elicitation(
        &self,
        conversation_id: &str,
        id: &str,
    ) -> anyhow::Result<Option<Elicitation>> {
        let row = sqlx::query(
            "SELECT id, tool_call_id, message, schema, status FROM elicitations \
             WHERE id = $1 AND conversation_id = $2",
        )
        .bind(id)
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(elicitation).transpose()?)
    }

    /// Closes a pending elicitation request; `false` when it was no longer pending.
    pub async fn close_elicitation(
        &self,
        id: &str,
        status: ElicitationStatus,
        answer: Option<&str>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE elicitations SET status = $1, answer = $2, answered_at = $3 \
             WHERE id = $4 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(answer)
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn audit(&self, user_key: &str) -> anyhow::Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT conversation_id, server, tool, args_hash, decision, decided_by, proposed_at, \
             decided_at, finished_at, outcome FROM audit_log WHERE user_key = $1 \
             ORDER BY finished_at DESC LIMIT 500",
        )
        .bind(user_key)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    conversation_id: row.try_get("conversation_id")?,
                    server: row.try_get("server")?,
                    tool: row.try_get("tool")?,
                    args_hash: row.try_get("args_hash")?,
                    decision: row.try_get("decision")?,
                    decided_by: row.try_get("decided_by")?,
                    proposed_at: rfc3339(row.try_get("proposed_at")?),
                    decided_at: row.try_get::<Option<i64>, _>("decided_at")?.map(rfc3339),
                    finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(rfc3339),
                    outcome: row.try_get("outcome")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn record_turn(
        &self,
        conversation_id: &str,
        total_us: i64,
        model_us: i64,
        tool_us: i64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO turn_timings (conversation_id, finished_at, total_us, model_us, tool_us) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(conversation_id)
        .bind(now_ms())
        .bind(total_us)
        .bind(model_us)
        .bind(tool_us)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
