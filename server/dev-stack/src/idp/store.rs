//! Persistent state of the development IdP in SQLite: signing keys, clients, codes, refresh tokens,
//! device codes (RFC 8628), users' consents.
//! Codes, refresh tokens and device codes are single use; their consumption is one atomic `UPDATE …
//! WHERE used_at IS NULL`, so two concurrent redemptions cannot both succeed.

use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;

/// Hex SHA-256: how secrets are stored and looked up.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub private_pem: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub secret_sha256: Option<String>,
    pub redirect_uris: sqlx::types::Json<Vec<String>>,
    pub post_logout_redirect_uris: sqlx::types::Json<Vec<String>>,
    pub app_roles: sqlx::types::Json<Vec<String>>,
    pub dynamic: bool,
}

impl ClientRow {
    pub fn is_public(&self) -> bool {
        self.secret_sha256.is_none()
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeRow {
    pub client_id: String,
    pub redirect_uri: String,
    pub username: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub family_id: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub family_id: String,
    pub client_id: String,
    pub username: String,
    pub scope: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked: bool,
}

/// Where a device authorization request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// The user has not decided yet.
    Pending,
    /// The user accepted; the device's next poll gets the tokens.
    Approved,
    /// The user cancelled.
    Denied,
}

/// A device authorization request (RFC 8628), as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub device_code_sha256: String,
    pub client_id: String,
    pub scope: String,
    pub status: DeviceStatus,
    pub username: Option<String>,
    pub family_id: String,
    pub interval_secs: i64,
    pub last_poll_ms: Option<i64>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// What a new device authorization request stores besides its two codes.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub client_id: String,
    pub scope: String,
    /// The refresh-token family the grant starts.
    pub family_id: String,
    pub interval_secs: i64,
    pub expires_at: i64,
}

const DEVICE_COLUMNS: &str = "device_code_sha256, client_id, scope, status, username, family_id, \
     interval_secs, last_poll_ms, expires_at, used_at";

/// Device requests stay this long after they expire, so a late poll or a late visit to the page is
/// told "expired" rather than "unknown"; then they are deleted.
const DEVICE_KEEP_SECS: i64 = 24 * 3600;

/// One consent: `username` allowed `client_id` to use `scope` of `resource` (an App ID URI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    pub username: String,
    pub client_id: String,
    pub resource: String,
    pub scope: String,
}

/// What consuming a single-use secret found.
pub enum Consumed<T> {
    Fresh(T),
    /// It existed but was used before (a replay); the row is returned so its family can be revoked.
    Replayed(T),
    Unknown,
}

impl Store {
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        let pool = service_kit::db::sqlite_pool(&format!("sqlite://{}", path.display()), 4).await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("migrating the dev IdP database")?;
        Ok(Self { pool })
    }

    // --- keys ---

    pub async fn keys(&self) -> anyhow::Result<Vec<KeyRow>> {
        Ok(sqlx::query_as::<_, KeyRow>(
            "SELECT kid, private_pem, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Adds `key` as the active key and retires the previous ones (they stay published for a grace period).
    pub async fn rotate_in(&self, key: &KeyRow) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = ? WHERE retired_at IS NULL")
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO signing_keys (kid, private_pem, created_at) VALUES (?, ?, ?)")
            .bind(&key.kid)
            .bind(&key.private_pem)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // --- clients ---

    pub async fn upsert_client(&self, client: &ClientRow) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO clients (client_id, name, secret_sha256, redirect_uris, post_logout_redirect_uris, app_roles, dynamic, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, secret_sha256 = excluded.secret_sha256,
                redirect_uris = excluded.redirect_uris, post_logout_redirect_uris = excluded.post_logout_redirect_uris,
                app_roles = excluded.app_roles",
        )
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(&client.secret_sha256)
        .bind(&client.redirect_uris)
        .bind(&client.post_logout_redirect_uris)
        .bind(&client.app_roles)
        .bind(client.dynamic)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces a registered client's redirect URIs; `false` when there is no such client.
    pub async fn set_redirect_uris(
        &self,
        client_id: &str,
        redirect_uris: &[String],
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query("UPDATE clients SET redirect_uris = ? WHERE client_id = ?")
            .bind(sqlx::types::Json(redirect_uris))
            .bind(client_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated > 0)
    }

    pub async fn client(&self, client_id: &str) -> anyhow::Result<Option<ClientRow>> {
        Ok(sqlx::query_as::<_, ClientRow>(
            "SELECT client_id, name, secret_sha256, redirect_uris, post_logout_redirect_uris, app_roles, dynamic
             FROM clients WHERE client_id = ?",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    // --- authorization codes ---

    pub async fn insert_code(&self, code: &str, row: &CodeRow) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO auth_codes (code_sha256, client_id, redirect_uri, username, scope, nonce, code_challenge, family_id, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(digest(code))
        .bind(&row.client_id)
        .bind(&row.redirect_uri)
        .bind(&row.username)
        .bind(&row.scope)
        .bind(&row.nonce)
        .bind(&row.code_challenge)
        .bind(&row.family_id)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks the code used and returns it, or reports a replay.
    pub async fn consume_code(&self, code: &str) -> anyhow::Result<Consumed<CodeRow>> {
        let hash = digest(code);
        let fresh = sqlx::query_as::<_, CodeRow>(
            "UPDATE auth_codes SET used_at = ? WHERE code_sha256 = ? AND used_at IS NULL
             RETURNING client_id, redirect_uri, username, scope, nonce, code_challenge, family_id, expires_at",
        )
        .bind(now())
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = fresh {
            return Ok(Consumed::Fresh(row));
        }
        let replayed = sqlx::query_as::<_, CodeRow>(
            "SELECT client_id, redirect_uri, username, scope, nonce, code_challenge, family_id, expires_at
             FROM auth_codes WHERE code_sha256 = ?",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(replayed.map_or(Consumed::Unknown, Consumed::Replayed))
    }

    // --- refresh tokens ---

    pub async fn insert_refresh(&self, token: &str, row: &RefreshRow) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_sha256, family_id, client_id, username, scope, expires_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(digest(token))
        .bind(&row.family_id)
        .bind(&row.client_id)
        .bind(&row.username)
        .bind(&row.scope)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks the refresh token used (rotation) and returns it, or reports a replay.
    pub async fn consume_refresh(&self, token: &str) -> anyhow::Result<Consumed<RefreshRow>> {
        let hash = digest(token);
        let fresh = sqlx::query_as::<_, RefreshRow>(
            "UPDATE refresh_tokens SET used_at = ? WHERE token_sha256 = ? AND used_at IS NULL AND revoked = 0
             RETURNING family_id, client_id, username, scope, expires_at, used_at, revoked",
        )
        .bind(now())
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = fresh {
            return Ok(Consumed::Fresh(row));
        }
        let seen = self.peek_refresh(token).await?;
        Ok(seen.map_or(Consumed::Unknown, Consumed::Replayed))
    }

    /// A refresh token's row, used or not, without consuming it.
    pub async fn peek_refresh(&self, token: &str) -> anyhow::Result<Option<RefreshRow>> {
        Ok(sqlx::query_as::<_, RefreshRow>(
            "SELECT family_id, client_id, username, scope, expires_at, used_at, revoked
             FROM refresh_tokens WHERE token_sha256 = ?",
        )
        .bind(digest(token))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Revokes every refresh token descended from one sign-in.
    pub async fn revoke_family(&self, family_id: &str) -> anyhow::Result<u64> {
        Ok(
            sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?")
                .bind(family_id)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Revokes a user's refresh tokens at one client (sign-out).
    pub async fn revoke_user_client(&self, username: &str, client_id: &str) -> anyhow::Result<u64> {
        Ok(sqlx::query(
            "UPDATE refresh_tokens SET revoked = 1 WHERE username = ? AND client_id = ?",
        )
        .bind(username)
        .bind(client_id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    // --- device codes (RFC 8628) ---

    /// Stores a new pending device request under the hashes of its codes (`user_code` in canonical
    /// form). `Ok(false)`: the user code is taken by another request (the caller draws another one).
    pub async fn insert_device(
        &self,
        device_code: &str,
        user_code: &str,
        row: &NewDevice,
    ) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM device_codes WHERE expires_at < ?")
            .bind(now() - DEVICE_KEEP_SECS)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO device_codes (device_code_sha256, user_code_sha256, client_id, scope, status, family_id,
                interval_secs, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(digest(device_code))
        .bind(digest(user_code))
        .bind(&row.client_id)
        .bind(&row.scope)
        .bind(DeviceStatus::Pending)
        .bind(&row.family_id)
        .bind(row.interval_secs)
        .bind(row.expires_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => return Ok(false),
            Err(error) => return Err(error.into()),
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The request whose device code is `device_code`.
    pub async fn device_by_code(&self, device_code: &str) -> anyhow::Result<Option<DeviceRow>> {
        Ok(sqlx::query_as::<_, DeviceRow>(&format!(
            "SELECT {DEVICE_COLUMNS} FROM device_codes WHERE device_code_sha256 = ?"
        ))
        .bind(digest(device_code))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The request whose user code is `user_code` (canonical form).
    pub async fn device_by_user_code(&self, user_code: &str) -> anyhow::Result<Option<DeviceRow>> {
        Ok(sqlx::query_as::<_, DeviceRow>(&format!(
            "SELECT {DEVICE_COLUMNS} FROM device_codes WHERE user_code_sha256 = ?"
        ))
        .bind(digest(user_code))
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a poll of a pending request: when it came and the interval from now on.
    pub async fn record_device_poll(
        &self,
        device_code_sha256: &str,
        at_ms: i64,
        interval_secs: i64,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE device_codes SET last_poll_ms = ?, interval_secs = ? WHERE device_code_sha256 = ?",
        )
        .bind(at_ms)
        .bind(interval_secs)
        .bind(device_code_sha256)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user's decision on a pending, unexpired request (`username` when approved); `false` when it
    /// was no longer pending or has expired.
    pub async fn decide_device(
        &self,
        device_code_sha256: &str,
        status: DeviceStatus,
        username: Option<&str>,
    ) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE device_codes SET status = ?, username = ?
             WHERE device_code_sha256 = ? AND status = ? AND expires_at > ?",
        )
        .bind(status)
        .bind(username)
        .bind(device_code_sha256)
        .bind(DeviceStatus::Pending)
        .bind(now())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated > 0)
    }

    /// Marks an approved request redeemed; `false` when it was redeemed before (or is not approved).
    pub async fn consume_device(&self, device_code_sha256: &str) -> anyhow::Result<bool> {
        let updated = sqlx::query(
            "UPDATE device_codes SET used_at = ?
             WHERE device_code_sha256 = ? AND status = ? AND used_at IS NULL",
        )
        .bind(now())
        .bind(device_code_sha256)
        .bind(DeviceStatus::Approved)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated > 0)
    }

    // --- consents ---

    /// The scopes of `resource` that `username` has consented to for `client_id`.
    pub async fn consented(
        &self,
        username: &str,
        client_id: &str,
        resource: &str,
    ) -> anyhow::Result<Vec<String>> {
        Ok(sqlx::query_scalar::<_, String>(
            "SELECT scope FROM consents WHERE username = ? AND client_id = ? AND resource = ? ORDER BY scope",
        )
        .bind(username)
        .bind(client_id)
        .bind(resource)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records consents; the ones already there stay as they were.
    pub async fn grant_consents(&self, rows: &[ConsentRow]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_consents(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes every consent and records `seed` instead, in one transaction; returns how many were
    /// deleted.
    pub async fn reset_consents(&self, seed: &[ConsentRow]) -> anyhow::Result<u64> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM consents")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        insert_consents(&mut tx, seed).await?;
        tx.commit().await?;
        Ok(deleted)
    }
}

async fn insert_consents(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    rows: &[ConsentRow],
) -> anyhow::Result<()> {
    let granted_at = now();
    for row in rows {
        sqlx::query(
            "INSERT INTO consents (username, client_id, resource, scope, granted_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(&row.username)
        .bind(&row.client_id)
        .bind(&row.resource)
        .bind(&row.scope)
        .bind(granted_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
