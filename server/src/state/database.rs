//! The session store and the app database (token cache, conversations), on SQLite or PostgreSQL.

use std::time::Duration;

use anyhow::Context;
use service_kit::db::sqlite_pool;
use sqlx::AnyPool;

use crate::{
    config::{Config, Database},
    sessions::AnyStore,
};

/// Both connections to the one configured database.
pub(super) struct Databases {
    pub sessions: AnyStore,
    pub app: AnyPool,
}

impl Databases {
    /// Opens (creating a SQLite file when missing) and migrates (the `chat_store` crate's migrations);
    /// expired sessions are swept hourly.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let database = config.database();
        // Sessions need sqlx's typed pool; the app database uses the `Any` driver on the same database.
        // A SQLite file is created (WAL mode) by the typed pool before the `Any` pool opens it.
        let sessions = match &database {
            Database::Postgres(_) => AnyStore::postgres(database.url()).await?,
            Database::Sqlite(url) => {
                AnyStore::sqlite(sqlite_pool(url, 8).await.context("APP_DATABASE_URL")?).await?
            }
        };
        sessions.spawn_expiry_cleanup(Duration::from_secs(3600));
        let app = service_kit::db::any_pool(database.url(), 8)
            .await
            .context("APP_DATABASE_URL")?;
        chat_store::migrate(&app, matches!(database, Database::Postgres(_))).await?;
        Ok(Self { sessions, app })
    }
}
