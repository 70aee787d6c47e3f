ALTER TABLE messages DROP COLUMN mark_read;
