//! The server-side token cache: per user and per resource (scope), encrypted at rest.
//!
//! - Access tokens are kept per scope string; the refresh token in the `refresh` slot.
//! - A token expiring within [`REFRESH_MARGIN`] is renewed with the refresh token, requested by scope
//!   (incremental consent style, no RFC 8707 `resource`).
//! - Refreshes of one user are single flight: concurrent requests wait for the one refresh in progress,
//!   so a rotated refresh token is never redeemed twice. The new access and refresh tokens are stored in
//!   one transaction. In a process, a per-user lock (in a `moka` cache that forgets idle users); across
//!   processes sharing the database, a per-user lease row (`token_refresh_leases`) taken with one
//!   conditional upsert: the other instances wait for it and use what its holder stored. A dead
//!   holder's lease expires after [`LEASE`].
//! - Tokens in memory are [`SecretString`]s: they never print.
//! - `invalid_grant` purges the user's tokens and reports [`TokenError::SignInRequired`]; a refusal for
//!   want of consent to that scope (AADSTS65001) keeps them and reports [`TokenError::NotConnected`].
//! - Connections (incremental consent per MCP server): [`TokenCache::connect`] stores what a Connect
//!   round-trip returned; [`TokenCache::disconnect`] forgets a scope's token and marks it
//!   `disconnected:<scope>`, so it is not silently refreshed again until the user connects it.
//!
//! It lives in the same database as the sessions (SQLite or PostgreSQL, through sqlx's `Any` driver), so
//! several web instances sharing sessions share their users' tokens too.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use chacha20poly1305::{
    ChaCha20Poly1305, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sqlx::AnyPool;
use tokio::sync::Mutex;

use super::oidc::{Oidc, Refreshed};

/// Tokens this close to expiry are renewed first.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
const REFRESH_SLOT: &str = "refresh";
/// The ID token, kept for the RP-initiated logout hint.
const ID_TOKEN_SLOT: &str = "id_token";
/// How long a refresh lease holds: far longer than a refresh (the OIDC client times out after 15 s),
/// short enough that a dead instance's lease does not keep its users waiting long.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a waiting instance looks whether the lease holder is done.
const LEASE_POLL: Duration = Duration::from_millis(50);
/// A user's refresh lock is dropped after this long unused. Far longer than any refresh (the OIDC
/// client times out after 15 s), so a lock is never dropped while it is held and awaited.
const LOCK_IDLE: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No usable grant: the user must sign in again.
    #[error("sign-in required")]
    SignInRequired,
    /// The user has not granted this scope (no consent yet, or disconnected): a Connect round-trip
    /// grants it; the rest of the sign-in is fine.
    #[error("not connected")]
    NotConnected,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub struct TokenCache {
    pool: AnyPool,
    /// Random id of this cache (one per process) as a lease holder.
    instance: String,
    cipher: ChaCha20Poly1305,
    oidc: Arc<Oidc>,
    locks: RefreshLocks,
}

/// One lock per user, held only while refreshing; idle users' locks are forgotten.
struct RefreshLocks(moka::sync::Cache<String, Arc<Mutex<()>>>);

impl RefreshLocks {
    fn new() -> Self {
        Self(moka::sync::Cache::builder().time_to_idle(LOCK_IDLE).build())
    }

    /// The user's lock; callers racing for a new user's lock all get the same one.
    fn of(&self, user: &str) -> Arc<Mutex<()>> {
        self.0.get_with_by_ref(user, || Arc::new(Mutex::new(())))
    }
}

/// One encrypted row of the cache.
#[derive(sqlx::FromRow)]
struct SealedRow {
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
    expires_at: i64,
}

/// The marker slot of a scope the user disconnected.
fn disconnected_slot(scope: &str) -> String {
    format!("disconnected:{scope}")
}

/// A scope's grant as the Connections page shows it.
pub enum Grant {
    /// An access token is held (possibly expired: it is refreshed when next used).
    Held {
        token: SecretString,
        expires_at: i64,
    },
    /// The user disconnected it.
    Disconnected,
    /// Nothing held yet: the next use tries the refresh token (which works if the user consented).
    None,
}

/// What an authorization-code round-trip returned, as rows: the access token for `scope`, the ID
/// token, and the refresh token when one came.
fn signed_in_entries<'a>(scope: &'a str, tokens: &'a super::oidc::SignedIn) -> Vec<Entry<'a>> {
    let exp = now() + tokens.expires_in.map_or(300, |d| d.as_secs() as i64);
    let mut entries = vec![
        (scope, &tokens.access_token, exp),
        (ID_TOKEN_SLOT, &tokens.id_token, i64::MAX),
    ];
    if let Some(rt) = &tokens.refresh_token {
        entries.push((REFRESH_SLOT, rt, i64::MAX));
    }
    entries
}

/// One token to store: slot (scope, `refresh` or `id_token`), value, expiry (Unix seconds).
type Entry<'a> = (&'a str, &'a SecretString, i64);

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl TokenCache {
    /// `key` is 32 bytes.
    pub fn new(pool: AnyPool, key: &[u8; 32], oidc: Arc<Oidc>) -> Self {
        Self {
            pool,
            instance: format!("{:016x}", rand::random::<u64>()),
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            oidc,
            locks: RefreshLocks::new(),
        }
    }

    fn seal(
        &self,
        user: &str,
        slot: &str,
        value: &SecretString,
    ) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = format!("{user}\n{slot}");
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("token encryption failed"))?;
        Ok((nonce.to_vec(), ciphertext))
    }

    fn open(
        &self,
        user: &str,
        slot: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Option<SecretString> {
        let aad = format!("{user}\n{slot}");
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok().map(SecretString::from)
    }

    async fn read(&self, user: &str, slot: &str) -> anyhow::Result<Option<(SecretString, i64)>> {
        let row: Option<SealedRow> = sqlx::query_as(
            "SELECT nonce, ciphertext, expires_at FROM token_cache WHERE user_key = $1 AND slot = $2",
        )
        .bind(user)
        .bind(slot)
        .fetch_optional(&self.pool)
        .await
        .context("reading the token cache")?;
        // A row that does not decrypt (other key, tampering) is treated as absent.
        Ok(row.and_then(|row| {
            self.open(user, slot, &row.nonce, &row.ciphertext)
                .map(|token| (token, row.expires_at))
        }))
    }

    async fn write(&self, user: &str, entries: &[Entry<'_>]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        self.write_in(&mut tx, user, entries).await?;
        tx.commit().await.context("writing the token cache")
    }

    async fn write_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        user: &str,
        entries: &[Entry<'_>],
    ) -> anyhow::Result<()> {
        for (slot, value, expires_at) in entries {
            let (nonce, ciphertext) = self.seal(user, slot, value)?;
            sqlx::query(
                "INSERT INTO token_cache (user_key, slot, nonce, ciphertext, expires_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (user_key, slot) DO UPDATE SET nonce = excluded.nonce,
                    ciphertext = excluded.ciphertext, expires_at = excluded.expires_at",
            )
            .bind(user)
            .bind(slot)
            .bind(nonce)
            .bind(ciphertext)
            .bind(expires_at)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Stores what sign-in returned.
    pub async fn store_sign_in(
        &self,
        user: &str,
        scope: &str,
        tokens: &super::oidc::SignedIn,
    ) -> anyhow::Result<()> {
        let entries = signed_in_entries(scope, tokens);
        self.write(user, &entries).await
    }

    /// A valid access token for `scope`, refreshing when needed.
    pub async fn access_token(&self, user: &str, scope: &str) -> Result<SecretString, TokenError> {
        let fresh_enough = |exp: i64| exp > now() + REFRESH_MARGIN.as_secs() as i64;
        if let Some((token, exp)) = self.read(user, scope).await?
            && fresh_enough(exp)
        {
            return Ok(token);
        }
        let lock = self.locks.of(user);
        let _guard = lock.lock().await;
        // Whoever held the lock may have refreshed already.
        if let Some((token, exp)) = self.read(user, scope).await?
            && fresh_enough(exp)
        {
            return Ok(token);
        }
        // Another instance may be refreshing this user's tokens: wait for it, then use what it stored
        // (or take the lease when it is done, e.g. after refreshing another scope).
        let waited = std::time::Instant::now();
        while !self.try_lease(user).await? {
            if waited.elapsed() > LEASE + LEASE_POLL {
                return Err(
                    anyhow::anyhow!("another instance held the refresh lease too long").into(),
                );
            }
            tokio::time::sleep(LEASE_POLL).await;
            if let Some((token, exp)) = self.read(user, scope).await?
                && fresh_enough(exp)
            {
                return Ok(token);
            }
        }
        let refreshed = self.refresh_leased(user, scope).await;
        self.release_lease(user).await;
        refreshed
    }

    /// The refresh itself, under the user's lease.
    async fn refresh_leased(&self, user: &str, scope: &str) -> Result<SecretString, TokenError> {
        // The previous holder may have refreshed this scope just before.
        if let Some((token, exp)) = self.read(user, scope).await?
            && exp > now() + REFRESH_MARGIN.as_secs() as i64
        {
            return Ok(token);
        }
        if self.read(user, &disconnected_slot(scope)).await?.is_some() {
            return Err(TokenError::NotConnected);
        }
        let Some((refresh_token, _)) = self.read(user, REFRESH_SLOT).await? else {
            return Err(TokenError::SignInRequired);
        };
        match self.oidc.refresh(&refresh_token, scope).await? {
            Refreshed::Tokens {
                access_token,
                refresh_token: rotated,
                expires_in,
            } => {
                let exp = now() + expires_in.map_or(300, |d| d.as_secs() as i64);
                let mut entries = vec![(scope, &access_token, exp)];
                if let Some(rt) = &rotated {
                    entries.push((REFRESH_SLOT, rt, i64::MAX));
                }
                self.write(user, &entries).await?;
                tracing::debug!(scope, "access token refreshed");
                Ok(access_token)
            }
            Refreshed::InvalidGrant => {
                tracing::info!("refresh token no longer valid; sign-in required");
                self.purge(user).await?;
                Err(TokenError::SignInRequired)
            }
            Refreshed::ConsentRequired => {
                tracing::debug!(scope, "scope not consented to; the user can connect it");
                // An expired token kept for this scope would still read as a grant.
                self.forget(user, scope).await?;
                Err(TokenError::NotConnected)
            }
        }
    }

    /// Takes the user's refresh lease if it is free or its holder's time is up; one statement, so two
    /// instances cannot both take it.
    async fn try_lease(&self, user: &str) -> anyhow::Result<bool> {
        let now = now();
        let taken = sqlx::query(
            "INSERT INTO token_refresh_leases (user_key, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE token_refresh_leases.expires_at < $4",
        )
        .bind(user)
        .bind(&self.instance)
        .bind(now + LEASE.as_secs() as i64)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("taking the refresh lease")?;
        Ok(taken.rows_affected() == 1)
    }

    /// Waits for the user's lease (Connect and Disconnect write the refresh token or a scope too).
    async fn lease(&self, user: &str) -> anyhow::Result<()> {
        let waited = std::time::Instant::now();
        while !self.try_lease(user).await? {
            if waited.elapsed() > LEASE + LEASE_POLL {
                anyhow::bail!("another instance held the refresh lease too long");
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
        Ok(())
    }

    /// Gives the lease back; if that fails, it expires by itself.
    async fn release_lease(&self, user: &str) {
        let released =
            sqlx::query("DELETE FROM token_refresh_leases WHERE user_key = $1 AND holder = $2")
                .bind(user)
                .bind(&self.instance)
                .execute(&self.pool)
                .await;
        if let Err(error) = released {
            tracing::warn!(%error, "releasing a refresh lease failed; it expires by itself");
        }
    }

    /// Stores what a Connect round-trip for `scope` returned (the access token, the rotated refresh
    /// token, the new ID token) and lifts a disconnect, in one transaction.
    pub async fn connect(
        &self,
        user: &str,
        scope: &str,
        tokens: &super::oidc::SignedIn,
    ) -> anyhow::Result<()> {
        let entries = signed_in_entries(scope, tokens);
        let marker = disconnected_slot(scope);
        // Not while a refresh of this user is under way: it could store its rotated refresh token
        // over this one.
        let lock = self.locks.of(user);
        let _guard = lock.lock().await;
        self.lease(user).await?;
        let written = async {
            let mut tx = self.pool.begin().await?;
            self.write_in(&mut tx, user, &entries).await?;
            sqlx::query("DELETE FROM token_cache WHERE user_key = $1 AND slot = $2")
                .bind(user)
                .bind(&marker)
                .execute(&mut *tx)
                .await?;
            tx.commit().await.context("writing the token cache")
        }
        .await;
        self.release_lease(user).await;
        written
    }

    /// Forgets `scope`'s token and keeps it from being refreshed again until [`Self::connect`].
    pub async fn disconnect(&self, user: &str, scope: &str) -> anyhow::Result<()> {
        let marker = disconnected_slot(scope);
        let nothing = SecretString::from("");
        // After any refresh under way (which checked for the marker before it began): its token is
        // deleted here rather than written after.
        let lock = self.locks.of(user);
        let _guard = lock.lock().await;
        self.lease(user).await?;
        let written = async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM token_cache WHERE user_key = $1 AND slot = $2")
                .bind(user)
                .bind(scope)
                .execute(&mut *tx)
                .await?;
            self.write_in(&mut tx, user, &[(marker.as_str(), &nothing, i64::MAX)])
                .await?;
            tx.commit().await.context("writing the token cache")
        }
        .await;
        self.release_lease(user).await;
        written
    }

    /// What is held for `scope`, without refreshing.
    pub async fn grant(&self, user: &str, scope: &str) -> anyhow::Result<Grant> {
        if let Some((token, expires_at)) = self.read(user, scope).await? {
            return Ok(Grant::Held { token, expires_at });
        }
        if self.read(user, &disconnected_slot(scope)).await?.is_some() {
            return Ok(Grant::Disconnected);
        }
        Ok(Grant::None)
    }

    /// Caches an access token obtained elsewhere (e.g. an on-behalf-of exchange) for `scope`.
    pub async fn store_access_token(
        &self,
        user: &str,
        scope: &str,
        access_token: &str,
        expires_in: Duration,
    ) -> anyhow::Result<()> {
        let exp = now() + i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX / 2);
        let access_token = SecretString::from(access_token);
        self.write(user, &[(scope, &access_token, exp)]).await
    }

    /// The ID token of the user's sign-in, if still held.
    pub async fn id_token(&self, user: &str) -> anyhow::Result<Option<SecretString>> {
        Ok(self
            .read(user, ID_TOKEN_SLOT)
            .await?
            .map(|(token, _)| token))
    }

    /// Drops the cached access token for `scope` (after a 401 from its resource) so the next
    /// [`Self::access_token`] refreshes.
    pub async fn forget(&self, user: &str, scope: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM token_cache WHERE user_key = $1 AND slot = $2")
            .bind(user)
            .bind(scope)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes every token of the user (sign-out, lost grant). The servers the user disconnected stay
    /// disconnected: that is their choice, not a token.
    pub async fn purge(&self, user: &str) -> anyhow::Result<()> {
        sqlx::query(
            "DELETE FROM token_cache WHERE user_key = $1 AND slot NOT LIKE 'disconnected:%'",
        )
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::RefreshLocks;

    #[test]
    fn racing_callers_share_one_refresh_lock_per_user() {
        let locks = RefreshLocks::new();
        let taken: Vec<_> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8).map(|_| scope.spawn(|| locks.of("alice"))).collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert!(taken.iter().all(|lock| Arc::ptr_eq(lock, &taken[0])));
        assert!(Arc::ptr_eq(&locks.of("alice"), &taken[0]));
        assert!(!Arc::ptr_eq(&locks.of("alice"), &locks.of("bob")));
    }
}
