-- Per-user token cache (PostgreSQL). Values are ChaCha20-Poly1305 ciphertexts bound (as associated data)
-- to their row's user and slot; the key never touches the database.
CREATE TABLE token_cache (
    user_key   TEXT   NOT NULL,
    slot       TEXT   NOT NULL, -- 'refresh', 'id_token', or the scope string an access token was issued for
    nonce      BYTEA  NOT NULL,
    ciphertext BYTEA  NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_key, slot)
);
