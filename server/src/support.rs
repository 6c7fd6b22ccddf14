//! Small helpers shared by the web app and the development stand-ins: SQLite pools, HTML escaping,
//! owner-only files.

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

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
    use super::html_escape;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            html_escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
