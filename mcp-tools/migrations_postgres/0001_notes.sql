-- Per-user notes (PostgreSQL, for several mcp-tools instances sharing one database). The owner is the
-- token's tenant + user id, never a value the model sends. Same table as migrations/0001_notes.sql.
CREATE TABLE notes (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   TEXT      NOT NULL,
    user_id     TEXT      NOT NULL,
    text        TEXT      NOT NULL,
    created_at  TEXT      NOT NULL
);

CREATE INDEX notes_owner ON notes (tenant_id, user_id, id);
