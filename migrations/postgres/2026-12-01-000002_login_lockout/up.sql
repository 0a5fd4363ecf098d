-- Failed password checks per login key: "user:<id>" for an account, "name:<login name>" for a
-- name that matches none (counted the same way, so a lock reveals nothing about accounts).
CREATE TABLE login_failures (
    login_key TEXT PRIMARY KEY,
    -- failures in the current window; reset when the window has passed or a lock starts
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    -- locks in a row: each lasts twice as long as the one before
    lockouts INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_updated_at_idx ON login_failures (updated_at);

-- Client addresses (IPv4, or an IPv6 /64) an account signed in from: a lock spares them.
CREATE TABLE login_sources (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    last_success_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, address)
);
CREATE INDEX login_sources_last_success_at_idx ON login_sources (last_success_at);
