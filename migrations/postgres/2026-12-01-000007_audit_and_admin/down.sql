DROP INDEX users_name_search;
DROP INDEX users_username_search;
DROP INDEX users_email_search;
DROP INDEX users_inactive_created;
DROP INDEX users_staff_created;
DROP INDEX users_created;
DROP TABLE audit_events;
