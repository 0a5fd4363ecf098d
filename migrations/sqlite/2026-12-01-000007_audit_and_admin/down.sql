DROP INDEX users_created;
DROP TABLE audit_events;
