//! Per-user rate limits the loop applies itself: tool calls per minute (`APP_AGENT__TOOL_CALLS_PER_MINUTE`).
//! A call over the limit is not made; it fails with a message saying when to try again, which the model
//! and the user both see. Counted per process in fixed one-minute windows: a user's conversations run
//! where their loop runs, and a runaway loop is stopped where it runs.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use service_kit::sync::lock;

use crate::domain::UserKey;

const WINDOW: Duration = Duration::from_secs(60);

/// At most `limit` events per user per minute (`None`: no limit).
pub struct PerMinute {
    limit: Option<u32>,
    /// Per user: (window start in Unix seconds, events in it). Idle users are forgotten.
    windows: moka::sync::Cache<UserKey, Arc<Mutex<(i64, u32)>>>,
}

impl PerMinute {
    pub fn new(limit: Option<u32>) -> Self {
        Self {
            limit,
            windows: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(2 * WINDOW)
                .build(),
        }
    }

    /// Counts one event for `user` at `now` (Unix seconds), or says how long until the next window.
    pub fn take_at(&self, user: &UserKey, now: i64) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let window_secs = WINDOW.as_secs() as i64;
        let start = now - now.rem_euclid(window_secs);
        let counter = self
            .windows
            .get_with_by_ref(user, || Arc::new(Mutex::new((start, 0))));
        let mut counter = lock(&counter);
        if counter.0 != start {
            *counter = (start, 0);
        }
        if counter.1 >= limit {
            return Err(Duration::from_secs(
                (start + window_secs - now).max(1) as u64
            ));
        }
        counter.1 += 1;
        Ok(())
    }

    pub fn take(&self, user: &UserKey) -> Result<(), Duration> {
        self.take_at(user, chrono::Utc::now().timestamp())
    }

    pub fn limit(&self) -> Option<u32> {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::PerMinute;
    use crate::domain::UserKey;

    #[test]
    fn a_user_gets_the_limit_per_window_and_is_told_when_the_next_begins() {
        let limits = PerMinute::new(Some(2));
        let (alice, bob) = (UserKey::from("alice"), UserKey::from("bob"));
        let t = 1_800_000_000; // a window start
        assert_eq!(limits.take_at(&alice, t + 10), Ok(()));
        assert_eq!(limits.take_at(&alice, t + 11), Ok(()));
        assert_eq!(limits.take_at(&alice, t + 15), Err(Duration::from_secs(45)));
        // Others are not affected; the next window starts afresh.
        assert_eq!(limits.take_at(&bob, t + 15), Ok(()));
        assert_eq!(limits.take_at(&alice, t + 60), Ok(()));
        assert_eq!(PerMinute::new(None).take_at(&alice, t), Ok(()));
    }
}
