-- Moving from Django (`authd import-django`): each imported user keeps their Django id, which
-- is what simplejwt's refresh tokens name (`user_id`), and Django's last login.
ALTER TABLE users ADD COLUMN legacy_id TEXT;
ALTER TABLE users ADD COLUMN last_login_at TIMESTAMP;
CREATE UNIQUE INDEX users_legacy_id ON users (legacy_id);
-- The refresh tokens simplejwt had blacklisted (logged out or rotated) when the import ran:
-- during the cut-over window none of them may be exchanged for an authd pair.
CREATE TABLE simplejwt_blacklist (
    jti TEXT PRIMARY KEY NOT NULL,
    legacy_user_id TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX simplejwt_blacklist_expires ON simplejwt_blacklist (expires_at);
