-- LID <-> phone pairs as WhatsApp Web revealed them to a session's page (a sender, a chat, an
-- exists query, the own account). One row per session and LID; a later pair replaces the phone.
CREATE TABLE lid_map (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id BIGINT NOT NULL REFERENCES whatsapp_sessions(id) ON DELETE CASCADE,
    lid TEXT NOT NULL,
    phone TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (session_id, lid)
);
CREATE INDEX lid_map_user_lid ON lid_map(user_id, lid);
CREATE INDEX lid_map_user_phone ON lid_map(user_id, phone);

-- The chat's phone number (digits) when the chat is a person, whichever form its id has.
ALTER TABLE messages ADD COLUMN chat_phone TEXT;
-- Filling phones learnt later into a session's rows looks rows up by chat and by sender.
CREATE INDEX messages_session_chat ON messages(session_id, chat_id);
