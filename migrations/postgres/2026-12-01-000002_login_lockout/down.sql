DROP TABLE login_sources;
DROP TABLE login_failures;
