ALTER TABLE messages DROP COLUMN wa_key_id;
