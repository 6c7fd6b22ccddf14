-- One loop per conversation across web instances (PostgreSQL): the instance driving a conversation holds its row and
-- renews it; the row is deleted when the loop stops. A row whose time is up belongs to an instance that
-- died (or stalled): another instance claims it, marks a call that was running as of unknown outcome
-- (never re-run) and resumes the conversation.
CREATE TABLE conversation_leases (
    conversation_id TEXT    NOT NULL PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    holder          TEXT    NOT NULL, -- random id of the agent (instance) driving it
    expires_at      BIGINT  NOT NULL  -- Unix milliseconds
);

-- The sweep for conversations left with approved or running calls looks calls up by status.
CREATE INDEX tool_calls_by_status ON tool_calls (status);
