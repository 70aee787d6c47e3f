DROP TABLE messages;
DROP TABLE whatsapp_sessions;
DROP TABLE api_keys;
DROP TABLE users;
