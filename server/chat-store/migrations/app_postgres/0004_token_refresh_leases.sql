-- Refresh single flight across web instances (PostgreSQL): the instance refreshing a user's tokens holds
-- this row until it has stored the rotated refresh token (or the lease expires, if it died). The others
-- wait and read what it stored, so a rotated refresh token is never redeemed twice.
CREATE TABLE token_refresh_leases (
    user_key   TEXT   NOT NULL PRIMARY KEY,
    holder     TEXT   NOT NULL, -- random id of the token cache (instance) holding it
    expires_at BIGINT NOT NULL  -- Unix seconds
);
