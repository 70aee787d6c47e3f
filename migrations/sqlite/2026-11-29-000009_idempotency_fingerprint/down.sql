ALTER TABLE messages DROP COLUMN idempotency_fingerprint;
