DROP TABLE webhook_deliveries;
DROP TABLE events;
DROP TABLE webhooks;
ALTER TABLE whatsapp_sessions DROP COLUMN ack_timeouts;
ALTER TABLE messages DROP COLUMN sender_phone;
ALTER TABLE messages DROP COLUMN error_code;
