DROP INDEX messages_idempotency;
ALTER TABLE messages DROP COLUMN idempotency_key;
