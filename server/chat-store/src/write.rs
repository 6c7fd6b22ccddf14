//! The agent's [`ConversationStore`] port over SQL: reads by id, and every write (each in one
//! transaction where it touches several rows).

use agent::{
    domain::{
        ApprovalMode, ArgsHash, Call, CallId, CallStatus, Conversation, ConversationId, DecidedBy,
        Elicitation, ElicitationId, ElicitationKind, ElicitationStatus, Finish, NewCall, Role,
        Transcript, TurnTiming, UserKey,
    },
    ports::{ConversationReads, ConversationStore},
};
use anyhow::Context;
use async_trait::async_trait;

use super::{SqlStore, now_ms};

impl SqlStore {
    async fn append(
        &self,
        id: &ConversationId,
        role: Role,
        content: &str,
        calls: Vec<NewCall>,
    ) -> anyhow::Result<Vec<CallId>> {
        let now = now_ms();
        let message = agent::domain::MessageId::random();
        let mut tx = self.pool.begin().await?;
        // A write first: a SQLite transaction that reads before it writes cannot wait for the write
        // lock (it fails with SQLITE_BUSY under concurrency), one that starts with a write can.
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO messages (id, conversation_id, seq, role, content, created_at) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5 FROM messages WHERE conversation_id = $2 \
             RETURNING seq",
        )
        .bind(message.as_str())
        .bind(id.as_str())
        .bind(role.as_str())
        .bind(content)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("storing a message")?;
        let mut ids = Vec::with_capacity(calls.len());
        for (position, call) in calls.into_iter().enumerate() {
            let call_id = CallId::random();
            let decided_at = (call.status != CallStatus::Pending).then_some(now);
            sqlx::query(
                "INSERT INTO tool_calls (id, conversation_id, message_id, position, model_call_id, \
                 function_name, server, tool, arguments, args_hash, read_only, destructive, status, \
                 decided_by, is_error, proposed_at, decided_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, $15, $16)",
            )
            .bind(call_id.as_str())
            .bind(id.as_str())
            .bind(message.as_str())
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(&call.model_call_id)
            .bind(&call.function_name)
            .bind(&call.server)
            .bind(&call.tool)
            .bind(&call.arguments)
            .bind(ArgsHash::of(&call.arguments).into_string())
            .bind(i64::from(call.read_only))
            .bind(i64::from(call.destructive))
            .bind(call.status.as_str())
            .bind(call.decided_by.map(DecidedBy::as_str))
            .bind(now)
            .bind(decided_at)
            .execute(&mut *tx)
            .await
            .context("storing a tool call")?;
            ids.push(call_id);
        }
        if role == Role::User && seq == 1 {
            let title: String = content.chars().take(60).collect();
            sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2")
                .bind(title.trim())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE conversations SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Ends a call and writes its audit record, atomically.
    pub(super) async fn finish(&self, call: &CallId, finish: &Finish) -> anyhow::Result<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // Only a call not over yet: a loop that lost its lease (stalled past it) must not overwrite the
        // outcome the instance that recovered the conversation wrote, nor audit the call twice.
        let ended = sqlx::query(
            "UPDATE tool_calls SET status = $1, result = $2, is_error = $3, finished_at = $4, \
             structured = $6 WHERE id = $5 AND status NOT IN ($7, $8)",
        )
        .bind(finish.status.as_str())
        .bind(&finish.text)
        .bind(i64::from(finish.is_error))
        .bind(now)
        .bind(call.as_str())
        .bind(finish.structured.as_deref())
        .bind(CallStatus::Done.as_str())
        .bind(CallStatus::Failed.as_str())
        .execute(&mut *tx)
        .await?;
        if ended.rows_affected() == 0 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO audit_log (tool_call_id, user_key, conversation_id, server, tool, args_hash, \
             decision, decided_by, proposed_at, decided_at, finished_at, outcome) \
             SELECT t.id, c.user_key, t.conversation_id, t.server, t.tool, t.args_hash, \
                    CASE WHEN t.status = $3 THEN $3 ELSE $4 END, \
                    COALESCE(t.decided_by, 'nobody'), t.proposed_at, t.decided_at, $1, t.status \
             FROM tool_calls t JOIN conversations c ON c.id = t.conversation_id WHERE t.id = $2",
        )
        .bind(now)
        .bind(call.as_str())
        .bind(CallStatus::Declined.as_str())
        .bind(CallStatus::Approved.as_str())
        .execute(&mut *tx)
        .await
        .context("writing the audit record")?;
        sqlx::query(
            "UPDATE conversations SET updated_at = $1 \
             WHERE id = (SELECT conversation_id FROM tool_calls WHERE id = $2)",
        )
        .bind(now)
        .bind(call.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl ConversationReads for SqlStore {
    async fn conversation(&self, id: &ConversationId) -> anyhow::Result<Option<Conversation>> {
        self.by_id(id).await
    }

    async fn transcript(&self, id: &ConversationId) -> anyhow::Result<Transcript> {
        self.read_transcript(id).await
    }

    async fn transcript_from(
        &self,
        id: &ConversationId,
        first: usize,
    ) -> anyhow::Result<Transcript> {
        self.read_transcript_from(id, first).await
    }

    async fn call(&self, id: &ConversationId, call: &CallId) -> anyhow::Result<Option<Call>> {
        self.read_call(id, call).await
    }

    async fn open_calls(&self, id: &ConversationId) -> anyhow::Result<u64> {
        self.count_open_calls(id).await
    }

    async fn elicitation(
        &self,
        id: &ConversationId,
        elicitation: &ElicitationId,
    ) -> anyhow::Result<Option<Elicitation>> {
        self.read_elicitation(id, elicitation).await
    }

    async fn loop_held(&self, id: &ConversationId) -> anyhow::Result<bool> {
        let held: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT expires_at FROM conversation_leases WHERE conversation_id = $1 AND expires_at >= {}",
            self.clock
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.is_some())
    }

    async fn orphans(&self) -> anyhow::Result<Vec<ConversationId>> {
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT conversation_id FROM conversation_leases WHERE expires_at < {now} \
             UNION \
             SELECT DISTINCT t.conversation_id FROM tool_calls t WHERE t.status IN ($1, $2) \
               AND NOT EXISTS (SELECT 1 FROM conversation_leases l \
                               WHERE l.conversation_id = t.conversation_id AND l.expires_at >= {now})",
            now = self.clock
        ))
        .bind(CallStatus::Approved.as_str())
        .bind(CallStatus::Running.as_str())
        .fetch_all(&self.pool)
        .await
        .context("looking for conversations nobody drives")?;
        Ok(ids.into_iter().map(ConversationId::from).collect())
    }
}

#[async_trait]
impl ConversationStore for SqlStore {
    async fn create_conversation(
        &self,
        user: &UserKey,
        mode: ApprovalMode,
    ) -> anyhow::Result<Conversation> {
        let now = now_ms();
        let id = ConversationId::random();
        sqlx::query(
            "INSERT INTO conversations (id, user_key, title, mode, always_allow, created_at, updated_at) \
             VALUES ($1, $2, 'New chat', $3, '', $4, $4)",
        )
        .bind(id.as_str())
        .bind(user.as_str())
        .bind(mode.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .context("creating a conversation")?;
        Ok(Conversation {
            id,
            user: user.clone(),
            title: "New chat".to_owned(),
            mode,
            always_allow: Vec::new(),
            updated_at: now,
        })
    }

    async fn add_message(&self, id: &ConversationId, role: Role, text: &str) -> anyhow::Result<()> {
        self.append(id, role, text, Vec::new()).await.map(drop)
    }

    async fn add_assistant(
        &self,
        id: &ConversationId,
        text: &str,
        calls: Vec<NewCall>,
    ) -> anyhow::Result<Vec<CallId>> {
        self.append(id, Role::Assistant, text, calls).await
    }

    async fn set_mode(&self, id: &ConversationId, mode: ApprovalMode) -> anyhow::Result<()> {
        sqlx::query("UPDATE conversations SET mode = $1, updated_at = $2 WHERE id = $3")
            .bind(mode.as_str())
            .bind(now_ms())
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn allow_always(
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
            .bind(conversation.id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn decide(
        &self,
        id: &ConversationId,
        call: &CallId,
        args_hash: &ArgsHash,
        to: CallStatus,
        by: DecidedBy,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE tool_calls SET status = $1, decided_by = $2, decided_at = $3 \
             WHERE id = $4 AND conversation_id = $5 AND status = $7 AND args_hash = $6",
        )
        .bind(to.as_str())
        .bind(by.as_str())
        .bind(now_ms())
        .bind(call.as_str())
        .bind(id.as_str())
        .bind(args_hash.as_str())
        .bind(CallStatus::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn start_call(&self, call: &CallId) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE tool_calls SET status = $3, started_at = $1 WHERE id = $2 AND status = $4",
        )
        .bind(now_ms())
        .bind(call.as_str())
        .bind(CallStatus::Running.as_str())
        .bind(CallStatus::Approved.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_call(&self, call: &CallId, finish: &Finish) -> anyhow::Result<()> {
        self.finish(call, finish).await
    }

    async fn add_elicitation(
        &self,
        id: &ConversationId,
        elicitation: &ElicitationId,
        call: &CallId,
        message: &str,
        kind: &ElicitationKind,
    ) -> anyhow::Result<()> {
        let (schema, url) = match kind {
            ElicitationKind::Form { schema } => (schema.as_str(), None),
            ElicitationKind::Url { url } => ("", Some(url.as_str())),
        };
        sqlx::query(
            "INSERT INTO elicitations (id, conversation_id, tool_call_id, message, schema, status, \
             created_at, kind, url) VALUES ($1, $2, $3, $4, $5, $7, $6, $8, $9)",
        )
        .bind(elicitation.as_str())
        .bind(id.as_str())
        .bind(call.as_str())
        .bind(message)
        .bind(schema)
        .bind(now_ms())
        .bind(ElicitationStatus::Pending.as_str())
        .bind(kind.as_str())
        .bind(url)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn close_elicitation(
        &self,
        elicitation: &ElicitationId,
        status: ElicitationStatus,
        answer: Option<&str>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE elicitations SET status = $1, answer = $2, answered_at = $3 \
             WHERE id = $4 AND status = $5",
        )
        .bind(status.as_str())
        .bind(answer)
        .bind(now_ms())
        .bind(elicitation.as_str())
        .bind(ElicitationStatus::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_turn(&self, id: &ConversationId, timing: TurnTiming) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO turn_timings (conversation_id, finished_at, total_us, model_us, tool_us) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.as_str())
        .bind(now_ms())
        .bind(timing.total_us)
        .bind(timing.model_us)
        .bind(timing.tool_us)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn claim_loop(
        &self,
        id: &ConversationId,
        holder: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<bool> {
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let taken = sqlx::query(&format!(
            "INSERT INTO conversation_leases (conversation_id, holder, expires_at) \
             VALUES ($1, $2, {now} + $3) \
             ON CONFLICT (conversation_id) DO UPDATE \
             SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE conversation_leases.expires_at < {now} OR conversation_leases.holder = excluded.holder",
            now = self.clock
        ))
        .bind(id.as_str())
        .bind(holder)
        .bind(ttl)
        .execute(&self.pool)
        .await
        .context("taking a conversation's loop lease")?;
        Ok(taken.rows_affected() == 1)
    }

    async fn release_loop(&self, id: &ConversationId, holder: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM conversation_leases WHERE conversation_id = $1 AND holder = $2")
            .bind(id.as_str())
            .bind(holder)
            .execute(&self.pool)
            .await
            .context("giving a conversation's loop lease up")?;
        Ok(())
    }
}
