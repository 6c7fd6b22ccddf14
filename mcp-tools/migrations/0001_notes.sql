-- Per-user notes. The owner is the token's tenant + user id, never a value the model sends.
CREATE TABLE notes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    created_at  TEXT    NOT NULL
);

CREATE INDEX notes_owner ON notes (tenant_id, user_id, id);
