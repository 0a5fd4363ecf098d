-- UUIDs are text and times are naive UTC so that one diesel schema serves PostgreSQL and SQLite.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    -- the lower-cased email: uniqueness regardless of case
    email_key TEXT NOT NULL UNIQUE,
    username TEXT,
    username_key TEXT UNIQUE,
    -- NULL: no usable password (a user created by a provider sign-in or without one)
    password_hash TEXT,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_staff BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per login: every refresh token descended from that login carries its id as `sid`.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    -- expiry of the newest refresh token; flush-expired deletes sessions past it
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Refresh tokens that may not be used again: rotated (with the pair that replaced them, for the
-- reuse grace period) or logged out. Inserting the jti is the atomic step of a refresh.
CREATE TABLE blacklisted_tokens (
    jti TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    blacklisted_at TIMESTAMP NOT NULL,
    replaced_by_jti TEXT,
    replaced_by_access_jti TEXT,
    replaced_at TIMESTAMP,
    replays INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX blacklisted_tokens_expires_at_idx ON blacklisted_tokens (expires_at);
