DROP TABLE simplejwt_blacklist;
DROP INDEX users_legacy_id;
ALTER TABLE users DROP COLUMN last_login_at;
ALTER TABLE users DROP COLUMN legacy_id;
