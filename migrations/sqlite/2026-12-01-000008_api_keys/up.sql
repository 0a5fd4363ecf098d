-- API keys: `authd_<prefix>_<secret>`, shown once. Only the prefix (for the lookup) and the
-- SHA-256 of the whole key are kept; the secret has 256 random bits, so a fast hash is enough.
-- A key acts as its user, within its scopes (space-separated), until it expires or is revoked.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL UNIQUE,
    key_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
