-- RFC 8628 device authorization grant: one row per device authorization request. The device code (what
-- the device polls the token endpoint with) and the user code (what the user types on the verification
-- page) are stored only as SHA-256 hashes, the user code in its canonical XXXX-XXXX form.

CREATE TABLE device_codes (
    device_code_sha256 TEXT    PRIMARY KEY,
    user_code_sha256   TEXT    NOT NULL UNIQUE,
    client_id          TEXT    NOT NULL,
    scope              TEXT    NOT NULL,
    status             TEXT    NOT NULL, -- pending, approved, denied
    username           TEXT,             -- who approved (approved only)
    family_id          TEXT    NOT NULL, -- the refresh-token family the grant starts
    interval_secs      INTEGER NOT NULL, -- the least time between polls; slow_down adds 5 s
    last_poll_ms       INTEGER,          -- when the device last polled (Unix milliseconds)
    expires_at         INTEGER NOT NULL,
    used_at            INTEGER           -- when the approved grant was redeemed (single use)
);
