-- Per-user consent to the delegated scopes of resources that track consent (Microsoft Graph): one row per
-- (user, client, resource, scope). The authorization endpoint adds rows when a user accepts the consent
-- page; the on-behalf-of and token-exchange grants refuse scopes without a row.

CREATE TABLE consents (
    username   TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    resource   TEXT    NOT NULL, -- the resource's App ID URI
    scope      TEXT    NOT NULL, -- the scope's name on that resource (User.Read)
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (username, client_id, resource, scope)
);
