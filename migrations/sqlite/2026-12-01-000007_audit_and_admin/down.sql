DROP INDEX users_inactive_created;
DROP INDEX users_staff_created;
DROP INDEX users_created;
DROP TABLE audit_events;
