-- What a message kind carries beyond text and media, as one JSON object (db/details.rs):
-- the message it quotes, a reaction's target and emoji, a location's coordinates, …
ALTER TABLE messages ADD COLUMN details TEXT;
-- Delete for everyone and edits of a message (ours or incoming), when they happened.
ALTER TABLE messages ADD COLUMN edited_at TIMESTAMP;
ALTER TABLE messages ADD COLUMN revoked_at TIMESTAMP;
