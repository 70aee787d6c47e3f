ALTER TABLE messages DROP COLUMN revoked_at;
ALTER TABLE messages DROP COLUMN edited_at;
ALTER TABLE messages DROP COLUMN details;
