-- Development identity provider state. Secrets (client secrets, codes, refresh tokens) are stored only as
-- SHA-256 hashes; signing keys are stored as PEM because the IdP must sign with them after a restart.

CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY,
    private_pem TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER
);

CREATE TABLE clients (
    client_id                 TEXT    PRIMARY KEY,
    name                      TEXT    NOT NULL,
    secret_sha256             TEXT,
    redirect_uris             TEXT    NOT NULL, -- JSON array
    post_logout_redirect_uris TEXT    NOT NULL, -- JSON array
    app_roles                 TEXT    NOT NULL, -- JSON array, granted to its client-credentials tokens
    dynamic                   INTEGER NOT NULL,
    created_at                INTEGER NOT NULL
);

CREATE TABLE auth_codes (
    code_sha256    TEXT    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    username       TEXT    NOT NULL,
    scope          TEXT    NOT NULL,
    nonce          TEXT,
    code_challenge TEXT,
    family_id      TEXT    NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
);

CREATE TABLE refresh_tokens (
    token_sha256 TEXT    PRIMARY KEY,
    family_id    TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    username     TEXT    NOT NULL,
    scope        TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    revoked      INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
