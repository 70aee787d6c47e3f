DROP INDEX messages_status_expires;
ALTER TABLE messages DROP COLUMN expires_at;
