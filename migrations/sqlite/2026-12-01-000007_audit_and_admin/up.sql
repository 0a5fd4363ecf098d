-- The audit log: security events and admin actions. No foreign key to users: the events of a
-- deleted user stay (with its id, without personal data: deletion blanks their ip and user
-- agent). `details` is a small JSON object that never holds a password, token, code or email.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL,
    event_type TEXT NOT NULL,
    user_id TEXT,
    actor TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}'
);
-- Newest first, with the id to break ties (cursor pagination), overall, per user and per type;
-- retention deletes by time.
CREATE INDEX audit_events_created ON audit_events (created_at, id);
CREATE INDEX audit_events_user ON audit_events (user_id, created_at, id);
CREATE INDEX audit_events_type ON audit_events (event_type, created_at, id);
-- The admin user list pages by creation time; staff and inactive users are few, so their
-- filters get partial indexes of their own (without them, "isStaff=true" walks every user).
CREATE INDEX users_created ON users (created_at, id);
CREATE INDEX users_staff_created ON users (created_at, id) WHERE is_staff;
CREATE INDEX users_inactive_created ON users (created_at, id) WHERE NOT is_active;
