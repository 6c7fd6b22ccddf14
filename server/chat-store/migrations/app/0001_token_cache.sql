-- Per-user token cache. Values are ChaCha20-Poly1305 ciphertexts bound (as associated data) to their
-- row's user and slot; the key never touches the database.
CREATE TABLE token_cache (
    user_key   TEXT    NOT NULL,
    slot       TEXT    NOT NULL, -- 'refresh', or the scope string an access token was issued for
    nonce      BLOB    NOT NULL,
    ciphertext BLOB    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (user_key, slot)
);
