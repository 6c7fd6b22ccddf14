-- The agent chat: conversations, their messages and tool calls, elicitation requests, and the audit log.
-- (PostgreSQL copy of the SQLite migration.) Times are Unix milliseconds (UTC). Booleans are 0/1 integers (the same schema serves sqlx's Any driver
-- on SQLite and PostgreSQL).
CREATE TABLE conversations (
    id           TEXT    PRIMARY KEY,
    user_key     TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    mode         TEXT    NOT NULL,              -- manual | auto | elicitation
    always_allow TEXT    NOT NULL DEFAULT '',   -- newline-separated function names approved for good
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE INDEX conversations_by_user ON conversations (user_key, updated_at);

CREATE TABLE messages (
    id              TEXT   PRIMARY KEY,
    conversation_id TEXT   NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    role            TEXT   NOT NULL,            -- user | assistant | notice
    content         TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (conversation_id, seq)
);

CREATE TABLE tool_calls (
    id              TEXT   PRIMARY KEY,
    conversation_id TEXT   NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      TEXT   NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position        BIGINT NOT NULL,            -- order within the proposing message
    model_call_id   TEXT   NOT NULL,            -- the id the model gave the call
    function_name   TEXT   NOT NULL,            -- the name the model used (namespaced with several servers)
    server          TEXT   NOT NULL,
    tool            TEXT   NOT NULL,
    arguments       TEXT   NOT NULL,            -- exactly as the model sent them
    args_hash       TEXT   NOT NULL,            -- SHA-256 hex of `arguments`
    read_only       BIGINT NOT NULL,
    destructive     BIGINT NOT NULL,
    status          TEXT   NOT NULL,            -- pending | approved | declined | running | done | failed
    decided_by      TEXT,
    result          TEXT,
    is_error        BIGINT NOT NULL DEFAULT 0,
    proposed_at     BIGINT NOT NULL,
    decided_at      BIGINT,
    started_at      BIGINT,
    finished_at     BIGINT
);
CREATE INDEX tool_calls_by_conversation ON tool_calls (conversation_id, status);

CREATE TABLE elicitations (
    id              TEXT   PRIMARY KEY,
    conversation_id TEXT   NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    tool_call_id    TEXT   NOT NULL REFERENCES tool_calls (id) ON DELETE CASCADE,
    message         TEXT   NOT NULL,
    schema          TEXT   NOT NULL,            -- the requested JSON schema
    status          TEXT   NOT NULL,            -- pending | accepted | declined | cancelled | expired
    answer          TEXT,
    created_at      BIGINT NOT NULL,
    answered_at     BIGINT
);
CREATE INDEX elicitations_by_conversation ON elicitations (conversation_id);

-- Append-only: one row per tool call once it is over. Not tied to conversations by foreign key, so the
-- trail outlives what it records.
CREATE TABLE audit_log (
    tool_call_id    TEXT   PRIMARY KEY,
    user_key        TEXT   NOT NULL,
    conversation_id TEXT   NOT NULL,
    server          TEXT   NOT NULL,
    tool            TEXT   NOT NULL,
    args_hash       TEXT   NOT NULL,
    decision        TEXT   NOT NULL,            -- approved | declined
    decided_by      TEXT   NOT NULL,            -- user | auto | always-allow
    proposed_at     BIGINT NOT NULL,
    decided_at      BIGINT,
    finished_at     BIGINT NOT NULL,
    outcome         TEXT   NOT NULL             -- done | failed | declined
);
CREATE INDEX audit_log_by_user ON audit_log (user_key, finished_at);

-- Where each agent turn's time went (model, tools, the rest), for the benchmark and operators.
CREATE TABLE turn_timings (
    conversation_id TEXT   NOT NULL,
    finished_at     BIGINT NOT NULL,
    total_us        BIGINT NOT NULL,
    model_us        BIGINT NOT NULL,
    tool_us         BIGINT NOT NULL
);
