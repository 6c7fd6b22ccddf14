//! The per-user message limit, counted in the app database so that every web instance behind a load
//! balancer counts the same messages: one upsert per message in fixed one-minute windows. Over the
//! limit the message is refused (nothing stored) with 429 and `Retry-After`.

use anyhow::Context;
use app::chat::ChatError;
use sqlx::AnyPool;

const WINDOW_SECS: i64 = 60;

pub struct MessageLimit {
    pool: AnyPool,
    per_minute: Option<u32>,
}

impl MessageLimit {
    pub fn new(pool: AnyPool, per_minute: Option<u32>) -> Self {
        Self { pool, per_minute }
    }

    /// Counts one message of `user`, or refuses it with how long until the next window.
    pub async fn take(&self, user: &str) -> Result<(), ChatError> {
        let Some(limit) = self.per_minute else {
            return Ok(());
        };
        let now = chrono::Utc::now().timestamp();
        let start = now - now.rem_euclid(WINDOW_SECS);
        let count = self.count(user, start).await.map_err(|error| {
            tracing::error!(error = format!("{error:#}"), "counting a message failed");
            ChatError::Unavailable
        })?;
        if count > i64::from(limit) {
            tracing::info!("message over the user's rate limit refused");
            return Err(ChatError::RateLimited(
                (start + WINDOW_SECS - now).max(1) as u64
            ));
        }
        Ok(())
    }

    async fn count(&self, user: &str, start: i64) -> anyhow::Result<i64> {
        let count: i64 = sqlx::query_scalar(
            "INSERT INTO rate_limits (user_key, kind, window_start, count) VALUES ($1, 'message', $2, 1)
             ON CONFLICT (user_key, kind, window_start) DO UPDATE SET count = rate_limits.count + 1
             RETURNING count",
        )
        .bind(user)
        .bind(start)
        .fetch_one(&self.pool)
        .await
        .context("counting a message")?;
        if count == 1 {
            // A new window: the user's older ones are no longer needed.
            sqlx::query(
                "DELETE FROM rate_limits WHERE user_key = $1 AND kind = 'message' AND window_start < $2",
            )
            .bind(user)
            .bind(start)
            .execute(&self.pool)
            .await
            .context("dropping old rate-limit windows")?;
        }
        Ok(count)
    }
}
