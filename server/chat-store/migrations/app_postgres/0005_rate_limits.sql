-- Per-user rate limits shared by every web instance (PostgreSQL): events counted per fixed one-minute window.
CREATE TABLE rate_limits (
    user_key     TEXT   NOT NULL,
    kind         TEXT   NOT NULL, -- 'message'
    window_start BIGINT NOT NULL, -- Unix seconds
    count        BIGINT NOT NULL,
    PRIMARY KEY (user_key, kind, window_start)
);
