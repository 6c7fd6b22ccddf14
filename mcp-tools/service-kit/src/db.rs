//! Database pools (SQLite, and the `Any` driver over SQLite or PostgreSQL) and owner-only files.

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

/// How long a pooled database connection may sit unused before it is closed. A burst of users opens every
/// connection a pool allows; each holds a page cache and (SQLite) a worker thread, and keeping them all
/// after the burst would keep the process at its peak memory. One connection per pool stays open.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens (creating file and folder when missing) the SQLite database at `url`, in WAL mode.
pub async fn sqlite_pool(url: &str, max_connections: u32) -> anyhow::Result<sqlx::SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| format!("not a SQLite or PostgreSQL URL: {url}"))?;
    if let Some(parent) = options.get_filename().parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .idle_timeout(POOL_IDLE_TIMEOUT)
        .connect_with(
            options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal),
        )
        .await
        .with_context(|| format!("opening {url}"))
}

/// Whether `url` names a PostgreSQL database (else SQLite).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens sqlx's `Any` pool on `url` (`sqlite:…` or `postgres://…`) with up to `max_connections`, one
/// kept open, idle ones closed. A SQLite file (and its folder) is created first, in WAL mode, which
/// SQLite records in the file; each SQLite connection then syncs NORMAL (durable across crashes of the
/// process, one fsync per checkpoint rather than per commit). Errors never repeat the URL: a PostgreSQL
/// one may hold a password.
pub async fn any_pool(url: &str, max_connections: u32) -> anyhow::Result<sqlx::AnyPool> {
    let postgres = is_postgres(url);
    if !postgres {
        sqlite_pool(url, 1).await?.close().await;
    }
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .idle_timeout(POOL_IDLE_TIMEOUT)
        .after_connect(move |connection, _| {
            Box::pin(async move {
                if !postgres {
                    sqlx::Executor::execute(&mut *connection, "PRAGMA synchronous = NORMAL")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .context("opening the database")
}

/// Writes a file only its owner can read (secrets, keys), creating its folder.
pub async fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = path.to_owned();
    let contents = contents.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use std::io::Write;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        file.write_all(contents.as_bytes())?;
        Ok(())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn private_files_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/secret");
        super::write_private(&path, "s3cret").await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s3cret");
    }

    #[tokio::test]
    async fn an_any_pool_on_sqlite_creates_a_wal_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("y/any.sqlite").display());
        let pool = super::any_pool(&url, 2).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(!super::is_postgres(&url));
        assert!(super::is_postgres("postgres://u@h/db"));
    }

    #[tokio::test]
    async fn a_sqlite_pool_creates_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("x/db.sqlite").display());
        let pool = super::sqlite_pool(&url, 2).await.unwrap();
        sqlx::query("SELECT 1").execute(&pool).await.unwrap();
    }
}
