//! The session store: SQLite by default (a real database file under the data folder), PostgreSQL by
//! configuration so several web instances behind a load balancer share sessions.

use anyhow::Context;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore, sqlx::PgPool};

/// Either backend, chosen by `APP_DATABASE_URL`.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl AnyStore {
    /// The session table in a SQLite database (migrated).
    pub async fn sqlite(pool: sqlx::SqlitePool) -> anyhow::Result<Self> {
        let store = SqliteStore::new(pool);
        store
            .migrate()
            .await
            .context("migrating the SQLite session table")?;
        Ok(Self::Sqlite(store))
    }

    /// The session table in PostgreSQL at `url` (migrated).
    pub async fn postgres(url: &str) -> anyhow::Result<Self> {
        let pool = PgPool::connect(url)
            .await
            .context("APP_DATABASE_URL: connecting to PostgreSQL")?;
        let store = PostgresStore::new(pool);
        store
            .migrate()
            .await
            .context("migrating the PostgreSQL session table")?;
        Ok(Self::Postgres(store))
    }

    /// Deletes expired sessions every `period`, in the background.
    pub fn spawn_expiry_cleanup(&self, period: std::time::Duration) {
        use tower_sessions::ExpiredDeletion;
        let store = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            loop {
                interval.tick().await;
                let result = match &store {
                    Self::Sqlite(s) => s.delete_expired().await,
                    Self::Postgres(s) => s.delete_expired().await,
                };
                if let Err(error) = result {
                    tracing::warn!(%error, "deleting expired sessions failed");
                }
            }
        });
    }
}

#[async_trait::async_trait]
impl SessionStore for AnyStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.create(record).await,
            Self::Postgres(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.save(record).await,
            Self::Postgres(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Self::Sqlite(s) => s.load(id).await,
            Self::Postgres(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Self::Sqlite(s) => s.delete(id).await,
            Self::Postgres(s) => s.delete(id).await,
        }
    }
}
