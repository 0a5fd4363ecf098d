DROP TABLE email_tokens;
DROP TABLE email_outbox;
