-- What a person needs to recognise a session in their session list: how it signed in, from
-- which client address and browser, and when its refresh token was last rotated. The user
-- agent is cut to 200 characters and the address is the one the trusted-proxy rule derives.
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMP;
-- The revocation feed reads the sessions revoked since a cursor.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);
-- ... and the users deactivated since then.
CREATE INDEX users_active_updated ON users (is_active, updated_at);
