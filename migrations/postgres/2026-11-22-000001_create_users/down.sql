DROP TABLE blacklisted_tokens;
DROP TABLE sessions;
DROP TABLE users;
