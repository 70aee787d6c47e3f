ALTER TABLE whatsapp_sessions DROP COLUMN call_reply_text;
ALTER TABLE whatsapp_sessions DROP COLUMN reject_calls;
