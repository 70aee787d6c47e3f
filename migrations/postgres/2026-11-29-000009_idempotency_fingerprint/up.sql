-- An Idempotency-Key is bound to the request it came with: SHA-256 of endpoint, session and body.
ALTER TABLE messages ADD COLUMN idempotency_fingerprint TEXT;
