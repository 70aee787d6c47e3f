-- The outbound queue: a `queued` message not sent by `expires_at` fails with EXPIRED.
ALTER TABLE messages ADD COLUMN expires_at TIMESTAMP;
CREATE INDEX messages_status_expires ON messages(status, expires_at);
