-- flush-expired deletes sessions, and each deletion cascades to blacklisted_tokens by session_id:
-- without this index every cascade scanned the whole blacklist.
CREATE INDEX blacklisted_tokens_session_id_idx ON blacklisted_tokens (session_id);
