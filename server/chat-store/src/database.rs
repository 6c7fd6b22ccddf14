//! Migrating the store's database ([`migrate`], both dialects) and opening the console's local file
//! ([`open_sqlite`]). Both front-ends open the `Any` pool with `service_kit::db::any_pool`.

use std::path::Path;

use anyhow::Context;
use service_kit::db::any_pool;
use sqlx::{AnyPool, ConnectOptions, sqlite::SqliteConnectOptions};

/// Connections for a local file: one user and one turn at a time, plus the reads beside it.
const LOCAL_CONNECTIONS: u32 = 4;

/// Applies the migrations that `pool` lacks: `migrations/app_postgres` on PostgreSQL, `migrations/app`
/// on SQLite. Applied migrations are checksummed by sqlx, so their files are never edited.
pub async fn migrate(pool: &AnyPool, postgres: bool) -> anyhow::Result<()> {
    if postgres {
        sqlx::migrate!("./migrations/app_postgres").run(pool).await
    } else {
        sqlx::migrate!("./migrations/app").run(pool).await
    }
    .context("migrating the app database")
}

/// Opens the SQLite database at `path` (a local client's conversations), creating the file and its
/// folder when missing, and migrates it. A new file is made owner-only (0600 on unix) before anything is
/// written to it, since it holds conversation text; SQLite gives its WAL files the same mode.
pub async fn open_sqlite(path: &Path) -> anyhow::Result<AnyPool> {
    // Absolute: a relative path in a `sqlite://` URL would be read as a host name by URL parsers.
    let path = std::path::absolute(path).with_context(|| format!("{}", path.display()))?;
    create_private(&path).await?;
    let url = SqliteConnectOptions::new()
        .filename(&path)
        .to_url_lossy()
        .to_string();
    let pool = any_pool(&url, LOCAL_CONNECTIONS)
        .await
        .with_context(|| format!("{}", path.display()))?;
    migrate(&pool, false)
        .await
        .with_context(|| format!("{}", path.display()))?;
    Ok(pool)
}

/// Creates `path` empty (an empty file is an empty SQLite database) and owner-only, unless it exists.
async fn create_private(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(path).await {
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("creating {}", path.display())),
    }
    // Set again after creation: the mode given to `open` is narrowed by the umask, never widened, and
    // an unusual umask could leave the owner unable to write.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .await
            .with_context(|| format!("making {} owner-only", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, os::unix::fs::PermissionsExt, path::Path};

    use agent::{
        domain::{ApprovalMode, Role, UserKey},
        ports::{ConversationReads, ConversationStore},
    };

    use crate::SqlStore;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The console's file: created owner-only in a new folder, WAL with NORMAL sync and foreign keys on
    /// every connection, migrated, and what was written survives closing and reopening the pool.
    #[tokio::test]
    async fn a_new_sqlite_file_is_owner_only_migrated_and_keeps_conversations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("portcullis/conversations.db");
        let pool = super::open_sqlite(&path).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(synchronous, 1, "NORMAL");

        let user = UserKey::from("tenant.alice");
        let store = SqlStore::new(pool.clone());
        let conversation = store
            .create_conversation(&user, ApprovalMode::Manual)
            .await
            .unwrap();
        store
            .add_message(&conversation.id, Role::User, "What is on my calendar?")
            .await
            .unwrap();
        let wal = dir.path().join("portcullis/conversations.db-wal");
        assert_eq!(mode(&wal), 0o600, "the WAL holds conversation text too");
        pool.close().await;

        let pool = super::open_sqlite(&path).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        let store = SqlStore::new(pool.clone());
        let listed = store.conversations(&user).await.unwrap();
        assert_eq!(
            listed.iter().map(|c| &c.id).collect::<Vec<_>>(),
            [&conversation.id]
        );
        let transcript = store.transcript(&conversation.id).await.unwrap();
        assert_eq!(
            transcript
                .messages
                .iter()
                .map(|m| (m.role, m.content.as_str()))
                .collect::<Vec<_>>(),
            [(Role::User, "What is on my calendar?")]
        );
        assert!(
            store
                .conversations(&UserKey::from("tenant.bob"))
                .await
                .unwrap()
                .is_empty()
        );
        pool.close().await;
    }

    /// An existing file is opened as it is: its mode is the owner's choice, not reset.
    #[tokio::test]
    async fn an_existing_file_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let pool = super::open_sqlite(&path).await.unwrap();
        assert_eq!(mode(&path), 0o640);
        pool.close().await;
    }

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
