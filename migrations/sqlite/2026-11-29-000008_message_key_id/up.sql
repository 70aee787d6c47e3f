-- The id of a message's WhatsApp key, chosen before the send and stored first: after a crash or
-- a timeout the send is settled by looking for this id in the page's message store.
ALTER TABLE messages ADD COLUMN wa_key_id TEXT;
