-- Per-session handling of incoming calls: reject them automatically, optionally answering the
-- caller with a text (sent through the session's queue like any send).
ALTER TABLE whatsapp_sessions ADD COLUMN reject_calls BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE whatsapp_sessions ADD COLUMN call_reply_text TEXT;
