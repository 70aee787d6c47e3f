DROP INDEX messages_session_chat;
ALTER TABLE messages DROP COLUMN chat_phone;
DROP TABLE lid_map;
