//! Per-user notes in SQLite, or PostgreSQL when several mcp-tools instances share them
//! (`MCP_DATABASE_URL=postgres://…`), through sqlx's `Any` driver with one set of queries. Every query is
//! scoped to the owner taken from the validated token.

use anyhow::Context;
use serde::Serialize;
use sqlx::AnyPool;

use crate::auth::Principal;

/// Longest note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// One stored note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Note {
    pub id: i64,
    pub text: String,
    pub created_at: String,
}

/// The notes database.
#[derive(Clone)]
pub struct NoteStore {
    pool: AnyPool,
}

impl NoteStore {
    /// Opens the database at `url` (a SQLite file and folder are created when missing) and applies
    /// the migrations of its dialect (`migrations/` or `migrations_postgres/`, the same table).
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        // Idle connections close (one stays); foreign keys are on by default in sqlx's SQLite options.
        let pool = service_kit::db::any_pool(url, 4)
            .await
            .context("opening the notes database (MCP_DATABASE_URL)")?;
        if service_kit::db::is_postgres(url) {
            sqlx::migrate!("./migrations_postgres").run(&pool).await
        } else {
            sqlx::migrate!("./migrations").run(&pool).await
        }
        .context("migrating the notes database")?;
        Ok(Self { pool })
    }

    pub async fn add(&self, owner: &Principal, text: &str) -> anyhow::Result<Note> {
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let note = sqlx::query_as::<_, Note>(
            "INSERT INTO notes (tenant_id, user_id, text, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id, text, created_at",
        )
        .bind(&owner.tenant_id)
        .bind(&owner.user_id)
        .bind(text)
        .bind(created_at)
        .fetch_one(&self.pool)
        .await
        .context("inserting a note")?;
        Ok(note)
    }

    pub async fn list(&self, owner: &Principal) -> anyhow::Result<Vec<Note>> {
        sqlx::query_as::<_, Note>(
            "SELECT id, text, created_at FROM notes WHERE tenant_id = $1 AND user_id = $2 ORDER BY id",
        )
        .bind(&owner.tenant_id)
        .bind(&owner.user_id)
        .fetch_all(&self.pool)
        .await
        .context("listing notes")
    }

    pub async fn get(&self, owner: &Principal, id: i64) -> anyhow::Result<Option<Note>> {
        sqlx::query_as::<_, Note>(
            "SELECT id, text, created_at FROM notes WHERE id = $1 AND tenant_id = $2 AND user_id = $3",
        )
        .bind(id)
        .bind(&owner.tenant_id)
        .bind(&owner.user_id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a note")
    }

    /// Deletes the owner's note `id`; `false` when the owner has no such note.
    pub async fn delete(&self, owner: &Principal, id: i64) -> anyhow::Result<bool> {
        let result =
            sqlx::query("DELETE FROM notes WHERE id = $1 AND tenant_id = $2 AND user_id = $3")
                .bind(id)
                .bind(&owner.tenant_id)
                .bind(&owner.user_id)
                .execute(&self.pool)
                .await
                .context("deleting a note")?;
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> Principal {
        Principal {
            issuer: "https://issuer.test".into(),
            tenant_id: "t1".into(),
            user_id: id.into(),
            name: id.into(),
            preferred_username: None,
        }
    }

    #[tokio::test]
    async fn notes_are_isolated_per_owner_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("notes.db").display());
        let store = NoteStore::open(&url).await.unwrap();
        let (alice, bob) = (user("alice"), user("bob"));

        let note = store.add(&alice, "buy milk").await.unwrap();
        assert_eq!(store.list(&alice).await.unwrap(), vec![note.clone()]);
        assert!(store.list(&bob).await.unwrap().is_empty());
        assert_eq!(store.get(&bob, note.id).await.unwrap(), None);
        assert!(!store.delete(&bob, note.id).await.unwrap());
        drop(store);

        let store = NoteStore::open(&url).await.unwrap();
        assert_eq!(
            store.get(&alice, note.id).await.unwrap(),
            Some(note.clone())
        );
        assert!(store.delete(&alice, note.id).await.unwrap());
        assert!(store.list(&alice).await.unwrap().is_empty());
    }

    /// Two mcp-tools instances configured with one `MCP_DATABASE_URL=postgres://…` (behind a load
    /// balancer) share every user's notes, with the same owner rules as SQLite; a real PostgreSQL server.
    #[tokio::test]
    async fn instances_on_one_postgres_database_share_notes() {
        let postgres = service_kit::testing::TempPostgres::start();
        let first = NoteStore::open(postgres.url()).await.unwrap();
        let second = NoteStore::open(postgres.url()).await.unwrap();
        let (alice, bob) = (user("alice"), user("bob"));

        let note = first.add(&alice, "buy milk").await.unwrap();
        let later = second.add(&alice, "call bob").await.unwrap();
        assert!(later.id > note.id);
        assert_eq!(
            second.list(&alice).await.unwrap(),
            vec![note.clone(), later.clone()]
        );
        assert!(first.list(&bob).await.unwrap().is_empty());
        assert_eq!(second.get(&bob, note.id).await.unwrap(), None);
        assert!(!first.delete(&bob, note.id).await.unwrap());
        assert!(second.delete(&alice, note.id).await.unwrap());
        assert_eq!(first.list(&alice).await.unwrap(), vec![later]);
    }
}
