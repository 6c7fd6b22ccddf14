//! Per-user notes in SQLite. Every query is scoped to the owner taken from the validated token.

use anyhow::Context;
use serde::Serialize;
use sqlx::SqlitePool;

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
    pool: SqlitePool,
}

impl NoteStore {
    /// Opens (creating file and folder when missing) the database at `url` and applies migrations.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        // Foreign keys are on by default in sqlx's SQLite options; idle connections close (one stays).
        let pool = service_kit::db::sqlite_pool(url, 4)
            .await
            .context("opening the notes database (MCP_DATABASE_URL)")?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("migrating the notes database")?;
        Ok(Self { pool })
    }

    pub async fn add(&self, owner: &Principal, text: &str) -> anyhow::Result<Note> {
        let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let note = sqlx::query_as::<_, Note>(
            "INSERT INTO notes (tenant_id, user_id, text, created_at) VALUES (?, ?, ?, ?)
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
            "SELECT id, text, created_at FROM notes WHERE tenant_id = ? AND user_id = ? ORDER BY id",
        )
        .bind(&owner.tenant_id)
        .bind(&owner.user_id)
        .fetch_all(&self.pool)
        .await
        .context("listing notes")
    }

    pub async fn get(&self, owner: &Principal, id: i64) -> anyhow::Result<Option<Note>> {
        sqlx::query_as::<_, Note>(
            "SELECT id, text, created_at FROM notes WHERE id = ? AND tenant_id = ? AND user_id = ?",
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
            sqlx::query("DELETE FROM notes WHERE id = ? AND tenant_id = ? AND user_id = ?")
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
}
