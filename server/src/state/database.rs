//! The session store and the app database (token cache, conversations), on SQLite or PostgreSQL.

use std::time::Duration;

use anyhow::Context;
use service_kit::db::{POOL_IDLE_TIMEOUT, sqlite_pool};
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
    /// Opens (creating a SQLite file when missing) and migrates; expired sessions are swept hourly.
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
        let app = app_pool(&database).await?;
        match database {
            Database::Postgres(_) => sqlx::migrate!("./migrations/app_postgres").run(&app).await,
            Database::Sqlite(_) => sqlx::migrate!("./migrations/app").run(&app).await,
        }
        .context("migrating the app database")?;
        Ok(Self { sessions, app })
    }
}

async fn app_pool(database: &Database) -> anyhow::Result<AnyPool> {
    let sqlite = matches!(database, Database::Sqlite(_));
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        .idle_timeout(POOL_IDLE_TIMEOUT)
        .after_connect(move |connection, _| {
            Box::pin(async move {
                if sqlite {
                    // WAL (set when the file is created) with NORMAL sync: durable across crashes of
                    // the process, one fsync per checkpoint instead of one per commit.
                    sqlx::Executor::execute(&mut *connection, "PRAGMA synchronous = NORMAL")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(database.url())
        .await
        .context("APP_DATABASE_URL: opening the app database")
}
