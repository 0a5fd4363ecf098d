-- Messages waiting to be delivered, written in the same transaction as the token they carry.
-- Every authd process delivers from here; a claim (claimed_until) keeps two from sending one
-- message. The bodies are cleared once sent: until then they hold the message's link.
CREATE TABLE email_outbox (
    id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX email_outbox_next_attempt_at_idx ON email_outbox (next_attempt_at);

-- Tokens sent by email: only their SHA-256 is kept. Each is for one purpose and one user
-- (or, for a sign-in that may create the account, one address), used once, until expires_at.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    -- the address it was sent to (the new one, for an email change)
    email TEXT NOT NULL,
    -- what the user's email and password were when it was issued: a change of either ends it
    email_at_issue TEXT NOT NULL,
    password_at_issue TEXT NOT NULL,
    -- sign-in by email: SHA-256 of the 6-digit code, and the wrong codes tried
    code_hash TEXT,
    code_attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX email_tokens_user_id_idx ON email_tokens (user_id);
CREATE INDEX email_tokens_email_idx ON email_tokens (email);
CREATE INDEX email_tokens_expires_at_idx ON email_tokens (expires_at);
