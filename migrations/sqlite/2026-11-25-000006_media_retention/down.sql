ALTER TABLE messages DROP COLUMN media_deleted_at;
