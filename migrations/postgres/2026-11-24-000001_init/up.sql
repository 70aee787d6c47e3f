CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX api_keys_user ON api_keys(user_id);
CREATE INDEX api_keys_revoked ON api_keys(revoked_at);

CREATE TABLE whatsapp_sessions (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    phone_number TEXT,
    wid TEXT,
    push_name TEXT,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    connected_at TIMESTAMP,
    UNIQUE (user_id, name)
);

CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_id BIGINT REFERENCES whatsapp_sessions(id) ON DELETE SET NULL,
    direction TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    sender TEXT,
    msg_type TEXT NOT NULL,
    body TEXT,
    caption TEXT,
    media_path TEXT,
    media_mime TEXT,
    media_filename TEXT,
    media_size BIGINT,
    status TEXT NOT NULL,
    error_message TEXT,
    wa_message_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX messages_user_created ON messages(user_id, created_at);
CREATE INDEX messages_session_status ON messages(session_id, status);
CREATE INDEX messages_wa_message_id ON messages(wa_message_id);
